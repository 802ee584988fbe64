"""开发区土地集约利用评价 indicators on a hand-computed park and on the Lijiang sample."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from landplan.analysis.pipeline import park_summary
from landplan.core.errors import EfficiencyError
from landplan.core.types import ALL_LABEL
from landplan.indicators.efficiency import MERGE_KEY, RATES, park_efficiency

WATER = json.dumps([{"code": "NETWORK_MISSING:water", "severity": "block"}])
RED = json.dumps([{"code": "RED_LINE_OVERLAP", "severity": "block"}])
WARN = json.dumps([{"code": "NETWORK_MISSING:gas", "severity": "warn"}])


@pytest.fixture
def park() -> pd.DataFrame:
    """Five parcels, 24 ha; by hand (DOMAIN §8.3 formulas):

    ready = P1 P2 P4 P5 = 21 ha (P3 lacks water; P4 is in a red line but already built)
    supplied = P1 (register) P2 (register) P4 (status 已建成) = 17 ha
    built = P1 P4 = 12 ha; built industrial = P1 = 10 ha; floor 150 000 + 10 000 m²
    firms on P1: 30 000 + 18 000 万元 invested, 1 200 + 240 万元 tax; P2's firm is not built yet.
    """
    return pd.DataFrame(
        {
            "parcel_id": ["P1", "P2", "P3", "P4", "P5"],
            "area_ha": [10.0, 5.0, 3.0, 2.0, 4.0],
            "reasons": ["[]", WARN, WATER, RED, "[]"],
            "DLBM": ["0601", "0601", "0601", "0809", "0508"],
            "ZT": ["已出让", "储备", "储备", "已建成", "储备"],
            "JZMJ": [150_000.0, np.nan, np.nan, 10_000.0, np.nan],
            "QY": ["东", "东", "东", "西", "西"],
        }
    )


REGISTER = pd.DataFrame({"parcel_id": ["P1", "P2"], "state": ["completed", "transferred"]})
FIRMS = pd.DataFrame(
    {
        "parcel_id": ["P1", "P1", "P2"],
        "fixed_investment_wan": [30_000.0, 18_000.0, 5_000.0],
        "tax_wan": [1_200.0, 240.0, 0.0],
    }
)


def _full(park: pd.DataFrame) -> pd.DataFrame:
    return park_efficiency(
        park,
        register=REGISTER,
        group_field="QY",
        status_field="ZT",
        supplied_values=("已出让",),
        built_values=("已建成",),
        floor_area_field="JZMJ",
        firms=FIRMS,
    ).set_index(MERGE_KEY)


def test_whole_park_by_hand(park):
    row = _full(park).loc[ALL_LABEL]
    assert row["land_total_ha"] == 24.0
    assert (row["land_supply_ready_ha"], row["land_supplied_ha"]) == (21.0, 17.0)
    assert (row["land_built_ha"], row["land_built_industrial_ha"]) == (12.0, 10.0)
    assert row["land_development_rate_pct"] == pytest.approx(100 * 21 / 24)
    assert row["land_supply_rate_pct"] == pytest.approx(100 * 17 / 21)
    assert row["land_built_rate_pct"] == pytest.approx(100 * 12 / 17)
    assert row["industrial_land_rate_pct"] == pytest.approx(100 * 10 / 12)
    assert row["composite_far"] == pytest.approx(160_000 / 120_000)
    assert row["industrial_fixed_invest_wan_per_ha"] == pytest.approx(4800.0)
    assert row["industrial_fixed_invest_wan_per_mu"] == pytest.approx(320.0)
    assert row["industrial_tax_wan_per_ha"] == pytest.approx(144.0)
    assert row["industrial_tax_wan_per_mu"] == pytest.approx(9.6)
    assert json.loads(row["not_computable"]) == {}
    assert row["area_basis"] == "area_ha"


def test_groups_by_hand_and_a_zero_denominator_is_not_a_zero(park):
    out = _full(park)
    east, west = out.loc["东"], out.loc["西"]
    assert east["land_development_rate_pct"] == pytest.approx(100 * 15 / 18)
    assert east["land_supply_rate_pct"] == pytest.approx(100.0)
    assert east["composite_far"] == pytest.approx(1.5)
    assert west["land_supply_rate_pct"] == pytest.approx(100 * 2 / 6)
    assert west["industrial_land_rate_pct"] == 0.0  # built land, none of it industrial: a true 0
    assert np.isnan(west["industrial_fixed_invest_wan_per_ha"])  # no built industrial land
    why = json.loads(west["not_computable"])
    assert why["industrial_tax_wan_per_mu"] == "built industrial land is 0 ha"


def test_missing_inputs_are_not_computable_with_the_reason(park):
    out = park_efficiency(park.drop(columns="reasons")).set_index(MERGE_KEY).loc[ALL_LABEL]
    why = json.loads(out["not_computable"])
    for name in RATES:
        assert np.isnan(out[name]), name
        assert name in why, name
    assert "transfer verdict" in why["land_development_rate_pct"]
    assert "no source for supplied land" in why["land_supply_rate_pct"]
    assert "floor-area" in why["composite_far"]
    assert "no firm table" in why["industrial_tax_wan_per_ha"]


def test_a_built_parcel_without_floor_area_makes_the_ratio_not_computable(park):
    park.loc[0, "JZMJ"] = np.nan
    row = _full(park).loc[ALL_LABEL]
    assert np.isnan(row["composite_far"])
    assert (
        json.loads(row["not_computable"])["composite_far"] == "1 built parcels have no floor area"
    )


def test_bad_options_are_refused(park):
    with pytest.raises(EfficiencyError, match="status_field 'STATUS'"):
        park_efficiency(park, status_field="STATUS")
    with pytest.raises(EfficiencyError, match="area_field"):
        park_efficiency(park.drop(columns="area_ha"))


def test_merges_one_to_one_into_park_summary_on_the_sample(sample_result):
    parcels = sample_result.parcels
    kinds = list(sample_result.inputs.constraints)
    summary = park_summary(parcels, kinds, "QY")
    eff = park_efficiency(
        parcels, group_field="QY", status_field="ZT", supplied_values=("已出让", "在建")
    )
    merged = summary.merge(eff, on=MERGE_KEY, how="left", validate="one_to_one")
    assert len(merged) == len(summary) == 4
    assert merged["land_total_ha"].notna().all()
    row = merged.set_index(MERGE_KEY).loc[ALL_LABEL]
    assert row["land_total_ha"] == pytest.approx(parcels["area_ellipsoidal_ha"].sum())
    assert 0 < row["land_development_rate_pct"] <= 100
    assert 0 < row["land_supply_rate_pct"] <= 100
    assert np.isnan(row["land_built_rate_pct"])  # the sample has no 已建成 status
    assert "built_values" in json.loads(row["not_computable"])["land_built_rate_pct"]

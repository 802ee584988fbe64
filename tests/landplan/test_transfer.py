import json

import numpy as np
import pandas as pd
import pytest

from landplan.analysis.transfer import decide, reason_counts
from landplan.core.policy import load_policy


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _table(**cols):
    base = {
        "area_m2": [10_000.0],
        "geometry_empty": [False],
        "excluded_red_line_m2": [0.0],
        "excluded_urban_boundary_m2": [0.0],
        "net_available_m2": [10_000.0],
        "dist_road_m": [5.0],
        "dist_planned_road_m": [np.nan],
        "dist_water_m": [5.0],
        "dist_planned_water_m": [np.nan],
        "dist_power_m": [5.0],
        "dist_planned_power_m": [np.nan],
    }
    base.update({k: [v] for k, v in cols.items()})
    return pd.DataFrame(base)


def _decide(policy, **cols):
    out = decide(
        _table(**cols),
        policy,
        constraint_kinds=["red_line", "urban_boundary"],
        network_kinds=["road", "water", "power"],
    )
    return out.iloc[0], json.loads(out["reasons"].iat[0])


def test_clean_parcel_is_transferable(policy):
    row, reasons = _decide(policy)
    assert row["transferable"] and row["verdict"] == "transferable" and reasons == []


def test_red_line_overlap_blocks_with_value_threshold_basis_and_both_languages(policy):
    row, reasons = _decide(policy, excluded_red_line_m2=2500.0, net_available_m2=7500.0)
    assert row["verdict"] == "blocked"
    (r,) = reasons
    assert r["code"] == "RED_LINE_OVERLAP" and r["severity"] == "block"
    assert (
        r["value"] == 2500.0 and r["threshold"] == policy.tolerances.sliver_m2 and r["unit"] == "m2"
    )
    assert (
        "生态保护红线" in r["message_zh"]
        and "2500.00 m²" in r["message_zh"]
        and "25.0%" in r["message_zh"]
    )
    assert "ecological protection red line" in r["message_en"]
    assert "生态保护红线" in r["basis"]


def test_a_sliver_is_a_warning_that_says_how_much(policy):
    row, reasons = _decide(policy, excluded_red_line_m2=3.25, net_available_m2=9996.75)
    assert row["transferable"] and row["verdict"] == "transferable_with_warnings"
    (r,) = reasons
    assert r["code"] == "RED_LINE_OVERLAP" and r["severity"] == "warn" and r["value"] == 3.25
    assert "3.25 m²" in r["message_zh"] and "3.25 m²" in r["message_en"]


def test_outside_boundary_and_missing_networks_are_all_listed(policy):
    row, reasons = _decide(
        policy,
        excluded_urban_boundary_m2=10_000.0,
        dist_water_m=850.0,
        dist_planned_water_m=12.0,
        dist_power_m=np.nan,
    )
    codes = [r["code"] for r in reasons]
    assert codes == ["OUTSIDE_URBAN_BOUNDARY", "NETWORK_MISSING:water", "NETWORK_MISSING:power"]
    water = reasons[1]
    assert water["value"] == 850.0 and water["threshold"] == 200.0 and water["unit"] == "m"
    assert (
        "规划给水距 12 m" in water["message_zh"]
        and "planned water supply runs 12 m" in water["message_en"]
    )
    assert reasons[2]["value"] is None and "没有已建供电" in reasons[2]["message_zh"]
    assert row["reason_codes"] == ";".join(codes)


def test_no_available_land_and_empty_geometry(policy):
    _, reasons = _decide(policy, excluded_red_line_m2=10_000.0, net_available_m2=0.0)
    assert [r["code"] for r in reasons] == ["RED_LINE_OVERLAP", "NO_AVAILABLE_LAND"]
    row, reasons = _decide(policy, geometry_empty=True, area_m2=0.0, net_available_m2=0.0)
    assert not row["transferable"] and [r["code"] for r in reasons] == ["GEOMETRY_EMPTY"]


def test_warn_networks_do_not_block(policy):
    t = _table(dist_sewer_m=900.0, dist_planned_sewer_m=np.nan)
    out = decide(t, policy, constraint_kinds=[], network_kinds=["road", "water", "power", "sewer"])
    assert out["verdict"].iat[0] == "transferable_with_warnings"
    assert json.loads(out["reasons"].iat[0])[0]["severity"] == "warn"


def test_reason_counts():
    reasons = [
        json.dumps([{"code": "A", "severity": "block"}]),
        json.dumps([]),
        json.dumps([{"code": "A", "severity": "block"}, {"code": "B", "severity": "warn"}]),
    ]
    c = reason_counts(reasons, [1.0, 2.0, 3.0])
    assert c.to_dict("records") == [
        {"code": "A", "severity": "block", "parcels": 2, "area_mu": 4.0},
        {"code": "B", "severity": "warn", "parcels": 1, "area_mu": 3.0},
    ]


def test_touching_boundaries_are_not_slivers(policy):
    row, reasons = _decide(policy, excluded_red_line_m2=1e-9)
    assert row["verdict"] == "transferable" and reasons == []

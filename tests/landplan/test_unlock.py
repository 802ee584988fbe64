"""landplan.planning.unlock: a hand-computed case, the greedy vs the MILP optimum, the sample, bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from landplan.core.errors import PolicyError
from landplan.core.policy import load_policy
from landplan.planning.unlock import (
    build_candidates,
    eligible_parcels,
    greedy_rank,
    optimal_plan,
)
from landplan.planning.unlock_answer import unlock_plan
from tests.helpers import GK, X0, Y0, box


def _reason(code: str, severity: str = "block") -> dict:
    return {"code": code, "severity": severity, "value": None, "threshold": None, "unit": "",
            "basis": "", "message_zh": "", "message_en": ""}  # fmt: skip


def _line(*xy) -> shapely.LineString:
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in xy])


@pytest.fixture
def case() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """P1 10 亩 needs road; P2 20 亩 needs road + water; P3 5 亩 needs water; P6 6 亩 needs power
    (no planned power: a straight-line extension); P4 transferable; P5 red line + road (not eligible).

    Planned: R1 road (10 万元) serves P1, P2; R2 road (4) serves P1 only; W1 water (10) serves
    P2, P3; R9 road (1) serves nothing.  Built: a power line 500 m east of P6.
    """
    m = "NETWORK_MISSING:"
    reasons = {
        "P1": [_reason(m + "road")],
        "P2": [_reason(m + "road"), _reason(m + "water"), _reason(m + "sewer", "warn")],
        "P3": [_reason(m + "water")],
        "P4": [],
        "P5": [_reason("RED_LINE_OVERLAP"), _reason(m + "road")],
        "P6": [_reason(m + "power")],
    }
    geoms = [box(0, 0, 100, 100), box(1000, 0, 100, 100), box(2000, 0, 100, 100),
             box(3000, 0, 100, 100), box(4000, 0, 100, 100), box(5000, 0, 100, 100)]  # fmt: skip
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": list(reasons),
            "net_available_mu": [10.0, 20.0, 5.0, 8.0, 7.0, 6.0],
            "transferable": [False, False, False, True, False, False],
            "reasons": [json.dumps(r) for r in reasons.values()],
            "ZT": ["储备", "标准地", "储备", "标准地", "储备", "储备"],
        },
        geometry=geoms,
        crs=GK,
    )
    networks = gpd.GeoDataFrame(
        {
            "kind": ["road", "road", "water", "road", "power"],
            "status": ["planned", "planned", "planned", "planned", "built"],
            "name": ["R1", "R2", "W1", "R9", "P-built"],
            "cost": [10.0, 4.0, 10.0, 1.0, np.nan],
        },
        geometry=[
            _line((0, 150), (1100, 150)),
            _line((0, -150), (100, -150)),
            _line((1000, -150), (2100, -150)),
            _line((9000, 0), (9100, 0)),
            _line((5600, -500), (5600, 500)),
        ],
        crs=GK,
    )
    return parcels, networks


POLICY = load_policy("national")


def test_eligible_parcels_are_blocked_by_networks_only(case):
    e = eligible_parcels(case[0])
    assert e["parcel_id"].tolist() == ["P1", "P2", "P3", "P6"]
    assert e["missing"].tolist() == [("road",), ("road", "water"), ("water",), ("power",)]


def test_candidates_serve_and_extension_cost(case):
    c = build_candidates(*case, POLICY, cost_field="cost")
    at = c.atoms.set_index("name")
    assert at.loc[["R1", "R2", "W1", "R9"], "cost_wan"].tolist() == [10.0, 4.0, 10.0, 1.0]
    ext = c.atoms[c.atoms["source"] == "extension"].iloc[0]
    # straight line 500 m less connectable_m 300 m = 200 m at 600 元/m = 12 万元
    assert ext["atom_id"] == "E:power:P6"
    assert ext["length_m"] == pytest.approx(200.0)
    assert ext["cost_wan"] == pytest.approx(12.0)
    served = {
        c.atoms["name"].iat[a]: sorted(
            f"{c.eligible['parcel_id'].iat[c.pair_parcel[q]]}:{c.pair_kind[q]}"
            for q in c.serves[a].indices
        )
        for a in range(len(c.atoms))
    }
    assert served["R1"] == ["P1:road", "P2:road"]
    assert served["R2"] == ["P1:road"]
    assert served["W1"] == ["P2:water", "P3:water"]
    assert served["R9"] == []
    assert not c.candidates["group"].any()  # R1 and W1 are 300 m apart: no street bundle


def test_greedy_ranking_and_curve_are_exact(case):
    res = unlock_plan(*case, POLICY, cost_field="cost")
    t = res.table
    # step 1: R2 (10 亩 / 4 万元 = 2.5) beats R1 (1.0), W1 (0.5) and the bundle R1+W1 (35/20 = 1.75)
    # step 2: R1 now unlocks nothing alone; the bundle R1+W1 completes P2 (both kinds) and P3: 25/20
    # step 3: the power extension, 6/12; then R9 unlocks nothing and is ranked last
    assert t["segments"].tolist() == ["R2", "R1;W1", "供电外延 → P6", "R9"]
    assert t["mu_unlocked"].tolist() == pytest.approx([10.0, 25.0, 6.0, 0.0])
    assert t["cost_wan"].tolist() == pytest.approx([4.0, 20.0, 12.0, 1.0])
    assert t["parcel_ids"].tolist() == ["P1", "P2;P3", "P6", ""]
    assert t["mu_per_wan"].tolist() == pytest.approx([2.5, 1.25, 0.5, 0.0])
    assert res.curve["budget_wan"].tolist() == pytest.approx([0, 4, 24, 36])
    assert res.curve["mu_unlocked"].tolist() == pytest.approx([0, 10, 35, 41])
    assert res.curve["transferable_mu"].tolist() == pytest.approx([8, 18, 43, 49])
    assert res.sentence_zh.startswith(
        "建设以下 4 段管网/道路（36.0 万元）可新增可出让土地 41.00 亩"
    )
    assert "其中标准地 20.00 亩" in res.sentence_zh
    assert res.sentence_en.startswith("Build these 4 segments for 36.0 万元 and 41.00 more mu")


def test_greedy_against_the_milp_optimum(case):
    c = build_candidates(*case, POLICY, cost_field="cost")
    for budget, mu in ((4.0, 10.0), (24.0, 35.0), (36.0, 41.0)):
        assert greedy_rank(c, budget_wan=budget).mu == pytest.approx(mu)
        assert optimal_plan(c, budget_wan=budget).mu == pytest.approx(mu)
    # at 20 万元 the ratio greedy would take R2 then W1 (15 亩); the largest single buy within
    # the budget (the bundle R1+W1, 35 亩) wins, as the optimum does
    assert optimal_plan(c, budget_wan=20.0).mu == pytest.approx(35.0)
    assert greedy_rank(c, budget_wan=20.0).mu == pytest.approx(35.0)
    # at 14 万元: greedy R2 + W1 = 15 亩; optimum the same
    assert greedy_rank(c, budget_wan=14.0).mu == pytest.approx(15.0)
    assert optimal_plan(c, budget_wan=14.0).mu == pytest.approx(15.0)
    res = unlock_plan(*case, POLICY, cost_field="cost")
    assert res.gaps is not None and (res.gaps["gap_mu"] >= 0).all()


def test_budget_below_any_candidate(case):
    res = unlock_plan(*case, POLICY, cost_field="cost", budget_wan=3.0)
    assert len(res.chosen.steps) == 0
    assert "不足以建设任何一段" in res.sentence_zh and "4.0 万元" in res.sentence_zh
    assert res.sentence_en.startswith("A budget of 3.0 万元 buys no segment")


def test_budget_picks_a_subset(case):
    res = unlock_plan(*case, POLICY, cost_field="cost", budget_wan=24.0)
    assert res.chosen.mu == pytest.approx(35.0)
    assert res.sentence_zh.startswith(
        "建设以下 3 段管网/道路（24.0 万元）可新增可出让土地 35.00 亩"
    )


def test_network_without_status_only_extensions(case):
    parcels, networks = case
    res = unlock_plan(parcels, networks.drop(columns="status"), POLICY)
    assert "no planned segments; only extensions considered" in res.notes
    assert set(res.candidates.atoms["source"]) == {"extension"}
    # every needed kind except power now has built lines (the planned ones counted as built):
    assert res.chosen.mu > 0


def test_scope_restricts_the_objective(case):
    res = unlock_plan(*case, POLICY, cost_field="cost", scope=("ZT", "标准地"))
    assert res.candidates.eligible["parcel_id"].tolist() == ["P2"]
    assert res.chosen.mu == pytest.approx(20.0)
    assert "可新增可出让标准地 20.00 亩" in res.sentence_zh
    assert "more mu of standard land" in res.sentence_en


def test_unit_cost_missing_is_a_policy_error(case):
    parcels, networks = case
    networks = networks.assign(kind=networks["kind"].replace("power", "road"))
    bad = POLICY.model_copy(
        update={"costs": POLICY.costs.model_copy(update={"extension_yuan_per_m": {"road": 1.0}})}
    )
    with pytest.raises(PolicyError, match="water"):
        build_candidates(parcels, networks, bad)


def test_sample_workspace(sample_result, tmp_path):
    from landplan.store.workspace import GpkgWorkspace

    ws = GpkgWorkspace(tmp_path / "ws")
    ws.write_result(sample_result)
    parcels = ws.read_layer("result_parcels")
    res = unlock_plan(parcels, ws.read_layer("networks"), sample_result.policy)
    summary = sample_result.summary.iloc[0]
    assert res.baseline_mu == pytest.approx(summary["transferable_net_mu"])
    e = res.candidates.eligible
    blocked_net_only = e["mu"].sum()
    assert res.full.mu == pytest.approx(e.loc[e["reachable"], "mu"].sum())
    assert res.full.mu <= blocked_net_only + 1e-9
    std = parcels["ZT"] == "标准地"
    std_blocked = parcels.loc[std & ~parcels["transferable"], "net_available_mu"].sum()
    assert res.focus_baseline_mu == pytest.approx(
        parcels.loc[std, "net_available_mu"].sum() - std_blocked
    )
    assert res.focus_mu == pytest.approx(std_blocked)  # all blocked standard land is unlockable
    assert res.sentence_zh.startswith("建设以下 ")
    assert f"其中标准地 {std_blocked:,.2f} 亩" in res.sentence_zh
    # the ranking is in non-increasing... at least the curve is monotone and ends at the total
    assert np.all(np.diff(res.curve["mu_unlocked"]) >= 0)
    assert res.curve["mu_unlocked"].iat[-1] == pytest.approx(res.full.mu)


def test_pruning_keeps_every_needed_segment(case):
    from landplan.planning.unlock import prune_plan

    c = build_candidates(*case, POLICY, cost_field="cost")
    full = greedy_rank(c)
    kept, cost = prune_plan(c, full)
    # greedy bought R2 (P1's road, 4 万元) first; R1, bought next for P2, also serves P1's road,
    # so R2 is redundant: the same 41 亩 for 32 万元
    assert c.atoms["atom_id"].to_numpy()[kept].tolist() == ["S0", "S2", "E:power:P6"]
    assert cost == pytest.approx(32.0)
    # every (parcel, kind) pair of an unlocked parcel is still served by a kept segment
    unlocked = np.flatnonzero(full.unlocked_at > 0)
    needed = np.flatnonzero(np.isin(c.pair_parcel, unlocked))
    assert (np.asarray(c.serves.tocsr()[kept][:, needed].sum(axis=0)).ravel() >= 1).all()

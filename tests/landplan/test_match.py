"""landplan.planning.matching: a hand-built grid against brute force, properties, the sample."""

from __future__ import annotations

import itertools
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landplan.core.errors import InputTableError
from landplan.indicators.check import check_projects
from landplan.planning.matching import (
    M2_PER_MU,
    connected_sets,
    match_projects,
    read_projects,
    validate_projects,
)
from tests.helpers import GK, box


def _grid(areas, *, cols, transferable=None, slope=None, req_invest=None, cost=None):
    """Parcels on a ``cols``-wide grid of 100 m boxes with the given net areas (亩)."""
    n = len(areas)
    rng = np.random.default_rng(len(areas))
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"P{i + 1}" for i in range(n)],
            "net_available_mu": areas,
            "transferable": [True] * n if transferable is None else transferable,
            "reasons": [json.dumps([])] * n,
            "slope_mean_deg": [1.0] * n if slope is None else slope,
            "dev_cost_wan_per_mu": rng.uniform(1, 9, n) if cost is None else cost,
            "suitability_mean": rng.uniform(60, 100, n),
            "dist_road_m": rng.uniform(0, 200, n),
            "net_road_status": ["connected"] * n,
            "net_water_status": ["connected"] * (n - 1) + ["needs_extension"],
            "ZT": ["储备"] * n,
            "QY": ["甲"] * n,
            **({} if req_invest is None else {"req_invest_wan_per_mu": req_invest}),
        },
        geometry=[box(100 * (i % cols), -100 * (i // cols), 100, 100) for i in range(n)],
        crs=GK,
    )


def _projects(rows):
    cols = ["project_id", "min_mu", "max_mu", "invest_wan", "networks", "max_slope_deg"]
    return validate_projects(pd.DataFrame(rows, columns=cols))


def _adjacent(parcels):
    g = parcels.geometry.values
    n = len(g)
    return {
        (i, j)
        for i in range(n)
        for j in range(n)
        if i != j and shapely.intersection(g[i].boundary, g[j].boundary).length >= 1.0
    }


def _brute_sets(parcels, pool, lo, hi):
    adj = _adjacent(parcels)
    area = parcels["net_available_mu"].to_numpy()
    out = set()
    for k in range(1, len(pool) + 1):
        for s in itertools.combinations(sorted(pool), k):
            if not lo - 1e-9 <= area[list(s)].sum() <= hi + 1e-9:
                continue
            seen, todo = {s[0]}, [s[0]]
            while todo:
                a = todo.pop()
                for b in s:
                    if b not in seen and (a, b) in adj:
                        seen.add(b)
                        todo.append(b)
            if len(seen) == len(s):
                out.add(s)
    return out


def _brute_assign(cands, projects):
    """Best (placed, score) over every choice of ≤ 1 candidate per project, no parcel twice."""
    options = [[None, *cands.index[cands["project_id"] == p]] for p in projects]
    best = (0, 0.0)
    for combo in itertools.product(*options):
        used, ok = set(), True
        for k in combo:
            if k is None:
                continue
            s = set(cands.at[k, "parcels"])
            if used & s:
                ok = False
                break
            used |= s
        if ok:
            picked = [k for k in combo if k is not None]
            val = (len(picked), round(float(cands.loc[picked, "score"].sum()), 9))
            best = max(best, val)
    return best


@pytest.fixture
def grid():
    """P1 P2 P3 / P4 P5 P6 (areas 10 12 20 / 8 15 30); P3 steep (12°); P6 not transferable;
    notice: investment ≥ 300 万元/亩 everywhere."""
    return _grid(
        [10.0, 12.0, 20.0, 8.0, 15.0, 30.0], cols=3,
        transferable=[True, True, True, True, True, False],
        slope=[1.0, 1.0, 12.0, 1.0, 1.0, 1.0], req_invest=[300.0] * 6,
        cost=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    )  # fmt: skip


def test_hand_built_matches_brute_force(grid):
    projects = _projects([
        ("X", 20, 25, 6600, "road", 10),  # 6600 / 22 = 300: groups above 22 亩 fail the notice
        ("Y", 18, 30, 9000, "road", 10),
        ("Z", 8, 12, 4000, "road;water", 10),
    ])  # fmt: skip
    res = match_projects(projects, grid, enum_limit=10_000)
    c = res.candidates
    area = grid["net_available_mu"].to_numpy()
    for pid, lo, hi in (("X", 20, 25), ("Y", 18, 30), ("Z", 8, 12)):
        # pool: transferable (not P6), not steep (not P3); Z also needs water (P6 lacks it anyway)
        want = _brute_sets(grid, [0, 1, 3, 4], lo, hi)
        got = set(c.loc[c["project_id"] == pid, "parcels"])
        assert got == want, pid
    x = c[c["project_id"] == "X"]
    assert (x["pass"] == (x["area_mu"] <= 22.0 + 1e-9)).all()
    offered = c[c["pass"] & c["in_top"]].reset_index(drop=True)
    best = _brute_assign(offered, ["X", "Y", "Z"])
    m = res.matches
    chosen = m[m["assigned"]]
    assert (len(chosen), round(chosen["score"].sum(), 9)) == pytest.approx(best)
    ids = [p for s in chosen["parcel_ids"] for p in s.split(";")]
    assert len(ids) == len(set(ids))
    joint, single = res.summary.iloc[0], res.summary.iloc[1]
    assert (joint["placed"], joint["total_score"]) >= (
        single["placed"],
        single["total_score"] - 1e-9,
    )
    # every parcel the project did not get has one reason
    u = res.unmatched
    for pid in ("X", "Y", "Z"):
        got = set(";".join(chosen.loc[chosen["project_id"] == pid, "parcel_ids"]).split(";"))
        rest = set(grid["parcel_id"]) - got
        assert set(u.loc[u["project_id"] == pid, "parcel_id"]) == rest
    why = u.set_index(["project_id", "parcel_id"])["code"]
    assert why[("X", "P6")] == "NOT_READY" and why[("X", "P3")] == "TOO_STEEP"
    assert why[("Z", "P6")] == "NOT_READY"  # the first reason wins (also lacks water)
    assert why[("X", "P6")] == "NOT_READY"
    assert area.sum() > 0


def test_indicator_and_taken_reasons():
    # a row of three: P1 12 | P2 12 | P3 12; two projects of 10–13 亩 and one of 20–26
    parcels = _grid([12.0, 12.0, 12.0], cols=3, req_invest=[300.0] * 3)
    projects = _projects([
        ("A", 10, 13, 3900, "road", 10), ("B", 10, 13, 3900, "road", 10),
        ("C", 20, 26, 3000, "road", 10),  # 3000 / 24 = 125 < 300: every group fails
    ])  # fmt: skip
    res = match_projects(projects, parcels)
    u = res.unmatched.set_index(["project_id", "parcel_id"])["code"]
    assert set(res.unmatched.loc[res.unmatched["project_id"] == "C", "code"]) == {
        "INDICATOR_NOT_MET"
    }
    m = res.matches[res.matches["assigned"]]
    assert sorted(m["project_id"]) == ["A", "B"]
    taken_by_b = m.loc[m["project_id"] == "B", "parcel_ids"].iat[0]
    assert u[("A", taken_by_b)] == "TAKEN_BY_OTHER"
    assert (
        "投资强度" in res.candidates.loc[res.candidates["project_id"] == "C", "reasons_zh"].iat[0]
    )


def test_joint_beats_one_at_a_time():
    # P1 (10) P2 (10) P3 (10) in a row. A (10–20) comes first and would take the best-scoring
    # pair; B needs 20 and fits only P1+P2 or P2+P3.  Costs make A's best P1+P2 … with P2 dear
    parcels = _grid([10.0, 10.0, 10.0], cols=3, cost=[1.0, 1.0, 1.0])
    parcels["suitability_mean"] = [100.0, 100.0, 10.0]
    projects = _projects([("A", 10, 20, 100, "road", 10), ("B", 20, 20, 100, "road", 10)])
    res = match_projects(projects, parcels)
    joint, single = res.summary.iloc[0], res.summary.iloc[1]
    assert joint["placed"] == 2
    assert single["placed"] <= joint["placed"]
    assert (joint["placed"], joint["total_score"]) >= (single["placed"], single["total_score"])


def test_ready_by_a_plan():
    parcels = _grid([10.0, 10.0], cols=2, transferable=[True, False])
    projects = _projects([("A", 20, 20, 100, "road", 10)])
    plan = pd.DataFrame({"parcel_id": ["P2"], "unlocked_year": [2027], "missing": ["road"]})
    assert len(match_projects(projects, parcels, by=2026, ready_year=plan).matches) == 0
    res = match_projects(projects, parcels, by=2027, ready_year=plan)
    assert res.matches["parcel_ids"].tolist() == ["P1;P2"]
    assert res.matches["ready_year"].tolist() == [2027]


def test_reclaimed_land_returns_to_the_pool():
    parcels = _grid([10.0, 10.0], cols=2)
    parcels["ZT"] = ["已出让", "储备"]
    projects = _projects([("A", 20, 20, 100, "road", 10)])
    assert len(match_projects(projects, parcels).matches) == 0
    res = match_projects(projects, parcels, reclaimed={"P1"})
    assert res.matches["reclaimed"].tolist() == [True]


def test_bad_projects(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("project_id,min_mu\nA,5\n", encoding="utf-8")
    with pytest.raises(InputTableError, match="max_mu"):
        read_projects(p)
    p.write_text("项目编号,最小面积亩,最大面积亩,投资万元\nA,50,40,100\n", encoding="utf-8")
    with pytest.raises(InputTableError, match="min_mu ≤ max_mu"):
        read_projects(p)
    p.write_text("project_id,min_mu,max_mu,invest_wan\nA,5,x,100\n", encoding="utf-8")
    with pytest.raises(InputTableError, match="max_mu is not a number"):
        read_projects(p)


def test_connected_sets_limit():
    nbr = [{1}, {0, 2}, {1}]
    assert sorted(connected_sets([0, 1, 2], nbr, np.ones(3), 1, 3)) == [
        (0,), (0, 1), (0, 1, 2), (1,), (1, 2), (2,)
    ]  # fmt: skip
    assert sorted(connected_sets([0, 2], nbr, np.ones(3), 2, 2)) == []


# --------------------------------------------------------------------------- properties


@st.composite
def cases(draw):
    cols = draw(st.integers(1, 3))
    n = draw(st.integers(2, 6))
    areas = [float(draw(st.integers(3, 15))) for _ in range(n)]
    parcels = _grid(
        areas, cols=cols, transferable=[draw(st.booleans()) or i == 0 for i in range(n)],
        slope=[float(draw(st.integers(0, 12))) for _ in range(n)],
        req_invest=[float(draw(st.sampled_from([100, 200, 300]))) for _ in range(n)],
    )  # fmt: skip
    rows = []
    for k in range(draw(st.integers(1, 3))):
        lo = float(draw(st.integers(3, 25)))
        rows.append((f"J{k}", lo, lo + draw(st.integers(0, 15)), float(draw(st.integers(500, 6000))),
                     draw(st.sampled_from(["road", "road;water"])), float(draw(st.integers(4, 12)))))  # fmt: skip
    return parcels, _projects(rows)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_match_properties(case):
    parcels, projects = case
    res = match_projects(projects, parcels)
    m, c = res.matches, res.candidates
    assigned = m[m["assigned"]]
    ids = [p for s in assigned["parcel_ids"] for p in s.split(";")]
    assert len(ids) == len(set(ids))  # never a parcel twice
    assert assigned["project_id"].is_unique
    if len(m):
        assert m["pass"].all()
        # every offered candidate passes the indicator check it reports (re-run independently)
        proj = projects.set_index("project_id").loc[m["project_id"]]
        req = [parcels.set_index("parcel_id").loc[s.split(";"), "req_invest_wan_per_mu"].max()
               for s in m["parcel_ids"]]  # fmt: skip
        again = check_projects(pd.DataFrame({
            "project_id": [f"r{i}" for i in range(len(m))],
            "land_area_m2": m["area_mu"].to_numpy() * M2_PER_MU,
            "fixed_investment_wan": proj["invest_wan"].to_numpy(),
            "req_invest_wan_per_mu": req,
        }))  # fmt: skip
        assert again["pass"].all()
        assert (m["verdict"] != "fail").all()
        lo = proj["min_mu"].to_numpy() - 1e-9
        hi = proj["max_mu"].to_numpy() + 1e-9
        assert ((m["area_mu"].to_numpy() >= lo) & (m["area_mu"].to_numpy() <= hi)).all()
    joint, single = res.summary.iloc[0], res.summary.iloc[1]
    assert (joint["placed"], round(joint["total_score"], 9)) >= (
        single["placed"], round(single["total_score"], 9) - 1e-9
    )  # fmt: skip
    offered = c[c["pass"] & c["in_top"]].reset_index(drop=True) if len(c) else c
    if len(offered) and len(offered) <= 14:
        best = _brute_assign(offered, projects["project_id"].tolist())
        assert (joint["placed"], joint["total_score"]) == pytest.approx(best)


# --------------------------------------------------------------------------- the sample


def test_sample_match(sample_result, tmp_path):
    from landplan.store.workspace import GpkgWorkspace

    ws = GpkgWorkspace(tmp_path / "ws")
    ws.write_result(sample_result)
    parcels = ws.read_layer("result_parcels")
    projects = _projects([
        ("A", 40, 60, 30000, "road;water;power", 8), ("B", 20, 30, 8000, "road;water", 10),
        ("C", 10, 15, 3000, "road", 5),
    ])  # fmt: skip
    res = match_projects(projects, parcels, max_seeds=100)
    assigned = res.matches[res.matches["assigned"]]
    assert sorted(assigned["project_id"]) == ["A", "B", "C"]
    ids = [p for s in assigned["parcel_ids"] for p in s.split(";")]
    assert len(ids) == len(set(ids))
    sold = set(parcels.loc[parcels["ZT"].isin(["已出让", "在建"]), "parcel_id"])
    assert not sold & set(ids)
    ready = set(parcels.loc[parcels["transferable"], "parcel_id"])
    assert set(ids) <= ready


def test_peer_average_blocks_weak_projects():
    parcels = _grid([10.0, 10.0], cols=2)
    projects = validate_projects(pd.DataFrame({
        "project_id": ["weak", "strong"], "industry_code": ["C2661", "C2661"],
        "min_mu": [10, 10], "max_mu": [10, 10], "invest_wan": [2000.0, 4000.0],
        "networks": ["road", "road"]}))  # fmt: skip
    # peers of division 26 average 300 万元/亩: weak (200) fails, strong (400) passes
    peers = pd.DataFrame({"industry_code": ["C2661", "C2614"], "land_area_mu": [10.0, 10.0],
                          "fixed_investment_wan": [2000.0, 4000.0]})  # fmt: skip
    res = match_projects(projects, parcels, peers=peers)
    c = res.candidates.set_index("project_id")
    assert not c.loc["weak", "pass"].any() and c.loc["strong", "pass"].all()
    assert "低于同类已建项目平均" in c.loc["weak", "reasons_zh"].iat[0]
    u = res.unmatched[res.unmatched["project_id"] == "weak"]
    assert set(u["code"]) == {"INDICATOR_NOT_MET"}
    assert res.matches["project_id"].unique().tolist() == ["strong"]

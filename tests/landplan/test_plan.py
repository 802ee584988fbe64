"""landplan.planning.supply_plan: hand-built optima against brute force, properties, the sample."""

from __future__ import annotations

import itertools
import json
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landplan.core.errors import InputTableError
from landplan.core.policy import load_policy
from landplan.planning.supply_answer import gap_to_target, plan_sentences
from landplan.planning.supply_plan import build_problem, parse_budgets, plan_supply
from landplan.planning.unlock import greedy_rank
from tests.helpers import GK, X0, Y0, box

POLICY = load_policy("national")
CONNECT_M = 30.0


def _reasons(kinds) -> str:
    return json.dumps([{"code": f"NETWORK_MISSING:{k}", "severity": "block", "value": None,
                        "threshold": None, "unit": "", "basis": "", "message_zh": "",
                        "message_en": ""} for k in kinds])  # fmt: skip


def _line(*xy) -> shapely.LineString:
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in xy])


def _parcels(specs) -> gpd.GeoDataFrame:
    """specs: (id, x, mu, missing kinds) → 100 m boxes at (x, 0); mu given; one transferable extra."""
    rows = [*specs, ("T0", -3000.0, 50.0, ())]
    return gpd.GeoDataFrame(
        {
            "parcel_id": [r[0] for r in rows],
            "net_available_mu": [r[2] for r in rows],
            "transferable": [len(r[3]) == 0 for r in rows],
            "reasons": [_reasons(r[3]) for r in rows],
        },
        geometry=[box(r[1], 0, 100, 100) for r in rows],
        crs=GK,
    )


@pytest.fixture
def chain():
    """Roads: built B (x −2000…−1000); planned R1 (−1000…0, touches B, cost 10), R2 (0…1000,
    touches R1 only, cost 10), R3 (3000…3100, isolated but independent, cost 5), R4 (5000…5100,
    isolated, never buildable, cost 1).  Water: built far east; planned W1 at P2 (cost 8, touches
    a built pipe).

    P1 (x 0, 10 亩) needs road (R1 or R2 within 200 m); P2 (x 900, 30 亩) needs road (R2) and
    water (W1); P3 (x 3000, 6 亩) road (R3); P4 (x 5000, 50 亩) road (R4 only: never).
    """
    parcels = _parcels([
        ("P1", -50.0, 10.0, ("road",)), ("P2", 900.0, 30.0, ("road", "water")),
        ("P3", 3000.0, 6.0, ("road",)), ("P4", 5000.0, 50.0, ("road",)),
    ])  # fmt: skip
    nets = gpd.GeoDataFrame(
        {
            "kind": ["road", "road", "road", "road", "road", "water", "water"],
            "status": ["built", "planned", "planned", "planned", "planned", "built", "planned"],
            "name": ["B", "R1", "R2", "R3", "R4", "WB", "W1"],
            "cost": [np.nan, 10.0, 10.0, 5.0, 1.0, np.nan, 8.0],
            "independent": [0, 0, 0, 1, 0, 0, 0],
        },
        geometry=[
            _line((-2000, -150), (-1000, -150)),
            _line((-1000, -150), (0, -150)),
            _line((0, -150), (1000, -150)),
            _line((3000, -150), (3100, -150)),
            _line((5000, 250), (5100, 250)),
            _line((1000, 400), (2500, 400)),
            _line((900, 250), (1000, 400)),
        ],
        crs=GK,
    )
    # R4 serves P4 (150 m) but touches no built road and is not independent: never buildable,
    # and P4 gets no extension since a planned segment serves it
    return parcels, nets


def _connected(pb, funded, year, nets):
    """Independent check: atoms funded by ``year`` reachable from a root, from the geometry."""
    at = pb.cands.atoms
    on = (funded >= 0) & (funded <= year)
    built = nets[nets["status"] == "built"]
    indep = {f"S{i}" for i in nets.index[nets.get("independent", pd.Series(0, nets.index)) == 1]}
    ok = np.zeros(len(at), bool)
    for i in range(len(at)):
        if not on[i]:
            continue
        g, k = at.geometry.iat[i], at["kind"].iat[i]
        b = built[built["kind"] == k].geometry
        ok[i] = (at["source"].iat[i] == "extension" or at["atom_id"].iat[i] in indep
                 or (len(b) > 0 and b.distance(g).min() <= CONNECT_M))  # fmt: skip
    changed = True
    while changed:
        changed = False
        for i in np.flatnonzero(on & ~ok):
            for j in np.flatnonzero(ok):
                if at["kind"].iat[i] == at["kind"].iat[j] and \
                        at.geometry.iat[i].distance(at.geometry.iat[j]) <= CONNECT_M:  # fmt: skip
                    ok[i] = changed = True
                    break
    return ok


def _evaluate(pb, funded, nets):
    """Per year: cumulative unlocked 亩 (independent of the module's own evaluation)."""
    c = pb.cands
    mu = c.eligible["mu"].to_numpy()
    out = []
    for y in pb.years:
        live = _connected(pb, funded, y - pb.lead, nets) & (funded <= y - pb.lead)
        done = 0.0
        for p in range(len(c.eligible)):
            q = np.flatnonzero(c.pair_parcel == p)
            if len(q) and all(c.serves[np.flatnonzero(live), :][:, [qq]].nnz > 0 for qq in q):
                done += mu[p]
        out.append(done)
    return np.array(out)


def _spend_ok(pb, funded):
    cost = pb.cands.atoms["cost_wan"].to_numpy()
    spent = np.array([cost[funded == y].sum() for y in pb.years])
    if pb.carry_over:
        return bool(np.all(np.cumsum(spent) <= np.cumsum(pb.budgets) + 1e-6))
    return bool(np.all(spent <= pb.budgets + 1e-6))


def _brute(pb, nets):
    """Every assignment of a year (or none) to every atom: (best last, best Σ cum at best last,
    least cost per reachable last-year figure)."""
    na = len(pb.cands.atoms)
    choices = [-1, *pb.years]
    best = (-1.0, -1.0)
    cheapest: dict[float, float] = {}
    cost = pb.cands.atoms["cost_wan"].to_numpy()
    for combo in itertools.product(choices, repeat=na):
        f = np.array(combo)
        if not _spend_ok(pb, f):
            continue
        cum = _evaluate(pb, f, nets)
        key = (round(cum[-1], 6), round(cum.sum(), 6))
        best = max(best, key)
        c = float(cost[f >= 0].sum())
        cheapest[key[0]] = min(cheapest.get(key[0], math.inf), c)
    return best, cheapest


def test_parse_budgets():
    assert parse_budgets(["2027:5", "2026:3.5"]) == {2026: 3.5, 2027: 5.0}
    for bad in (["2026"], ["x:1"], ["2026:-1"], ["2026:1", "2026:2"], []):
        with pytest.raises(InputTableError):
            parse_budgets(bad)


def test_connectivity_and_roots(chain):
    pb = build_problem(*chain, POLICY, budgets={2026: 100}, cost_field="cost")
    at = pb.cands.atoms.set_index("name")
    names = pb.cands.atoms["name"].tolist()
    root = dict(zip(names, pb.root, strict=True))
    assert root["R1"] and not root["R2"] and root["R3"] and not root["R4"] and root["W1"]
    buildable = dict(zip(names, pb.buildable, strict=True))
    assert buildable["R2"] and not buildable["R4"]
    assert at.loc["R2", "cost_wan"] == 10.0
    assert any("never connect" in n for n in pb.notes)


@pytest.mark.parametrize(
    ("budgets", "lead", "carry", "last", "cum"),
    [
        # 20 万元 in one year: R1 (P1, 10) … R1+R2 (20) needs W1 too for P2: R1+R3 = 15 → 16 亩
        ({2026: 20}, 0, True, 16.0, 16.0),
        # two years of 14 with carry-over: 28 = R1 + R2 + W1 → P1 + P2 = 40 by 2027; R1 in 2026
        ({2026: 14, 2027: 14}, 0, True, 40.0, 10.0 + 40.0),
        # no carry-over: R2 + W1 = 18 > 14 in one year; R1 (2026) then R3 + W1 (2027) → 16
        ({2026: 14, 2027: 14}, 0, False, 16.0, 10.0 + 16.0),
        # lead time 1: only 2026 money serves by 2027: 28 → 40 亩 in 2027, nothing in 2026
        ({2026: 28, 2027: 100}, 1, True, 40.0, 0.0 + 40.0),
    ],
)
def test_hand_built_optimum_matches_brute_force(chain, budgets, lead, carry, last, cum):
    pb = build_problem(*chain, POLICY, budgets=budgets, lead_time_years=lead, carry_over=carry,
                       cost_field="cost")  # fmt: skip
    res = plan_supply(pb)
    assert res.method.startswith("MILP") and res.gap_pct < 0.01
    got = _evaluate(pb, res.funded, chain[1])
    (b_last, b_cum), _ = _brute(pb, chain[1])
    assert (got[-1], got.sum()) == pytest.approx((b_last, b_cum))
    assert (got[-1], got.sum()) == pytest.approx((last, cum))
    assert res.table["cumulative_transferable_mu"].iat[-1] == pytest.approx(50.0 + last)
    assert _spend_ok(pb, res.funded)
    # the heuristic on the same problem is feasible and never above the optimum
    heur = plan_supply(pb, milp_max_vars=0)
    assert heur.method == "heuristic" and _spend_ok(pb, heur.funded)
    h = _evaluate(pb, heur.funded, chain[1])
    assert h[-1] <= b_last + 1e-9 and heur.bound_mu >= b_last - 1e-6


def test_min_cost_to_target(chain):
    pb = build_problem(*chain, POLICY, budgets={2026: 30, 2027: 30}, cost_field="cost")
    total = pb.total_mu  # 146 亩 with T0; 50 transferable; P4 (50) never
    _, cheapest = _brute(pb, chain[1])
    for share in (0.45, 0.6, 0.65):
        need = share * total - 50.0
        want = min(c for m, c in cheapest.items() if m >= need - 1e-9)
        res = plan_supply(pb, target_share=share)
        spent = res.table["spent_wan"].sum()
        assert spent == pytest.approx(want), share
        assert res.table["cumulative_transferable_mu"].iat[-1] >= share * total - 1e-6
    # 0.7 × 146 = 102.2 > 96 reachable: infeasible, falls back to maximising, gap explained
    res = plan_supply(pb, target_share=0.7)
    assert any("cannot be reached" in n for n in res.notes)
    gap = gap_to_target(res)
    assert gap.other_mu == pytest.approx(0.7 * total - 96.0)
    zh, en = plan_sentences(res, gap)
    assert "非管网因素" in zh and "no network closes" in en


def test_answer_sentence_gap_and_extra_cost(chain):
    pb = build_problem(*chain, POLICY, budgets={2026: 10}, cost_field="cost")
    res = plan_supply(pb)
    gap = gap_to_target(res, time_limit_s=10)
    # reached 50 + 10 (R1); P2 (30) and P3 (6) closable at R1+R2+W1+R3 = 33 万元; P4 (50) other
    assert gap.reached_mu == pytest.approx(60.0)
    assert gap.closable_mu == pytest.approx(36.0)
    assert gap.other_mu == pytest.approx(50.0)
    assert gap.need_cost_wan == pytest.approx(33.0)
    assert gap.extra_wan == pytest.approx(23.0)
    zh, en = plan_sentences(res, gap)
    assert zh.startswith(
        "按此计划（1 年共投资 10.0 万元），2026 年底土地可出让 60.00 亩（41.1%，目标 100%）"
    )
    assert "缺口 86.00 亩" in zh and "需追加 23.0 万元" in zh
    assert "60.00 mu of land is transferable by the end of 2026" in en


# --------------------------------------------------------------------------- properties


@st.composite
def workspaces(draw):
    n = draw(st.integers(2, 4))
    kinds = ("road", "water")
    specs = []
    for i in range(n):
        miss = draw(st.sets(st.sampled_from(kinds), min_size=1, max_size=2))
        specs.append((f"P{i}", 400.0 * i, draw(st.floats(1, 20)), tuple(sorted(miss))))
    rows = [("road", "built", _line((-600, -150), (-200, -150)), 0),
            ("water", "built", _line((-600, 250), (-200, 250)), 0)]  # fmt: skip
    for k, y in (("road", -150), ("water", 250)):
        x = -200.0
        for _ in range(draw(st.integers(0, 2))):
            ln = draw(st.sampled_from([300.0, 400.0, 500.0]))
            gap = draw(st.sampled_from([0.0, 0.0, 100.0]))
            rows.append((k, "planned", _line((x + gap, y), (x + gap + ln, y)),
                         draw(st.sampled_from([0, 0, 1]))))  # fmt: skip
            x += gap + ln
    nets = gpd.GeoDataFrame(
        {"kind": [r[0] for r in rows], "status": [r[1] for r in rows],
         "name": [f"N{i}" for i in range(len(rows))], "independent": [r[3] for r in rows],
         "cost": [np.nan if r[1] == "built" else float(draw(st.integers(1, 9))) for r in rows]},
        geometry=[r[2] for r in rows], crs=GK,
    )  # fmt: skip
    years = draw(st.sampled_from([(2026,), (2026, 2027)]))
    budgets = {y: float(draw(st.integers(0, 60))) for y in years}
    return _parcels(specs), nets, budgets, draw(st.integers(0, 1)), draw(st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workspaces())
def test_plan_properties(ws):
    parcels, nets, budgets, lead, carry = ws
    pb = build_problem(parcels, nets, POLICY, budgets=budgets, lead_time_years=lead,
                       carry_over=carry, cost_field="cost")  # fmt: skip
    if len(pb.cands.atoms) > 6:
        return  # keep the brute force small
    for kw in ({}, {"milp_max_vars": 0}):
        res = plan_supply(pb, **kw)
        t = res.table
        assert _spend_ok(pb, res.funded)
        assert np.all(t["spent_wan"] <= t["available_wan"] + 1e-6)
        assert np.all(np.diff(t["cumulative_transferable_mu"]) >= -1e-9)
        # a parcel counts only when every missing kind is served by connected segments
        mu = pb.cands.eligible["mu"].to_numpy()
        uy = res.parcels["unlocked_year"].to_numpy()[: len(mu)]
        indep = _evaluate(pb, res.funded, nets)
        mine = np.array([mu[(uy > 0) & (uy <= y)].sum() for y in pb.years])
        assert mine == pytest.approx(indep)
        assert t["cumulative_transferable_mu"].to_numpy() == pytest.approx(pb.baseline_mu + mine)
        if not kw:
            (b_last, b_cum), _ = _brute(pb, nets)
            assert (indep[-1], indep.sum()) == pytest.approx((b_last, b_cum))


# --------------------------------------------------------------------------- the sample


@pytest.fixture(scope="module")
def sample_ws(sample_result, tmp_path_factory):
    from landplan.store.workspace import GpkgWorkspace

    ws = GpkgWorkspace(tmp_path_factory.mktemp("plan") / "ws")
    ws.write_result(sample_result)
    return ws.read_layer("result_parcels"), ws.read_layer("networks"), sample_result.policy


@pytest.mark.parametrize("scope", [None, ("ZT", "标准地")])
def test_sample_plan_beats_one_shot_greedy(sample_ws, scope):
    parcels, nets, pol = sample_ws
    budgets = {2026: 150.0, 2027: 150.0, 2028: 150.0}
    pb = build_problem(parcels, nets, pol, budgets=budgets, scope=scope)
    res = plan_supply(pb)
    greedy = greedy_rank(pb.cands, budget_wan=sum(budgets.values()))
    last = res.table["cumulative_transferable_mu"].iat[-1] - pb.baseline_mu
    assert last >= greedy.mu - 1e-6
    assert np.all(np.diff(res.table["cumulative_transferable_mu"]) >= 0)
    assert np.all(res.table["spent_wan"] <= res.table["available_wan"] + 1e-6)
    zh, en = plan_sentences(res, gap_to_target(res), label=scope[1] if scope else None)
    row = res.table.iloc[-1]
    m = re.search(r"2028 年底\S*可出让 ([\d,.]+) 亩（([\d.]+)%，目标 100%）", zh)
    assert m, zh
    assert float(m.group(1).replace(",", "")) == pytest.approx(
        row["cumulative_transferable_mu"], abs=0.005
    )
    assert float(m.group(2)) == pytest.approx(100 * row["cumulative_share"], abs=0.05)
    assert f"{res.table['spent_wan'].sum():,.1f} 万元" in zh
    assert f"{row['cumulative_transferable_mu']:,.2f} mu" in en

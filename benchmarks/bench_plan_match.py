"""Benchmark ``landplan plan`` and ``landplan match`` on a synthetic park.

    .venv/bin/python benchmarks/bench_plan_match.py --parcels 50000 --years 3 --projects 20

The workspace is ``benchmarks/bench_unlock.py``'s (a jittered grid of parcels, streets with road,
water and power, a seeded share of them planned): ~1,000 candidate atoms at 50,000 parcels.
Parcels get seeded slope, development cost, suitability, 片区 and status columns for matching.

Plan: budgets of ``--budget-share`` × (the greedy's full cost) ÷ years per year; the exact MILP
(HiGHS, ``--time-limit-s`` per solve) and the heuristic, both with their gap to the bound (the MIP
dual bound, or the LP relaxation for the heuristic).  Match: ``--projects`` random projects
(10–60 亩, road;water[;power]); the joint MILP against one at a time.
Writes ``benchmarks/results/plan_match_<N>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_unlock import make_workspace
from landplan.planning.matching import match_projects, validate_projects
from landplan.planning.supply_plan import build_problem, plan_supply
from landplan.planning.unlock import greedy_rank


def add_match_columns(parcels: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(parcels)
    c = parcels.geometry.centroid
    x = (c.x - c.x.min()) / max(c.x.max() - c.x.min(), 1.0)
    ok = parcels["transferable"].to_numpy()
    return parcels.assign(
        slope_mean_deg=rng.gamma(2.0, 2.5, n),
        dev_cost_wan_per_mu=rng.gamma(2.0, 2.0, n),
        suitability_mean=rng.uniform(50, 100, n),
        dist_road_m=rng.uniform(0, 300, n),
        dist_water_m=rng.uniform(0, 300, n),
        dist_power_m=rng.uniform(0, 300, n),
        net_road_status=np.where(ok, "connected", "needs_extension"),
        net_water_status=np.where(ok, "connected", "needs_extension"),
        net_power_status=np.where(ok, "connected", "needs_extension"),
        ZT=np.where(rng.random(n) < 0.5, "已出让", "储备"),
        QY=np.select([x < 0.33, x < 0.66], ["甲片区", "乙片区"], "丙片区"),
    )


def make_projects(k: int, rng: np.random.Generator) -> pd.DataFrame:
    lo = rng.integers(10, 45, k).astype(float)
    hi = lo + rng.integers(5, 20, k)
    return validate_projects(pd.DataFrame({
        "project_id": [f"J{i:02d}" for i in range(k)], "min_mu": lo, "max_mu": hi,
        "invest_wan": (lo + hi) / 2 * rng.uniform(150, 500, k),
        "tax_wan_per_year": (lo + hi) / 2 * rng.uniform(5, 30, k),
        "revenue_wan_per_year": (lo + hi) / 2 * rng.uniform(200, 800, k),
        "networks": rng.choice(["road;water", "road;water;power"], k),
        "max_slope_deg": rng.uniform(6, 15, k),
        "zone": rng.choice(["", "甲片区", "乙片区", "丙片区"], k),
    }))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=50_000)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--projects", type=int, default=20)
    ap.add_argument("--budget-share", type=float, default=0.5)
    ap.add_argument("--lead-time-years", type=int, default=0)
    ap.add_argument("--time-limit-s", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=20250901)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    parcels, networks, policy = make_workspace(args.parcels, block=10, planned=0.3, seed=args.seed)
    parcels = add_match_columns(parcels, rng)
    t_data = time.perf_counter() - t0

    t0 = time.perf_counter()
    pb0 = build_problem(parcels, networks, policy, budgets={2026: 0.0})
    full = greedy_rank(pb0.cands)
    per_year = args.budget_share * full.cost_wan / args.years
    budgets = {2026 + j: per_year for j in range(args.years)}
    pb = build_problem(parcels, networks, policy, budgets=budgets,
                       lead_time_years=args.lead_time_years)  # fmt: skip
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = plan_supply(pb, time_limit_s=args.time_limit_s)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    heur = plan_supply(pb, milp_max_vars=0)
    t_heur = time.perf_counter() - t0
    g = greedy_rank(pb.cands, budget_wan=sum(budgets.values()))

    projects = make_projects(args.projects, rng)
    t0 = time.perf_counter()
    m = match_projects(projects, parcels, time_limit_s=args.time_limit_s)
    t_match = time.perf_counter() - t0

    def last(plan):
        return float(plan.table["cumulative_transferable_mu"].iat[-1] - pb.baseline_mu)

    res = {
        "benchmark": "supply plan + project matching",
        "parcels": args.parcels, "years": args.years, "projects": args.projects,
        "seed": args.seed, "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "data": {"atoms": len(pb.cands.atoms), "roots": int(pb.root.sum()),
                 "edges": len(pb.edges), "eligible_parcels": len(pb.cands.eligible),
                 "pairs": len(pb.cands.pair_parcel), "budget_per_year_wan": per_year},
        "seconds": {"make_data": t_data, "build_problem": t_build, "plan_milp": t_exact,
                    "plan_heuristic": t_heur, "match": t_match},
        "plan_milp": {"method": exact.method, "unlocked_mu": last(exact), "bound_mu": exact.bound_mu,
                      "gap_pct": exact.gap_pct, "per_year": exact.table[["year", "spent_wan",
                      "new_transferable_mu"]].to_dict("records")},
        "plan_heuristic": {"unlocked_mu": last(heur), "lp_bound_mu": heur.bound_mu,
                           "gap_pct": heur.gap_pct},
        "one_shot_greedy_same_total_mu": g.mu,
        "match": {"candidates": len(m.candidates), "passing": int(m.candidates["pass"].sum()),
                  "summary": m.summary.to_dict("records"), "unmatched_rows": len(m.unmatched),
                  "notes": len(m.notes)},
    }  # fmt: skip
    out = Path(__file__).parent / "results" / f"plan_match_{args.parcels}.json"
    out.write_text(json.dumps(res, ensure_ascii=False, indent=2, default=float), encoding="utf-8")
    d, s = res["data"], res["seconds"]
    print(f"parcels {args.parcels:,}  atoms {d['atoms']:,} (roots {d['roots']:,})  eligible "
          f"{d['eligible_parcels']:,}  years {args.years}  projects {args.projects}")  # fmt: skip
    for k, v in s.items():
        print(f"  {k:<16}{v:>9.2f} s")
    pe, ph = res["plan_milp"], res["plan_heuristic"]
    print(f"plan MILP: {pe['unlocked_mu']:,.1f} 亩 ({pe['method']}), bound {pe['bound_mu']:,.1f}, "
          f"gap {pe['gap_pct']:.3f}%")  # fmt: skip
    print(f"plan heuristic: {ph['unlocked_mu']:,.1f} 亩, LP bound {ph['lp_bound_mu']:,.1f}, "
          f"gap {ph['gap_pct']:.3f}%;  one-shot greedy (same total) {g.mu:,.1f} 亩")  # fmt: skip
    for r in res["match"]["summary"]:
        print(
            f"match {r['method']}: {r['placed']}/{r['projects']} placed, score {r['total_score']:.3f}"
        )
    print(f"written {out}")


if __name__ == "__main__":
    main()

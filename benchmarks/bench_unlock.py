"""Benchmark ``landplan.planning.unlock`` on a synthetic park: candidate building, greedy, MILP.

    /work/venv/bin/python benchmarks/bench_unlock.py --parcels 50000

Parcels: the jittered grid of ``benchmarks/synthetic.py``.  Streets run every ``--block``
cells both ways; every street segment between two crossings carries a road (centreline),
a water main (+7 m) and a power line (+14 m).  Segments in a seeded random ``--planned``
share of the street blocks are planned, the rest built; a road-only share of built streets
has no water (so extensions appear).  Each parcel's ``NETWORK_MISSING`` reasons come from
its distances to the built lines (``landplan.analysis.networks.nearest_distance_m``) and the national
profile's ``connectable_m``.  There is no peer tool for this ranking; the MILP optimum
(``scipy.optimize.milp``, HiGHS, with a time limit) is the reference for the greedy's quality.
Writes ``benchmarks/results/unlock_<N>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synthetic import CELL, CRS, X0, Y0, _grid_shape, make_parcels
from landplan.analysis.networks import nearest_distance_m
from landplan.core.policy import load_policy
from landplan.planning.unlock import build_candidates, greedy_rank, optimal_plan

OFFSET = {"road": 0.0, "water": 7.0, "power": 14.0}


def make_workspace(n: int, *, block: int, planned: float, seed: int):
    rng = np.random.default_rng(seed)
    geoms = make_parcels(n, rng)
    nx, ny = _grid_shape(n)
    ox, oy = X0 - nx * CELL / 2, Y0 - ny * CELL / 2
    rows = []
    for vertical in (True, False):
        for s in range(0, (nx if vertical else ny) + 1, block):
            for t in range(0, (ny if vertical else nx), block):
                status = "planned" if rng.random() < planned else "built"
                no_water = status == "built" and rng.random() < 0.1
                for kind, off in OFFSET.items():
                    if kind == "water" and no_water:
                        continue
                    a, b = t * CELL, min(t + block, ny if vertical else nx) * CELL
                    if vertical:
                        xy = [(ox + s * CELL + off, oy + a), (ox + s * CELL + off, oy + b)]
                    else:
                        xy = [(ox + a, oy + s * CELL + off), (ox + b, oy + s * CELL + off)]
                    name = f"{'经' if vertical else '纬'}{s}-{t}{kind}"
                    rows.append((kind, status, name, shapely.LineString(xy)))
    kind, status, name, lines = zip(*rows, strict=True)
    networks = gpd.GeoDataFrame(
        {"kind": kind, "status": status, "name": name}, geometry=list(lines), crs=CRS
    )
    policy = load_policy("national")
    reasons = [[] for _ in range(n)]
    for k in OFFSET:
        sel = (networks["kind"] == k).to_numpy() & (networks["status"] == "built").to_numpy()
        d = nearest_distance_m(geoms, np.asarray(networks.geometry.values[sel]))
        for i in np.flatnonzero(~(d <= policy.networks[k].connectable_m)):
            reasons[i].append({"code": f"NETWORK_MISSING:{k}", "severity": "block"})
    area_mu = shapely.area(geoms) * 3 / 2000
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": [f"P{i:06d}" for i in range(n)],
            "net_available_mu": area_mu,
            "transferable": [not r for r in reasons],
            "reasons": [json.dumps(r) for r in reasons],
        },
        geometry=geoms,
        crs=CRS,
    )
    return parcels, networks, policy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=50_000)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--planned", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=20250901)
    ap.add_argument("--milp-limit-s", type=float, default=10.0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    parcels, networks, policy = make_workspace(
        args.parcels, block=args.block, planned=args.planned, seed=args.seed
    )
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    cands = build_candidates(parcels, networks, policy)
    t_cand = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = greedy_rank(cands)
    t_greedy = time.perf_counter() - t0
    half = 0.5 * full.cost_wan
    t0 = time.perf_counter()
    g_half = greedy_rank(cands, budget_wan=half)
    t_greedy_half = time.perf_counter() - t0
    t0 = time.perf_counter()
    opt = optimal_plan(cands, budget_wan=half, time_limit_s=args.milp_limit_s)
    t_milp = time.perf_counter() - t0
    e = cands.eligible
    res = {
        "benchmark": "unlock ranking",
        "parcels": args.parcels,
        "seed": args.seed,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "data": {
            "network_segments": len(networks),
            "planned_segments": int((networks["status"] == "planned").sum()),
            "eligible_parcels": len(e),
            "eligible_mu": float(e["mu"].sum()),
            "atoms": len(cands.atoms),
            "extensions": int((cands.atoms["source"] == "extension").sum()),
            "candidates": len(cands.candidates),
            "groups": int(cands.candidates["group"].sum()),
            "pairs": len(cands.pair_parcel),
        },
        "seconds": {
            "make_data": t_data,
            "build_candidates": t_cand,
            "greedy_full": t_greedy,
            "greedy_half_budget": t_greedy_half,
            "milp_half_budget": t_milp,
        },
        "greedy_full": {"steps": len(full.steps), "cost_wan": full.cost_wan, "mu": full.mu},
        "half_budget": {
            "budget_wan": half,
            "greedy_mu": g_half.mu,
            "optimal_mu": opt.mu,
            "milp_status": str(opt.status),
            "gap_pct": 100 * (opt.mu - g_half.mu) / opt.mu if opt.mu > 0 else 0.0,
        },
    }
    out = Path(__file__).parent / "results" / f"unlock_{args.parcels}.json"
    out.write_text(json.dumps(res, ensure_ascii=False, indent=2), encoding="utf-8")
    d, s = res["data"], res["seconds"]
    print(f"parcels {args.parcels:,}  segments {d['network_segments']:,} "
          f"(planned {d['planned_segments']:,})  eligible {d['eligible_parcels']:,} "
          f"({d['eligible_mu']:,.0f} 亩)  atoms {d['atoms']:,} (ext {d['extensions']:,})  "
          f"candidates {d['candidates']:,} (groups {d['groups']:,})")  # fmt: skip
    print(f"{'step':<22}{'seconds':>9}")
    for k, v in s.items():
        print(f"{k:<22}{v:>9.2f}")
    h = res["half_budget"]
    print(f"full greedy: {len(full.steps)} steps, {full.cost_wan:,.0f} 万元 → {full.mu:,.1f} 亩")
    print(f"budget {h['budget_wan']:,.0f} 万元: greedy {h['greedy_mu']:,.1f} 亩, "
          f"MILP {h['optimal_mu']:,.1f} 亩 ({h['milp_status']}), gap {h['gap_pct']:.2f}%")  # fmt: skip
    print(f"written {out}")


if __name__ == "__main__":
    main()

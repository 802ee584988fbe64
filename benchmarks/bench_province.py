"""Province scale: the main job on up to millions of parcels, single process vs Dask workers.

Data (seeded, ``benchmarks/synthetic.py`` plus a road/water/power grid, built and planned):
N parcels with red line, farmland, inundation and urban-boundary layers.  For each N the script
times, in the same run and each in its own process:

* ``single``: ``landplan.analysis.job.analyze`` (one process, the default path);
* ``dask-1``, ``dask-2``, …: ``landplan.analysis.partitioned.analyze_partitioned`` on a LocalCluster of that
  many single-threaded worker processes (cluster start-up excluded, result gathering included).

Peak memory is the maximum RSS of the process (single) or of each worker (``ru_maxrss`` read on
every worker after the run) and of the client.  Scaling efficiency = T(dask-1) / (k · T(dask-k)).

    python benchmarks/bench_province.py --parcels 250000 1000000 2000000 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def make_inputs(n: int, seed: int = 20240601):
    """An in-memory ``Inputs`` for n parcels (no files: generation is not what is measured)."""
    import geopandas as gpd
    import numpy as np
    import shapely
    from pyproj import CRS

    from benchmarks.synthetic import make_dataset
    from landplan.analysis.pipeline import Inputs

    data = make_dataset(n, seed=seed)
    parcels = data.pop("parcels")
    parcels = parcels.assign(parcel_id=[f"P{i:07d}" for i in range(len(parcels))])
    parcels = parcels[["parcel_id", "geometry"]]
    x0, y0, x1, y1 = parcels.total_bounds
    rng = np.random.default_rng(seed)
    lines, kinds, status = [], [], []
    step = 600.0  # a street every 600 m each way; each kind on a share of them, 20 % planned
    for kind, offset, share in (("road", 0.0, 1.0), ("water", 6.0, 0.8), ("power", 12.0, 0.7)):
        for x in np.arange(x0, x1, step):
            if rng.random() < share:
                lines.append(shapely.LineString([(x + offset, y0), (x + offset, y1)]))
                kinds.append(kind)
                status.append("planned" if rng.random() < 0.2 else "built")
        for y in np.arange(y0, y1, step):
            if rng.random() < share:
                lines.append(shapely.LineString([(x0, y + offset), (x1, y + offset)]))
                kinds.append(kind)
                status.append("planned" if rng.random() < 0.2 else "built")
    networks = gpd.GeoDataFrame(
        {"kind": kinds, "status": status, "status_source": status}, geometry=lines, crs=parcels.crs
    )
    return Inputs(f"synthetic {n}", CRS.from_user_input(parcels.crs), parcels, data, networks, [])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(n: int, workers: int) -> dict:
    """Inside a fresh process: build the inputs, run one configuration, report time and memory."""
    from landplan.core.policy import load_policy

    inputs = make_inputs(n)
    policy = load_policy()
    base_mb = _peak_mb()
    if workers == 0:
        from landplan.analysis.job import analyze

        t = time.perf_counter()
        result = analyze(inputs, policy)
        seconds = time.perf_counter() - t
        return {
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "base_mb": base_mb,
            "transferable": int(result.parcels["transferable"].sum()),
        }
    from distributed import Client, LocalCluster

    from landplan.analysis.partitioned import analyze_partitioned

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            memory_limit=0,
        ) as cluster,
        Client(cluster) as client,
    ):
        t = time.perf_counter()
        result = analyze_partitioned(inputs, policy, client=client)
        seconds = time.perf_counter() - t
        worker_mb = list(client.run(_peak_mb).values())
    return {
        "seconds": seconds,
        "client_peak_mb": _peak_mb(),
        "base_mb": base_mb,
        "worker_peak_mb": worker_mb,
        "transferable": int(result.parcels["transferable"].sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, nargs="+", default=[250_000, 1_000_000, 2_000_000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child)))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.parcels:
        row = {"parcels": n, "cpus": os.cpu_count()}
        for w in [0, *args.workers]:
            run = subprocess.run(
                [sys.executable, __file__, "--child", str(n), str(w)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if run.returncode != 0:
                row[f"w{w}"] = {"error": run.stderr[-1500:]}
                continue
            row[f"w{w}"] = json.loads(run.stdout.strip().splitlines()[-1])
        rows.append(row)
        (RESULTS / f"province_{n}.json").write_text(json.dumps(row, indent=2))
        print(json.dumps(row))
    print()
    print(
        f"{'parcels':>9} {'config':>8} {'seconds':>8} {'speed-up':>8} {'effic.':>7} {'peak MB/proc':>14}"
    )
    for row in rows:
        single = row.get("w0", {}).get("seconds")
        one = row.get("w1", {}).get("seconds")
        for w in [0, *args.workers]:
            r = row.get(f"w{w}", {})
            if "seconds" not in r:
                print(f"{row['parcels']:>9,} {('single' if w == 0 else f'dask-{w}'):>8} failed")
                continue
            mem = r.get("peak_mb") or max(r["worker_peak_mb"])
            speed = single / r["seconds"] if single else float("nan")
            eff = (one / (w * r["seconds"])) if (w and one) else float("nan")
            name = "single" if w == 0 else f"dask-{w}"
            print(
                f"{row['parcels']:>9,} {name:>8} {r['seconds']:>8.1f} {speed:>8.2f} {eff:>7.2f} {mem:>14.0f}"
            )
    print(
        "speed-up = single / config; efficiency = T(dask-1) / (k · T(dask-k)); memory = max over workers"
    )


if __name__ == "__main__":
    main()

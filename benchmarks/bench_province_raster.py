"""Province-size rasters: slope on N × N DEMs, single process vs Dask workers, time and peak memory.

For each N (default 5000, 10000, 20000 — the last is 400 M cells, 1.6 GB of float32) a seeded
smooth-noise DEM (10 m cells, EPSG:4542) is written block by block, then, each in its own process:

* ``single``: ``landplan.raster.terrain.slope`` (windowed, 2 threads, COG output);
* ``dask-k``: ``landplan.raster.chunked.slope_dask`` + ``write_cog_dask`` on a LocalCluster of k
  single-threaded workers (cluster start-up excluded).

Peak memory: max RSS of the process (single) or of each worker and of the client.

    python benchmarks/bench_province_raster.py --sizes 5000 10000 20000 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def make_dem(path: Path, n: int, seed: int = 3) -> None:
    """A smooth DEM written 1024 rows at a time: sums of seeded sinusoids (no full-size array)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    waves = [
        (
            rng.uniform(200, 4000),
            rng.uniform(0, 2 * np.pi),
            rng.uniform(0, 2 * np.pi),
            rng.uniform(5, 60),
        )
        for _ in range(12)
    ]
    profile = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4542",
        "transform": from_origin(500_000, 3_000_000, 10, 10),
        "nodata": -9999,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "YES",
    }
    x = np.arange(n) * 10.0
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, n, 1024):
            h = min(1024, n - top)
            y = (top + np.arange(h))[:, None] * 10.0
            z = np.full((h, n), 2400.0)
            for wl, a, b, amp in waves:
                z += amp * np.sin(2 * np.pi * x[None, :] / wl + a) * np.cos(2 * np.pi * y / wl + b)
            dst.write(z.astype("float32"), 1, window=Window(0, top, n, h))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(dem: str, workers: int) -> dict:
    out = Path(dem).with_name(f"slope_{workers}.tif")
    if workers == 0:
        from landplan.raster.terrain import slope

        t = time.perf_counter()
        slope(dem, out)
        return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}
    from distributed import Client, LocalCluster

    from landplan.raster.chunked import read_dask, slope_dask, write_cog_dask

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
        z, grid = read_dask(dem, chunks=2048)
        write_cog_dask(slope_dask(z, grid), grid, out)
        seconds = time.perf_counter() - t
        worker_mb = list(client.run(_peak_mb).values())
    return {"seconds": seconds, "client_peak_mb": _peak_mb(), "worker_peak_mb": worker_mb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child[0], int(args.child[1]))))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
            dem = Path(tmp) / "dem.tif"
            t = time.perf_counter()
            make_dem(dem, n)
            row = {
                "size": n,
                "cells": n * n,
                "make_s": time.perf_counter() - t,
                "cpus": os.cpu_count(),
            }
            for w in [0, *args.workers]:
                run = subprocess.run(
                    [sys.executable, __file__, "--child", str(dem), str(w)],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                row[f"w{w}"] = (
                    json.loads(run.stdout.strip().splitlines()[-1])
                    if run.returncode == 0
                    else {"error": run.stderr[-1500:]}
                )
        rows.append(row)
        (RESULTS / f"province_raster_{n}.json").write_text(json.dumps(row, indent=2))
    print(
        f"{'size':>7} {'config':>8} {'seconds':>8} {'speed-up':>8} {'effic.':>7} {'peak MB/proc':>13}"
    )
    for row in rows:
        single, one = row["w0"].get("seconds"), row.get("w1", {}).get("seconds")
        for w in [0, *args.workers]:
            r = row[f"w{w}"]
            name = "single" if w == 0 else f"dask-{w}"
            if "seconds" not in r:
                print(f"{row['size']:>7} {name:>8} failed: {r.get('error', '')[-200:]}")
                continue
            mem = r.get("peak_mb") or max(r["worker_peak_mb"])
            eff = one / (w * r["seconds"]) if (w and one) else float("nan")
            print(
                f"{row['size']:>7} {name:>8} {r['seconds']:>8.1f} {single / r['seconds']:>8.2f} {eff:>7.2f} "
                f"{mem:>13.0f}"
            )
    print(
        "speed-up = single / config; efficiency = T(dask-1) / (k · T(dask-k)); memory = max over workers"
    )


if __name__ == "__main__":
    main()

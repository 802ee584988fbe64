"""Suitability surface: landplan's block-wise weighted overlay vs gdal_calc.py doing the same formula.

Three factor rasters (slope, road distance, water distance) and a constraint mask, seeded, at
N × N cells; both tools compute

    S = 100 · (0.5 · clip(1 − slope/25, 0, 1) + 0.3 · clip(1 − road/2000, 0, 1)
               + 0.2 · clip(1 − water/2000, 0, 1)),   S = 0 where mask = 1

and write a float32 GeoTIFF.  Each run is a separate process under ``/usr/bin/time -v`` so
peak memory is per tool.  Usage::

    python benchmarks/bench_suitability.py --sizes 2000 4000 8000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

CONFIG = """
masks = ["mask.tif"]
[[factors]]
name = "slope"
raster = "slope.tif"
rescale = {{ kind = "linear", lo = 0, hi = 25, invert = true }}
weight = 50
[[factors]]
name = "road"
raster = "road.tif"
rescale = {{ kind = "linear", lo = 0, hi = 2000, invert = true }}
weight = 30
[[factors]]
name = "water"
raster = "water.tif"
rescale = {{ kind = "linear", lo = 0, hi = 2000, invert = true }}
weight = 20
"""
GDAL_CALC = "where(D==1, 0, 100*(0.5*clip(1-A/25.0,0,1) + 0.3*clip(1-B/2000.0,0,1) + 0.2*clip(1-C/2000.0,0,1)))"


def make_inputs(folder: Path, n: int, seed: int = 7) -> None:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 1,
        "crs": "EPSG:4542",
        "tiled": True,
        "transform": from_origin(600_000, 3_000_000, 10, 10),
        "compress": "deflate",
    }
    rows = 512
    with (
        rasterio.open(folder / "slope.tif", "w", dtype="float32", nodata=-9999, **profile) as s,
        rasterio.open(folder / "road.tif", "w", dtype="float32", nodata=-9999, **profile) as r,
        rasterio.open(folder / "water.tif", "w", dtype="float32", nodata=-9999, **profile) as w,
        rasterio.open(folder / "mask.tif", "w", dtype="uint8", nodata=255, **profile) as m,
    ):
        from rasterio.windows import Window

        for top in range(0, n, rows):
            h = min(rows, n - top)
            win = Window(0, top, n, h)
            s.write(rng.gamma(2.0, 4.0, (h, n)).astype("float32"), 1, window=win)
            r.write(rng.uniform(0, 3000, (h, n)).astype("float32"), 1, window=win)
            w.write(rng.uniform(0, 3000, (h, n)).astype("float32"), 1, window=win)
            m.write((rng.random((h, n)) < 0.1).astype("uint8"), 1, window=win)
    (folder / "suit.toml").write_text(CONFIG.format(), encoding="utf-8")


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command."""
    t = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if run.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {run.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    return wall, rss_kb / 1024


LANDPLAN = (
    "import sys, time; from landplan.raster.suitability import load_config, score_suitability; "
    "score_suitability(load_config('suit.toml'), 'lp.tif', cog=sys.argv[1] == 'cog')"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_inputs(folder, n)
            lp_s, lp_mb = timed([sys.executable, "-c", LANDPLAN, "gtiff"], folder)
            cog_s, cog_mb = timed([sys.executable, "-c", LANDPLAN, "cog"], folder)
            gc_s, gc_mb = timed(
                [
                    "gdal_calc.py",
                    "-A",
                    "slope.tif",
                    "-B",
                    "road.tif",
                    "-C",
                    "water.tif",
                    "-D",
                    "mask.tif",
                    "--calc",
                    GDAL_CALC,
                    "--outfile",
                    "gc.tif",
                    "--type",
                    "Float32",
                    "--NoDataValue",
                    "-9999",
                    "--quiet",
                    "--co",
                    "COMPRESS=DEFLATE",
                    "--co",
                    "TILED=YES",
                ],
                folder,
            )
            import rasterio

            with rasterio.open(folder / "lp.tif") as a, rasterio.open(folder / "gc.tif") as b:
                diff = max(
                    float(
                        np.nanmax(
                            np.abs(
                                a.read(1, window=w).astype("float64")
                                - b.read(1, window=w).astype("float64")
                            )
                        )
                    )
                    for _, w in a.block_windows(1)
                )
        row = {
            "size": n,
            "landplan_s": lp_s,
            "landplan_mb": lp_mb,
            "landplan_cog_s": cog_s,
            "landplan_cog_mb": cog_mb,
            "gdal_calc_s": gc_s,
            "gdal_calc_mb": gc_mb,
            "ratio": gc_s / lp_s,
            "max_abs_diff": diff,
            "note": "both write tiled DEFLATE GTiff; landplan_cog_* adds the COG pass",
        }
        rows.append(row)
        (RESULTS / f"suitability_{n}.json").write_text(
            json.dumps(row | {"cpus": os.cpu_count()}, indent=2)
        )
    print(
        f"{'size':>6} {'landplan s':>11} {'MB':>6} {'+COG s':>7} {'MB':>6} {'gdal_calc s':>12} {'MB':>6} "
        f"{'ratio':>6} {'max|Δ|':>8}"
    )
    for r in rows:
        print(
            f"{r['size']:>6} {r['landplan_s']:>11.2f} {r['landplan_mb']:>6.0f} {r['landplan_cog_s']:>7.2f} "
            f"{r['landplan_cog_mb']:>6.0f} {r['gdal_calc_s']:>12.2f} {r['gdal_calc_mb']:>6.0f} {r['ratio']:>6.2f} "
            f"{r['max_abs_diff']:>8.1e}"
        )
    print(
        "ratio = gdal_calc seconds / landplan seconds (> 1: landplan faster); wall time incl. process start"
    )


if __name__ == "__main__":
    main()

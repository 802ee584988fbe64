"""Region suggestion (issue #7): ``suggest_regions`` on real-size rasters vs the best square window.

A seeded smooth-noise suitability surface (0–100, 10 m cells) and a constraint mask of blobs and
two red-line strips are written as the smallest workspace ``suggest_regions`` reads
(``landplan-workspace.json``, a one-layer ``workspace.gpkg``, ``rasters/suitability.tif``,
``rasters/constraint_mask.tif``; the default policy).  One region of 1 000 亩 (6 667 cells) is
asked for (``evaluate=False``: the timing is the search, not the vector evaluation).

Baseline (same run): the **best square window**, the k×k square of free cells with the highest
mean suitability, ``k = ceil(sqrt(N))`` (82 → 6 724 cells, 0.9 % more than the region), from an
integral image of the masked surface and of the free-cell count (windows holding any masked cell
are rejected).  Each size and tool runs in its own process; peak RSS is that process's
``ru_maxrss``.  Usage::

    python benchmarks/bench_regions.py --sizes 2000 4000 8000 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CRS = "EPSG:4542"
X0, Y0 = 600_000.0, 2_990_000.0  # upper-left corner (GK CM 99°E, near Lijiang)
CELL = 10.0
TARGET_MU = 1000.0


def _field(n: int, rng: np.random.Generator, coarse: int) -> np.ndarray:
    """Smooth noise: a coarse Gaussian-blurred grid, bilinearly upsampled to n × n (float32)."""
    from scipy.ndimage import gaussian_filter, zoom

    m = max(4, n // coarse)
    g = gaussian_filter(rng.normal(size=(m + 2, m + 2)), 1.0)
    out = zoom(g.astype("float32"), n / m, order=1)[:n, :n]
    return out


def make_workspace(folder: Path, n: int, seed: int) -> None:
    """Write the minimal workspace (see the module docstring) for an n × n surface."""
    import geopandas as gpd
    import pyogrio
    import rasterio
    import shapely
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    s = _field(n, rng, 40)
    s = (s - s.min()) / (s.max() - s.min()) * 90.0 + rng.uniform(0, 10, (n, n)).astype("float32")
    blobs = _field(n, rng, 25)
    mask = (blobs > np.quantile(blobs[::7, ::7], 0.75)).astype("uint8")  # ≈ 25 % blobs
    for _ in range(2):  # red-line strips, 3 cells wide
        r = int(rng.integers(0, n - 3))
        mask[r : r + 3, :] = 1
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rasters").mkdir(exist_ok=True)
    tf = from_origin(X0, Y0, CELL, CELL)
    prof = {"driver": "GTiff", "width": n, "height": n, "count": 1, "crs": CRS, "transform": tf}
    with rasterio.open(folder / "rasters" / "suitability.tif", "w", dtype="float32", **prof) as d:
        d.write(s.astype("float32"), 1)
    with rasterio.open(folder / "rasters" / "constraint_mask.tif", "w", dtype="uint8", **prof) as d:
        d.write(mask, 1)
    area = gpd.GeoDataFrame(
        {"name": ["study area"]},
        geometry=[shapely.box(X0, Y0 - n * CELL, X0 + n * CELL, Y0)],
        crs=CRS,
    )
    pyogrio.write_dataframe(area, folder / "workspace.gpkg", layer="study_area", driver="GPKG")
    meta = {"format_version": 1, "name": f"bench {n} seed {seed}", "crs": CRS}
    (folder / "landplan-workspace.json").write_text(json.dumps(meta), encoding="utf-8")


def best_square(suit: np.ndarray, free: np.ndarray, k: int) -> tuple[float, int, int]:
    """Highest mean over k×k windows of free cells only: (mean, row, col) of the upper-left cell."""
    s = np.zeros((suit.shape[0] + 1, suit.shape[1] + 1))
    s[1:, 1:] = np.where(free, suit, 0.0)
    s.cumsum(0, out=s)
    s.cumsum(1, out=s)
    c = np.zeros(s.shape, dtype=np.int32)
    c[1:, 1:] = free
    c.cumsum(0, out=c)
    c.cumsum(1, out=c)
    win_s = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    del s
    win_c = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    del c
    win_s[win_c != k * k] = -np.inf
    i = int(np.argmax(win_s))
    r, col = divmod(i, win_s.shape[1])
    if not np.isfinite(win_s[r, col]):
        return math.nan, -1, -1
    return float(win_s[r, col]) / (k * k), r, col


def child(mode: str, folder: Path) -> dict:
    t0 = time.perf_counter()
    if mode == "landplan":
        from landplan.planning.regions import suggest_regions

        reg = suggest_regions(folder, target_mu=TARGET_MU, seed=0, evaluate=False)[0]
        out = {
            "mean": reg.mean_suitability,
            "n_cells": reg.n_cells,
            "area_mu": reg.area_mu,
            "filled_cells": reg.filled_cells,
        }
    else:
        import rasterio

        from landplan.core.units import MU_PER_M2

        with rasterio.open(folder / "rasters" / "suitability.tif") as a:
            suit = a.read(1).astype("float64")
        with rasterio.open(folder / "rasters" / "constraint_mask.tif") as m:
            free = m.read(1) == 0
        n = round(TARGET_MU / (CELL * CELL * MU_PER_M2))
        k = math.ceil(math.sqrt(n))
        mean, r, c = best_square(suit, free, k)
        out = {"mean": mean, "n_cells": k * k, "row": r, "col": c}
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(mode: str, folder: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(folder)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine() -> str:
    import os

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError):
        mem = math.nan
    return f"{os.cpu_count()} cores, {cpu}, {mem:.1f} GiB, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--child", nargs=2, metavar=("MODE", "WS"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(
        f"target {TARGET_MU:g} 亩 = 6667 cells of 10 m; baseline: best 82×82 square of free cells"
    )
    head = (
        f"{'size':>6} {'seed':>4} {'free %':>6} {'make s':>7} {'landplan s':>10} "
        f"{'RSS MB':>7} {'square s':>8} {'RSS MB':>7} {'landplan mean':>13} "
        f"{'square mean':>11} {'diff':>6}"
    )
    print(head)
    for n in args.sizes:
        rows = []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                ws = Path(tmp) / "ws"
                t0 = time.perf_counter()
                make_workspace(ws, n, seed)
                t_make = time.perf_counter() - t0
                import rasterio

                with rasterio.open(ws / "rasters" / "constraint_mask.tif") as m:
                    free_share = float((m.read(1) == 0).mean())
                lp = run_child("landplan", ws)
                sq = run_child("square", ws)
            row = {
                "size": n,
                "seed": seed,
                "free_share": free_share,
                "make_seconds": t_make,
                "landplan": lp,
                "square": sq,
                "diff": lp["mean"] - sq["mean"],
            }
            rows.append(row)
            print(
                f"{n:>6} {seed:>4} {100 * free_share:>6.1f} {t_make:>7.1f} "
                f"{lp['seconds']:>10.2f} {lp['peak_rss_mb']:>7.0f} {sq['seconds']:>8.2f} "
                f"{sq['peak_rss_mb']:>7.0f} {lp['mean']:>13.2f} {sq['mean']:>11.2f} "
                f"{row['diff']:>+6.2f}",
                flush=True,
            )
        diffs = [r["diff"] for r in rows]
        summary = {
            "size": n,
            "target_mu": TARGET_MU,
            "machine": machine(),
            "runs": rows,
            "diff_min": min(diffs),
            "diff_mean": float(np.mean(diffs)),
            "landplan_wins": sum(d > 0 for d in diffs),
        }
        (RESULTS / f"regions_{n}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        print(
            f"{n:>6} landplan − square mean suitability: min {min(diffs):+.2f}, "
            f"mean {np.mean(diffs):+.2f}, landplan ahead on {summary['landplan_wins']}/{len(rows)}"
        )


if __name__ == "__main__":
    main()

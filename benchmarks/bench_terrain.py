"""Terrain benchmark: landplan slope / relief / zonal against gdaldem, scipy and exactextract.

For each size (default 2000², 4000², 8000² cells of 10 m) it makes a seeded fractal DEM
(float32 GeoTIFF, EPSG:4542) and 10 000 seeded parcels, then times, in the same run and
each in its own process under ``/usr/bin/time -v`` (wall time and peak RSS, isolated).
Every comparison runs both sides once untimed (page cache, bytecode), then ``--reps``
rounds (default 3) taking turns (landplan, peer, landplan, peer, ...); each side reports
the run of median wall time, and the median CPU seconds.  Outputs are deleted before each
run, so neither side pays for replacing an old file.  Python processes (landplan and the
in-process peers) run with their bytecode cached, as in an installed package
(``PYTHONPYCACHEPREFIX`` in the work directory; this matters where
``PYTHONDONTWRITEBYTECODE`` is set, as in CI containers):

* slope, the command as a user runs it: ``landplan terrain slope DEM OUT`` (its default, a
  tiled GeoTIFF) vs ``gdaldem slope``, both whole processes (interpreter start included);
* slope ``--cog``: ``landplan terrain slope --cog`` vs ``gdaldem slope`` + ``gdal_translate -of
  COG`` with landplan's COG options (the same final file);
* slope → GTiff, the library call: ``landplan.raster.terrain.slope(cog=False)`` (seconds inside
  the call) vs ``gdaldem slope -of GTiff``;
* relief 3×3 vs ``gdaldem roughness`` (max − min of the 3×3 window: the same number);
* relief 15×15 (the 双评价 window for 10 m cells) vs scipy max/min filters on the whole
  array in memory (no tool in GDAL computes it; this is the naive in-memory peer);
* zonal mean/min/max of 10 000 parcels: ``landplan.raster.zonal.zonal_stats`` vs
  ``exactextract.exact_extract`` called directly (seconds inside the call; both read the
  same GeoPackage first).

Writes ``benchmarks/results/terrain_<size>.json`` and prints a table with the ratios
landplan ÷ peer of seconds, of CPU seconds (user + system, whole processes: steadier than wall
time on a shared machine) and of peak RSS (below 1: landplan is faster or smaller).  The
load average before and after each size is recorded: on a loaded machine wall times stretch.

    python benchmarks/bench_terrain.py [--sizes 2000 4000 8000] [--tasks slope relief zonal] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CRS = "EPSG:4542"
X0, Y0, CELL = 600_000.0, 3_000_000.0, 10.0
N_PARCELS = 10_000
SEED = 2025


# --------------------------------------------------------------------------- data


def make_dem(path: Path, n: int, *, seed: int = SEED) -> Path:
    """Seeded fractal terrain: 8 octaves of bilinearly upsampled noise, ~1500 ± 600 m."""
    import rasterio
    from rasterio.transform import from_origin
    from scipy.ndimage import zoom

    rng = np.random.default_rng(seed)
    z = np.full((n, n), 1500, np.float32)
    for k in range(2, 10):
        m = 2**k + 1
        octave = zoom(rng.standard_normal((m, m)).astype(np.float32), n / m, order=1)
        z += octave[:n, :n] * np.float32(600 / 2 ** (0.9 * k))
    z += rng.normal(0, 0.05, z.shape).astype(np.float32)  # sub-decimetre roughness
    with rasterio.open(
        path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs=CRS,
        transform=from_origin(X0, Y0 + n * CELL, CELL, CELL), nodata=-9999,
    ) as ds:  # fmt: skip
        ds.write(z, 1)
    return path


def make_parcels(path: Path, n_cells: int, *, count: int = N_PARCELS, seed: int = SEED) -> Path:
    """``count`` rotated rectangles (60–250 m sides) scattered over the DEM."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    extent = n_cells * CELL
    cx = X0 + rng.uniform(300, extent - 300, count)
    cy = Y0 + rng.uniform(300, extent - 300, count)
    w, h = rng.uniform(60, 250, count), rng.uniform(60, 250, count)
    ang = rng.uniform(0, np.pi, count)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], float) / 2
    x = corners[None, :, 0] * w[:, None]
    y = corners[None, :, 1] * h[:, None]
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    rings = np.stack([cx[:, None] + c * x - s * y, cy[:, None] + s * x + c * y], axis=-1)
    gdf = gpd.GeoDataFrame({"DKBH": [f"P{i:05d}" for i in range(count)]},
                           geometry=shapely.polygons(rings), crs=CRS)  # fmt: skip
    gdf.to_file(path)
    return path


# --------------------------------------------------------------------------- workers


def worker(op: str, args: list[str]) -> None:
    """Run one landplan (or in-process peer) operation and print its seconds as JSON."""
    sys.path.insert(0, str(ROOT))
    import rasterio  # noqa: F401  imports are not timed (the process's wall time includes them)

    from landplan.raster.terrain import relief, slope

    t0 = time.perf_counter()
    extra = {}
    if op == "slope":
        slope(args[0], args[1], cog=args[2] == "cog")
    elif op == "relief":
        relief(args[0], args[1], window=int(args[2]), cog=False)
    elif op == "relief_scipy":
        extra = _relief_scipy(args[0], args[1], int(args[2]))
    elif op in ("zonal_landplan", "zonal_exactextract", "zonal_exactextract_rs"):
        import geopandas as gpd

        parcels = gpd.read_file(args[1])
        t0 = time.perf_counter()
        if op == "zonal_landplan":
            from landplan.raster.zonal import zonal_stats

            df = zonal_stats(args[0], parcels, stats=("mean", "min", "max"), id_field="DKBH")
        else:
            from exactextract import exact_extract

            opts = {"strategy": "raster-sequential"} if op.endswith("_rs") else {}
            df = exact_extract(args[0], parcels, ["mean", "min", "max"], include_cols=["DKBH"],
                               output="pandas", **opts)  # fmt: skip
        extra = {"mean_of_means": float(np.nanmean(df["mean"]))}
    else:
        raise SystemExit(f"unknown op {op}")
    print(json.dumps({"seconds": time.perf_counter() - t0, **extra}))


def _relief_scipy(src_path: str, out_path: str, window: int) -> dict:
    import rasterio
    from scipy.ndimage import maximum_filter, minimum_filter

    with rasterio.open(src_path) as src:
        z = src.read(1)
        profile = src.profile | {"nodata": -9999.0}
    r = maximum_filter(z, size=window, mode="nearest") - minimum_filter(
        z, size=window, mode="nearest"
    )
    with rasterio.open(out_path, "w", **profile) as dst:
        dst.write(r, 1)
    return {}


# --------------------------------------------------------------------------- measuring


def measure(cmd: list[str], *, env: dict | None = None) -> dict:
    """Wall seconds and peak RSS (MiB) of one command, via ``/usr/bin/time -v``."""
    env = ENV if env is None else env
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name, *cmd], capture_output=True,
                              text=True, env=env)  # fmt: skip
        wall = time.perf_counter() - t0
        report = Path(tf.name).read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stderr[-2000:]}")
    rss_kb = int(
        next(ln for ln in report.splitlines() if "Maximum resident set size" in ln).split()[-1]
    )
    cpu = sum(
        float(ln.split(":")[-1])
        for ln in report.splitlines()
        if "User time (seconds)" in ln or "System time (seconds)" in ln
    )
    out = {"wall_s": round(wall, 3), "peak_mb": round(rss_kb / 1024, 1), "cpu_s": round(cpu, 2)}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        inner = json.loads(lines[-1])
        out["seconds"] = round(inner.pop("seconds"), 3)
        out |= inner
    else:
        out["seconds"] = out["wall_s"]
    return out


#: environment of the timed processes (set by :func:`main`: bytecode cached in the work dir)
ENV: dict | None = None
#: rounds per comparison (``--reps``)
REPS = 3


def bench_env(work: Path) -> dict:
    """The environment with Python bytecode written and read, under ``work/pycache``."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def compare(sides: dict[str, tuple[list[list[str]], list[Path]]]) -> dict[str, dict]:
    """Time each side: ``(commands run one after the other, the files they write)``.

    Every side runs once untimed first; then the sides take turns :data:`REPS` times, a
    side's files deleted before each of its runs.  Per side: the run of median wall time,
    with the median CPU seconds and every run's wall time (``walls``).
    """
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for rnd in range(REPS + 1):
        for name, (cmds, outputs) in sides.items():
            for p in outputs:
                p.unlink(missing_ok=True)
            r = chain(*[measure(c) for c in cmds]) if len(cmds) > 1 else measure(cmds[0])
            if rnd:  # round 0 warms the page cache and the bytecode
                runs[name].append(r)
    out = {}
    for name, rs in runs.items():
        mid = sorted(rs, key=lambda r: r["wall_s"])[len(rs) // 2]
        cpu = sorted(r["cpu_s"] for r in rs)[len(rs) // 2]
        out[name] = mid | {"cpu_s": cpu, "walls": [r["wall_s"] for r in rs]}
    return out


def landplan_cmd(op: str, *args) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_worker", op, *map(str, args)]


def chain(*results: dict) -> dict:
    """Commands run one after the other: seconds add up, peak is the larger."""
    return {
        "seconds": round(sum(r["seconds"] for r in results), 3),
        "wall_s": round(sum(r["wall_s"] for r in results), 3),
        "cpu_s": round(sum(r["cpu_s"] for r in results), 2),
        "peak_mb": max(r["peak_mb"] for r in results),
    }


def cog_cmd(src: Path, dst: Path) -> list[str]:
    from landplan.raster.grid import COG_OPTIONS

    cmd = ["gdal_translate", "-q", "-of", "COG", str(src), str(dst)]
    for k, v in COG_OPTIONS.items():
        cmd += ["-co", f"{k}={v}"]
    return cmd


def max_diff(a_path: Path, b_path: Path, *, rows: int = 2000) -> float:
    """Largest |a − b| over interior cells of the first ``rows`` rows where both have data."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        win = Window(0, 0, a.width, min(rows, a.height))
        x, y = a.read(1, window=win)[1:-1, 1:-1], b.read(1, window=win)[1:-1, 1:-1]
    ok = (x != -9999) & (y != -9999)
    return float(np.abs(x[ok].astype(float) - y[ok]).max())


TASKS = ("slope", "relief", "zonal")


def cli_cmd(*args) -> list[str]:
    """The ``landplan`` command itself, as a user runs it (``python -m landplan``)."""
    return [sys.executable, "-m", "landplan", *map(str, args)]


def run_size(n: int, work: Path, tasks: tuple[str, ...] = TASKS) -> dict:
    dem = work / f"dem_{n}.tif"
    parcels = work / f"parcels_{n}.gpkg"
    if not dem.exists():
        make_dem(dem, n)
    if not parcels.exists():
        make_parcels(parcels, n)
    o = work / f"out_{n}"
    o.mkdir(exist_ok=True)
    rows = {}
    load_before = os.getloadavg()
    if "slope" in tasks:
        _slope_rows(rows, dem, o)
    if "relief" in tasks:
        _relief_rows(rows, dem, o, n)
    if "zonal" in tasks:
        _zonal_rows(rows, dem, parcels)
    shutil.rmtree(o)
    return {"size": n, "cells": n * n, "cell_m": CELL, "reps": REPS, "rows": rows,
            "machine": machine(), "loadavg_before": load_before,
            "loadavg_after": os.getloadavg()}  # fmt: skip


def _slope_rows(rows: dict, dem: Path, o: Path) -> None:
    lp_out, gd_out = o / "cli_slope.tif", o / "gd_default.tif"
    t = compare({"landplan": ([cli_cmd("terrain", "slope", dem, lp_out)], [lp_out]),
                 "peer": ([["gdaldem", "slope", "-q", str(dem), str(gd_out)]], [gd_out])})  # fmt: skip
    rows["slope CLI (tiled GTiff) vs gdaldem"] = t | {
        "peer_name": "gdaldem slope (whole process)", "max_abs_diff": max_diff(lp_out, gd_out),
    }  # fmt: skip
    lp_out, gd_tif, gd_out = o / "cli_slope_cog.tif", o / "gd_stage.tif", o / "gd_cog.tif"
    t = compare({"landplan": ([cli_cmd("terrain", "slope", dem, lp_out, "--cog")], [lp_out]),
                 "peer": ([["gdaldem", "slope", "-q", str(dem), str(gd_tif)],
                           cog_cmd(gd_tif, gd_out)], [gd_tif, gd_out])})  # fmt: skip
    rows["slope CLI --cog vs gdaldem+COG"] = t | {
        "peer_name": "gdaldem slope + gdal_translate -of COG"
    }
    lp_out, gd_out = o / "lp_slope.tif", o / "gd_slope.tif"
    t = compare({"landplan": ([landplan_cmd("slope", dem, lp_out, "gtiff")], [lp_out]),
                 "peer": ([["gdaldem", "slope", "-q", "-of", "GTiff", str(dem), str(gd_out)]],
                          [gd_out])})  # fmt: skip
    rows["slope library → GTiff vs gdaldem"] = t | {"peer_name": "gdaldem slope",
                                                  "max_abs_diff": max_diff(lp_out, gd_out)}  # fmt: skip


def _relief_rows(rows: dict, dem: Path, o: Path, n: int) -> None:
    lp_out, gd_out = o / "lp_relief3.tif", o / "gd_rough.tif"
    t = compare({"landplan": ([landplan_cmd("relief", dem, lp_out, 3)], [lp_out]),
                 "peer": ([["gdaldem", "roughness", "-q", "-of", "GTiff", str(dem), str(gd_out)]],
                          [gd_out])})  # fmt: skip
    rows["relief 3×3 vs gdaldem roughness"] = t | {"peer_name": "gdaldem roughness",
                                                 "max_abs_diff": max_diff(lp_out, gd_out)}  # fmt: skip
    lp_out, sp_out = o / "lp_relief15.tif", o / "sp_relief15.tif"
    t = compare({"landplan": ([landplan_cmd("relief", dem, lp_out, 15)], [lp_out]),
                 "peer": ([landplan_cmd("relief_scipy", dem, sp_out, 15)], [sp_out])})  # fmt: skip
    rows["relief 15×15 vs scipy in-memory"] = t | {"peer_name": "scipy max/min filter (whole array)",
                                                 "max_abs_diff": max_diff(lp_out, sp_out, rows=min(n, 2000) - 8)}  # fmt: skip


def _zonal_rows(rows: dict, dem: Path, parcels: Path) -> None:
    t = compare({"landplan": ([landplan_cmd("zonal_landplan", dem, parcels)], []),
                 "peer": ([landplan_cmd("zonal_exactextract", dem, parcels)], []),
                 "peer_rs": ([landplan_cmd("zonal_exactextract_rs", dem, parcels)], [])})  # fmt: skip
    lp, ee, rs = t["landplan"], t["peer"], t["peer_rs"]
    rows[f"zonal {N_PARCELS // 1000}k parcels vs exactextract"] = {
        "landplan": lp, "peer": ee, "peer_name": "exact_extract (default feature-sequential)",
        "max_abs_diff": abs(lp["mean_of_means"] - ee["mean_of_means"]),
    }  # fmt: skip
    rows[f"zonal {N_PARCELS // 1000}k parcels vs exactextract rs"] = {
        "landplan": lp, "peer": rs, "peer_name": "exact_extract strategy=raster-sequential",
        "max_abs_diff": abs(lp["mean_of_means"] - rs["mean_of_means"]),
    }  # fmt: skip


def machine() -> dict:
    import rasterio

    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "rasterio": rasterio.__version__,
        "rasterio_gdal": rasterio.__gdal_version__,
        "gdaldem": gdal,
    }


def print_table(results: list[dict]) -> None:
    """lp s: landplan's seconds (the whole process for the CLI rows, the call for the library
    rows); wall: whole processes; cpu: user + system of whole processes."""
    head = (f"{'size':>6} | {'task':<36} | {'lp s':>6} | {'lp wall':>7} | {'peer s':>6} | "
            f"{'s ratio':>7} | {'wall ratio':>10} | {'cpu ratio':>9} | {'lp MB':>6} | {'peer MB':>7} | "
            f"{'RSS ratio':>9} | {'max |Δ|':>9} | peer")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in results:
        for task, v in r["rows"].items():
            a, b = v["landplan"], v["peer"]
            ratio = a["seconds"] / b["seconds"] if b["seconds"] else float("nan")
            wall = a["wall_s"] / b["wall_s"] if b["wall_s"] else float("nan")
            diff = v.get("max_abs_diff")
            diff = f"{diff:.1e}" if diff is not None else ""
            cpu = a["cpu_s"] / b["cpu_s"] if b.get("cpu_s") else float("nan")
            print(f"{r['size']:>6} | {task:<36} | {a['seconds']:>6.2f} | {a['wall_s']:>7.2f} | "
                  f"{b['seconds']:>6.2f} | {ratio:>7.2f} | {wall:>10.2f} | {cpu:>9.2f} | "
                  f"{a['peak_mb']:>6.0f} | {b['peak_mb']:>7.0f} | {a['peak_mb'] / b['peak_mb']:>9.2f} | "
                  f"{diff:>9} | {v['peer_name']}")  # fmt: skip
        before = " ".join(f"{x:.1f}" for x in r.get("loadavg_before", ()))
        after = " ".join(f"{x:.1f}" for x in r["loadavg_after"])
        print(
            f"{'':>6}   load average before {before or '-'}, after {after} "
            f"({r['machine']['cpus']} CPUs); median of {r.get('reps', 1)} runs"
        )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        worker(argv[1], argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "landplan-bench-terrain"
    )
    ap.add_argument("--reps", type=int, default=3, help="timed rounds per comparison")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    args.workdir.mkdir(parents=True, exist_ok=True)
    global ENV, REPS
    ENV, REPS = bench_env(args.workdir), args.reps
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for n in args.sizes:
        r = run_size(n, args.workdir, tuple(args.tasks))
        part = "" if set(args.tasks) == set(TASKS) else "_" + "_".join(args.tasks)
        (RESULTS / f"terrain_{n}{part}.json").write_text(
            json.dumps(r, indent=2, ensure_ascii=False)
        )
        results.append(r)
    print_table(results)


if __name__ == "__main__":
    main()

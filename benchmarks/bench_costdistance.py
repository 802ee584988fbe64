"""Benchmark landplan's distance and cost-distance rasters against gdal_proximity and GRASS r.cost.

    .venv/bin/python benchmarks/bench_costdistance.py [--sizes 2000 4000] [--only cost16 ...]

For each size N (an N × N grid of 10 m cells, EPSG:4542) the script writes a synthetic
terrain (smoothed noise, a few nodata "reservoirs"), a cost raster from its slope
(1 + (slope / 5°)², per metre) and a road network (wiggly lines about every 1.5 km), then
runs, each in its own subprocess under ``/usr/bin/time`` (wall time and peak RSS):

* ``landplan distance ROADS OUT --like COST`` — the command as a user runs it (``python -m
  landplan``, a tiled GeoTIFF, the CLI default), with no search radius and with
  ``--max-distance-m 1000``, whole processes; and, for the seconds inside, the same
  :func:`landplan.raster.distance.read_features` + ``distance_raster`` in a worker that
  times itself;
* ``gdal_rasterize`` + ``gdal_proximity.py -distunits GEO`` (the same burnt cells), whole
  processes, one after the other.

  Distance runs are repeated: each side once untimed (page cache, bytecode), then
  ``--reps`` rounds (default 3) taking turns; each side reports the run of median wall
  time and the median CPU seconds.  Outputs are deleted before each run;
* ``landplan cost distance`` — :func:`landplan.raster.costdistance.cost_distance` and
  ``write_cost_distance`` (tiled GeoTIFF, the CLI default), 8 neighbours and knight's moves
  (the budget is lifted with ``max_cells``; a run whose estimate exceeds 70 % of the
  available RAM is skipped and recorded as such).  The numba kernel is compiled (and cached
  on disk) once before the timed runs, as after the first run of an installation;
* GRASS ``r.cost`` and ``r.cost -k`` (``memory=4000``) from the burnt roads.  GRASS runs
  in a ``--tmp-location``; the script wraps ``r.cost`` itself in ``/usr/bin/time``, so its
  time and peak memory exclude location creation, ``r.in.gdal`` and ``r.out.gdal``
  (reported separately as ``total_s``).

The landplan workers also report their own compute time (excluding interpreter start and
imports) and the RSS of the interpreter after imports (``base_mb``).  Python processes run
with their bytecode cached, as in an installed package (``PYTHONPYCACHEPREFIX`` in the work
directory; it matters where ``PYTHONDONTWRITEBYTECODE`` is set, as in CI containers).  Every run also records
its CPU seconds (user + system): on a shared machine the wall times of both sides stretch
with the load, and the CPU ratio is the steadier figure.  Each run is killed after
``--timeout`` seconds (default 300) and recorded as ``timeout``.  Outputs are compared
(distance: max |landplan − gdal|; cost: max relative difference on cells both reach).
Writes ``benchmarks/results/costdistance_<N>.json`` and prints a ratio table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

CELL = 10.0
X0, Y0 = 560_000.0, 3_050_000.0
CRS = "EPSG:4542"
MAXDIST = 1000.0
TIME = "/usr/bin/time"


# ----------------------------------------------------------------------------- data


def make_data(n: int, d: Path, seed: int = 0) -> dict:
    """Cost raster, roads (GeoPackage) and burnt roads (for gdal_proximity and r.cost)."""
    import geopandas as gpd
    import rasterio
    import shapely
    from rasterio.transform import from_origin
    from scipy.ndimage import gaussian_filter, zoom

    rng = np.random.default_rng(seed)
    coarse = gaussian_filter(rng.standard_normal((n // 8 + 2, n // 8 + 2)), 3.0)
    z = zoom(coarse, n / (n // 8 + 2), order=1)[:n, :n].astype(np.float32)
    z *= np.float32(600.0 / (z.std() + 1e-9))
    gy, gx = np.gradient(z, CELL)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    del gx, gy, z
    cost = (1.0 + (slope / 5.0) ** 2).astype(np.float32)
    del slope
    yy, xx = np.ogrid[:n, :n]
    for _ in range(max(2, n // 1000)):
        cy, cx, r = rng.integers(0, n), rng.integers(0, n), rng.integers(n // 50, n // 20)
        cost[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = -9999.0
    t = from_origin(X0, Y0 + n * CELL, CELL, CELL)
    prof = {"driver": "GTiff", "width": n, "height": n, "count": 1, "crs": CRS, "transform": t}
    with rasterio.open(
        d / "cost.tif", "w", dtype="float32", nodata=-9999.0, tiled=True, **prof
    ) as dst:
        dst.write(cost, 1)
    del cost
    lines, extent = [], n * CELL
    k = max(3, n // 150)
    for axis in (0, 1):
        for pos in np.sort(rng.uniform(0.03, 0.97, k)) * extent:
            s = np.linspace(0, extent, 40)
            w = pos + np.cumsum(rng.normal(0, CELL * 3, 40))
            xy = np.c_[s, w] if axis == 0 else np.c_[w, s]
            lines.append(shapely.LineString(xy + np.array([X0, Y0])))
    roads = gpd.GeoDataFrame(
        {"kind": ["road"] * len(lines), "status": ["built"] * len(lines)}, geometry=lines, crs=CRS
    )
    roads.to_file(d / "roads.gpkg", layer="road", driver="GPKG")
    return {"cost": d / "cost.tif", "roads": d / "roads.gpkg", "n_roads": len(lines)}


# ----------------------------------------------------------------------------- running


#: environment of the timed processes (set by :func:`main`: bytecode cached in a temp dir)
ENV: dict | None = None
#: rounds of the distance comparison (``--reps``)
REPS = 3


def bench_env(folder: Path) -> dict:
    """The environment with Python bytecode written and read, under ``folder``."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder)
    return env


def timed(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run ``cmd`` under /usr/bin/time; wall seconds, peak RSS (MB), stdout, or 'timeout'."""
    env = ENV if env is None else env
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        try:
            run = subprocess.run(
                [TIME, "-f", "%e %M %U %S", "-o", tf.name, *cmd],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "wall_s": timeout}
        wall = time.perf_counter() - t0
        parts = Path(tf.name).read_text().split()
    if run.returncode != 0:
        return {"status": "failed", "wall_s": wall, "stderr": run.stderr[-1500:]}
    peak = int(parts[-3]) / 1024 if parts else None
    cpu = float(parts[-2]) + float(parts[-1]) if parts else None
    return {"status": "ok", "wall_s": wall, "peak_mb": peak, "cpu_s": cpu, "stdout": run.stdout}


def worker_cmd(*args) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", *map(str, args)]


def cli_cmd(*args) -> list[str]:
    """The ``landplan`` command itself, as a user runs it (``python -m landplan``)."""
    return [sys.executable, "-m", "landplan", *map(str, args)]


def repeated(sides: dict[str, tuple[list[list[str]], list[Path]]], timeout: float) -> dict:
    """Per side ``(commands run one after the other, the files they write)``, the runs of each.

    Every side runs once untimed; then the sides take turns :data:`REPS` times, a side's
    files deleted before each of its runs.  Per side: a list (one entry per command) of the
    results of the round of median total wall time, with the median CPU seconds of each
    command and the total wall time of every round (``walls``); a failed run is returned
    as it is.
    """
    rounds: dict[str, list[list[dict]]] = {name: [] for name in sides}
    for rnd in range(REPS + 1):
        for name, (cmds, outputs) in sides.items():
            for p in outputs:
                p.unlink(missing_ok=True)
            res = [timed(c, timeout) for c in cmds]
            if any(r["status"] != "ok" for r in res):
                return {name: res}
            if rnd:  # round 0 warms the page cache and the bytecode
                rounds[name].append(res)
    out = {}
    for name, rs in rounds.items():
        total = [sum(r["wall_s"] for r in res) for res in rs]
        mid = rs[sorted(range(len(rs)), key=total.__getitem__)[len(rs) // 2]]
        for i, r in enumerate(mid):
            r["cpu_s"] = sorted(res[i]["cpu_s"] for res in rs)[len(rs) // 2]
            r["walls"] = [round(res[i]["wall_s"], 3) for res in rs]
        out[name] = mid
    return out


def worker(argv: list[str]) -> None:
    """Run one landplan implementation; print JSON with compute seconds and RSS after imports."""
    import resource

    import geopandas as gpd

    import landplan.io.vector  # noqa: F401  (read_features imports it: not timed)
    from landplan.raster.costdistance import cost_distance, write_cost_distance
    from landplan.raster.distance import distance_raster, read_features

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    what, roads, cost, out = argv[:4]
    info: dict = {}
    if what.startswith("distance"):  # as `landplan distance`: reading the roads included
        t0 = time.perf_counter()
        maxd = float(argv[4]) if len(argv) > 4 else None
        res = distance_raster(read_features(roads), cost, out, max_distance_m=maxd, cog=False)
        info["tiles"] = res.tiles
    else:
        feats = gpd.read_file(roads)
        t0 = time.perf_counter()
        res = cost_distance(feats, cost, knight=what == "cost16", max_cells=2**40)
        info["compute_s"] = time.perf_counter() - t0
        write_cost_distance(res, out, cog=False)
    info.setdefault("compute_s", time.perf_counter() - t0)
    info["total_s"] = time.perf_counter() - t0
    info["base_mb"] = base
    print(json.dumps(info))


GRASS_SCRIPT = """set -e
r.in.gdal -o input={cost} output=cost --quiet
r.in.gdal -o input={start} output=start --quiet
g.region raster=cost
{time} -f "%e %M %U %S" -o {tfile} r.cost {flags} input=cost start_raster=start output=acc memory=4000 --quiet
r.out.gdal -c -f input=acc output={out} format=GTiff type=Float32 createopt=TILED=YES --quiet
"""


def run_grass(cost: Path, start: Path, out: Path, d: Path, *, knight: bool, timeout: float):
    tfile = d / ("rcost_k.time" if knight else "rcost.time")
    script = d / "rcost.sh"
    script.write_text(
        GRASS_SCRIPT.format(
            cost=cost, start=start, out=out, tfile=tfile, time=TIME, flags="-k" if knight else ""
        )
    )
    res = timed(["grass", "--tmp-location", CRS, "--exec", "bash", str(script)], timeout)
    if res["status"] == "ok":
        wall, kb, user, system = tfile.read_text().split()[-4:]
        res.update(total_s=res["wall_s"], wall_s=float(wall), peak_mb=int(kb) / 1024,
                   cpu_s=float(user) + float(system))  # fmt: skip
    return res


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def compare(a_path: Path, b_path: Path, *, scale_b: float = 1.0, relative: bool) -> float:
    import rasterio

    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        x = a.read(1, masked=True).astype(np.float64).filled(np.nan)
        y = b.read(1, masked=True).astype(np.float64).filled(np.nan) * scale_b
    both = np.isfinite(x) & np.isfinite(y)
    if relative:
        both &= y > 0
        return float(np.max(np.abs(x[both] - y[both]) / y[both])) if both.any() else float("nan")
    return float(np.max(np.abs(x[both] - y[both]))) if both.any() else float("nan")


def machine_info() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    g = subprocess.run(["grass", "--version"], capture_output=True, text=True)
    grass = (g.stdout or g.stderr).strip()
    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "grass": grass.splitlines()[0] if grass else None,
        "gdal": gdal.strip(),
    }


TASKS = ("distance", "cost8", "cost16")


def bench_size(
    n: int, timeout: float, keep: bool, only: tuple[str, ...] = TASKS, grass: bool = True
) -> dict:
    from landplan.raster.costdistance import BYTES_PER_CELL

    d = Path(tempfile.mkdtemp(prefix=f"bench_cd_{n}_"))
    try:
        t0 = time.perf_counter()
        data = make_data(n, d)
        gen_s = time.perf_counter() - t0
        runs: dict[str, dict] = {}
        lp = lambda *a: timed(worker_cmd(*a), timeout)  # noqa: E731

        def with_worker(res: dict) -> dict:
            if res["status"] == "ok":
                res.update(json.loads(res.pop("stdout").strip().splitlines()[-1]))
            return res

        print(f"[{n}] data {gen_s:.1f} s", flush=True)
        prox = shutil.which("gdal_proximity.py") or "gdal_proximity"
        burnt = d / "roads_burnt.tif"
        rasterize = [
            *("gdal_rasterize", "-q", "-burn", "1", "-a_nodata", "0", "-ot", "Byte", "-l"),
            *("road", "-te", str(X0), str(Y0), str(X0 + n * CELL), str(Y0 + n * CELL)),
            *("-ts", str(n), str(n), "-co", "TILED=YES", str(data["roads"]), str(burnt)),
        ]
        if "distance" in only:
            roads, cost = data["roads"], data["cost"]
            lp_out, lp1k, gd_out = d / "lp_dist.tif", d / "lp_dist1k.tif", d / "gdal_dist.tif"
            proximity = [
                *(prox, "-q", str(burnt), str(gd_out), "-distunits", "GEO"),
                *("-ot", "Float32", "-use_input_nodata", "NO", "-co", "TILED=YES"),
            ]
            lp_in, lp_in1k = d / "lp_in.tif", d / "lp_in1k.tif"
            res = repeated(
                {
                    "cli": ([cli_cmd("distance", roads, lp_out, "--like", cost)], [lp_out]),
                    "cli_max1000": ([cli_cmd("distance", roads, lp1k, "--like", cost,
                                             "--max-distance-m", MAXDIST)], [lp1k]),
                    "gdal": ([rasterize, proximity], [burnt, gd_out]),
                    "worker": ([worker_cmd("distance", roads, cost, lp_in)], [lp_in]),
                    "worker_max1000": ([worker_cmd("distance", roads, cost, lp_in1k, MAXDIST)],
                                       [lp_in1k]),
                },
                timeout,
            )  # fmt: skip
            for key, cli, wk in (("landplan_distance", "cli", "worker"),
                                 ("landplan_distance_max1000", "cli_max1000", "worker_max1000")):  # fmt: skip
                if cli not in res or wk not in res:
                    runs[key] = (res.get(cli) or res.get(wk) or [{"status": "not run"}])[0]
                    continue
                run, inner = res[cli][0], with_worker(res[wk][0])
                run.pop("stdout", None)
                if run["status"] == "ok" and inner["status"] == "ok":
                    run.update(total_s=inner["total_s"], compute_s=inner["compute_s"],
                               base_mb=inner["base_mb"], tiles=inner["tiles"],
                               worker_wall_s=inner["wall_s"])  # fmt: skip
                runs[key] = run
            if "gdal" in res:
                runs["gdal_rasterize"], runs["gdal_proximity"] = res["gdal"]
                for r in res["gdal"]:
                    r.pop("stdout", None)
            print(f"[{n}] distance done", flush=True)
        else:
            runs["gdal_rasterize"] = timed(rasterize, timeout)
        avail = mem_available_gb()
        for nb, key in ((8, "cost8"), (16, "cost16")):
            if key not in only:
                continue
            need = n * n * BYTES_PER_CELL[nb] / 2**30
            if need > 0.7 * avail:
                runs[f"landplan_{key}"] = {
                    "status": f"skipped: needs ≈ {need:.1f} GiB, {avail:.1f} GiB available"
                }
            else:
                runs[f"landplan_{key}"] = with_worker(
                    lp(key, data["roads"], data["cost"], d / f"lp_{key}.tif")
                )
            if grass:
                runs[f"r.cost{' -k' if nb == 16 else ''}"] = run_grass(
                    data["cost"], burnt, d / f"grass_{key}.tif", d, knight=nb == 16,
                    timeout=timeout,
                )  # fmt: skip
            print(f"[{n}] {key} done", flush=True)
        agree = {}
        if all(
            runs.get(k, {}).get("status") == "ok" for k in ("landplan_distance", "gdal_proximity")
        ):
            agree["distance_max_abs_m"] = compare(
                d / "lp_dist.tif", d / "gdal_dist.tif", relative=False
            )
        for key, g in (("cost8", "r.cost"), ("cost16", "r.cost -k")):
            if (
                runs.get(f"landplan_{key}", {}).get("status")
                == runs.get(g, {}).get("status")
                == "ok"
            ):
                agree[f"{key}_max_rel"] = compare(
                    d / f"lp_{key}.tif", d / f"grass_{key}.tif", scale_b=CELL, relative=True
                )
        return {
            "size": n,
            "cells": n * n,
            "cell_m": CELL,
            "roads": data["n_roads"],
            "data_s": gen_s,
            "timeout_s": timeout,
            "runs": runs,
            "agreement": agree,
        }
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- report


def _secs(run: dict) -> float:
    """landplan: its work in-process (``total_s``); peers: the tool's own process."""
    return run.get("total_s", run["wall_s"]) if "base_mb" in run else run["wall_s"]


def _ok(*runs: dict) -> bool:
    return all(r.get("status") == "ok" for r in runs)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def table(results: list[dict]) -> str:
    head = ("size", "task", "lp s", "lp wall", "lp cpu", "lp MB", "peer", "peer s", "peer cpu",
            "peer MB", "time", "wall", "cpu", "RSS", "agreement")  # fmt: skip
    rows = [head]
    for r in results:
        runs, ag, n = r["runs"], r["agreement"], r["size"]
        gdal = dict(runs.get("gdal_proximity", {"status": "-"}))
        raster = runs["gdal_rasterize"]
        if _ok(gdal, raster):
            gdal["wall_s"] += raster["wall_s"]
            gdal["cpu_s"] += raster["cpu_s"]
            gdal["peak_mb"] = max(gdal["peak_mb"], raster["peak_mb"])
        specs = [
            ("distance", "landplan_distance", "rasterize+proximity", gdal,
             f"max |Δ| {ag.get('distance_max_abs_m', float('nan')):.2f} m"),
            ("distance ≤1 km", "landplan_distance_max1000", "rasterize+proximity", gdal, ""),
            ("cost 8", "landplan_cost8", "r.cost", runs.get("r.cost", {}),
             f"max rel {ag.get('cost8_max_rel', float('nan')):.1e}"),
            ("cost 16", "landplan_cost16", "r.cost -k", runs.get("r.cost -k", {}),
             f"max rel {ag.get('cost16_max_rel', float('nan')):.1e}"),
        ]  # fmt: skip
        for task, key, peer_name, peer, agreement in specs:
            ours = runs.get(key)
            if ours is None:
                continue
            if not _ok(ours):
                rows.append((f"{n}²", task, ours.get("status", "-")[:40], *[""] * 12))
                continue
            lp = (f"{_secs(ours):.2f}", f"{ours['wall_s']:.2f}", f"{ours['cpu_s']:.1f}",
                  f"{ours['peak_mb']:.0f}")  # fmt: skip
            if not _ok(peer):
                rows.append((f"{n}²", task, *lp, peer_name, peer.get("status", "-"), *[""] * 7))
                continue
            rows.append((
                f"{n}²", task, *lp, peer_name, f"{_secs(peer):.2f}", f"{peer['cpu_s']:.1f}",
                f"{peer['peak_mb']:.0f}", _ratio(_secs(ours), _secs(peer)),
                _ratio(ours["wall_s"], peer["wall_s"]), _ratio(ours["cpu_s"], peer["cpu_s"]),
                _ratio(ours["peak_mb"], peer["peak_mb"]), agreement,
            ))  # fmt: skip
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def warm_up() -> None:
    """Compile (or load from numba's disk cache) the Dijkstra kernel once, untimed."""
    import rasterio
    from rasterio.transform import from_origin

    from landplan.raster.costdistance import cost_distance
    from landplan.raster.grid import GridInfo

    g = GridInfo(20, 20, rasterio.crs.CRS.from_user_input(CRS), from_origin(X0, Y0, CELL, CELL),
                 None, CELL, CELL)  # fmt: skip
    start = np.zeros((20, 20), bool)
    start[5, 5] = True
    for knight in (False, True):
        for dtype in (np.float32, np.float64):
            cost_distance(start, np.ones((20, 20), dtype), grid=g, knight=knight)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000])
    ap.add_argument("--only", nargs="+", choices=TASKS, default=list(TASKS))
    ap.add_argument("--skip-grass", action="store_true", help="landplan only (no r.cost run)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary rasters")
    ap.add_argument("--reps", type=int, default=3, help="timed rounds of the distance runs")
    args = ap.parse_args()
    global ENV, REPS
    ENV, REPS = bench_env(Path(tempfile.mkdtemp(prefix="bench_cd_pycache_"))), args.reps
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    info = machine_info()
    warm_up()
    results = []
    for n in args.sizes:
        r = bench_size(n, args.timeout, args.keep, tuple(args.only), not args.skip_grass)
        r["machine"] = info
        r["date"] = dt.datetime.now().isoformat(timespec="seconds")
        r["reps"] = REPS
        r["loadavg_after"] = os.getloadavg()
        part = "" if set(args.only) == set(TASKS) else "_" + "_".join(args.only)
        part += "_no_grass" if args.skip_grass and set(args.only) - {"distance"} else ""
        (out_dir / f"costdistance_{n}{part}.json").write_text(json.dumps(r, indent=2, default=str))
        results.append(r)
        print(table([r]), flush=True)
    print()
    print(
        f"machine: {info['cpu_model']} × {info['nproc']}, {info['ram_gb']} GB RAM; {info['grass']}"
    )
    print(
        "lp s: landplan's read + compute + write (tiled GeoTIFF) in its worker, interpreter "
        "start and imports excluded; lp wall: the whole process (distance: the `landplan "
        "distance` command; cost: the worker); r.cost: the r.cost "
        "process alone; rasterize+proximity: both GDAL processes. cpu = user + system seconds. "
        "MB = peak RSS. time / wall / cpu / RSS = landplan ÷ peer (below 1: landplan is "
        "faster or smaller)"
    )
    print(table(results))


if __name__ == "__main__":
    main()

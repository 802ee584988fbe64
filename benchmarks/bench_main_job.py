"""The main job end to end: ``landplan analyze`` on files against the PostGIS net-area SQL, same run.

    .venv/bin/python benchmarks/bench_main_job.py --parcels 50000 200000 1000000 --dem 0 4000

For every size N (and every DEM size, 0 = no DEM) the script

1. builds a scenario on disk (``build_scenario``): ``benchmarks/synthetic.py``'s parcels and
   constraint layers (red line, basic farmland, urban boundary, inundation) in GeoPackages,
   road / water / power networks (a few long lines each, built and planned, like a county's
   trunk lines) and, with ``--dem S``, a smooth S×S float32 GeoTIFF DEM over the parcels,
   plus a ``manifest.toml``;
2. runs ``landplan analyze manifest.toml --out ws`` in a child process under ``/usr/bin/time -v``
   (wall time and the child's peak RSS), ``--repeat`` times, keeping the median;
3. runs the PostGIS SQL that gives the same net areas (``bench_overlay.py``'s peer: dissolve,
   subdivide, join, sum; parallel and serial plans, the faster kept) on the same data, and checks
   that the per-parcel net area agrees with ``results.gpkg`` within 0.01 m².

It prints a table with the ratio landplan ÷ PostGIS and writes
``benchmarks/results/main_job_<N>.json``.  The older core-only benchmark (``bench_overlay.py``)
measures ``compute_exclusions`` alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
import synthetic  # noqa: E402

KINDS = ("red_line", "basic_farmland", "urban_boundary", "inundation")
NETWORKS = {  # kind → (number of long lines each way, share planned)
    "road": (6, 0.25),
    "water": (4, 0.25),
    "power": (3, 0.0),
}


def _networks(bounds, rng) -> dict[str, gpd.GeoDataFrame]:
    """A few long, slightly wavy trunk lines per kind across the whole area (status 已建 / 规划)."""
    x0, y0, x1, y1 = bounds
    out = {}
    for kind, (count, planned) in NETWORKS.items():
        lines, status = [], []
        for axis in (0, 1):
            for _ in range(count):
                t = np.linspace(0.0, 1.0, 400)
                wave = rng.uniform(50, 400) * np.sin(t * rng.uniform(2, 9) + rng.uniform(0, 6))
                if axis == 0:
                    x = rng.uniform(x0, x1) + wave
                    y = y0 - 500 + t * (y1 - y0 + 1000)
                else:
                    x = x0 - 500 + t * (x1 - x0 + 1000)
                    y = rng.uniform(y0, y1) + wave
                lines.append(shapely.LineString(np.column_stack([x, y])))
                status.append("规划" if rng.random() < planned else "已建")
        out[kind] = gpd.GeoDataFrame({"status": status}, geometry=lines, crs=synthetic.CRS)
    return out


def _write_dem(path: Path, bounds, size: int, rng) -> None:
    import rasterio
    from rasterio.transform import from_bounds

    x0, y0, x1, y1 = bounds
    pad = 200.0
    yy, xx = np.mgrid[0:size, 0:size].astype("float32") / size
    dem = 1800 + 300 * np.sin(3 * xx + rng.uniform(0, 6)) * np.cos(2 * yy + rng.uniform(0, 6))
    dem += 40 * np.sin(25 * xx) * np.sin(31 * yy)
    transform = from_bounds(x0 - pad, y0 - pad, x1 + pad, y1 + pad, size, size)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": synthetic.CRS,
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dem.astype("float32"), 1)


def build_scenario(
    n: int, folder: Path, /, *, dem_size: int = 0, seed: int = 20240601
) -> tuple[Path, dict]:
    """Write the scenario for ``n`` parcels into ``folder``; return the manifest path and the data."""
    folder.mkdir(parents=True, exist_ok=True)
    data = synthetic.make_dataset(n, seed=seed)
    rng = np.random.default_rng(seed + 7)
    parcels = data["parcels"]
    parcels = gpd.GeoDataFrame(
        {
            "DKBH": [f"D{i:07d}" for i in range(len(parcels))],
            "QY": np.where(parcels.geometry.centroid.x < synthetic.X0, "东区", "西区"),
        },
        geometry=parcels.geometry.values,
        crs=synthetic.CRS,
    )
    parcels.to_file(folder / "parcels.gpkg", layer="parcels", driver="GPKG")
    for kind in KINDS:
        data[kind].to_file(folder / "constraints.gpkg", layer=kind, driver="GPKG")
    bounds = tuple(parcels.total_bounds)
    for kind, gdf in _networks(bounds, rng).items():
        gdf.to_file(folder / "networks.gpkg", layer=kind, driver="GPKG")
    text = (
        f'name = "bench {n}"\ncrs = "{synthetic.CRS}"\n'
        '[parcels]\npath = "parcels.gpkg"\nlayer = "parcels"\nid_field = "DKBH"\ngroup_field = "QY"\n'
    )
    for kind in KINDS:
        text += f'[[constraints]]\nkind = "{kind}"\npath = "constraints.gpkg"\nlayer = "{kind}"\n'
    for kind in NETWORKS:
        text += (
            f'[[networks]]\nkind = "{kind}"\npath = "networks.gpkg"\nlayer = "{kind}"\n'
            'status_field = "status"\nbuilt_values = ["已建"]\n'
        )
    if dem_size:
        _write_dem(folder / "dem.tif", bounds, dem_size, rng)
        text += '[dem]\npath = "dem.tif"\n'
    manifest = folder / "manifest.toml"
    manifest.write_text(text, encoding="utf-8")
    data["parcels"] = data["parcels"].assign(parcel_id=np.arange(len(parcels)))
    return manifest, data


#: seconds between two samples of the process tree's memory.  Walking the tree reads every
#: process's /proc entry: every 20 ms that took 13 % of a core, which the measured job (CPU-bound
#: on two cores) lost, 40.5–41.3 s against 36.7 s without the sampler for 50k parcels and a DEM
SAMPLE_S = 0.1
#: the tree's PSS is read every this many samples
PSS_EVERY = 3


def run_analyze(manifest: Path, out: Path, /) -> dict:
    """``landplan analyze`` in a child process: wall seconds, CPU seconds and peak memory.

    ``peak_rss_mib`` is ``time -v``'s (the largest single process); ``tree_peak_rss_mib`` is the
    largest sum of the RSS of landplan and every process it started (the chunk worker and the
    background workbook writer), sampled every :data:`SAMPLE_S`, so a second process cannot hide
    memory.  That sum counts the pages the processes share (Python, numpy, GDAL, pyarrow: ~120 MiB
    each) once per process; ``tree_peak_pss_mib`` is the largest sum of their PSS (each shared page
    divided among the processes that map it), what the tree takes from the machine, sampled every
    :data:`PSS_EVERY` samples (``smaps_rollup`` costs more to read than the RSS).
    """
    import threading

    import psutil

    exe = Path(sys.executable).with_name("landplan")
    cmd = ["/usr/bin/time", "-v", str(exe), "analyze", str(manifest), "--out", str(out)]
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"COLUMNS": "120"},
    )
    tree_peak, pss_peak = [0], [0]
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        k = 0
        while not done.is_set():
            try:
                procs = root.children(recursive=True)
                total = sum(p.memory_info().rss for p in procs)
                if k % PSS_EVERY == 0:
                    pss_peak[0] = max(pss_peak[0], sum(p.memory_full_info().pss for p in procs))
            except psutil.Error:
                total = 0
            tree_peak[0] = max(tree_peak[0], total)
            k += 1
            done.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"landplan analyze failed:\n{stdout[-2000:]}\n{stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", stderr).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", stderr).group(1))
    return {
        "seconds": seconds,
        "cpu_s": user + system,
        "peak_rss_mib": rss_kb / 1024,
        "tree_peak_rss_mib": tree_peak[0] / 2**20,
        "tree_peak_pss_mib": pss_peak[0] / 2**20,
        "load_avg_1min_before": os.getloadavg()[0],
    }


def run_postgis(dsn: str, admin_db: str, data: dict, repeat: int) -> dict:
    import bench_overlay as bo

    parcels = data["parcels"]
    layers = {k: data[k] for k in KINDS}
    bo.pg_setup(dsn, admin_db)
    load = bo.pg_load(dsn, parcels, layers)
    best: dict = {}
    for mode in ("parallel", "serial"):
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            frame, _ = bo.pg_query(dsn, mode=mode, nv=bo.PG_MAX_VERTICES)
            runs.append(time.perf_counter() - t)
        med = statistics.median(runs)
        if not best or med < best["seconds"]:
            best = {"mode": mode, "seconds": med, "runs_s": runs, "frame": frame}
    best["load_s"] = load["total_s"]
    return best


def compile_bytecode() -> None:
    """Compile landplan's modules once, as ``pip install`` does for an installed package.

    An editable checkout has no bytecode until Python writes it, and with
    ``PYTHONDONTWRITEBYTECODE`` set (as on some CI machines) it never does: every process of
    every run would compile ~200 modules again (~0.2 s each, three processes a job)."""
    import compileall

    for package in ("landplan", "maps", "api"):
        compileall.compile_dir(ROOT / package, quiet=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parcels", type=int, nargs="+", default=[50_000, 200_000, 1_000_000])
    ap.add_argument(
        "--dem", type=int, nargs="+", default=[0, 4000], help="DEM sizes in cells (0 = none)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (the median is kept)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--skip-postgis", action="store_true")
    ap.add_argument(
        "--dsn",
        default=os.environ.get("LANDPLAN_BENCH_DSN", "host=127.0.0.1 port=5432 user=postgres"),
    )
    ap.add_argument("--admin-db", default="postgres")
    ap.add_argument("--label", default="", help="tag stored with the results (e.g. before/after)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the scenarios here")
    args = ap.parse_args(argv)

    import bench_overlay as bo

    info = bo.machine_info()
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, {info['ram_gb']} GiB RAM")
    compile_bytecode()
    rows = []
    with tempfile.TemporaryDirectory(prefix="landplan-mainjob-") as tmp:
        work = args.workdir or Path(tmp)
        for n in args.parcels:
            pg = None
            for dem in args.dem:
                folder = work / f"n{n}_dem{dem}"
                t = time.perf_counter()
                manifest, data = build_scenario(n, folder, dem_size=dem, seed=args.seed)
                print(
                    f"\nscenario {n} parcels, DEM {dem or 'none'}: built in {time.perf_counter() - t:.1f} s"
                )
                if pg is None and not args.skip_postgis:
                    pg = run_postgis(args.dsn, args.admin_db, data, args.repeat)
                    print(
                        f"PostGIS net-area query ({pg['mode']}): {pg['seconds']:.2f} s "
                        f"(load {pg['load_s']:.2f} s, not counted)"
                    )
                runs = []
                for i in range(args.repeat):
                    runs.append(run_analyze(manifest, folder / f"ws{i}"))
                    print(
                        f"landplan analyze: {runs[-1]['seconds']:.2f} s "
                        f"(CPU {runs[-1]['cpu_s']:.1f} s), peak RSS {runs[-1]['peak_rss_mib']:.0f} MiB"
                        f" (process tree {runs[-1]['tree_peak_rss_mib']:.0f} MiB,"
                        f" PSS {runs[-1]['tree_peak_pss_mib']:.0f} MiB)"
                    )
                seconds = statistics.median(r["seconds"] for r in runs)
                rss = max(r["peak_rss_mib"] for r in runs)
                row = {
                    "parcels": n,
                    "dem": dem,
                    "landplan_s": seconds,
                    "landplan_runs_s": [r["seconds"] for r in runs],
                    "landplan_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                    "peak_rss_mib": rss,
                    "tree_peak_rss_mib": max(r["tree_peak_rss_mib"] for r in runs),
                    "tree_peak_pss_mib": max(r["tree_peak_pss_mib"] for r in runs),
                    "load_avg_1min_before": runs[0]["load_avg_1min_before"],
                }
                if pg is not None:
                    res = pd.DataFrame(
                        gpd.read_file(
                            folder / "ws0" / "results.gpkg", layer="parcels", ignore_geometry=True
                        )
                    )
                    ids = res["parcel_id"].str.slice(1).astype(int).to_numpy()
                    net = pd.Series(res["net_available_m2"].to_numpy(), index=ids).sort_index()
                    diff = np.abs(
                        net.to_numpy() - pg["frame"]["net_available_m2"].loc[net.index].to_numpy()
                    )
                    row |= {
                        "postgis_s": pg["seconds"],
                        "postgis_mode": pg["mode"],
                        "ratio": seconds / pg["seconds"],
                        "net_max_abs_diff_m2": float(diff.max()),
                    }
                rows.append(row)
                for i in range(args.repeat):
                    shutil.rmtree(folder / f"ws{i}", ignore_errors=True)

    print(f"\nResults: landplan analyze end to end vs the PostGIS net-area SQL {args.label}")
    print(
        f"({info['nproc']} cores, {info['cpu_model']}, {info['ram_gb']} GiB; median of {args.repeat})"
    )
    hdr = f"{'parcels':>9} {'DEM':>6} {'landplan s':>11} {'peak RSS MiB':>13} {'tree MiB':>9} {'tree PSS':>9} {'PostGIS s':>10} {'ratio':>7} {'net Δ m²':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        pg_s = f"{r['postgis_s']:10.2f}" if "postgis_s" in r else f"{'-':>10}"
        ratio = f"{r['ratio']:6.1f}×" if "ratio" in r else f"{'-':>7}"
        diff = f"{r['net_max_abs_diff_m2']:9.1e}" if "net_max_abs_diff_m2" in r else f"{'-':>9}"
        dem = f"{r['dem']}²" if r["dem"] else "none"
        print(
            f"{r['parcels']:>9,} {dem:>6} {r['landplan_s']:11.2f} {r['peak_rss_mib']:13.0f} "
            f"{r['tree_peak_rss_mib']:9.0f} {r['tree_peak_pss_mib']:9.0f} {pg_s} {ratio} {diff}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for n in args.parcels:
        path = args.out / f"main_job_{n}{('_' + args.label) if args.label else ''}.json"
        path.write_text(
            json.dumps(
                {
                    "benchmark": "landplan analyze end to end vs PostGIS net-area SQL",
                    "label": args.label,
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "machine": info,
                    "rows": [r for r in rows if r["parcels"] == n],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Writing the result map of ``landplan analyze`` (``map.html``) for N parcels, against folium.

    python benchmarks/bench_map_write.py --parcels 50000 [--baseline-rev <git rev>]

1. The workspace: ``--workdir/ws`` if it exists, else ``bench_main_job.build_scenario`` (no
   DEM) and ``landplan analyze manifest.toml --out ws`` (about a minute at 50 000 parcels).
2. Its ``result_parcels``, constraint layers and ``networks`` are read once and pickled.
3. Each variant runs ``--repeat`` times, each time in a fresh child process (as the CLI builds
   the map once per process), the variants interleaved so that they share the machine's load:

   ``landplan``
       what ``landplan analyze`` does (``landplan/cli/main.py:_map_writer``):
       ``build_result_map(..., vector_tile_threshold=None, assets="inline")`` (``"cdn"`` when
       the Leaflet assets are not installed) and ``save_map``;
   ``folium`` (the peer)
       ``GeoDataFrame.explore()`` + ``Map.save`` of the same parcels with the columns the
       landplan popup shows (ids, verdict colouring, areas, distances, the reasons JSON),
       tooltip ``parcel_id``/``verdict``/``net_available_mu`` and all of them in the popup;
   ``baseline`` (with ``--baseline-rev``)
       the ``maps/`` package of that git revision, run the same way as ``landplan``;
   ``streamed`` (with ``--chunks N``)
       the streamed write path: the parcels cut into N chunks (pickled one per file), each
       read and given to ``maps.streamed.ResultMapParts.add`` in turn, then ``build`` with the
       arguments of ``landplan``; the child never holds the whole frame.  Reading the chunk
       files is not timed.  The page must be ``landplan``'s (checked: the SHA-256 of the page
       with folium's random ids numbered is compared).

   Every child also reports its peak RSS (``ru_maxrss``), its RSS after the imports and after
   the data are held (the whole frame, or ``ResultMapParts`` after the last chunk), and for
   ``streamed`` the bytes of the arrays ``ResultMapParts`` holds, per parcel.

``--source sample`` maps the bundled sample's parcels with the longest ``reasons`` (at least
1,000 characters, about 2 KB of UTF-8 JSON) replicated to ``--parcels``: each copy moved on a
grid and every number in its reasons prefixed with the copy's number, so that
figures differ between copies as the pipeline's do.  ``--peer-repeat 0`` skips the folium
peer (hours and tens of GB at 200,000 such parcels).

    python benchmarks/bench_map_write.py --source sample --parcels 200000 --chunks 20 \
        --repeat 1 --peer-repeat 0

   Only the build and the save are timed (wall and CPU seconds of the child); imports and
   reading the data are not.

Prints the medians, file sizes and the ratio folium ÷ landplan, with the 1-minute load
average around each run (the machine has 2 cores shared with other work), and writes
``benchmarks/results/map_write_<N>.json`` (``map_write_sample_<N>_chunks<K>.json`` for
``--source sample``, ``map_write_<N>_chunks<K>.json`` for a workspace with ``--chunks``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import pickle
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POPUP_COLUMNS = [
    "parcel_id",
    "verdict",
    "area_m2",
    "area_mu",
    "area_ellipsoidal_m2",
    "area_ellipsoidal_mu",
    "excluded_mu",
    "net_available_mu",
]


def machine_info() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def ensure_workspace(n: int, workdir: Path) -> Path:
    ws = workdir / "ws"
    if (ws / "workspace.gpkg").exists():
        return ws
    sys.path.insert(0, str(HERE))
    from bench_main_job import build_scenario

    manifest, _ = build_scenario(n, workdir / "scenario")
    landplan = Path(sys.executable).with_name("landplan")
    print(f"landplan analyze {manifest} --out {ws} (once) ...", flush=True)
    subprocess.run([str(landplan), "analyze", str(manifest), "--out", str(ws)], check=True)
    return ws


def load_layers(ws: Path, cache: Path) -> Path:
    """The layers ``landplan analyze`` maps, pickled for the children."""
    if cache.exists() and cache.stat().st_mtime > (ws / "workspace.gpkg").stat().st_mtime:
        return cache
    from landplan.store.workspace import GpkgWorkspace

    store = GpkgWorkspace(ws)
    names = store.layers()
    data = {
        "parcels": store.read_layer("result_parcels"),
        "constraints": {
            n.removeprefix("constraint_"): store.read_layer(n)
            for n in names
            if n.startswith("constraint_")
        },
        "networks": store.read_layer("networks") if "networks" in names else None,
        "name": store.metadata().get("name", "bench"),
    }
    with cache.open("wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return cache


def baseline_package(rev: str, folder: Path) -> Path:
    """``maps/`` of git revision ``rev`` as the package ``baseline_maps`` under ``folder``."""
    target = folder / "baseline_maps"
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "maps"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "maps").rename(target)
    for path in target.glob("*.py"):
        path.write_text(
            path.read_text(encoding="utf-8").replace("landplan.maps", "baseline_maps"),
            encoding="utf-8",
        )
    return folder


def sample_layers(n: int, workdir: Path) -> Path:
    """The sample's parcels with long reasons replicated to ``n`` (see the module docstring)."""
    cache = workdir / f"sample_{n}.pkl"
    if cache.exists():
        return cache
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import shapely
    from landplan.data.sample import generate_sample

    from landplan.analysis.job import run_manifest

    print(f"sample result, replicated to {n} parcels (once) ...", flush=True)
    result = run_manifest(generate_sample(workdir / "sample"))
    parcels = result.parcels
    rows = parcels[parcels["reasons"].str.len() >= 1000].reset_index(drop=True)
    k = len(rows)
    copies = -(-n // k)
    x0, y0, x1, y1 = rows.total_bounds
    step = max(x1 - x0, y1 - y0) * 1.05
    side = int(np.ceil(np.sqrt(copies)))
    geoms, reasons = [], []
    texts = pa.array(rows["reasons"].tolist(), pa.large_string())
    template = rows.geometry.to_numpy()
    for j in range(copies):
        offset = np.array([(j % side) * step, (j // side) * step])
        geoms.append(shapely.transform(template, lambda xy, o=offset: xy + o))
        # the copy's number before every number (never a leading zero: JSON stays valid); not
        # in "m2" nor after a decimal point
        reasons.append(
            pc.replace_substring_regex(texts, "([^A-Za-z0-9.]|^)([0-9]+)", f"\\1{j + 1}\\2")
        )
    out = rows.iloc[np.tile(np.arange(k), copies)[:n]].reset_index(drop=True)
    out["parcel_id"] = [f"{pid}#{i // k}" for i, pid in enumerate(out["parcel_id"])]
    out["reasons"] = pa.concat_arrays(reasons)[:n].to_pylist()
    out = out.set_geometry(pd.Series(np.concatenate(geoms)[:n]).values, crs=parcels.crs)
    data = {
        "parcels": out,
        "constraints": result.inputs.constraints,
        "networks": result.inputs.networks,
        "name": result.name,
    }
    with cache.open("wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return cache


def write_chunks(data_path: Path, chunks: int) -> Path:
    """The parcels of ``data_path`` in ``chunks`` pickles, and the other layers in ``rest.pkl``."""
    folder = data_path.with_name(f"{data_path.stem}_chunks{chunks}")
    if (folder / "rest.pkl").exists() and folder.stat().st_mtime > data_path.stat().st_mtime:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    with data_path.open("rb") as fh:
        data = pickle.load(fh)
    parcels = data.pop("parcels")
    size = -(-len(parcels) // chunks)
    for i in range(chunks):
        with (folder / f"chunk_{i:05d}.pkl").open("wb") as fh:
            part = parcels.iloc[i * size : (i + 1) * size]
            pickle.dump(part, fh, protocol=pickle.HIGHEST_PROTOCOL)
    data["crs"] = parcels.crs
    with (folder / "rest.pkl").open("wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return folder


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def page_digest(path: Path) -> str:
    """SHA-256 of the page with folium's random element ids numbered in order of appearance."""
    seen: dict[str, str] = {}
    text = re.sub(
        r"[0-9a-f]{32}",
        lambda m: seen.setdefault(m.group(0), f"ID{len(seen)}"),
        path.read_text(encoding="utf-8"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


# --- one timed run, in a child process ---------------------------------------------------


def child(variant: str, data_path: Path, out: Path, baseline: Path | None) -> dict:
    # imports are not timed
    import folium.plugins  # noqa: F401
    import geopandas  # noqa: F401
    import pyarrow.compute
    import pyarrow.json  # noqa: F401

    rss_imports = rss_mb()
    if variant == "streamed":
        return streamed_child(data_path, out, rss_imports)
    with data_path.open("rb") as fh:
        data = pickle.load(fh)
    parcels = data["parcels"]
    rss_held = rss_mb()
    if variant in ("landplan", "baseline"):
        if variant == "baseline":
            sys.path.insert(0, str(baseline))
            import baseline_maps as maps
            from baseline_maps.assets import assets_installed
        else:
            import landplan.maps as maps
            from landplan.maps.assets import assets_installed
        assets = "inline" if assets_installed() else "cdn"
        t0, c0 = time.perf_counter(), time.process_time()
        m = maps.build_result_map(
            parcels,
            constraints=data["constraints"],
            networks=data["networks"],
            lang="zh",
            title=data["name"],
            overlays={},
            vector_tile_threshold=None,
            assets=assets,
        )
        t1 = time.perf_counter()
        maps.save_map(m, out)
    else:
        assets = "cdn"
        dist = [c for c in parcels.columns if c.startswith("dist_") and c.endswith("_m")]
        cols = [c for c in POPUP_COLUMNS if c in parcels.columns] + dist + ["reasons"]
        frame = parcels[[*cols, parcels.geometry.name]]
        t0, c0 = time.perf_counter(), time.process_time()
        m = frame.explore(
            column="verdict",
            tooltip=["parcel_id", "verdict", "net_available_mu"],
            popup=True,
            tiles="OpenStreetMap",
        )
        t1 = time.perf_counter()
        m.save(str(out))
    t2, c2 = time.perf_counter(), time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "variant": variant,
        "assets": assets,
        "parcels": len(parcels),
        "build_s": round(t1 - t0, 3),
        "save_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "cpu_s": round(c2 - c0, 3),
        "mb": round(out.stat().st_size / 1e6, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_after_imports_mb": round(rss_imports, 1),
        "rss_data_held_mb": round(rss_held, 1),
        "page_sha256": page_digest(out),
    }


def streamed_child(folder: Path, out: Path, rss_imports: float) -> dict:
    """``ResultMapParts`` fed the chunk files one by one, then built and saved."""
    import landplan.maps as maps
    from landplan.maps.assets import assets_installed
    from landplan.maps.streamed import ResultMapParts

    with (folder / "rest.pkl").open("rb") as fh:
        data = pickle.load(fh)
    assets = "inline" if assets_installed() else "cdn"
    read_s, wall_s, cpu_s = 0.0, 0.0, 0.0
    parts = ResultMapParts(crs=data["crs"])
    for path in sorted(folder.glob("chunk_*.pkl")):
        r0 = time.perf_counter()
        with path.open("rb") as fh:
            chunk = pickle.load(fh)
        t0, c0 = time.perf_counter(), time.process_time()
        read_s += t0 - r0
        parts.add(chunk)
        del chunk
        wall_s += time.perf_counter() - t0
        cpu_s += time.process_time() - c0
    rss_held, held, n = rss_mb(), parts.nbytes, len(parts)
    t0, c0 = time.perf_counter(), time.process_time()
    m = parts.build(
        constraints=data["constraints"],
        networks=data["networks"],
        lang="zh",
        title=data["name"],
        overlays={},
        vector_tile_threshold=None,
        assets=assets,
    )
    t1 = time.perf_counter()
    maps.save_map(m, out)
    t2, c2 = time.perf_counter(), time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "variant": "streamed",
        "assets": assets,
        "parcels": n,
        "chunks": len(list(folder.glob("chunk_*.pkl"))),
        "add_s": round(wall_s, 3),
        "read_chunks_s": round(read_s, 3),
        "build_s": round(wall_s + t1 - t0, 3),
        "save_s": round(t2 - t1, 3),
        "total_s": round(wall_s + t2 - t0, 3),
        "cpu_s": round(cpu_s + c2 - c0, 3),
        "mb": round(out.stat().st_size / 1e6, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_after_imports_mb": round(rss_imports, 1),
        "rss_data_held_mb": round(rss_held, 1),
        "parts_bytes_per_parcel": round(held / max(n, 1), 1),
        "rss_held_bytes_per_parcel": round((rss_held - rss_imports) * 2**20 / max(n, 1), 1),
        "page_sha256": page_digest(out),
    }


def run_child(variant: str, data_path: Path, out: Path, baseline: Path | None) -> dict:
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--child", variant, "--data", str(data_path)]
    cmd += ["--out", str(out)] + (["--baseline-dir", str(baseline)] if baseline else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{variant} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["loadavg_1m_before"] = round(load_before, 2)
    row["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parcels", type=int, default=50_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mapbench"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-repeat", type=int, default=None, help="default: --repeat")
    ap.add_argument("--baseline-rev", default=None, help="also time maps/ of this git revision")
    ap.add_argument("--output", type=Path, default=None)
    ap.add_argument(
        "--chunks", type=int, default=0, help="also build from N chunks (variant 'streamed')"
    )
    ap.add_argument(
        "--source",
        choices=("workspace", "sample"),
        default="workspace",
        help="sample: the sample's parcels with long reasons, replicated to --parcels",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--baseline-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.data, args.out, args.baseline_dir)))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.source == "sample":
        ws = None
        data_path = sample_layers(args.parcels, args.workdir)
    else:
        ws = ensure_workspace(args.parcels, args.workdir)
        data_path = load_layers(ws, args.workdir / "map_layers.pkl")
    with data_path.open("rb") as fh:
        n = len(pickle.load(fh)["parcels"])
    chunk_dir = write_chunks(data_path, args.chunks) if args.chunks else None
    tmp = Path(tempfile.mkdtemp(prefix="map_write_"))
    baseline = baseline_package(args.baseline_rev, tmp) if args.baseline_rev else None
    variants = ["landplan"] + (["streamed"] if chunk_dir else [])
    variants += (["folium"] if args.peer_repeat != 0 else []) + (["baseline"] if baseline else [])
    repeats = dict.fromkeys(variants, args.repeat)
    if "folium" in repeats:
        repeats["folium"] = args.peer_repeat or args.repeat
    rows: list[dict] = []
    try:
        for i in range(max(repeats.values())):
            for v in variants:
                if i < repeats[v]:
                    source = chunk_dir if v == "streamed" else data_path
                    row = run_child(v, source, tmp / f"{v}.html", baseline)
                    rows.append(row)
                    print(
                        f"{v:9s} run {i + 1}: build {row['build_s']:6.2f} s  save "
                        f"{row['save_s']:5.2f} s  total {row['total_s']:6.2f} s  cpu "
                        f"{row['cpu_s']:6.2f} s  {row['mb']:7.2f} MB  peak RSS "
                        f"{row.get('peak_rss_mb', float('nan')):7.0f} MB  load "
                        f"{row['loadavg_1m_before']:.1f}→{row['loadavg_1m_after']:.1f}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    digests = {r["page_sha256"] for r in rows if r["variant"] in ("landplan", "streamed")}
    if chunk_dir and len(digests) != 1:
        raise SystemExit("the streamed page differs from landplan's")

    summary = {}
    keys = ("build_s", "save_s", "total_s", "cpu_s", "mb", "peak_rss_mb", "rss_data_held_mb")
    keys += ("add_s", "parts_bytes_per_parcel", "rss_held_bytes_per_parcel")
    for v in variants:
        mine = [r for r in rows if r["variant"] == v]
        summary[v] = {k: statistics.median(r[k] for r in mine) for k in keys if k in mine[0]}
        summary[v]["runs"] = len(mine)
    ratio = {}
    if "folium" in summary:
        ratio = {
            "folium_over_landplan_total": round(
                summary["folium"]["total_s"] / summary["landplan"]["total_s"], 2
            ),
            "folium_over_landplan_cpu": round(
                summary["folium"]["cpu_s"] / summary["landplan"]["cpu_s"], 2
            ),
            "folium_over_landplan_mb": round(
                summary["folium"]["mb"] / summary["landplan"]["mb"], 2
            ),
        }
    if "streamed" in summary:
        ratio["streamed_over_landplan_total"] = round(
            summary["streamed"]["total_s"] / summary["landplan"]["total_s"], 2
        )
        ratio["streamed_over_landplan_peak_rss"] = round(
            summary["streamed"]["peak_rss_mb"] / summary["landplan"]["peak_rss_mb"], 2
        )
    if baseline:
        ratio["baseline_over_landplan_total"] = round(
            summary["baseline"]["total_s"] / summary["landplan"]["total_s"], 2
        )
    print(f"\n{n} parcels, medians of {repeats}:")
    for v, s in summary.items():
        print(
            f"  {v:9s} total {s['total_s']:6.2f} s (build {s['build_s']:.2f} + save "
            f"{s['save_s']:.2f})  cpu {s['cpu_s']:6.2f} s  {s['mb']:.2f} MB  peak RSS "
            f"{s.get('peak_rss_mb', float('nan')):.0f} MB"
            + (
                f"  held {s['parts_bytes_per_parcel']:.0f} B/parcel (arrays), "
                f"{s['rss_held_bytes_per_parcel']:.0f} B/parcel (RSS)"
                if "parts_bytes_per_parcel" in s
                else ""
            )
        )
    print("  " + "  ".join(f"{k} {v}" for k, v in ratio.items()))

    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *cmd], capture_output=True, text=True
        ).stdout.strip()

    result = {
        "benchmark": "map.html of landplan analyze: build_result_map + save_map vs explore()",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": {
            "landplan_git": git("rev-parse", "HEAD"),
            "maps_uncommitted": bool(git("status", "--porcelain", "--", "maps")),
            **_versions(),
        },
        "parameters": {
            "parcels": n,
            "source": args.source,
            "chunks": args.chunks or None,
            "workspace": str(ws) if ws else str(data_path),
            "repeat": repeats,
            "baseline_rev": git("rev-parse", args.baseline_rev) if args.baseline_rev else None,
        },
        "summary": summary,
        "ratios": ratio,
        "rows": rows,
    }
    name = f"map_write_{'sample_' if args.source == 'sample' else ''}{args.parcels}"
    name += f"_chunks{args.chunks}" if args.chunks else ""
    out = args.output or HERE / "results" / f"{name}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("folium", "geopandas", "shapely", "pyarrow", "pandas")}


if __name__ == "__main__":
    raise SystemExit(main())

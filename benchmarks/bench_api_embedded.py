"""Load test of ``landplan serve`` on the embedded GeoPackage store, beside landplan and tipg on
PostGIS serving the same workspace.

    # once: a 50k-parcel workspace and its PostGIS copy (kept in /tmp/apibench)
    .venv/bin/python -c "import sys; sys.path[:0] = ['benchmarks', '.']; \\
        from pathlib import Path; from bench_main_job import build_scenario; \\
        build_scenario(50000, Path('/tmp/apibench/scen'))"
    .venv/bin/landplan analyze /tmp/apibench/scen/manifest.toml --out /tmp/apibench/ws
    .venv/bin/landplan workspace push /tmp/apibench/ws \\
        --to 'postgresql://postgres@127.0.0.1:5432/landplan_test?workspace=apibench'
    # tipg 1.6.1 in its own venv (only for this benchmark)
    python -m venv /tmp/tipgvenv && /tmp/tipgvenv/bin/pip install tipg==1.6.1 uvicorn

    .venv/bin/python benchmarks/bench_api_embedded.py --label after

What it does, on 127.0.0.1:

1. starts three servers, one uvicorn worker each: ``landplan serve`` on the workspace
   directory (``workspace.gpkg``, SQLite), ``landplan serve`` on the PostGIS copy and tipg on
   the same PostGIS schema (``TIPG_DB_SCHEMAS``, tile buffer = landplan's);
2. drives each with ``--concurrency`` (32) asyncio + httpx clients and the same seeded
   request lists (unmeasured warm-up first), one server at a time:

   * ``items``: a random ~500 m × 500 m CRS84 bbox inside the data, ``limit=100``;
   * ``pages``: ``limit=100`` at a random ``offset`` (no bbox: paging through the layer);
   * ``tiles``: a random Web-Mercator tile at z14–16 inside the data (MVT);

3. records throughput, p50/p95/p99, errors (non-200; any 5xx is a failure), mean response
   size, RSS and the 1-minute load average before and after each run.

The data covers about 10 × 10 km, so the tiles scenario draws from some 400 distinct tiles:
with landplan's tile cache (on by default) most tile requests after the warm-up are answered
from memory.  ``--setting tile_cache_mb=0`` measures every tile drawn (cold), as tipg does.

Results go to ``benchmarks/results/api_embedded.json`` (runs kept per ``--label``, so a
before/after pair lives in one file) and ``api_embedded.md`` (the tables).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyogrio  # noqa: E402
from bench_api_load import (  # noqa: E402
    TILE_PROPS,
    Server,
    bbox_list,
    compare_items,
    drive,
    free_port,
    git_rev,
    machine_info,
    pg_versions,
    tile_list,
    tipg_version,
)
from pyproj import CRS, Transformer  # noqa: E402

from landplan.store.pgstore import TILE_BUFFER  # noqa: E402

LAYER = "result_parcels"
#: pages last: tipg pages with a large OFFSET keep PostgreSQL busy for seconds after the run
SCENARIOS = ("items", "tiles", "pages")


def extent_of(gpkg: Path, margin_m: float) -> tuple[tuple[float, float, float, float], int]:
    """CRS84 extent of the layer (shrunk by ``margin_m``) and its feature count."""
    info = pyogrio.read_info(gpkg, layer=LAYER, force_feature_count=True)
    minx, miny, maxx, maxy = info["total_bounds"]
    box = (minx + margin_m, miny + margin_m, maxx - margin_m, maxy - margin_m)
    t = Transformer.from_crs(CRS.from_user_input(info["crs"]), "OGC:CRS84", always_xy=True)
    return tuple(float(v) for v in t.transform_bounds(*box)), int(info["features"])


def landplan(name: str, store: str, logdir: Path, settings: dict[str, str]) -> Server:
    port = free_port()
    exe = Path(sys.executable).with_name("landplan")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANDPLAN_")}
    env["LANDPLAN_STORE"] = store
    env.update({f"LANDPLAN_{k.upper()}": v for k, v in settings.items()})
    return Server(
        name=name,
        cmd=[str(exe), "serve", "--port", str(port), "--workers", "1", "--log-level", "warning"],
        env=env,
        cwd=logdir,  # no stray .env is read
        port=port,
        collection=LAYER,
        ready_path=f"/collections/{LAYER}",
        log=logdir / f"{name}.log",
    )


def tipg(venv: Path, database_url: str, schema: str, logdir: Path) -> Server:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "LANDPLAN_"))},
        "DATABASE_URL": database_url,
        "TIPG_DB_SCHEMAS": json.dumps([schema]),
        "TIPG_TILE_BUFFER": str(TILE_BUFFER),
        "TIPG_ADD_TILES_VIEWER": "false",
    }
    return Server(
        name="tipg-pg",
        cmd=[
            *(str(venv / "bin" / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", "1", "--log-level", "warning"),
            "--no-access-log",
        ],
        env=env,
        cwd=logdir,
        port=port,
        collection=f"{schema}.{LAYER}",
        ready_path=f"/collections/{schema}.{LAYER}",
        log=logdir / "tipg.log",
    )


def paths_for(srv: Server, scenario: str, work: list) -> list[str]:
    base = f"/collections/{srv.collection}"
    if scenario == "items":
        return [
            f"{base}/items?" + urlencode({"bbox": ",".join(repr(v) for v in box), "limit": 100})
            for box in work
        ]
    if scenario == "pages":
        return [f"{base}/items?" + urlencode({"limit": 100, "offset": o}) for o in work]
    if srv.name.startswith("tipg"):
        props = urlencode({"properties": ",".join(TILE_PROPS)})
        return [f"{base}/tiles/WebMercatorQuad/{z}/{x}/{y}?{props}" for z, x, y in work]
    return [f"{base}/tiles/{z}/{x}/{y}" for z, x, y in work]


def compare_tiles(servers: list[Server], tiles) -> list[dict]:
    """Decoded feature counts and properties of each server's tile (all layers)."""
    import httpx
    import mapbox_vector_tile

    out = []
    for tile in tiles:
        row: dict = {"tile": "/".join(map(str, tile))}
        for s in servers:
            r = httpx.get(s.base + paths_for(s, "tiles", [tile])[0], timeout=60)
            entry: dict = {"status": r.status_code, "bytes": len(r.content)}
            if r.status_code == 200:
                layers = mapbox_vector_tile.decode(r.content) if r.content else {}
                entry["features"] = sum(len(v["features"]) for v in layers.values())
                first = next((v["features"] for v in layers.values() if v["features"]), [{}])
                entry["properties"] = sorted(first[0].get("properties", {}))
            row[s.name] = entry
        out.append(row)
    return out


def table(rows: list[dict]) -> str:
    head = (
        f"{'server':<13} {'scenario':<8} {'req':>5} {'err':>4} {'5xx':>4} {'req/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'KB/resp':>8} {'RSS MB':>7} {'load':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        kb = f"{r['mean_bytes'] / 1024:.1f}" if r.get("mean_bytes") else "-"
        load = f"{r['loadavg_1m_before']:.1f}/{r['loadavg_1m_after']:.1f}"
        lines.append(
            f"{r['server']:<13} {r['scenario']:<8} {r['requests']:>5} {r['errors']:>4} "
            f"{r['server_errors']:>4} {r['throughput_rps']:>8.1f} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {kb:>8} {r['rss_mb'] or '-':>7} {load:>10}"
        )
    return "\n".join(lines)


#: in ``api_embedded.md``, what follows this line is written by hand and kept by write_report
NOTES_MARKER = "<!-- hand-written notes below: kept when the tables are written again -->"


def write_report(doc: dict, path: Path) -> None:
    """The tables of every run in ``doc`` (``api_embedded.json``) as Markdown."""
    md = ["# API load at 32 clients, 50,000 parcels, one uvicorn worker per server\n"]
    md.append(
        "landplan-gpkg: `landplan serve` on the workspace directory (workspace.gpkg); "
        "landplan-pg / tipg-pg: the same workspace pushed to PostGIS. `load` = 1-minute load "
        "average before/after the run (2 cores shared with other work). The landplan revision "
        "is the checkout's HEAD; the code measured may carry uncommitted changes on top.\n"
    )
    for label, run in doc["runs"].items():
        p = run["parameters"]
        settings = ", ".join(p.get("setting") or []) or "defaults"
        md.append(
            f"## {label}\n\n{run['timestamp']}; landplan {run['versions'].get('landplan_git')}; "
            f"tipg {run['versions'].get('tipg')}; {p['concurrency']} clients, "
            f"{p['requests']} requests per run after {p['warmup']} warm-up, "
            f"{p['time_cap']:.0f} s cap; landplan settings: {settings}\n\n"
            f"```\n{table(run['rows'])}\n```\n"
        )
    kept = ""
    if path.exists():  # hand-written notes below the marker stay as they are
        old = path.read_text(encoding="utf-8")
        if NOTES_MARKER in old:
            kept = "\n" + NOTES_MARKER + old.split(NOTES_MARKER, 1)[1]
    path.write_text("\n".join(md) + kept, encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/apibench/ws"))
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/landplan_test")
    ap.add_argument("--pg-workspace", default="apibench", help="PostGIS workspace (schema)")
    ap.add_argument("--tipg-venv", type=Path, default=Path("/tmp/tipgvenv"))
    ap.add_argument(
        "--servers",
        nargs="+",
        default=["landplan-gpkg", "landplan-pg", "tipg-pg"],
        choices=["landplan-gpkg", "landplan-pg", "tipg-pg"],
    )
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--requests", type=int, default=2000, help="measured requests per run")
    ap.add_argument("--warmup", type=int, default=200, help="unmeasured requests first")
    ap.add_argument("--time-cap", type=float, default=60.0, help="seconds per run (60)")
    ap.add_argument("--bbox-m", type=float, default=500.0)
    ap.add_argument("--zooms", type=int, nargs="+", default=[14, 15, 16])
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--samples", type=int, default=3, help="requests compared between servers")
    ap.add_argument("--label", default="run", help="key of this run in the JSON (before/after)")
    ap.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a landplan service setting (LANDPLAN_NAME), e.g. read_threads=4; repeatable",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    info = machine_info()
    gpkg = args.workspace / "workspace.gpkg"
    extent, count = extent_of(gpkg, args.bbox_m)
    rng = np.random.default_rng(args.seed)
    n = args.requests + args.warmup
    work = {
        "items": bbox_list(extent, n, args.bbox_m, rng),
        "pages": [int(o) for o in rng.integers(0, max(1, count - 100), n)],
        "tiles": tile_list(extent, n, tuple(args.zooms), rng),
    }
    tipg_ver = tipg_version(args.tipg_venv) if "tipg-pg" in args.servers else None
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}; load {os.getloadavg()}")
    print(f"{count:,} features in {gpkg}; tipg {tipg_ver}")

    logdir = Path(tempfile.mkdtemp(prefix="bench_api_embedded_"))
    pg_store = f"{args.pg}?workspace={args.pg_workspace}"
    settings = dict(item.split("=", 1) for item in args.setting)
    makers = {
        "landplan-gpkg": lambda: landplan("landplan-gpkg", str(args.workspace), logdir, settings),
        "landplan-pg": lambda: landplan("landplan-pg", pg_store, logdir, settings),
        "tipg-pg": lambda: tipg(args.tipg_venv, args.pg, args.pg_workspace, logdir),
    }
    servers = [makers[name]() for name in args.servers]
    failures: list[str] = []
    rows: list[dict] = []
    agreement: dict = {}
    live: list[Server] = []
    try:
        for srv in servers:
            if srv.start(timeout=180):
                print(f"{srv.name} up in {srv.startup_s:.1f} s at {srv.base}")
                live.append(srv)
            else:
                failures.append(f"{srv.name}: {srv.error}")
                print(f"{srv.name} failed: {srv.error}")
        k = args.samples
        for a in live[1:]:
            pair = [live[0], a]
            agreement[f"{live[0].name} vs {a.name}"] = {
                "items": compare_items(pair, work["items"][:k]),
                "tiles": compare_tiles(pair, work["tiles"][:k]),
            }
        for scenario in args.scenarios:
            for srv in live:
                paths = paths_for(srv, scenario, work[scenario])
                before = round(os.getloadavg()[0], 2)
                r = asyncio.run(
                    drive(
                        srv.base,
                        paths[: args.requests],
                        paths[args.requests :],
                        args.concurrency,
                        args.time_cap,
                    )
                )
                server_errors = sum(v for s, v in r["statuses"].items() if s.startswith("5"))
                r.update(
                    server=srv.name,
                    scenario=scenario,
                    server_errors=server_errors,
                    loadavg_1m_before=before,
                    loadavg_1m_after=round(os.getloadavg()[0], 2),
                    rss_mb=srv.rss_mb(),
                )
                if server_errors:
                    failures.append(f"{srv.name} {scenario}: {r['statuses']}")
                rows.append(r)
                print(
                    f"  {srv.name:<13} {scenario:<5} {r['requests']} req "
                    f"{r['throughput_rps']:.1f} req/s p50 {r['p50_ms']:.0f} p95 {r['p95_ms']:.0f} "
                    f"p99 {r['p99_ms']:.0f} ms; statuses {r['statuses']}; load {before}"
                )
    finally:
        for srv in servers:
            srv.stop()

    text = table(rows)
    print()
    print(text)
    out_json = args.out / "api_embedded.json"
    doc = json.loads(out_json.read_text()) if out_json.exists() else {}
    doc.setdefault("benchmark", "API load at 32 clients: landplan (GeoPackage, PostGIS) vs tipg")
    doc.setdefault("runs", {})[args.label] = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "versions": {
            **(pg_versions(args.pg) if "landplan-pg" in args.servers else {}),
            "tipg": tipg_ver,
            "landplan_git": git_rev(),
        },
        "parameters": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"
        },
        "features": count,
        "extent_crs84": [round(v, 6) for v in extent],
        "rows": rows,
        "agreement": agreement,
        "failures": failures,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_report(doc, args.out / "api_embedded.md")
    print(f"\nwrote {out_json}")
    for f in failures:
        print("FAILURE:", f[:500])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

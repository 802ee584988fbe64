"""Load test of the landplan service (PostGIS store) against tipg serving the same table.

    /work/venv/bin/python benchmarks/bench_api_load.py --parcels 1000000

What it does, in one run on 127.0.0.1:

1. generates ``--parcels`` jittered ~50 × 60 m quadrilaterals in EPSG:4542 (CGCS2000 GK
   CM 99°E) around E 620 000, N 2 977 000 (Lijiang), vectorised with numpy + shapely;
2. loads them as layer ``result_parcels`` of the landplan PostGIS workspace ``--workspace``
   (schema of that name) in database ``--dbname`` with ``PgStore.create`` +
   ``PgStore.replace_layer`` (timed), and checks the GiST index and the planner statistics;
3. starts ``landplan serve`` and tipg (``uvicorn tipg.main:app`` from a separate venv,
   ``TIPG_DB_SCHEMAS=["<workspace>"]``) with the same number of uvicorn workers;
4. drives both with asyncio + httpx at a fixed concurrency with the same seeded request
   lists (after unmeasured warm-up requests), bounded by ``--requests`` and ``--time-cap``:

   * ``items``: a random ~500 m × 500 m CRS84 bbox inside the data, ``limit=100``;
   * ``tiles``: a random Web-Mercator tile at z14–16 inside the data (MVT);

   and records throughput, p50/p95/p99 latency, errors (non-200), mean response bytes and the
   servers' RSS.  A few sample requests are compared between the two servers first
   (``numberMatched``, the ids of the page, decoded tile feature counts).

Writes ``benchmarks/results/api_load.json`` and ``api_load.md`` (the printed table).  The load
generator runs on the same machine as the servers and PostgreSQL, so on a small machine it takes
part of the CPU: compare the servers with each other, not with numbers from other machines.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # landplan from this checkout

import geopandas as gpd  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import shapely  # noqa: E402
from pyproj import Transformer  # noqa: E402

from landplan.store.pgstore import TILE_BUFFER, PgStore  # noqa: E402

SRID = 4542
CENTER = (620_000.0, 2_977_000.0)
CELL_W, CELL_H, JITTER = 50.0, 60.0, 7.0
LAYER = "result_parcels"
VERDICTS = np.array(["transferable", "blocked", "conditional"])
REASONS = {
    "transferable": ["净可用面积达标", "位于城镇开发边界内", "无限制性约束"],
    "blocked": ["占用生态保护红线", "位于永久基本农田", "洪水淹没区内"],
    "conditional": ["需调整用地规划", "部分位于洪水淹没区", "需补充水电配套"],
}
MU_PER_M2 = 1 / 666.6667
#: tile properties landplan's PgStore.tile writes for this layer; tipg is asked for the same
TILE_PROPS = ("parcel_id", "verdict", "transferable", "net_available_mu", "gross_mu", "area_mu")


# ----------------------------------------------------------------------------- machine


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def git_rev() -> str | None:
    """HEAD of this checkout, read from ``.git`` (no git process)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


def pg_versions(conninfo: str) -> dict:
    with psycopg.connect(conninfo) as conn:
        return {
            "postgres": conn.execute("SELECT version()").fetchone()[0],
            "postgis": conn.execute("SELECT postgis_full_version()").fetchone()[0],
        }


# ----------------------------------------------------------------------------- data


def make_parcels(n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` jittered grid quads (shared jittered corners, so they tile without overlap)."""
    rng = np.random.default_rng(seed)
    ncols = max(1, round(math.sqrt(n * CELL_H / CELL_W)))
    nrows = math.ceil(n / ncols)
    x0 = CENTER[0] - ncols * CELL_W / 2
    y0 = CENTER[1] - nrows * CELL_H / 2
    gx, gy = np.meshgrid(
        x0 + np.arange(ncols + 1) * CELL_W, y0 + np.arange(nrows + 1) * CELL_H, indexing="xy"
    )
    gx = gx + rng.uniform(-JITTER, JITTER, gx.shape)
    gy = gy + rng.uniform(-JITTER, JITTER, gy.shape)
    i = np.arange(n)
    r, c = i // ncols, i % ncols
    corners = [(r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c), (r, c)]
    coords = np.stack([np.stack([gx[a, b], gy[a, b]], axis=-1) for a, b in corners], axis=1)
    geoms = shapely.polygons(coords)
    area_mu = shapely.area(geoms) * MU_PER_M2
    verdict = VERDICTS[rng.choice(3, size=n, p=[0.5, 0.3, 0.2])]
    share = np.where(verdict == "blocked", 0.0, rng.uniform(0.4, 1.0, n))
    reasons = np.empty(n, dtype=object)
    for v, texts in REASONS.items():
        mask = verdict == v
        reasons[mask] = np.asarray(texts, dtype=object)[rng.integers(0, len(texts), mask.sum())]
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"BENCH-{k:07d}" for k in range(n)],
            "verdict": verdict.astype(object),
            "transferable": verdict == "transferable",
            "area_mu": np.round(area_mu, 3),
            "net_available_mu": np.round(area_mu * share, 3),
            "gross_mu": np.round(area_mu, 3),
            "reasons_zh": reasons,
        },
        geometry=geoms,
        crs=f"EPSG:{SRID}",
    )


def ensure_database(admin: str, conninfo: str, dbname: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def layer_rows(conninfo: str, schema: str) -> int | None:
    with psycopg.connect(conninfo) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f'"{schema}".{LAYER}',)).fetchone()[0] is None:
            return None
        return conn.execute(f'SELECT count(*) FROM "{schema}".{LAYER}').fetchone()[0]


def load(dsn: str, gdf: gpd.GeoDataFrame, workspace: str) -> float:
    t = time.perf_counter()
    store = PgStore.create(
        dsn,
        metadata={
            "name": workspace,
            "crs": f"EPSG:{SRID}",
            "parcels": len(gdf),
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    store.replace_layer(LAYER, gdf)
    return time.perf_counter() - t


def table_checks(conninfo: str, schema: str) -> dict:
    """The GiST index, the primary key and the planner statistics of the layer table."""
    with psycopg.connect(conninfo) as conn:
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            (schema, LAYER),
        ).fetchall()
        stats = conn.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = %s",
            (schema, LAYER),
        ).fetchone()[0]
        reltuples, size = conn.execute(
            "SELECT reltuples::bigint, pg_total_relation_size(oid) FROM pg_class WHERE oid = %s::regclass",
            (f'"{schema}".{LAYER}',),
        ).fetchone()
    defs = [r[0] for r in indexes]
    return {
        "indexes": defs,
        "gist_index": any("USING gist" in d for d in defs),
        "primary_key": any("pkey" in d for d in defs),
        "pg_stats_columns": stats,
        "analyzed": stats > 0 and reltuples > 0,
        "reltuples": reltuples,
        "total_size_mb": round(size / 2**20, 1),
    }


# ----------------------------------------------------------------------------- requests


def lonlat_extent(gdf: gpd.GeoDataFrame, margin_m: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = gdf.total_bounds
    box = (minx + margin_m, miny + margin_m, maxx - margin_m, maxy - margin_m)
    return Transformer.from_crs(SRID, 4326, always_xy=True).transform_bounds(*box)


def bbox_list(
    extent: tuple[float, float, float, float], n: int, size_m: float, rng
) -> list[tuple[float, float, float, float]]:
    """``n`` CRS84 boxes of about ``size_m`` × ``size_m`` centred inside ``extent``."""
    lon = rng.uniform(extent[0], extent[2], n)
    lat = rng.uniform(extent[1], extent[3], n)
    half_lat = size_m / 2 / 111_320.0
    half_lon = half_lat / np.cos(np.radians(lat))
    out = np.stack([lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat], axis=1)
    return [tuple(round(float(v), 7) for v in row) for row in out]


def tile_list(
    extent: tuple[float, float, float, float], n: int, zooms: tuple[int, ...], rng
) -> list[tuple[int, int, int]]:
    """``n`` (z, x, y) Web-Mercator tiles holding a random point of ``extent``."""
    z = rng.choice(np.asarray(zooms), n)
    lon = rng.uniform(extent[0], extent[2], n)
    lat = np.radians(rng.uniform(extent[1], extent[3], n))
    scale = 2.0**z
    x = np.floor((lon + 180) / 360 * scale).astype(int)
    y = np.floor((1 - np.arcsinh(np.tan(lat)) / np.pi) / 2 * scale).astype(int)
    return [(int(a), int(b), int(c)) for a, b, c in zip(z, x, y, strict=True)]


def items_path(server: str, collection: str, box) -> str:
    query = urlencode({"bbox": ",".join(repr(v) for v in box), "limit": 100})
    return f"/collections/{collection}/items?{query}"


def tile_path(server: str, collection: str, tile) -> str:
    z, x, y = tile
    if server == "landplan":
        return f"/collections/{collection}/tiles/{z}/{x}/{y}"
    props = urlencode({"properties": ",".join(TILE_PROPS)})
    return f"/collections/{collection}/tiles/WebMercatorQuad/{z}/{x}/{y}?{props}"


# ----------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    collection: str
    ready_path: str
    log: Path
    proc: subprocess.Popen | None = None
    startup_s: float | None = None
    error: str | None = None
    notes: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float) -> bool:
        t = time.perf_counter()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                self.error = f"exited with {self.proc.returncode}: {self.log_tail()}"
                return False
            try:
                r = httpx.get(self.base + self.ready_path, timeout=5)
                if r.status_code == 200:
                    self.startup_s = time.perf_counter() - t
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.error = f"not ready after {timeout:.0f} s: {self.log_tail()}"
        self.stop()
        return False

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:].strip()
        except OSError:
            return ""

    def rss_mb(self) -> float | None:
        """RSS of the server process and its children (uvicorn workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            import psutil

            main = psutil.Process(self.proc.pid)
            procs = [main, *main.children(recursive=True)]
            return round(sum(p.memory_info().rss for p in procs) / 2**20, 1)
        except ImportError:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
            kb = next(int(line.split()[1]) for line in text.splitlines() if line[:6] == "VmRSS:")
            return round(kb / 1024, 1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: uvicorn and its workers
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def landplan_server(dsn: str, workers: int, logdir: Path) -> Server:
    port = free_port()
    exe = Path(sys.executable).with_name("landplan")
    env = {**os.environ, "LANDPLAN_STORE": dsn}
    return Server(
        name="landplan",
        cmd=[
            *(str(exe), "serve", "--port", str(port)),
            *("--workers", str(workers), "--log-level", "warning"),
        ],
        env=env,
        cwd=ROOT,
        port=port,
        collection=LAYER,
        ready_path=f"/collections/{LAYER}",
        log=logdir / f"landplan_w{workers}.log",
    )


def tipg_server(
    venv: Path, database_url: str, schema: str, workers: int, logdir: Path, buffer: int
) -> Server:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "LANDPLAN_"))},
        "DATABASE_URL": database_url,
        "TIPG_DB_SCHEMAS": json.dumps([schema]),
        "TIPG_TILE_BUFFER": str(buffer),  # landplan's TILE_BUFFER (tipg's default is 256)
        "TIPG_ADD_TILES_VIEWER": "false",
    }
    return Server(
        name="tipg",
        cmd=[
            *(str(venv / "bin" / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", str(workers)),
            *("--log-level", "warning", "--no-access-log"),
        ],
        env=env,
        cwd=logdir,  # no stray .env is read
        port=port,
        collection=f"{schema}.{LAYER}",
        ready_path=f"/collections/{schema}.{LAYER}",
        log=logdir / f"tipg_w{workers}.log",
        notes={"env": {k: v for k, v in env.items() if k.startswith(("TIPG_", "DATABASE"))}},
    )


def tipg_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    r = subprocess.run(
        [str(python), "-c", "import tipg; print(tipg.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return r.stdout.strip() or None


# ----------------------------------------------------------------------------- load generator


async def drive(
    base: str, paths: list[str], warmup: list[str], concurrency: int, time_cap: float
) -> dict:
    """GET every path (at most ``time_cap`` s) with ``concurrency`` clients after ``warmup``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0) as client:

        async def run(batch: list[str], deadline: float) -> list[tuple[float, int, int]]:
            out: list[tuple[float, int, int]] = []
            queue = iter(batch)

            async def worker() -> None:
                for path in queue:
                    if time.perf_counter() > deadline:
                        return
                    t = time.perf_counter()
                    try:
                        r = await client.get(path)
                        status, size = r.status_code, len(r.content)
                    except httpx.HTTPError:
                        status, size = -1, 0
                    out.append((time.perf_counter() - t, status, size))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return out

        await run(warmup, time.perf_counter() + time_cap)
        t0 = time.perf_counter()
        done = await run(paths, t0 + time_cap)
        wall = time.perf_counter() - t0
    lat = np.array([d[0] for d in done]) * 1000
    ok = np.array([d[1] == 200 for d in done])
    sizes = np.array([d[2] for d in done])
    return {
        "requests": len(done),
        "planned": len(paths),
        "capped": len(done) < len(paths),
        "errors": int((~ok).sum()),
        "statuses": dict(Counter(str(d[1]) for d in done)),
        "wall_s": round(wall, 3),
        "throughput_rps": round(len(done) / wall, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "mean_ms": round(float(lat.mean()), 2),
        "max_ms": round(float(lat.max()), 2),
        "mean_bytes": round(float(sizes[ok].mean()), 1) if ok.any() else None,
    }


# ----------------------------------------------------------------------------- agreement


def compare_items(servers: list[Server], boxes) -> list[dict]:
    """numberMatched / numberReturned / page ids of both servers for sample bboxes."""
    out = []
    for box in boxes:
        row: dict = {"bbox": box}
        for s in servers:
            r = httpx.get(s.base + items_path(s.name, s.collection, box), timeout=60)
            if r.status_code != 200:
                row[s.name] = {"status": r.status_code, "body": r.text[:300]}
                continue
            doc = r.json()
            ids = sorted(f["properties"].get("parcel_id") or f["id"] for f in doc["features"])
            row[s.name] = {
                "status": 200,
                "numberMatched": doc.get("numberMatched"),
                "numberReturned": doc.get("numberReturned", len(doc["features"])),
                "ids": ids,
            }
        if all(row.get(s.name, {}).get("status") == 200 for s in servers) and len(servers) == 2:
            a, b = (row[s.name] for s in servers)
            row["same_matched"] = a["numberMatched"] == b["numberMatched"]
            row["same_ids"] = a["ids"] == b["ids"]
            row["only_" + servers[0].name] = sorted(set(a["ids"]) - set(b["ids"]))
            row["only_" + servers[1].name] = sorted(set(b["ids"]) - set(a["ids"]))
        for s in servers:
            row.get(s.name, {}).pop("ids", None)
        out.append(row)
    return out


def compare_tiles(servers: list[Server], tiles) -> list[dict]:
    """Decoded feature counts (all layers) of both servers for sample tiles."""
    import mapbox_vector_tile

    out = []
    for tile in tiles:
        row: dict = {"tile": "/".join(map(str, tile))}
        for s in servers:
            r = httpx.get(s.base + tile_path(s.name, s.collection, tile), timeout=60)
            entry: dict = {"status": r.status_code, "bytes": len(r.content)}
            if r.status_code == 200:
                try:
                    layers = mapbox_vector_tile.decode(r.content) if r.content else {}
                    entry["layers"] = {k: len(v["features"]) for k, v in layers.items()}
                    entry["features"] = sum(entry["layers"].values())
                    props = next(
                        (v["features"][0]["properties"] for v in layers.values() if v["features"]),
                        {},
                    )
                    entry["properties"] = sorted(props)
                except Exception as exc:  # reported, not raised
                    entry["decode_error"] = repr(exc)
            row[s.name] = entry
        out.append(row)
    return out


def print_agreement(agreement: dict, servers: list[Server]) -> None:
    names = [s.name for s in servers]
    print("sample requests (" + " / ".join(names) + "):")
    for row in agreement["items"]:
        cells = [
            f"{row[n].get('numberMatched')} matched, {row[n].get('numberReturned')} returned"
            if row[n].get("status") == 200
            else f"HTTP {row[n].get('status')}"
            for n in names
        ]
        extra = ""
        if "same_ids" in row and not (row["same_ids"] and row["same_matched"]):
            extra = "  differ: " + ", ".join(
                f"only {n}: {len(row['only_' + n])}" for n in names if row.get("only_" + n)
            )
        print(f"  items {row['bbox']}: " + " / ".join(cells) + extra)
    for row in agreement["tiles"]:
        cells = [
            f"{row[n].get('features', row[n].get('decode_error', 'HTTP ' + str(row[n]['status'])))}"
            f" features, {row[n]['bytes']} B"
            for n in names
        ]
        print(f"  tile {row['tile']}: " + " / ".join(cells))


# ----------------------------------------------------------------------------- report


def table(rows: list[dict]) -> str:
    head = (
        f"{'workers':>7} {'server':<9} {'scenario':<8} {'req':>5} {'err':>4} {'req/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'KB/resp':>8} {'RSS MB':>7} {'lp/tipg':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r['ratio_landplan_tipg']:.2f}" if r.get("ratio_landplan_tipg") else ""
        kb = f"{r['mean_bytes'] / 1024:.1f}" if r.get("mean_bytes") else "-"
        lines.append(
            f"{r['workers']:>7} {r['server']:<9} {r['scenario']:<8} {r['requests']:>5} "
            f"{r['errors']:>4} {r['throughput_rps']:>8.1f} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {kb:>8} {r['rss_mb'] or '-':>7} {ratio:>8}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parcels", type=int, default=1_000_000, help="default 1000000")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent clients (16)")
    ap.add_argument("--requests", type=int, default=2000, help="measured requests per scenario")
    ap.add_argument("--warmup", type=int, default=50, help="unmeasured requests first (50)")
    ap.add_argument("--time-cap", type=float, default=90.0, help="seconds per scenario (90)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1], help="uvicorn workers (1)")
    ap.add_argument("--bbox-m", type=float, default=500.0, help="items bbox side (500 m)")
    ap.add_argument("--zooms", type=int, nargs="+", default=[14, 15, 16])
    ap.add_argument("--samples", type=int, default=5, help="requests compared between servers")
    ap.add_argument(
        "--pg", default="postgresql://postgres@127.0.0.1:5432", help="server URL, no database"
    )
    ap.add_argument("--dbname", default="landplan_bench")
    ap.add_argument("--workspace", default="bench", help="landplan workspace = schema")
    ap.add_argument("--tipg-venv", type=Path, default=Path("/work/tipg-venv"))
    ap.add_argument("--skip-tipg", action="store_true")
    ap.add_argument(
        "--reuse", action="store_true", help="keep the loaded layer when it has --parcels rows"
    )
    ap.add_argument("--drop", action="store_true", help="drop the database at the end")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    t_all = time.perf_counter()
    info = machine_info()
    conninfo = f"{args.pg}/{args.dbname}"
    dsn = f"{conninfo}?workspace={args.workspace}"
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, {info['ram_gb']} GiB RAM")
    ensure_database(f"{args.pg}/postgres", conninfo, args.dbname)
    versions = pg_versions(conninfo)
    tipg_ver = None if args.skip_tipg else tipg_version(args.tipg_venv)
    print(versions["postgres"].split(" on ")[0], "|", versions["postgis"].split('"')[1])
    print(f"tipg {tipg_ver or 'not available'} ({args.tipg_venv})")

    t = time.perf_counter()
    gdf = make_parcels(args.parcels, args.seed)
    t_gen = time.perf_counter() - t
    w, s, e, n = gdf.total_bounds
    print(
        f"generated {len(gdf):,} parcels in {t_gen:.1f} s: "
        f"{(e - w) / 1000:.1f} × {(n - s) / 1000:.1f} km"
    )
    load_s = None
    if args.reuse and layer_rows(conninfo, args.workspace) == len(gdf):
        print(f"reusing {args.workspace}.{LAYER} ({len(gdf):,} rows)")
    else:
        load_s = load(dsn, gdf, args.workspace)
        print(f"loaded into PostGIS (PgStore.create + replace_layer) in {load_s:.1f} s")
    checks = table_checks(conninfo, args.workspace)
    print(
        f"table {checks['total_size_mb']} MB, GiST index {checks['gist_index']}, "
        f"analyzed {checks['analyzed']} (reltuples {checks['reltuples']:,})"
    )

    rng = np.random.default_rng(args.seed + 1)
    extent = lonlat_extent(gdf, margin_m=args.bbox_m)
    boxes = bbox_list(extent, args.requests + args.warmup, args.bbox_m, rng)
    tiles = tile_list(extent, args.requests + args.warmup, tuple(args.zooms), rng)
    del gdf

    results: dict = {
        "benchmark": "API load: landplan (PostGIS store) vs tipg",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "versions": {**versions, "tipg": tipg_ver, "landplan_git": git_rev()},
        "parameters": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("out",)
        },
        "data": {
            "parcels": args.parcels,
            "srid": SRID,
            "extent_crs84": [round(v, 6) for v in extent],
            "generate_s": round(t_gen, 2),
            "load_s": None if load_s is None else round(load_s, 2),
            "table": checks,
        },
        "scenarios": {
            "items": f"random {args.bbox_m:.0f} m bbox (CRS84), limit=100",
            "tiles": f"random tile z{min(args.zooms)}-{max(args.zooms)} inside the data (MVT)",
        },
        "runs": [],
        "agreement": {},
        "failures": [],
    }
    if tipg_ver is None and not args.skip_tipg:
        results["failures"].append(f"tipg is not installed in {args.tipg_venv}")

    logdir = Path(tempfile.mkdtemp(prefix="bench_api_load_"))
    rows = []
    try:
        for workers in args.workers:
            servers = [landplan_server(dsn, workers, logdir)]
            if tipg_ver:
                servers.append(
                    tipg_server(
                        args.tipg_venv,
                        conninfo,
                        args.workspace,
                        workers,
                        logdir,
                        buffer=TILE_BUFFER,
                    )
                )
            live = []
            for srv in servers:
                if srv.start(timeout=120):
                    print(
                        f"{srv.name} ({workers} worker(s)) up in {srv.startup_s:.1f} s at {srv.base}"
                    )
                    live.append(srv)
                else:
                    print(f"{srv.name} failed to start: {srv.error}")
                    results["failures"].append(f"{srv.name} (workers={workers}): {srv.error}")
            try:
                if workers == args.workers[0] and live:
                    k = args.samples
                    results["agreement"] = {
                        "items": compare_items(live, boxes[:k]),
                        "tiles": compare_tiles(live, tiles[:k]),
                    }
                    print_agreement(results["agreement"], live)
                for scenario in ("items", "tiles"):
                    per: dict[str, dict] = {}
                    for srv in live:
                        make = items_path if scenario == "items" else tile_path
                        work = boxes if scenario == "items" else tiles
                        paths = [make(srv.name, srv.collection, q) for q in work]
                        # measured list first, warm-up = the extra requests at the end
                        load_before = round(os.getloadavg()[0], 2)
                        r = asyncio.run(
                            drive(
                                srv.base,
                                paths[: args.requests],
                                paths[args.requests :],  # warm-up: the extra requests
                                args.concurrency,
                                args.time_cap,
                            )
                        )
                        r.update(
                            loadavg_1m_before=load_before,
                            loadavg_1m_after=round(os.getloadavg()[0], 2),
                            server=srv.name,
                            scenario=scenario,
                            workers=workers,
                            rss_mb=srv.rss_mb(),
                        )
                        per[srv.name] = r
                        print(
                            f"  {srv.name:<8} {scenario:<5} {r['requests']} req "
                            f"{r['throughput_rps']:.1f} req/s p50 {r['p50_ms']:.1f} ms "
                            f"p99 {r['p99_ms']:.1f} ms errors {r['errors']}"
                        )
                    if "landplan" in per and "tipg" in per:
                        per["landplan"]["ratio_landplan_tipg"] = round(
                            per["landplan"]["throughput_rps"] / per["tipg"]["throughput_rps"], 3
                        )
                    rows.extend(per.values())
            finally:
                for srv in servers:
                    srv.stop()
                    if srv.proc is not None and srv.proc.returncode not in (0, None, -15):
                        tail = srv.log_tail(600)
                        if tail:
                            results["failures"].append(f"{srv.name} log: {tail}")
                    if srv.notes:
                        results.setdefault("server_settings", {})[srv.name] = srv.notes
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
        if args.drop:
            with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.dbname}" WITH (FORCE)')
            print(f"dropped database {args.dbname}")

    results["runs"] = rows
    results["total_s"] = round(time.perf_counter() - t_all, 1)
    text = table(rows)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (args.out / "api_load.md").write_text(
        f"# API load, {args.parcels:,} parcels, concurrency {args.concurrency}\n\n"
        f"{results['timestamp']}; {info['nproc']} cores {info['cpu_model']}; "
        f"tipg {tipg_ver}; landplan {results['versions']['landplan_git']}\n\n"
        f"```\n{text}\n```\n",
        encoding="utf-8",
    )
    print(f"\nwrote {args.out / 'api_load.json'} ({results['total_s']} s in all)")
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""CQL2 filters on 1,000,000 parcels in PostGIS: the translated query vs hand-written SQL.

    .venv/bin/python benchmarks/bench_cql2.py --parcels 1000000

The parcels are the load benchmark's (``bench_api_load.make_parcels``: jittered ~50 × 60 m
quads in EPSG:4542 around Lijiang, verdicts, areas, reasons), loaded once into workspace
``--workspace`` of database ``--dbname`` (reused when it already holds that many rows).

For each filter the *CQL2* side does what ``/collections/result_parcels/items?filter=...``
does in the store: parse and check the text (pygeofilter + landplan.store.cql2), translate it
(landplan.store.cql2_sql, bound parameters, geometry literal transformed in Python), then run
``count(*)`` and the first page of 100 ids ordered by ``parcel_id``.  The *hand-written* side
runs the same two statements written by hand with literal values (what a developer would type
in psql).  Each side is timed ``--repeat`` times after one warm-up; the medians are compared.

Writes ``benchmarks/results/cql2.json`` and ``cql2.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_api_load as load_bench  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from pyproj import Transformer  # noqa: E402

from landplan.store.cql2 import parse_filter  # noqa: E402
from landplan.store.cql2_sql import where_sql  # noqa: E402


def _window(size_m: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A ``size_m`` square at the data's centre: (CRS84 bounds, EPSG:4542 bounds)."""
    cx, cy = load_bench.CENTER
    gk = (cx - size_m / 2, cy - size_m / 2, cx + size_m / 2, cy + size_m / 2)
    t = Transformer.from_crs(f"EPSG:{load_bench.SRID}", "OGC:CRS84", always_xy=True)
    lon0, lat0 = t.transform(gk[0], gk[1])
    lon1, lat1 = t.transform(gk[2], gk[3])
    return (lon0, lat0, lon1, lat1), gk


def cases() -> list[dict]:
    (lon0, lat0, lon1, lat1), _ = _window(2000)
    poly = f"POLYGON(({lon0} {lat0}, {lon1} {lat0}, {lon1} {lat1}, {lon0} {lat1}, {lon0} {lat0}))"
    t = Transformer.from_crs("OGC:CRS84", f"EPSG:{load_bench.SRID}", always_xy=True)
    ring = [t.transform(x, y) for x, y in
            [(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1), (lon0, lat0)]]  # fmt: skip
    gk_wkt = "POLYGON((" + ", ".join(f"{x!r} {y!r}" for x, y in ring) + "))"
    table = f"{{schema}}.{load_bench.LAYER}"
    return [
        {
            "name": "attributes: verdict = 'blocked' AND area_mu > 4.6",
            "cql": "verdict = 'blocked' AND area_mu > 4.6",
            "where": "verdict = 'blocked' AND area_mu > 4.6",
        },
        {
            "name": "IN + BETWEEN + LIKE",
            "cql": "verdict IN ('blocked', 'conditional') AND net_available_mu BETWEEN 1 AND 3 "
            "AND parcel_id LIKE 'BENCH-00%'",
            "where": "verdict IN ('blocked', 'conditional') AND net_available_mu BETWEEN 1 AND 3 "
            "AND parcel_id LIKE 'BENCH-00%'",
        },
        {
            "name": "S_INTERSECTS 2 km window (CRS84) AND verdict",
            "cql": f"S_INTERSECTS(geometry, {poly}) AND verdict = 'transferable'",
            "where": f"ST_Intersects(geom, ST_GeomFromText('{gk_wkt}', {load_bench.SRID})) "
            "AND verdict = 'transferable'",
        },
        {
            "name": "bureau: blocked > 4.5 亩 within 2 km window, NOT LIKE",
            "cql": f"verdict = 'blocked' AND area_mu > 4.5 AND S_WITHIN(geometry, {poly}) "
            "AND NOT (reasons_zh LIKE '%红线%')",
            "where": f"verdict = 'blocked' AND area_mu > 4.5 AND ST_Within(geom, "
            f"ST_GeomFromText('{gk_wkt}', {load_bench.SRID})) AND NOT (reasons_zh LIKE '%红线%')",
        },
    ], table


def columns(conn, schema: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (schema, load_bench.LAYER),
    ).fetchall()
    kinds = {"double precision": "number", "bigint": "integer", "integer": "integer",
             "boolean": "boolean"}  # fmt: skip
    return {c: kinds.get(t, "string") for c, t in rows if c not in ("fid", "geom")}


def run_cql(conn, schema: str, text: str, cols: dict) -> tuple[int, list]:
    f = parse_filter(text, columns=cols, geometry=True)
    term, params = where_sql(f.tree, srid=load_bench.SRID)
    table = sql.Identifier(schema, load_bench.LAYER)
    count = sql.SQL("SELECT count(*) FROM {} t WHERE ").format(table) + term
    page = (
        sql.SQL("SELECT t.parcel_id FROM {} t WHERE ").format(table)
        + term
        + sql.SQL(" ORDER BY t.parcel_id, t.fid LIMIT 100")
    )
    n = conn.execute(count, params).fetchone()[0]
    ids = [r[0] for r in conn.execute(page, params).fetchall()]
    return n, ids


def run_hand(conn, schema: str, where: str) -> tuple[int, list]:
    table = f'"{schema}".{load_bench.LAYER}'
    n = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
    ids = conn.execute(
        f"SELECT parcel_id FROM {table} WHERE {where} ORDER BY parcel_id, fid LIMIT 100"
    ).fetchall()
    return n, [r[0] for r in ids]


def timed(fn, repeat: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--dbname", default="landplan_bench")
    ap.add_argument("--workspace", default="bench_cql2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    conninfo = args.admin.rsplit("/", 1)[0] + "/" + args.dbname
    load_bench.ensure_database(args.admin, conninfo, args.dbname)
    rows = load_bench.layer_rows(conninfo, args.workspace)
    load_s = None
    if rows != args.parcels:
        gdf = load_bench.make_parcels(args.parcels, args.seed)
        load_s = load_bench.load(f"{conninfo}?workspace={args.workspace}", gdf, args.workspace)
        del gdf
    checks = load_bench.table_checks(conninfo, args.workspace)
    results = []
    specs, _ = cases()
    with psycopg.connect(conninfo) as conn:
        cols = columns(conn, args.workspace)
        for case in specs:
            t_cql, (n_cql, ids_cql) = timed(
                lambda c=case: run_cql(conn, args.workspace, c["cql"], cols), args.repeat
            )
            t_sql, (n_sql, ids_sql) = timed(
                lambda c=case: run_hand(conn, args.workspace, c["where"]), args.repeat
            )
            results.append(
                {
                    "filter": case["name"],
                    "matched": n_cql,
                    "same_result": n_cql == n_sql and ids_cql == ids_sql,
                    "cql2_ms": round(t_cql * 1000, 1),
                    "sql_ms": round(t_sql * 1000, 1),
                    "ratio": round(t_cql / t_sql, 2),
                }
            )
            print(results[-1], flush=True)
    out = {
        "parcels": args.parcels,
        "load_s": None if load_s is None else round(load_s, 1),
        "table": checks,
        "machine": load_bench.machine_info(),
        "postgres": load_bench.pg_versions(conninfo),
        "git": load_bench.git_rev(),
        "repeat": args.repeat,
        "results": results,
    }
    folder = HERE / "results"
    folder.mkdir(exist_ok=True)
    (folder / "cql2.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))
    lines = [
        f"CQL2 vs hand-written SQL, {args.parcels:,} parcels, median of {args.repeat} "
        "(count + first 100 ids)",
        "",
        "| filter | matched | CQL2 ms | SQL ms | ratio | same result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['filter']} | {r['matched']:,} | {r['cql2_ms']} | {r['sql_ms']} | {r['ratio']} "
        f"| {r['same_result']} |"
        for r in results
    ]
    (folder / "cql2.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Benchmark landplan's available-land overlay against PostGIS and a naive geopandas.overlay.

    /work/venv/bin/python benchmarks/bench_overlay.py --parcels 100000

All three implementations run in the same process on the same synthetic data
(``benchmarks/synthetic.py``) and must agree per parcel within ``--tol`` m²:

* ``landplan``: ``landplan.analysis.constraints.compute_exclusions`` (best of ``--repeat``);
* ``postgis``: parcels and layers COPY'd (hex EWKB) into a fresh database
  ``landplan_bench``; the timed query dissolves every layer (``ST_Union``),
  subdivides it (``ST_Subdivide``, 256 vertices), builds the allowed area
  (UDB − union of exclusions), indexes the pieces, joins parcels ⋈ pieces with
  ``ST_Intersects`` and sums ``ST_Area(ST_Intersection())`` (``ST_CoveredBy``
  shortcut), fetching the result into pandas.  Loading is timed separately.  It
  runs once with a parallel plan (2 workers, parallel costs set to 0 so the
  planner uses them) and once with ``max_parallel_workers_per_gather = 0``
  (single core, like landplan); JIT off in both;
* ``naive``: ``geopandas.overlay(parcels, layer.dissolve(), how="intersection")``
  per kind, areas summed per parcel, and the net via an overlay with the allowed
  geometry.  ``--naive-parcels K`` runs it on a seeded random subset of K parcels
  (landplan is then also timed on that subset for a like-for-like ratio).

Writes ``benchmarks/results/overlay_<N>.json``.  ``--profile`` also profiles
``compute_exclusions`` with cProfile and prints a per-step breakdown.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # landplan from this checkout
sys.path.insert(0, str(HERE))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
import synthetic  # noqa: E402

from landplan.analysis import constraints as lc  # noqa: E402
from landplan.analysis.constraints import compute_exclusions  # noqa: E402
from landplan.core.policy import load_policy  # noqa: E402

KINDS = ("red_line", "basic_farmland", "urban_boundary", "inundation")
EXCLUDE_KINDS = ("red_line", "basic_farmland", "inundation")
COLUMNS = [f"excluded_{k}_m2" for k in KINDS] + ["excluded_m2", "net_available_m2"]
SRID = 4542
DBNAME = "landplan_bench"


# ----------------------------------------------------------------------------- helpers


class PeakRSS:
    """Sample this process's RSS (``/proc/self/statm``) every few ms; ``.delta_mb`` = peak − start."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._rss())
        self.delta_mb = (self.peak - self.start) / 2**20


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
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    except Exception:
        nproc = os.cpu_count()
    return {
        "nproc": nproc,
        "cpu_model": cpu,
        "ram_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def finish_columns(
    gross: np.ndarray, covered: dict[str, np.ndarray], allowed: np.ndarray
) -> pd.DataFrame:
    """Same clipping as landplan: covered ≤ gross, outside-UDB = gross − covered, 0 ≤ net ≤ gross."""
    cols = {}
    for k in KINDS:
        c = np.minimum(covered[k], gross)
        cols[f"excluded_{k}_m2"] = np.maximum(gross - c, 0.0) if k == "urban_boundary" else c
    net = np.clip(allowed, 0.0, gross)
    cols["excluded_m2"] = gross - net
    cols["net_available_m2"] = net
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- landplan


def run_landplan(parcels: gpd.GeoDataFrame, layers: dict, policy) -> pd.DataFrame:
    excl = compute_exclusions(parcels, {k: layers[k] for k in KINDS}, policy)
    df = excl.frame()
    df.index = parcels["parcel_id"].to_numpy()
    return df


def landplan_breakdown(parcels: gpd.GeoDataFrame, layers: dict) -> list[tuple[str, float]]:
    """Re-run compute_exclusions' steps one by one (same public helpers) and time each."""
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    steps = []

    def timed(label, fn):
        t = time.perf_counter()
        out = fn()
        steps.append((label, time.perf_counter() - t))
        return out

    timed("area(parcels)", lambda: shapely.area(geoms))
    unions = {}
    for k in KINDS:
        unions[k] = timed(
            f"{k}: dissolve (union_all)", lambda k=k: lc.dissolve(layers[k].geometry.values)
        )
        pieces = timed(f"{k}: subdivide", lambda k=k: lc.subdivide(np.array([unions[k]])))
        timed(
            f"{k}: covered_area_m2 ({len(pieces)} pieces)",
            lambda p=pieces: lc.covered_area_m2(geoms, p),
        )
    excluded = timed(
        "net: union_all(exclusions)", lambda: shapely.union_all([unions[k] for k in EXCLUDE_KINDS])
    )
    allowed = timed(
        "net: difference(udb, excluded)",
        lambda: shapely.difference(unions["urban_boundary"], excluded),
    )
    pieces = timed("net: subdivide(allowed)", lambda: lc.subdivide(np.array([allowed])))
    timed(f"net: covered_area_m2 ({len(pieces)} pieces)", lambda: lc.covered_area_m2(geoms, pieces))
    return steps


def profile_landplan(parcels, layers, policy, top: int = 20) -> str:
    prof = cProfile.Profile()
    prof.enable()
    compute_exclusions(parcels, {k: layers[k] for k in KINDS}, policy)
    prof.disable()
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# ----------------------------------------------------------------------------- PostGIS


def pg_connect(dsn_base: str, dbname: str, autocommit=True):
    import psycopg

    return psycopg.connect(f"{dsn_base} dbname={dbname}", autocommit=autocommit)


def _ewkb_hex(geoms) -> np.ndarray:
    g = shapely.set_srid(np.asarray(geoms, dtype=object), SRID)
    return shapely.to_wkb(g, hex=True, include_srid=True)


def pg_setup(dsn_base: str, admin_db: str) -> None:
    with pg_connect(dsn_base, admin_db) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DBNAME}")
    with pg_connect(dsn_base, DBNAME) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def pg_load(dsn_base: str, parcels: gpd.GeoDataFrame, layers: dict) -> dict:
    """COPY parcels and constraint layers, build GiST indexes, ANALYZE.  Returns timings (s)."""
    t0 = time.perf_counter()
    with pg_connect(dsn_base, DBNAME) as conn:
        conn.execute(
            f"CREATE TABLE parcels (id bigint PRIMARY KEY, geom geometry(Polygon, {SRID}) NOT NULL)"
        )
        conn.execute(
            f"CREATE TABLE constraints (kind text NOT NULL, fid bigint NOT NULL, "
            f"geom geometry(Geometry, {SRID}) NOT NULL)"
        )
        with conn.cursor() as cur:
            hexes = _ewkb_hex(parcels.geometry.values)
            ids = parcels["parcel_id"].to_numpy()
            with cur.copy("COPY parcels (id, geom) FROM STDIN") as cp:
                chunk = 20_000
                for s in range(0, len(ids), chunk):
                    cp.write(
                        "".join(
                            f"{i}\t{h}\n"
                            for i, h in zip(ids[s : s + chunk], hexes[s : s + chunk], strict=False)
                        )
                    )
            with cur.copy("COPY constraints (kind, fid, geom) FROM STDIN") as cp:
                for k in KINDS:
                    lay = layers[k]
                    hx = _ewkb_hex(lay.geometry.values)
                    cp.write(
                        "".join(
                            f"{k}\t{f}\t{h}\n"
                            for f, h in zip(lay["fid"].to_numpy(), hx, strict=False)
                        )
                    )
        t_copy = time.perf_counter()
        conn.execute("CREATE INDEX parcels_geom_gix ON parcels USING gist (geom)")
        conn.execute("CREATE INDEX constraints_geom_gix ON constraints USING gist (geom)")
        conn.execute("CREATE INDEX constraints_kind_ix ON constraints (kind)")
        t_index = time.perf_counter()
        conn.execute("VACUUM ANALYZE parcels")
        conn.execute("VACUUM ANALYZE constraints")
        t_end = time.perf_counter()
    return {
        "copy_s": t_copy - t0,
        "index_s": t_index - t_copy,
        "analyze_s": t_end - t_index,
        "total_s": t_end - t0,
    }


PG_MAX_VERTICES = 128  # ST_Subdivide size; 128 was fastest for PostGIS here (256: +30 % join time, 64: slower subdivide)

PG_PREP = [
    ("drop", "DROP TABLE IF EXISTS bench_dissolved, bench_pieces"),
    # 1. dissolve each kind
    (
        "dissolve (ST_Union per kind)",
        "CREATE UNLOGGED TABLE bench_dissolved AS "
        "SELECT kind, ST_Union(geom) AS geom FROM constraints GROUP BY kind",
    ),
    # 2. subdivided pieces of every dissolved kind, plus the allowed area UDB − ∪exclusions
    (
        "subdivide + allowed (ST_Difference, ST_Subdivide)",
        "CREATE UNLOGGED TABLE bench_pieces AS "
        "SELECT kind, ST_Subdivide(geom, {nv}) AS geom FROM bench_dissolved "
        "UNION ALL "
        "SELECT 'allowed', ST_Subdivide(ST_Difference(u.geom, x.geom), {nv}) "
        "FROM (SELECT geom FROM bench_dissolved WHERE kind = 'urban_boundary') AS u, "
        "     (SELECT ST_Union(geom) AS geom FROM bench_dissolved "
        "      WHERE kind IN ('red_line', 'basic_farmland', 'inundation')) AS x",
    ),
    (
        "index + analyze pieces",
        "CREATE INDEX bench_pieces_gix ON bench_pieces USING gist (geom); ANALYZE bench_pieces",
    ),
]

# the join is aggregated first (parallel-safe partial aggregate), then left-joined to all parcels
PG_QUERY = """
WITH covered AS (
    SELECT p.id,
           sum(a) FILTER (WHERE kind = 'red_line')       AS red_line,
           sum(a) FILTER (WHERE kind = 'basic_farmland') AS basic_farmland,
           sum(a) FILTER (WHERE kind = 'urban_boundary') AS urban_boundary,
           sum(a) FILTER (WHERE kind = 'inundation')     AS inundation,
           sum(a) FILTER (WHERE kind = 'allowed')        AS allowed
    FROM (
        SELECT p.id, c.kind,
               CASE WHEN ST_CoveredBy(p.geom, c.geom) THEN ST_Area(p.geom)
                    ELSE ST_Area(ST_Intersection(p.geom, c.geom)) END AS a
        FROM parcels AS p
        JOIN bench_pieces AS c ON ST_Intersects(p.geom, c.geom)   -- && index condition + exact test
        {offset}
    ) AS p
    GROUP BY p.id
), per_parcel AS (
    SELECT p.id, ST_Area(p.geom) AS gross,
           coalesce(c.red_line, 0) AS red_line, coalesce(c.basic_farmland, 0) AS basic_farmland,
           coalesce(c.urban_boundary, 0) AS urban_boundary, coalesce(c.inundation, 0) AS inundation,
           coalesce(c.allowed, 0) AS allowed
    FROM parcels AS p LEFT JOIN covered AS c USING (id)
)
SELECT id,
       least(red_line, gross)                            AS excluded_red_line_m2,
       least(basic_farmland, gross)                      AS excluded_basic_farmland_m2,
       greatest(gross - least(urban_boundary, gross), 0) AS excluded_urban_boundary_m2,
       least(inundation, gross)                          AS excluded_inundation_m2,
       gross - least(greatest(allowed, 0), gross)        AS excluded_m2,
       least(greatest(allowed, 0), gross)                AS net_available_m2
FROM per_parcel
ORDER BY id
"""

# serial: one core, like landplan.  parallel: the planner underestimates the join (it cannot
# know ST_Intersection's cost), so parallel plans are encouraged explicitly.  JIT is off: its
# compile time is pure overhead for a query whose cost is inside GEOS.
# serial: "OFFSET 0" keeps the subquery from being flattened, so only (id, kind, a) reach the
# sort/aggregate instead of the geometries (35-40 % faster serially); it also forbids a parallel
# plan, so the parallel mode leaves it out.
PG_OFFSET = {"serial": "OFFSET 0", "parallel": ""}

PG_SESSION = {
    "serial": ["SET jit = off", "SET max_parallel_workers_per_gather = 0"],
    "parallel": [
        "SET jit = off",
        "SET max_parallel_workers_per_gather = 2",
        "SET parallel_setup_cost = 0",
        "SET parallel_tuple_cost = 0",
        "SET min_parallel_table_scan_size = 0",
    ],
}


def pg_query(dsn_base: str, *, mode: str, nv: int) -> tuple[pd.DataFrame, list[tuple[str, float]]]:
    steps = []
    with pg_connect(dsn_base, DBNAME) as conn:
        for sql in PG_SESSION[mode]:
            conn.execute(sql)
        for label, sql in PG_PREP:
            t = time.perf_counter()
            conn.execute(sql.format(nv=nv))
            steps.append((label, time.perf_counter() - t))
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(PG_QUERY.format(offset=PG_OFFSET[mode]))
            rows = cur.fetchall()
            names = [d.name for d in cur.description]
        df = pd.DataFrame(rows, columns=names).set_index("id")
        steps.append(("join + area + fetch", time.perf_counter() - t))
    df.index.name = None
    return df[COLUMNS].astype(float), steps


def pg_explain(dsn_base: str, *, mode: str) -> str:
    with pg_connect(dsn_base, DBNAME) as conn:
        for sql in PG_SESSION[mode]:
            conn.execute(sql)
        return "\n".join(
            r[0]
            for r in conn.execute("EXPLAIN " + PG_QUERY.format(offset=PG_OFFSET[mode])).fetchall()
        )


def pg_versions(dsn_base: str) -> dict:
    with pg_connect(dsn_base, DBNAME) as conn:
        out = {
            "postgis_full_version": conn.execute("SELECT postgis_full_version()").fetchone()[0],
            "postgres": conn.execute("SELECT version()").fetchone()[0],
        }
        for name in ("max_parallel_workers_per_gather", "work_mem", "shared_buffers", "jit"):
            out[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    return out


# ----------------------------------------------------------------------------- naive geopandas


def run_naive(
    parcels: gpd.GeoDataFrame, layers: dict
) -> tuple[pd.DataFrame, list[tuple[str, float]]]:
    steps = []
    ids = parcels["parcel_id"].to_numpy()
    left = parcels[["parcel_id", "geometry"]]
    gross = left.geometry.area.to_numpy()
    covered, dissolved = {}, {}

    def overlay_area(right: gpd.GeoDataFrame) -> np.ndarray:
        o = gpd.overlay(left, right, how="intersection", keep_geom_type=True)
        s = o.geometry.area.groupby(o["parcel_id"].to_numpy()).sum()
        return s.reindex(ids, fill_value=0.0).to_numpy()

    for k in KINDS:
        t = time.perf_counter()
        dissolved[k] = layers[k][["geometry"]].dissolve()
        covered[k] = overlay_area(dissolved[k])
        steps.append((f"{k}: dissolve + overlay", time.perf_counter() - t))
    t = time.perf_counter()
    excl = shapely.union_all([dissolved[k].geometry.iloc[0] for k in EXCLUDE_KINDS])
    allowed_geom = shapely.difference(dissolved["urban_boundary"].geometry.iloc[0], excl)
    allowed = overlay_area(gpd.GeoDataFrame(geometry=[allowed_geom], crs=parcels.crs))
    steps.append(("net: allowed geometry + overlay", time.perf_counter() - t))
    df = finish_columns(gross, covered, allowed)
    df.index = ids
    return df, steps


# ----------------------------------------------------------------------------- comparison


def compare(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    b = b.loc[a.index, COLUMNS]
    out = {}
    for c in COLUMNS:
        d = (a[c] - b[c]).abs()
        out[c] = {
            "max_abs_diff_m2": float(d.max()),
            "argmax_parcel": int(d.idxmax()),
            "n_over_0.01": int((d > 0.01).sum()),
            "n_over_1e-6": int((d > 1e-6).sum()),
        }
    return out


def print_diffs(title: str, diffs: dict) -> None:
    print(f"\n{title}")
    print(f"  {'column':32s} {'max |diff| m²':>14s} {'parcel':>8s} {'#>0.01':>7s} {'#>1e-6':>7s}")
    for c, d in diffs.items():
        print(
            f"  {c:32s} {d['max_abs_diff_m2']:14.3e} {d['argmax_parcel']:8d} {d['n_over_0.01']:7d} "
            f"{d['n_over_1e-6']:7d}"
        )


def fmt_steps(steps) -> str:
    return "\n".join(f"    {s:8.3f} s  {label}" for label, s in steps)


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--parcels", type=int, default=100_000, help="number of parcels (default 100000)"
    )
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of landplan and the PostGIS query (best is kept)",
    )
    ap.add_argument(
        "--naive-parcels",
        type=int,
        default=10_000,
        help="run the naive overlay on a seeded random subset of this many parcels "
        "(default 10000; 0 = all parcels — at 100k that takes well over 10 minutes)",
    )
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-postgis", action="store_true")
    ap.add_argument(
        "--dsn",
        default=os.environ.get("LANDPLAN_BENCH_DSN", "host=127.0.0.1 port=5432 user=postgres"),
        help="libpq DSN without dbname (default host=127.0.0.1 port=5432 user=postgres)",
    )
    ap.add_argument(
        "--admin-db", default="postgres", help="database to connect to for CREATE DATABASE"
    )
    ap.add_argument(
        "--pg-max-vertices",
        type=int,
        default=PG_MAX_VERTICES,
        help=f"ST_Subdivide max vertices for PostGIS (default {PG_MAX_VERTICES})",
    )
    ap.add_argument("--tol", type=float, default=0.01, help="per-parcel agreement tolerance (m²)")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile compute_exclusions and time its steps"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    n = args.parcels
    info = machine_info()
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, {info['ram_gb']} GiB RAM")
    print(
        f"shapely {shapely.__version__}, GEOS {'.'.join(map(str, shapely.geos_version))}, "
        f"geopandas {gpd.__version__}, numpy {np.__version__}"
    )

    t = time.perf_counter()
    data = synthetic.make_dataset(n, seed=args.seed)
    t_gen = time.perf_counter() - t
    print(f"\ngenerated data in {t_gen:.1f} s:\n{synthetic.summary(data)}")
    parcels = data["parcels"]
    layers = {k: data[k] for k in KINDS}
    policy = load_policy()
    results: dict = {
        "benchmark": "available-land overlay",
        "parcels": n,
        "seed": args.seed,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "versions": {
            "shapely": shapely.__version__,
            "geos_shapely": ".".join(map(str, shapely.geos_version)),
            "geopandas": gpd.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "data": {
            k: {
                "features": len(data[k]),
                "vertices": int(shapely.get_num_coordinates(data[k].geometry.values).sum()),
            }
            for k in ("parcels", *KINDS)
        },
        "tolerance_m2": args.tol,
    }

    # --- landplan
    times, mems = [], []
    for _ in range(args.repeat):
        with PeakRSS() as mem:
            t = time.perf_counter()
            lp = run_landplan(parcels, layers, policy)
            times.append(time.perf_counter() - t)
        mems.append(mem.delta_mb)
    lp_best = min(times)
    print(
        f"\nlandplan compute_exclusions: runs {', '.join(f'{x:.2f}' for x in times)} s; "
        f"peak RSS +{max(mems):.0f} MiB"
    )
    results["landplan"] = {"runs_s": times, "best_s": lp_best, "peak_rss_delta_mib": max(mems)}

    rows = [("landplan compute_exclusions", n, lp_best, f"best of {args.repeat}")]
    agree_ok = True

    # --- PostGIS
    if not args.skip_postgis:
        t = time.perf_counter()
        pg_setup(args.dsn, args.admin_db)
        t_setup = time.perf_counter() - t
        load = pg_load(args.dsn, parcels, layers)
        print(
            f"\nPostGIS: create db + extension {t_setup:.2f} s; load {load['total_s']:.2f} s "
            f"(COPY {load['copy_s']:.2f}, GiST {load['index_s']:.2f}, ANALYZE {load['analyze_s']:.2f})"
        )
        results["postgis"] = {"versions": pg_versions(args.dsn), "setup_s": t_setup, "load": load}
        results["postgis"]["subdivide_max_vertices"] = args.pg_max_vertices
        for label in ("parallel", "serial"):
            runs, steps_all = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                pg, steps = pg_query(args.dsn, mode=label, nv=args.pg_max_vertices)
                runs.append(time.perf_counter() - t)
                steps_all.append(steps)
            best = int(np.argmin(runs))
            plan = pg_explain(args.dsn, mode=label)
            workers = "2" if label == "parallel" else "0"
            print(
                f"PostGIS query ({label}, max_parallel_workers_per_gather={workers}, "
                f"{'Gather in plan' if 'Gather' in plan else 'no Gather in plan'}): runs "
                f"{', '.join(f'{x:.2f}' for x in runs)} s; steps of the best run:\n{fmt_steps(steps_all[best])}"
            )
            diffs = compare(lp, pg)
            print_diffs(f"landplan vs PostGIS ({label}): per-parcel differences", diffs)
            ok = all(d["max_abs_diff_m2"] <= args.tol for d in diffs.values())
            agree_ok &= ok
            results["postgis"][label] = {
                "runs_s": runs,
                "best_s": runs[best],
                "steps_s": dict(steps_all[best]),
                "diff_vs_landplan": diffs,
                "agree": ok,
                "plan": plan,
            }
            rows.append((f"PostGIS query ({label})", n, runs[best], f"best of {args.repeat}"))
        rows.append(
            ("PostGIS load (COPY+GiST+ANALYZE)", n, load["total_s"], "1 run, not in query time")
        )

    # --- naive geopandas
    if not args.skip_naive:
        k = args.naive_parcels if 0 < args.naive_parcels < n else n
        sub = parcels
        if k < n:
            rng = np.random.default_rng(args.seed + 1)
            sub = parcels.iloc[np.sort(rng.choice(n, size=k, replace=False))].reset_index(drop=True)
            t = time.perf_counter()
            lp_sub = run_landplan(sub, layers, policy)
            t_lp_sub = time.perf_counter() - t
            t = time.perf_counter()
            lp_sub = run_landplan(sub, layers, policy)
            t_lp_sub = min(t_lp_sub, time.perf_counter() - t)
            rows.append(("landplan on naive's subset", k, t_lp_sub, "best of 2"))
        with PeakRSS() as mem:
            t = time.perf_counter()
            nv, steps = run_naive(sub, layers)
            t_naive = time.perf_counter() - t
        print(
            f"\nnaive geopandas.overlay on {k} parcels: {t_naive:.2f} s; peak RSS +{mem.delta_mb:.0f} MiB\n"
            f"{fmt_steps(steps)}"
        )
        diffs = compare(lp.loc[nv.index] if k == n else lp_sub, nv)
        print_diffs("landplan vs naive geopandas: per-parcel differences", diffs)
        ok = all(d["max_abs_diff_m2"] <= args.tol for d in diffs.values())
        agree_ok &= ok
        results["naive"] = {
            "parcels": k,
            "subset": k < n,
            "s": t_naive,
            "steps_s": dict(steps),
            "peak_rss_delta_mib": mem.delta_mb,
            "diff_vs_landplan": diffs,
            "agree": ok,
        }
        if k < n:
            results["naive"]["landplan_same_subset_s"] = t_lp_sub
        note = "1 run"
        if k < n:
            note += f" (random subset; {t_naive / t_lp_sub:.1f}× landplan on the same subset)"
        rows.append(("naive geopandas.overlay", k, t_naive, note))
        if "postgis" in results:
            nv_pg = compare(pg.loc[nv.index], nv)
            print_diffs("PostGIS (serial) vs naive geopandas: per-parcel differences", nv_pg)
            results["naive"]["diff_vs_postgis"] = nv_pg

    # --- table
    print(
        f"\nResults: available-land overlay, {n} parcels, 4 constraint kinds "
        f"({info['nproc']} cores, {info['cpu_model']})"
    )
    hdr = f"{'implementation':34s} {'parcels':>8s} {'seconds':>9s} {'µs/parcel':>10s} {'vs landplan':>12s}  note"
    print(hdr)
    print("-" * len(hdr))
    lp_per = lp_best / n
    table = []
    for name, m, s, note in rows:
        per = s / m
        ratio = per / lp_per
        table.append(
            {
                "implementation": name,
                "parcels": m,
                "seconds": s,
                "us_per_parcel": per * 1e6,
                "ratio_vs_landplan_per_parcel": ratio,
                "note": note,
            }
        )
        print(f"{name:34s} {m:8d} {s:9.2f} {per * 1e6:10.1f} {ratio:11.2f}×  {note}")
    print(
        "(ratio = time per parcel ÷ landplan's time per parcel at the full N; >1 means slower than landplan)"
    )
    results["table"] = table
    results["all_agree"] = agree_ok
    print(f"\nall implementations agree within {args.tol} m²: {agree_ok}")

    if args.profile:
        print("\nlandplan step breakdown (same helpers, called one by one):")
        steps = landplan_breakdown(parcels, layers)
        print(fmt_steps(steps))
        prof = profile_landplan(parcels, layers, policy)
        results["landplan"]["steps_s"] = dict(steps)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"profile_{n}.txt").write_text(prof)
        print(
            f"\ncProfile (top by tottime / cumulative) written to {args.out / f'profile_{n}.txt'}"
        )
        print("\n".join(prof.splitlines()[:40]))

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"overlay_{n}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(
        f"\nwrote {path}  (max RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)"
    )
    return 0 if agree_ok else 1


if __name__ == "__main__":
    sys.exit(main())

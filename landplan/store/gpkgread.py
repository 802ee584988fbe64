"""Direct SQLite reads of a workspace GeoPackage: the service's hot paths without GDAL.

:class:`GpkgReader` keeps one read-only SQLite connection per worker thread, reopened when the
file's data token changes (a layer replaced by rename, a register write), and reads pages,
single features and tile rows with plain SQL over the layer table and its R-tree.  Opening the
GeoPackage through GDAL for every request (pyogrio) and converting through pandas cost more
than the query itself; here a 100-feature page is a couple of SQLite statements.

Only layers whose columns are all plain (integer, real, text, boolean) and match the fields
GDAL lists are read this way (:meth:`GpkgReader.layout` is None otherwise).  Values are served
as stored: booleans as true/false, infinities as null (SQLite keeps NaN as null), reals as the
shortest text that reads back to the same double, integers as integers.  (The pyogrio path
rounds reals to 15 decimals through pandas' JSON writer, and serves an integer column holding
a null as reals.)  Any SQLite or decoding error makes the caller fall back to the pyogrio path
(:data:`DIRECT_ERRORS`).
"""

from __future__ import annotations

import json
import math
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer

from landplan.core.features import bbox_polygon, geometries_json, reproject
from landplan.store.protocol import CollectionInfo

#: GeoPackage column types read straight from SQLite, and how their values are served
SQL_KINDS = {
    "INTEGER": "int",
    "INT": "int",
    "MEDIUMINT": "int",
    "SMALLINT": "int",
    "TINYINT": "int",
    "BOOLEAN": "bool",
    "REAL": "float",
    "FLOAT": "float",
    "DOUBLE": "float",
    "TEXT": "str",
}
#: envelope bytes of a GeoPackage geometry header, by its envelope indicator
_ENVELOPE = (0, 32, 48, 48, 64)
#: a direct read that fails on these goes the pyogrio way instead
DIRECT_ERRORS = (
    sqlite3.Error,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    shapely.errors.GEOSException,
)
#: a str as a JSON string (no ASCII escapes), as ``json.dumps(..., ensure_ascii=False)``
_text = json.encoder.encode_basestring
#: fids bound per ``IN (...)`` query
_FID_CHUNK = 900
#: connections stay open between calls, except on Windows: there a file that is open cannot be
#: renamed over, and a layer upload swaps workspace.gpkg by rename
_KEEP_OPEN = os.name != "nt"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Layout:
    """How a layer is stored in SQLite (quoted names; ``kinds`` per attribute column)."""

    table: str
    fid: str
    geom: str | None
    rtree: str | None
    columns: tuple[str, ...]
    kinds: tuple[str, ...]


def _column_sql(name: str, kind: str, table: str = "") -> str:
    """The SELECT expression of a column: a real is null when not finite (JSON has no
    infinity; SQLite stores NaN as null already)."""
    col = f"{table}{quote(name)}"
    return f"CASE WHEN abs({col}) < 1e999 THEN {col} END" if kind == "float" else col


def geometries(blobs: Sequence[bytes | None]) -> np.ndarray:
    """GeoPackage geometry blobs → shapely geometries (header and envelope skipped)."""
    wkb = []
    for b in blobs:
        if b is None:
            wkb.append(None)
            continue
        if b[:2] != b"GP":
            raise ValueError("not a GeoPackage geometry blob")
        wkb.append(b[8 + _ENVELOPE[(b[3] >> 1) & 7] :])
    return shapely.from_wkb(wkb)


@lru_cache(maxsize=64)
def epsg_crs(epsg: int) -> CRS:
    return CRS.from_epsg(epsg)


@lru_cache(maxsize=64)
def to_mercator(epsg: int) -> Transformer:
    """EPSG:``epsg`` → Web Mercator (x/y order), built from the PROJ pipeline ``from_crs``
    chooses: pyproj rebuilds a transformer in every thread that uses it, and one made from a
    pipeline only parses it there (no operation search)."""
    chosen = Transformer.from_crs(epsg_crs(epsg), epsg_crs(3857), always_xy=True)
    return Transformer.from_pipeline(chosen.definition)


@lru_cache(maxsize=1)
def crs84() -> CRS:
    return CRS.from_user_input("OGC:CRS84")


def bounds_to(bounds: Sequence[float], src: CRS, dst: CRS) -> tuple[float, float, float, float]:
    """Bounds in ``src`` → bounds in ``dst``, 21 points densified on each edge (as pyproj's
    ``transform_bounds``), through the pipeline transformer of
    :func:`landplan.core.features.reproject`: a ``from_crs`` transformer repeats PROJ's
    operation search in every thread that uses it (seconds per thread under load)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    t = np.linspace(0.0, 1.0, 23)
    w, h = maxx - minx, maxy - miny
    xs = np.concatenate([minx + w * t, np.full(23, maxx), maxx - w * t, np.full(23, minx)])
    ys = np.concatenate([np.full(23, miny), miny + h * t, np.full(23, maxy), maxy - h * t])
    xy = shapely.get_coordinates(reproject(shapely.points(xs, ys), src, dst))
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        return (math.inf, math.inf, -math.inf, -math.inf)
    low, high = xy.min(axis=0), xy.max(axis=0)
    return (float(low[0]), float(low[1]), float(high[0]), float(high[1]))


def page_order(rows: list[tuple], with_id: bool) -> np.ndarray:
    """fids of ``(fid[, id])`` rows ordered by id (code points), then fid; null ids last."""
    if not with_id:
        return np.sort(np.fromiter((r[0] for r in rows), dtype="int64", count=len(rows)))
    keyed = sorted(rows, key=lambda r: (False, r[1], r[0]) if r[1] is not None else (True, 0, r[0]))
    return np.fromiter((r[0] for r in keyed), dtype="int64", count=len(keyed))


class GpkgReader:
    """Reads of one GeoPackage file; ``token()`` is its data token (changes with the file)."""

    def __init__(self, path: Path, token: Callable[[], str]) -> None:
        self.path = path
        self.token = token
        self._local = threading.local()
        #: collection → (data token, its layout, or None: read through pyogrio)
        self._layouts: dict[str, tuple[str, Layout | None]] = {}
        #: collection → (data token, every fid in page order)
        self._orders: dict[str, tuple[str, np.ndarray]] = {}
        self._order_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)

    def db(self) -> sqlite3.Connection:
        """This thread's read-only connection, reopened when the data token changed (on
        Windows, where a file that is open cannot be renamed over, a new one every call)."""
        if not _KEEP_OPEN:
            return self._connect()
        token = self.token()
        local = self._local
        if getattr(local, "token", None) != token:
            old = getattr(local, "conn", None)
            if old is not None:
                old.close()
            local.conn = self._connect()
            local.token = token
        return local.conn

    def layout(self, info: CollectionInfo) -> Layout | None:
        """The layer's layout when every column is plain and its columns are the ones GDAL
        lists (``info.columns``); else None."""
        token = self.token()
        hit = self._layouts.get(info.id)
        if hit is not None and hit[0] == token:
            return hit[1]
        try:
            layout = self._read_layout(info)
        except sqlite3.Error:
            layout = None
        self._layouts[info.id] = (token, layout)
        return layout

    def _read_layout(self, info: CollectionInfo) -> Layout | None:
        db = self.db()
        cols = db.execute(f"PRAGMA table_info({quote(info.id)})").fetchall()
        pk = [c[1] for c in cols if c[5]]
        if len(pk) != 1:
            return None
        geom, rtree = None, None
        if info.geometry_type is not None:
            row = db.execute(
                "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (info.id,)
            ).fetchone()
            if row is None:
                return None
            geom = str(row[0])
            name = f"rtree_{info.id}_{geom}"
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
            rtree = quote(name) if found else None
        attrs = [(str(c[1]), str(c[2])) for c in cols if c[1] not in (pk[0], geom)]
        kinds = tuple(SQL_KINDS.get(t.split("(", 1)[0].strip().upper()) for _, t in attrs)
        names = tuple(a for a, _ in attrs)
        if None in kinds or names != tuple(info.columns):
            return None
        return Layout(
            table=quote(info.id),
            fid=quote(pk[0]),
            geom=None if geom is None else quote(geom),
            rtree=rtree,
            columns=names,
            kinds=kinds,  # type: ignore[arg-type]
        )

    @staticmethod
    def _id(info: CollectionInfo) -> str:
        return "" if info.id_column == "fid" else f", t.{quote(info.id_column)}"

    def all_fids(self, info: CollectionInfo, lay: Layout) -> np.ndarray:
        """Every fid in page order, cached per data token (one reader builds it)."""
        token = self.token()
        hit = self._orders.get(info.id)
        if hit is not None and hit[0] == token:
            return hit[1]
        with self._order_lock:
            hit = self._orders.get(info.id)
            if hit is not None and hit[0] == token:
                return hit[1]
            sql = f"SELECT t.{lay.fid}{self._id(info)} FROM {lay.table} t"
            order = page_order(self.db().execute(sql).fetchall(), info.id_column != "fid")
            self._orders[info.id] = (token, order)
        return order

    def bbox_fids(
        self, info: CollectionInfo, lay: Layout, bbox: Sequence[float], crs: CRS
    ) -> np.ndarray:
        """fids of the features intersecting CRS84 ``bbox``, in page order: the R-tree, then
        exact ``intersects`` with the densified rectangle (as PostGIS ``ST_Intersects``)."""
        minx, miny, maxx, maxy = bounds_to(bbox, crs84(), crs)
        if not (minx <= maxx and miny <= maxy):
            return np.empty(0, dtype="int64")
        rows = (
            self.db()
            .execute(
                f"SELECT t.{lay.fid}{self._id(info)}, t.{lay.geom} "
                f"FROM {lay.rtree} r JOIN {lay.table} t ON t.{lay.fid} = r.id "
                "WHERE r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?",
                (maxx, minx, maxy, miny),
            )
            .fetchall()
        )
        if rows:
            hit = shapely.intersects(geometries([r[-1] for r in rows]), bbox_polygon(bbox, crs))
            rows = [r for r, h in zip(rows, hit, strict=True) if h]
        return page_order(rows, info.id_column != "fid")

    def fid_of(self, info: CollectionInfo, lay: Layout, feature_id: str) -> np.ndarray:
        """The fid of the feature whose (text) id is ``feature_id``: none or one."""
        if lay.kinds[lay.columns.index(info.id_column)] != "str":
            raise ValueError("not a text id: numbers compare as numbers (the pyogrio path)")
        row = (
            self.db()
            .execute(
                f"SELECT {lay.fid} FROM {lay.table} WHERE {quote(info.id_column)} = ? "
                f"ORDER BY {lay.fid} LIMIT 1",
                (feature_id,),
            )
            .fetchone()
        )
        return np.array([] if row is None else [row[0]], dtype="int64")

    def rows(self, lay: Layout, fids: np.ndarray) -> list[tuple]:
        """``(fid, *columns[, geom])`` rows of ``fids``, in that order (missing fids left out)."""
        pairs = zip(lay.columns, lay.kinds, strict=True)
        cols = "".join(f", {_column_sql(c, k)}" for c, k in pairs)
        geom = f", {lay.geom}" if lay.geom else ""
        db = self.db()
        found: dict[int, tuple] = {}
        wanted = [int(f) for f in fids]
        for i in range(0, len(wanted), _FID_CHUNK):
            chunk = wanted[i : i + _FID_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {lay.fid}{cols}{geom} FROM {lay.table} WHERE {lay.fid} IN ({marks})"
            for row in db.execute(sql, chunk):
                found[row[0]] = row
        return [found[f] for f in wanted if f in found]

    def tile_rows(
        self, lay: Layout, local: Sequence[float], wanted: list[str]
    ) -> tuple[np.ndarray, list[bytes | None], dict[str, list]]:
        """fids, geometry blobs and ``wanted`` columns of the features whose R-tree box meets
        ``local`` (layer CRS), by fid."""
        kinds = dict(zip(lay.columns, lay.kinds, strict=True))
        cols = "".join(f", {_column_sql(c, kinds[c], 't.')}" for c in wanted)
        rows = (
            self.db()
            .execute(
                f"SELECT t.{lay.fid}, t.{lay.geom}{cols} "
                f"FROM {lay.rtree} r JOIN {lay.table} t ON t.{lay.fid} = r.id "
                "WHERE r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ? "
                f"ORDER BY t.{lay.fid}",
                (local[2], local[0], local[3], local[1]),
            )
            .fetchall()
        )
        fids = np.fromiter((r[0] for r in rows), dtype="int64", count=len(rows))
        columns: dict = {}
        for j, c in enumerate(wanted, start=2):
            values = [r[j] for r in rows]
            if kinds[c] == "float":  # null → NaN: no tag
                columns[c] = np.array(values, dtype=float)
            elif kinds[c] == "bool":
                columns[c] = [None if v is None else bool(v) for v in values]
            else:
                columns[c] = values
        return fids, [r[1] for r in rows], columns


def render(
    info: CollectionInfo,
    lay: Layout,
    rows: list[tuple],
    crs: CRS | None,
    out_epsg: int | None,
    authority_axes: bool,
) -> list[str]:
    """GeoJSON Feature texts of :meth:`GpkgReader.rows`, as
    :func:`landplan.core.features.features_json` writes them."""
    if not rows:
        return []
    n = len(lay.columns)
    props = _properties(lay, rows)
    if info.id_column == "fid":
        ids = [json.dumps(int(r[0])) for r in rows]
    else:
        at = 1 + lay.columns.index(info.id_column)
        ids = [json.dumps(None if r[at] is None else str(r[at]), ensure_ascii=False) for r in rows]
    if lay.geom is not None and crs is not None:
        geoms = geometries_json(geometries([r[n + 1] for r in rows]), crs, out_epsg, authority_axes)
    else:
        geoms = [None] * len(rows)
    return [
        f'{{"type":"Feature","id":{i},"geometry":{g or "null"},"properties":{p}}}'
        for i, g, p in zip(ids, geoms, props, strict=True)
    ]


def _json_column(kind: str, values: tuple) -> list[str]:
    """JSON texts of one column's values, as ``json.dumps(..., ensure_ascii=False)`` writes
    them; a value not of the column's kind raises TypeError (the caller falls back)."""
    if kind == "str":
        return ["null" if v is None else _text(v) for v in values]
    if kind == "float":
        return ["null" if v is None else float.__repr__(v) for v in values]
    if kind == "int":
        return ["null" if v is None else int.__repr__(v) for v in values]
    return ["null" if v is None else ("true" if v else "false") for v in values]


def _properties(lay: Layout, rows: list[tuple]) -> list[str]:
    """The ``properties`` object of every row, as ``json.dumps(record, ensure_ascii=False)``
    writes it, built column by column (a third of the time of one dumps per row)."""
    if not lay.columns:
        return ["{}"] * len(rows)
    n = len(lay.columns)
    columns = zip(*(r[1 : n + 1] for r in rows), strict=True)
    texts = [_json_column(k, c) for k, c in zip(lay.kinds, columns, strict=True)]
    keys = [_text(c) + ": " for c in lay.columns]
    return ["{" + ", ".join(map(operator.add, keys, row)) + "}" for row in zip(*texts, strict=True)]

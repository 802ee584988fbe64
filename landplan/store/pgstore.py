"""The PostGIS server store: a workspace as one PostgreSQL schema (see :mod:`landplan.store.pgschema`).

:class:`PgStore` implements :class:`landplan.store.protocol.ServiceStore`.  Each layer is a table with
``fid bigserial`` primary key, the attribute columns, and ``geom geometry(<type>, <srid>)`` in
the workspace CRS with a GiST index (attribute tables have no ``geom``).  Whole layers are
replaced atomically: loaded with ``COPY`` into a new table and swapped in (DROP + RENAME) in the
same transaction, so readers see the old or the new layer, never a part.

Layers travel with :mod:`landplan.store.pgcopy`; :mod:`landplan.store.pgtransfer` pushes a
GeoPackage workspace directory into a schema and pulls one back.  Rasters stay GeoTIFF files under
the raster root (``LANDPLAN_RASTER_ROOT``, default ``~/.local/share/landplan/rasters``) in
``<workspace>/<name>.tif``.

Coordinates in GeoJSON are rounded to 7 decimals for degrees (≈ 1 cm) and 3 for metres.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame
from pyproj import CRS

from landplan.core.errors import CRSError, NotFoundError, WorkspaceError
from landplan.core.features import TILE_COLUMNS, from_crs84_bbox, north_first, thinning_step
from landplan.store.pgcopy import (
    API_TYPES,
    Layer,
    copy_out,
    frame_layer,
    load_layer,
    pg_columns,
    table_frame,
)
from landplan.store.pgregister import PgRegister
from landplan.store.pgschema import (
    SCHEMA_VERSION,
    bump_data_version,
    check_workspace_name,
    connect,
    describe,
    get_meta,
    get_metas,
    lock_workspace,
    migrate,
    schema_exists,
    set_meta,
    split_dsn,
    sql,
    warm_transforms,
    write_epoch,
)
from landplan.store.pgschema import (
    schema_version as pgschema_version,
)
from landplan.store.protocol import CollectionInfo, FeaturePage
from landplan.store.register import Register

RASTER_ROOT_ENV = "LANDPLAN_RASTER_ROOT"
TILE_EXTENT = 4096
TILE_BUFFER = 64
#: how long collection() / collections() answer from the catalogue read last without asking
#: the database; feature, page and tile reads check the token on their own connection always
INFO_FRESH_S = 1.0


class _Seen(NamedTuple):
    """The data token as read at ``checked`` (monotonic seconds), :func:`write_epoch` ``epoch``."""

    token: str
    checked: float
    epoch: int


def _fresh(seen: _Seen | _Infos | None, max_age_s: float) -> bool:
    """``seen`` was read less than ``max_age_s`` ago and this process has written nothing since."""
    return (
        seen is not None
        and seen.epoch == write_epoch()
        and time.monotonic() - seen.checked < max_age_s
    )


class _Infos(NamedTuple):
    """The catalogue as of ``token``, last confirmed at ``checked`` (monotonic seconds) and
    :func:`landplan.store.pgschema.write_epoch` ``epoch``."""

    token: str
    infos: dict[str, CollectionInfo]
    checked: float
    epoch: int


# ----------------------------------------------------------------------------- CRS helpers


@lru_cache(maxsize=256)
def _crs_facts(epsg: int) -> tuple[bool, bool]:
    """``(first axis is north/south, geographic)`` of EPSG:``epsg``."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjError

    try:
        crs = CRS.from_epsg(int(epsg))
    except ProjError as exc:
        raise CRSError(f"EPSG:{epsg} is not a known CRS: {exc}") from None
    return north_first(int(epsg)), crs.is_geographic


def _intersect(a, b) -> tuple[float, float, float, float] | None:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[2] and box[1] <= box[3] else None


def _tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Lon/lat bounds of Web-Mercator tile z/x/y (XYZ scheme, y = 0 at the north)."""
    n = 2**z

    def lat(row: float) -> float:
        return float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * row / n)))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def _expected_in(info: CollectionInfo, box) -> int:
    """Features expected in a CRS84 box if the layer's features were spread evenly."""
    if not info.bbox or not info.count:
        return 0
    inter = _intersect(tuple(box), tuple(info.bbox))
    if inter is None:
        return 0
    full = max((info.bbox[2] - info.bbox[0]) * (info.bbox[3] - info.bbox[1]), 1e-12)
    return int(info.count * (inter[2] - inter[0]) * (inter[3] - inter[1]) / full)


def _centres(infos) -> dict[int, tuple[float, float]]:
    """A CRS84 point inside the extent of one layer per storage CRS (for warm-ups)."""
    out: dict[int, tuple[float, float]] = {}
    for info in infos:
        if info.bbox and info.storage_epsg and info.storage_epsg not in out:
            west, south, east, north = info.bbox
            out[int(info.storage_epsg)] = ((west + east) / 2, (south + north) / 2)
    return out


def raster_root() -> Path:
    """Where rasters of PostGIS workspaces live (``LANDPLAN_RASTER_ROOT``)."""
    env = os.environ.get(RASTER_ROOT_ENV)
    return Path(env) if env else Path.home() / ".local/share/landplan/rasters"


# ----------------------------------------------------------------------------- the store


class PgStore:
    """A workspace in PostGIS; one connection per call, so one store serves many threads."""

    def __init__(self, conninfo: str, name: str = "landplan", /) -> None:
        self.conninfo = conninfo
        self.name = check_workspace_name(name)
        self._lock = threading.Lock()
        self._info_cache: _Infos | None = None
        self._token_seen: _Seen | None = None
        with connect(conninfo) as conn:
            if not schema_exists(conn, self.name):
                raise NotFoundError(_missing_workspace(conninfo, self.name))
            if pgschema_version(conn, self.name) != SCHEMA_VERSION:  # readers need no DDL rights
                with conn.transaction():
                    migrate(conn, self.name)

    @classmethod
    def from_dsn(cls, dsn: str, /) -> PgStore:
        """Open the workspace of ``postgresql://...[?workspace=NAME]`` (default ``landplan``)."""
        conninfo, name = split_dsn(dsn)
        return cls(conninfo, name)

    @classmethod
    def create(cls, dsn: str, /, *, metadata: Mapping | None = None) -> PgStore:
        """Create an empty workspace (schema and tables) and open it; an existing one is kept."""
        conninfo, name = split_dsn(dsn)
        with connect(conninfo) as conn, conn.transaction():
            migrate(conn, name)
            if metadata is not None:
                set_meta(conn, name, "workspace", json.dumps(dict(metadata), ensure_ascii=False))
        return cls(conninfo, name)

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.name, name)

    # ------------------------------------------------------------------ metadata

    def metadata(self) -> dict:
        """The marker of the pushed workspace (name, crs, policy, parcels, written_at, ...)."""
        with connect(self.conninfo) as conn:
            return json.loads(get_meta(conn, self.name, "workspace") or "{}")

    def policy_text(self) -> str | None:
        """The ``policy.toml`` the results were computed with (TOML text), if pushed."""
        with connect(self.conninfo) as conn:
            return get_meta(conn, self.name, "policy_toml")

    def token(self, *, max_age_s: float = 0.0) -> str:
        """Changes with every committed write (``push id : data_version``).

        Asked of the database, unless ``max_age_s`` > 0 and a read of it on any connection of
        this store is younger than that and this process wrote nothing since: then that one.
        The tile cache keys tiles with it (``max_age_s`` = 1 s), so a busy tile service does
        not queue a query per cached tile; a write by another process shows in tiles within
        ``max_age_s``, one by this process at once.
        """
        seen = self._token_seen
        if max_age_s > 0 and _fresh(seen, max_age_s):
            return seen.token
        with connect(self.conninfo) as conn:
            return self._token(conn)

    def _token(self, conn) -> str:
        epoch = write_epoch()  # before the query: a write committed meanwhile is re-read
        checked = time.monotonic()
        meta = get_metas(conn, self.name, ("push_id", "data_version"))
        token = f"{self.name}:{meta.get('push_id') or '-'}:{meta.get('data_version')}"
        with self._lock:
            if self._token_seen is None or self._token_seen.checked <= checked:
                self._token_seen = _Seen(token, checked, epoch)
        return token

    def layers(self) -> list[str]:
        """The layer names, in the order of the pushed ``workspace.gpkg``."""
        with connect(self.conninfo) as conn:
            return [r[0] for r in conn.execute(self._catalog_query()).fetchall()]

    def _catalog_query(self) -> sql.Composable:
        return sql.SQL("SELECT name, geometry_type, srid FROM {} ORDER BY position, name").format(
            self._table("landplan_layers")
        )

    # ------------------------------------------------------------------ collections

    def collections(self) -> list[CollectionInfo]:
        return list(self._infos().values())

    def collection(self, collection_id: str, /) -> CollectionInfo:
        infos = self._infos()
        if collection_id not in infos:  # perhaps just added by another process: ask
            with connect(self.conninfo) as conn:
                infos = self._infos_on(conn)
        return self._info_of(infos, collection_id)

    def _info_of(self, infos: dict[str, CollectionInfo], collection_id: str) -> CollectionInfo:
        if collection_id not in infos:
            raise NotFoundError(
                f"workspace {self.name} has no collection {collection_id!r}; it has {sorted(infos)}"
            )
        return infos[collection_id]

    def _infos(self) -> dict[str, CollectionInfo]:
        """Collection descriptions; from memory when the token was checked less than
        :data:`INFO_FRESH_S` ago and this process wrote nothing since, else from the database.

        Within a request, the collection the API looks up first is the one its feature page
        or tile read then checks again on its own connection (:meth:`_infos_on`), so a
        busy service asks for the token once per request, not twice.  A write by this
        process shows at once; one by another process after at most :data:`INFO_FRESH_S` in
        collection descriptions, and at once in features, pages and tiles.
        """
        cached = self._info_cache
        if _fresh(cached, INFO_FRESH_S):
            return cached.infos
        with connect(self.conninfo) as conn:
            return self._infos_on(conn)

    def _infos_on(self, conn) -> dict[str, CollectionInfo]:
        """Collection descriptions checked on ``conn``: the token is read (one query) and the
        catalogue re-read only when the token changed."""
        epoch = write_epoch()  # before the token: a write committed meanwhile is re-checked
        checked = time.monotonic()
        token = self._token(conn)
        cached = self._info_cache
        if cached is not None and cached.token == token:
            infos = cached.infos
        else:
            rows = conn.execute(
                sql.SQL(
                    "SELECT name, geometry_type, srid, features, west, south, east, north "
                    "FROM {} ORDER BY position, name"
                ).format(self._table("landplan_layers"))
            ).fetchall()
            infos = {row[0]: self._describe(conn, *row) for row in rows}
            warm_transforms(self.conninfo, _centres(infos.values()))
        with self._lock:
            current = self._info_cache
            if current is None or current.checked <= checked:
                self._info_cache = _Infos(token, infos, checked, epoch)
        return infos

    def _describe(self, conn, name, geometry_type, srid, count, *bounds) -> CollectionInfo:
        columns = pg_columns(conn, self.name, name)
        names = [c.name for c in columns]
        return CollectionInfo(
            id=name,
            title=name,
            geometry_type=geometry_type,
            storage_epsg=srid,
            bbox=None if bounds[0] is None else tuple(float(b) for b in bounds),
            count=int(count),
            columns={c.name: API_TYPES.get(c.kind, "string") for c in columns},
            id_column="parcel_id" if "parcel_id" in names else "fid",
        )

    # ------------------------------------------------------------------ features

    def _geometry_sql(self, info: CollectionInfo, out_epsg, authority_axes: bool) -> sql.Composable:
        if info.geometry_type is None:
            return sql.SQL("NULL::json")
        epsg = 4326 if out_epsg is None else int(out_epsg)
        north_first, geographic = _crs_facts(epsg)
        expr = sql.SQL("ST_Transform(t.geom, {})").format(sql.Literal(epsg))
        if out_epsg is not None and authority_axes and north_first:
            expr = sql.SQL("ST_FlipCoordinates({})").format(expr)
        digits = 7 if geographic else 3
        return sql.SQL("ST_AsGeoJSON({}, {}, 0)::json").format(expr, sql.Literal(digits))

    def _feature_sql(
        self, info: CollectionInfo, out_epsg, authority_axes: bool, source: sql.Composable
    ) -> sql.Composable:
        """``SELECT <Feature JSON text> FROM <source> t`` (properties: every column but fid, geom).

        ``source`` is the table or a subquery of the page's rows, so the JSON is built only for
        the rows returned (PostgreSQL would build it for the rows OFFSET skips as well).
        """
        props = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in info.columns)
        return sql.SQL(
            "SELECT json_build_object('type', 'Feature', 'id', t.{id}, 'geometry', {geom}, "
            "'properties', row_to_json((SELECT p FROM (SELECT {props}) AS p)))::text "
            "FROM {source} t"
        ).format(
            id=sql.Identifier(info.id_column),
            geom=self._geometry_sql(info, out_epsg, authority_axes),
            props=props,
            source=source,
        )

    def _bbox_where(
        self, info: CollectionInfo, bbox, *, exact: bool = True
    ) -> tuple[sql.Composable, list] | None:
        """The WHERE term for a CRS84 ``bbox``; None when it misses the layer's extent.

        ``exact=False`` keeps only the index test against the bbox's envelope in the layer CRS
        (tiles: ``ST_AsMVTGeom`` clips to the buffered tile and drops what falls outside).
        """
        if info.bbox is None:
            return None
        margin = 1e-4  # degrees (≈ 10 m): leave room for rounding in the reprojections
        layer = (
            info.bbox[0] - margin,
            info.bbox[1] - margin,
            info.bbox[2] + margin,
            info.bbox[3] + margin,
        )
        box = _intersect(tuple(float(v) for v in bbox), layer)
        if box is None:
            return None
        srid = info.storage_epsg
        outer = box if srid == 4326 else from_crs84_bbox(box, CRS.from_epsg(srid))
        if not exact:
            term = sql.SQL("t.geom && ST_MakeEnvelope(%s, %s, %s, %s, {srid})")
            return term.format(srid=sql.Literal(srid)), list(outer)
        step = max(box[2] - box[0], box[3] - box[1], 1e-9) / 32
        term = sql.SQL(
            "t.geom && ST_MakeEnvelope(%s, %s, %s, %s, {srid}) AND ST_Intersects(t.geom, "
            "ST_Transform(ST_Segmentize(ST_MakeEnvelope(%s, %s, %s, %s, 4326), %s), {srid}))"
        ).format(srid=sql.Literal(srid))
        return term, [*outer, *box, step]

    def _filter_where(self, info: CollectionInfo, filters: Mapping[str, str]) -> tuple[list, list]:
        terms, params = [], []
        for column, value in filters.items():
            if column not in info.columns:
                raise NotFoundError(f"collection {info.id} has no column {column!r}")
            kind = info.columns[column]
            if "\x00" in str(value):  # PostgreSQL text cannot hold NUL: nothing matches
                terms.append(sql.SQL("FALSE"))
                continue
            ident = sql.Identifier(column)
            terms.append(sql.SQL("t.{}::text = %s").format(ident))
            params.append(_canonical(kind, value))
        return terms, params

    def features(
        self,
        collection_id: str,
        /,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        filters: Mapping[str, str] | None = None,
        limit: int = 10,
        offset: int = 0,
        out_epsg: int | None = None,
        authority_axes: bool = True,
        cql=None,
    ) -> FeaturePage:
        """A page of features as GeoJSON text; ``bbox`` in CRS84, ordered by the id column;
        ``cql`` a checked :class:`landplan.store.cql2.Filter` (bound parameters only).

        One connection for the whole read: the token (and the catalogue when it changed),
        then the page.  ``numberMatched`` is the catalogue's feature count when nothing
        narrows the page (written with the layer, in the same transaction), else a
        ``count(*)`` on the same connection.
        """
        with connect(self.conninfo) as conn:
            info = self._info_of(self._infos_on(conn), collection_id)
            terms, params = self._filter_where(info, filters or {})
            if bbox is not None:
                found = self._bbox_where(info, bbox)
                if found is None:
                    return FeaturePage([], 0)
                terms.append(found[0])
                params.extend(found[1])
            if cql is not None:
                from landplan.store.cql2_sql import where_sql

                term, cql_params = where_sql(cql.tree, srid=info.storage_epsg)
                terms.append(term)
                params.extend(cql_params)
            where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(terms) if terms else sql.SQL("")
            order = sql.SQL(" ORDER BY t.{}, t.fid").format(sql.Identifier(info.id_column))
            rows_sql = sql.SQL("SELECT * FROM {} t").format(self._table(info.id)) + where
            page = sql.SQL("({} LIMIT %s OFFSET %s)").format(rows_sql + order)
            query = self._feature_sql(info, out_epsg, authority_axes, page) + order
            page_params = [*params, int(limit), int(offset)]
            if not terms:
                rows = conn.execute(query, page_params).fetchall()
                return FeaturePage([r[0] for r in rows], info.count)
            count = sql.SQL("SELECT count(*) FROM {} t").format(self._table(info.id)) + where
            matched = conn.execute(count, params).fetchone()[0]
            rows = conn.execute(query, page_params).fetchall()
        return FeaturePage([r[0] for r in rows], int(matched))

    def feature(
        self,
        collection_id: str,
        feature_id: str,
        /,
        *,
        out_epsg: int | None = None,
        authority_axes: bool = True,
    ) -> str:
        """One Feature as GeoJSON text; :class:`NotFoundError` when there is none of that id."""
        with connect(self.conninfo) as conn:
            info = self._info_of(self._infos_on(conn), collection_id)
            key: object = str(feature_id)
            missing = NotFoundError(f"{collection_id} has no feature {feature_id!r}")
            if "\x00" in key:  # PostgreSQL text cannot hold NUL: no row has this id
                raise missing
            if info.id_column == "fid":
                if not (key.isascii() and key.isdigit() and len(key) <= 19 and int(key) < 2**63):
                    raise missing  # not a bigint: no row has this fid
                key = int(key)
            table = self._table(info.id)
            query = self._feature_sql(info, out_epsg, authority_axes, table) + sql.SQL(
                " WHERE t.{} = %s ORDER BY t.fid LIMIT 1"
            ).format(sql.Identifier(info.id_column))
            row = conn.execute(query, (key,)).fetchone()
        if row is None:
            raise NotFoundError(f"{collection_id} has no feature {feature_id!r}")
        return row[0]

    # ------------------------------------------------------------------ tiles

    def tile(
        self,
        collection_id: str,
        z: int,
        x: int,
        y: int,
        /,
        *,
        columns: tuple[str, ...] | None = None,
    ) -> bytes:
        """Mapbox Vector Tile z/x/y (Web Mercator) of a layer; layer name = collection id.

        Properties: the id column and those of ``columns`` (default :data:`TILE_COLUMNS`)
        the layer has.  A tile with no feature is ``b""``.
        """
        with connect(self.conninfo) as conn:
            info = self._info_of(self._infos_on(conn), collection_id)
            if info.geometry_type is None:
                raise NotFoundError(f"{collection_id} is an attribute table; it has no tiles")
            z, x, y = int(z), int(x), int(y)
            if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
                raise NotFoundError(f"tile {z}/{x}/{y} does not exist")
            west, south, east, north = _tile_bounds(z, x, y)
            pad = (east - west) * TILE_BUFFER / TILE_EXTENT
            found = self._bbox_where(
                info, (west - pad, south - pad, east + pad, north + pad), exact=False
            )
            if found is None:
                return b""
            step = thinning_step(_expected_in(info, (west, south, east, north)))
            if step > 1:  # dense low-zoom tile: every k-th feature by fid, as the embedded store
                found = (
                    sql.SQL("{} AND mod(t.fid, {}) = 0").format(found[0], sql.Literal(step)),
                    found[1],
                )
            wanted = [info.id_column] + [
                c for c in (columns or TILE_COLUMNS) if c in info.columns and c != info.id_column
            ]
            props = sql.SQL("").join(sql.SQL(", t.{}").format(sql.Identifier(c)) for c in wanted)
            query = sql.SQL(
                "SELECT ST_AsMVT(m.*, %s, {extent}, 'mvtgeom') FROM (SELECT ST_AsMVTGeom("
                "ST_Transform(t.geom, 3857), ST_TileEnvelope(%s, %s, %s), {extent}, {buffer}, "
                "true) AS mvtgeom{props} FROM {table} t WHERE {where}) m "
                "WHERE m.mvtgeom IS NOT NULL"
            ).format(
                extent=sql.Literal(TILE_EXTENT),
                buffer=sql.Literal(TILE_BUFFER),
                props=props,
                table=self._table(info.id),
                where=found[0],
            )
            row = conn.execute(query, [collection_id, z, x, y, *found[1]]).fetchone()
            return bytes(row[0]) if row and row[0] else b""

    # ------------------------------------------------------------------ layers

    def read_layer(self, name: str, /) -> GeoDataFrame | pd.DataFrame:
        """A layer in the workspace CRS (GeoDataFrame) or an attribute table (DataFrame)."""
        with connect(self.conninfo) as conn:
            layer = self._read(conn, name)
        return table_frame(layer.table, layer.srid, layer.geometry_type is not None)

    def _read(self, conn, name: str) -> Layer:
        row = conn.execute(
            sql.SQL("SELECT geometry_type, srid FROM {} WHERE name = %s").format(
                self._table("landplan_layers")
            ),
            (name,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"workspace {self.name} has no layer {name!r}")
        table = copy_out(conn, self.name, name, row[0] is not None)
        return Layer(table, row[0], row[1])

    def replace_layer(self, name: str, frame: GeoDataFrame | pd.DataFrame, /) -> None:
        """Replace (or add) a whole layer atomically; geometries are stored in the workspace CRS."""
        srid = workspace_srid(self.metadata())
        layer = frame_layer(frame, srid)
        with connect(self.conninfo) as conn, conn.transaction():
            lock_workspace(conn, self.name)  # a pull reads the workspace as of before or after
            load_layer(conn, self.name, name, layer)
            bump_data_version(conn, self.name)

    def save_scenario(self, name: str, geometry, evaluation, /) -> None:
        """Store boundary scenario ``name`` (replacing one of that name) in the ``scenarios`` layer.

        Read-modify-write of the small layer under a session advisory lock, so two planners
        saving at once do not lose each other's scenario; the layer swap itself is atomic.
        """
        from datetime import UTC, datetime

        from landplan.store.gpkg_scenarios import FIGURES, TEXT_FIGURES

        name = str(name).strip()
        if not name:
            raise WorkspaceError("a scenario needs a non-empty name")
        figures = evaluation.key_figures()
        row = {"name": name, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        row |= {c: (None if figures.get(c) is None else float(figures[c])) for c in FIGURES}
        row |= {c: str(figures.get(c) or "") for c in TEXT_FIGURES}
        row["evaluation"] = evaluation.to_json()
        crs = CRS.from_user_input(self.metadata()["crs"])
        geom = shapely.MultiPolygon([geometry]) if geometry.geom_type == "Polygon" else geometry
        with connect(self.conninfo, autocommit=True) as conn:
            key = f"landplan:{self.name}:scenarios"
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                # the catalogue itself, not the cached one: another planner may have just added it
                names = set(self.layers())
                old = self.read_layer("scenarios") if "scenarios" in names else None
                new = GeoDataFrame([row], geometry=[geom], crs=crs)
                new = new.astype(dict.fromkeys(FIGURES, "float64"))
                if old is not None and len(old):
                    old = old[old["name"] != name]
                    new = GeoDataFrame(
                        pd.concat([old, new], ignore_index=True), geometry="geometry", crs=crs
                    )
                self.replace_layer("scenarios", new)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def replace_raster(self, name: str, source: Path, /) -> None:
        """Copy ``source`` to ``<raster root>/<workspace>/<name>.tif`` (temp file + rename)."""

        folder = raster_root() / self.name
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{name}.tif.upload-{os.getpid()}-{threading.get_ident()}"
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, folder / f"{name}.tif")
        finally:
            temp.unlink(missing_ok=True)
        with connect(self.conninfo) as conn:
            bump_data_version(conn, self.name)
            conn.commit()

    def register(self) -> Register:
        return PgRegister(self.conninfo, self.name)

    def raster_path(self, name: str, /) -> Path | None:
        """``<raster root>/<workspace>/<name>.tif`` when it exists (COG), else None."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        path = raster_root() / self.name / f"{name}.tif"
        return path if path.is_file() else None


def workspace_srid(meta: Mapping) -> int | None:
    crs = meta.get("crs")
    if not crs:
        return None
    from pyproj import CRS

    return CRS.from_user_input(crs).to_epsg()


def _missing_workspace(conninfo: str, name: str) -> str:
    """Why workspace ``name`` cannot be opened, with the workspaces that can."""
    from landplan.store.pgschema import list_workspaces

    found = list_workspaces(conninfo)
    there = (
        f"workspaces there: {', '.join(found[:20])}{' …' if len(found) > 20 else ''}; "
        "name one with ?workspace=NAME in the DSN "
        "(workspace=NAME in key=value form)"
        if found
        else "the database holds no landplan workspace"
    )
    return (
        f"no landplan workspace {name!r} at {describe(conninfo)}; {there}; or push one with "
        f"`landplan workspace push DIR --to DSN --name {name}`"
    )


def _canonical(kind: str, value: str) -> str:
    """A filter value in PostgreSQL's text form of the column type (``1.50`` → ``1.5``)."""
    text = str(value).strip()
    try:
        if kind == "integer":
            return str(int(text))
        if kind == "number":
            return repr(float(text))
    except ValueError:
        return text
    if kind == "boolean":
        return {"1": "true", "t": "true", "0": "false", "f": "false"}.get(
            text.lower(), text.lower()
        )
    return text

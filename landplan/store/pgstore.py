"""The PostGIS server store: a workspace as one PostgreSQL schema (see :mod:`landplan.store.pgschema`).

:class:`PgStore` implements :class:`landplan.store.protocol.ServiceStore`.  Each layer is a table with
``fid bigserial`` primary key, the attribute columns, and ``geom geometry(<type>, <srid>)`` in
the workspace CRS with a GiST index (attribute tables have no ``geom``).  Whole layers are
replaced atomically: loaded with ``COPY`` into a new table and swapped in (DROP + RENAME) in the
same transaction, so readers see the old or the new layer, never a part.

:func:`push` copies a GeoPackage workspace directory into a schema and :func:`pull` writes one
back; the round trip keeps attribute values and types (through Arrow: ``int64`` / ``int32`` /
``bool`` / ``float64`` / ``float32`` / ``string`` / ``date32``, NULLs), geometries (WKB), fids,
the register with its audit trail, scenarios, the marker, ``policy.toml``, the other files of the
directory and the rasters.  Rasters stay GeoTIFF files under the raster root
(``LANDPLAN_RASTER_ROOT``, default ``~/.local/share/landplan/rasters``) in ``<workspace>/<name>.tif``.

Coordinates in GeoJSON are rounded to 7 decimals for degrees (≈ 1 cm) and 3 for metres.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import struct
import threading
import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import shapely
from geopandas import GeoDataFrame
from pyproj import CRS

from landplan.core.errors import CRSError, NotFoundError, WorkspaceError
from landplan.core.features import TILE_COLUMNS, from_crs84_bbox, north_first, thinning_step
from landplan.store.pgregister import PgRegister, audit_rows, insert_rows, register_rows
from landplan.store.pgschema import (
    SCHEMA_VERSION,
    bump_data_version,
    check_column_name,
    check_layer_name,
    check_workspace_name,
    connect,
    describe,
    get_meta,
    lock_workspace,
    migrate,
    schema_exists,
    set_meta,
    shared_workspace_lock,
    split_dsn,
    sql,
)
from landplan.store.pgschema import (
    schema_version as pgschema_version,
)
from landplan.store.protocol import CollectionInfo, FeaturePage
from landplan.store.workspace import MARKER, GpkgWorkspace, staged_directory

RASTER_ROOT_ENV = "LANDPLAN_RASTER_ROOT"
#: layers of ``workspace.gpkg`` that are not copied as layers (the register has its own tables)
REGISTER_TABLES = ("register", "register_audit", "register_meta")
#: files of the workspace directory rebuilt on pull rather than stored
REBUILT_FILES = ("workspace.gpkg", "results.gpkg", MARKER, "policy.toml")
TILE_EXTENT = 4096
TILE_BUFFER = 64
COPY_BATCH_ROWS = 50_000

# ----------------------------------------------------------------------------- types

#: Arrow type → PostgreSQL column type
_PG_TYPES = {
    pa.int8(): "smallint",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.uint8(): "smallint",
    pa.uint16(): "integer",
    pa.uint32(): "bigint",
    pa.bool_(): "boolean",
    pa.float16(): "real",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.large_string(): "text",
    pa.date32(): "date",
    pa.date64(): "date",
    pa.binary(): "bytea",
    pa.large_binary(): "bytea",
}
#: PostgreSQL column type → Arrow type (the way back)
_ARROW_TYPES = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
    "bytea": pa.binary(),
}
#: PostgreSQL column type → OGC API column type
_API_TYPES = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "real": "number",
    "double precision": "number",
    "boolean": "boolean",
}
_TIMESTAMP_TEXT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _pg_type(name: str, arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if arrow_type in _PG_TYPES:
        return _PG_TYPES[arrow_type]
    if pa.types.is_null(arrow_type):  # a column with no value at all
        return "text"
    raise WorkspaceError(f"column {name!r} of type {arrow_type} cannot be stored in PostGIS")


def _postgis_type(ogr_type: str | None) -> str:
    """``MultiPolygon`` → ``MULTIPOLYGON``; ``Polygon Z`` → ``POLYGONZ``; unknown → ``GEOMETRY``."""
    if not ogr_type or ogr_type.startswith("Unknown"):
        return "GEOMETRY"
    return ogr_type.replace(" ", "").upper()


@dataclass(frozen=True)
class Layer:
    """A layer as Arrow: ``table`` (``fid`` optional, attributes, ``geom`` as ISO WKB)."""

    table: pa.Table
    geometry_type: str | None  # OGR name (``Polygon``), None for attribute tables
    srid: int | None


# ----------------------------------------------------------------------------- COPY in and out


def _column_defs(layer: Layer) -> sql.Composable:
    defs = [sql.SQL("fid bigserial PRIMARY KEY")]
    for field in layer.table.schema:
        if field.name in ("fid", "geom"):
            continue
        name = check_column_name(field.name)
        kind = _pg_type(name, field.type) + ("" if field.nullable else " NOT NULL")
        defs.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)))
    if layer.geometry_type is not None:
        kind = _postgis_type(layer.geometry_type)
        defs.append(sql.SQL(f"geom geometry({kind}, {int(layer.srid or 0)})"))
    return sql.SQL(", ").join(defs)


def _csv_ready(layer: Layer) -> pa.Table:
    """The table as COPY wants it: geometry as EWKB hex (with the SRID), binary as ``\\x`` hex."""
    table = layer.table
    for i, field in enumerate(table.schema):
        if field.name == "geom" and layer.geometry_type is not None:
            text = _ewkb_hex(table.column(i).to_pylist(), int(layer.srid or 0))
            table = table.set_column(i, "geom", pa.array(text, pa.string()))
        elif pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            values = [None if v is None else "\\x" + v.hex() for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(values, pa.string()))
    return table


def _ewkb_hex(wkbs: list[bytes | None], srid: int) -> list[str | None]:
    """ISO WKB → hex EWKB carrying ``srid`` (what a ``geometry(type, srid)`` column accepts).

    2-D little-endian WKB only needs the SRID flag and the SRID after its header (nested parts
    stay as they are), which is much faster than a GEOS round trip; anything else goes
    through shapely.
    """
    tag = struct.pack("<I", srid).hex()
    out: list[str | None] = []
    for wkb in wkbs:
        if wkb is None:
            out.append(None)
            continue
        kind = int.from_bytes(wkb[1:5], "little")
        if wkb[0] == 1 and kind < 1000:
            out.append("01" + struct.pack("<I", kind | 0x20000000).hex() + tag + wkb[5:].hex())
        else:
            geom = shapely.set_srid(shapely.from_wkb(wkb), srid)
            out.append(shapely.to_wkb(geom, hex=True, include_srid=True, byte_order=1))
    return out


def _copy_in(conn, target: sql.Composable, layer: Layer) -> None:
    """COPY ``layer`` into ``target`` as CSV (NULL = unquoted empty, "" = empty text)."""
    table = _csv_ready(layer)
    if table.num_rows == 0:
        return
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in table.column_names)
    query = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(target, cols)
    options = pacsv.WriteOptions(include_header=False)
    with conn.cursor() as cur, cur.copy(query) as copy:
        for batch in table.to_batches(max_chunksize=COPY_BATCH_ROWS):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            copy.write(buffer.getvalue())


@dataclass(frozen=True)
class Column:
    """An attribute column of a layer table: name, PostgreSQL type, NOT NULL."""

    name: str
    kind: str
    not_null: bool = False


def _pg_columns(conn, schema: str, table: str) -> list[Column]:
    """The attribute columns (not ``fid`` or ``geom``), in table order."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, NULL), a.attnotnull FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    return [Column(*row) for row in rows if row[0] not in ("fid", "geom")]


def _export_term(column: Column) -> tuple[sql.Composable, pa.DataType]:
    """The SELECT term of a column in COPY's CSV output and the Arrow type to parse it as."""
    ident = sql.Identifier(column.name)
    arrow = _ARROW_TYPES.get(column.kind)
    if arrow is None:
        raise WorkspaceError(f"column {column.name!r} has the unsupported type {column.kind}")
    if column.kind == "bytea":
        return sql.SQL("encode({}, 'hex')").format(ident), pa.string()
    if column.kind.startswith("timestamp"):
        return sql.SQL("to_char({}, {})").format(ident, sql.Literal(_TIMESTAMP_TEXT)), arrow
    return ident, arrow


def _read_csv(data: io.BytesIO, types: dict[str, pa.DataType]) -> pa.Table:
    """COPY's CSV as Arrow: unquoted empty = NULL, ``""`` = empty text, ``t`` / ``f`` booleans."""
    if data.tell() == 0:
        return pa.table({n: pa.array([], t) for n, t in types.items()})
    data.seek(0)
    return pacsv.read_csv(
        data,
        read_options=pacsv.ReadOptions(column_names=list(types)),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )


def _copy_out(conn, schema: str, name: str, geometry: bool) -> pa.Table:
    """The layer as Arrow (``fid``, attributes in their types, ``geom`` as ISO WKB), fid order.

    NOT NULL columns come back as non-nullable Arrow fields.
    """
    columns = _pg_columns(conn, schema, name)
    if geometry:
        columns.append(Column("geom", "bytea"))
    select, types = [sql.Identifier("fid")], {"fid": pa.int64()}
    for column in columns:
        term, types[column.name] = _export_term(column)
        select.append(term)
    if geometry:  # the last term: geometry as ISO WKB, hex-encoded
        select[-1] = sql.SQL("encode(ST_AsBinary(geom), 'hex')")
    query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY fid) TO STDOUT WITH (FORMAT csv)").format(
        sql.SQL(", ").join(select), sql.Identifier(schema, name)
    )
    buffer = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    table = _read_csv(buffer, types)
    fields = [pa.field("fid", pa.int64(), nullable=False)]
    for i, column in enumerate(columns, start=1):
        if column.kind == "bytea":
            hexes = table.column(i).to_pylist()
            raw = [None if h is None else bytes.fromhex(h) for h in hexes]
            table = table.set_column(i, column.name, pa.array(raw, pa.binary()))
        fields.append(pa.field(column.name, table.schema.field(i).type, not column.not_null))
    return table.cast(pa.schema(fields))


def _load_layer(conn, schema: str, name: str, layer: Layer, position: int | None = None) -> None:
    """Write ``layer`` as table ``name`` inside the caller's transaction (new table, then swap)."""
    check_layer_name(name)
    tmp = f"_lp_tmp_{uuid.uuid4().hex[:12]}"
    target = sql.Identifier(schema, tmp)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, _column_defs(layer)))
    _copy_in(conn, target, layer)
    if "fid" in layer.table.column_names and layer.table.num_rows:
        conn.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'fid'), max(fid)) FROM {}").format(
                target
            ),
            (target.as_string(conn),),
        )
    if layer.geometry_type is not None:
        conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(target))
    if "parcel_id" in layer.table.column_names:  # feature by id, and paging in id order
        conn.execute(sql.SQL("CREATE INDEX ON {} (parcel_id, fid)").format(target))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name)))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(target, sql.Identifier(name)))
    _catalogue(conn, schema, name, layer, position)
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))


def _catalogue(conn, schema: str, name: str, layer: Layer, position: int | None) -> None:
    """Record the layer, its feature count and its CRS84 extent (of the reprojected geometries)."""
    extent = (
        sql.SQL("ST_Extent(ST_Transform(geom, 4326))")
        if layer.geometry_type is not None
        else sql.SQL("NULL::box2d")
    )
    catalogue = sql.Identifier(schema, "landplan_layers")
    conn.execute(
        sql.SQL(
            "INSERT INTO {cat} (name, geometry_type, srid, position, features, west, south, east, "
            "north) SELECT %s, %s, %s, COALESCE(%s, (SELECT count(*) FROM {cat})), n, ST_XMin(e), "
            "ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT count(*) AS n, {extent} AS e FROM "
            "{table}) s ON CONFLICT (name) DO UPDATE SET geometry_type = excluded.geometry_type, "
            "srid = excluded.srid, features = excluded.features, west = excluded.west, "
            "south = excluded.south, east = excluded.east, north = excluded.north"
        ).format(cat=catalogue, extent=extent, table=sql.Identifier(schema, name)),
        (name, layer.geometry_type, layer.srid, position),
    )


# ----------------------------------------------------------------------------- frames ↔ Arrow


def _frame_layer(frame: GeoDataFrame | pd.DataFrame, srid: int | None) -> Layer:
    """A (Geo)DataFrame as a :class:`Layer` in the workspace CRS (``srid``)."""
    if isinstance(frame, GeoDataFrame):
        if frame.crs is None:
            raise CRSError("the layer has no CRS; set it before storing it in the workspace")
        if srid is not None and frame.crs.to_epsg() != srid:
            frame = frame.to_crs(srid)
        geoms = np.asarray(frame.geometry.values)
        attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
        names = {k: shapely.GeometryType(k).name for k in kinds}
        geometry_type = _ogr_name(next(iter(names.values()))) if len(names) == 1 else "Unknown"
        wkb = shapely.to_wkb(geoms, flavor="iso")
        table = _arrow(attrs).append_column("geom", pa.array(list(wkb), pa.binary()))
        return Layer(table, geometry_type, frame.crs.to_epsg())
    return Layer(_arrow(pd.DataFrame(frame)), None, None)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise WorkspaceError(f"the layer has a column PostGIS cannot store: {exc}") from None


def _ogr_name(shapely_name: str) -> str:
    """``MULTIPOLYGON`` (shapely's enum name) → ``MultiPolygon``."""
    names = {
        "POINT": "Point",
        "LINESTRING": "LineString",
        "LINEARRING": "LineString",
        "POLYGON": "Polygon",
        "MULTIPOINT": "MultiPoint",
        "MULTILINESTRING": "MultiLineString",
        "MULTIPOLYGON": "MultiPolygon",
        "GEOMETRYCOLLECTION": "GeometryCollection",
    }
    return names.get(shapely_name, "Unknown")


def _table_frame(table: pa.Table, srid: int | None, geometry: bool) -> GeoDataFrame | pd.DataFrame:
    """Arrow → the frame ``pyogrio.read_dataframe`` would give (no fid; dates as datetime64)."""
    attrs = table.drop_columns([c for c in ("fid", "geom") if c in table.column_names])
    frame = attrs.to_pandas(date_as_object=False)
    if not geometry:
        return frame
    geoms = shapely.from_wkb(np.asarray(table.column("geom").to_pylist(), dtype=object))
    return GeoDataFrame(frame, geometry=geoms, crs=f"EPSG:{srid}" if srid else None)


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
        self._info_cache: tuple[str, dict[str, CollectionInfo]] | None = None
        with connect(conninfo) as conn:
            if not schema_exists(conn, self.name):
                raise NotFoundError(
                    f"no landplan workspace {self.name!r} at {describe(conninfo)}; push one with "
                    f"`landplan workspace push DIR --to DSN --name {self.name}`"
                )
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

    def token(self) -> str:
        """Changes with every committed write (``push id : data_version``)."""
        with connect(self.conninfo) as conn:
            return self._token(conn)

    def _token(self, conn) -> str:
        push_id = get_meta(conn, self.name, "push_id") or "-"
        return f"{self.name}:{push_id}:{get_meta(conn, self.name, 'data_version')}"

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
        if collection_id not in infos:
            raise NotFoundError(
                f"workspace {self.name} has no collection {collection_id!r}; it has {sorted(infos)}"
            )
        return infos[collection_id]

    def _infos(self) -> dict[str, CollectionInfo]:
        """Collection descriptions from the catalogue, re-read only when the token changed."""
        with connect(self.conninfo) as conn:
            token = self._token(conn)
            cached = self._info_cache
            if cached is not None and cached[0] == token:
                return cached[1]
            rows = conn.execute(
                sql.SQL(
                    "SELECT name, geometry_type, srid, features, west, south, east, north "
                    "FROM {} ORDER BY position, name"
                ).format(self._table("landplan_layers"))
            ).fetchall()
            infos = {row[0]: self._describe(conn, *row) for row in rows}
        with self._lock:
            self._info_cache = (token, infos)
        return infos

    def _describe(self, conn, name, geometry_type, srid, count, *bounds) -> CollectionInfo:
        columns = _pg_columns(conn, self.name, name)
        names = [c.name for c in columns]
        return CollectionInfo(
            id=name,
            title=name,
            geometry_type=geometry_type,
            storage_epsg=srid,
            bbox=None if bounds[0] is None else tuple(float(b) for b in bounds),
            count=int(count),
            columns={c.name: _API_TYPES.get(c.kind, "string") for c in columns},
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
    ) -> FeaturePage:
        """A page of features as GeoJSON text; ``bbox`` in CRS84, ordered by the id column."""
        info = self.collection(collection_id)
        terms, params = self._filter_where(info, filters or {})
        if bbox is not None:
            found = self._bbox_where(info, bbox)
            if found is None:
                return FeaturePage([], 0)
            terms.append(found[0])
            params.extend(found[1])
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(terms) if terms else sql.SQL("")
        order = sql.SQL(" ORDER BY t.{}, t.fid").format(sql.Identifier(info.id_column))
        rows_sql = sql.SQL("SELECT * FROM {} t").format(self._table(info.id)) + where
        count = sql.SQL("SELECT count(*) FROM {} t").format(self._table(info.id)) + where
        page = sql.SQL("({} LIMIT %s OFFSET %s)").format(rows_sql + order)
        query = self._feature_sql(info, out_epsg, authority_axes, page) + order
        with connect(self.conninfo) as conn:
            matched = conn.execute(count, params).fetchone()[0]
            rows = conn.execute(query, [*params, int(limit), int(offset)]).fetchall()
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
        info = self.collection(collection_id)
        key: object = str(feature_id)
        if info.id_column == "fid":
            try:
                key = int(str(feature_id))
            except ValueError:
                raise NotFoundError(f"{collection_id} has no feature {feature_id!r}") from None
        table = self._table(info.id)
        query = self._feature_sql(info, out_epsg, authority_axes, table) + sql.SQL(
            " WHERE t.{} = %s ORDER BY t.fid LIMIT 1"
        ).format(sql.Identifier(info.id_column))
        with connect(self.conninfo) as conn:
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
        info = self.collection(collection_id)
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
            "ST_Transform(t.geom, 3857), ST_TileEnvelope(%s, %s, %s), {extent}, {buffer}, true) "
            "AS mvtgeom{props} FROM {table} t WHERE {where}) m WHERE m.mvtgeom IS NOT NULL"
        ).format(
            extent=sql.Literal(TILE_EXTENT),
            buffer=sql.Literal(TILE_BUFFER),
            props=props,
            table=self._table(info.id),
            where=found[0],
        )
        with connect(self.conninfo) as conn:
            row = conn.execute(query, [collection_id, z, x, y, *found[1]]).fetchone()
        return bytes(row[0]) if row and row[0] else b""

    # ------------------------------------------------------------------ layers

    def read_layer(self, name: str, /) -> GeoDataFrame | pd.DataFrame:
        """A layer in the workspace CRS (GeoDataFrame) or an attribute table (DataFrame)."""
        with connect(self.conninfo) as conn:
            layer = self._read(conn, name)
        return _table_frame(layer.table, layer.srid, layer.geometry_type is not None)

    def _read(self, conn, name: str) -> Layer:
        row = conn.execute(
            sql.SQL("SELECT geometry_type, srid FROM {} WHERE name = %s").format(
                self._table("landplan_layers")
            ),
            (name,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"workspace {self.name} has no layer {name!r}")
        table = _copy_out(conn, self.name, name, row[0] is not None)
        return Layer(table, row[0], row[1])

    def replace_layer(self, name: str, frame: GeoDataFrame | pd.DataFrame, /) -> None:
        """Replace (or add) a whole layer atomically; geometries are stored in the workspace CRS."""
        srid = _workspace_srid(self.metadata())
        layer = _frame_layer(frame, srid)
        with connect(self.conninfo) as conn, conn.transaction():
            lock_workspace(conn, self.name)  # a pull reads the workspace as of before or after
            _load_layer(conn, self.name, name, layer)
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
                names = {i.id for i in self.collections()}
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
        import shutil

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

    def register(self) -> PgRegister:
        return PgRegister(self.conninfo, self.name)

    def raster_path(self, name: str, /) -> Path | None:
        """``<raster root>/<workspace>/<name>.tif`` when it exists (COG), else None."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        path = raster_root() / self.name / f"{name}.tif"
        return path if path.is_file() else None


def _workspace_srid(meta: Mapping) -> int | None:
    crs = meta.get("crs")
    if not crs:
        return None
    from pyproj import CRS

    return CRS.from_user_input(crs).to_epsg()


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


# ----------------------------------------------------------------------------- push / pull


@dataclass(frozen=True)
class PushReport:
    """What :func:`push` stored: the workspace name, layers, register rows and rasters."""

    name: str
    layers: tuple[str, ...]
    register_rows: int
    audit_rows: int
    rasters: tuple[str, ...]
    files: tuple[str, ...]


def _default_name(workspace_dir: Path) -> str:
    """A workspace name from a directory name: lower case, other characters → ``_``."""
    text = "".join(c if c.isascii() and c.isalnum() else "_" for c in workspace_dir.name.lower())
    text = text.strip("_") or "workspace"
    return text if text[0].isalpha() else f"ws_{text}"[:48]


def _read_gpkg_register(gpkg: Path) -> tuple[list[dict], list[dict]]:
    """The register and audit rows of a GeoPackage workspace (empty lists when none)."""
    from landplan.store.register import COLUMNS

    with closing(sqlite3.connect(gpkg)) as conn:
        conn.row_factory = sqlite3.Row
        has = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "register" not in has:
            return [], []
        register = [
            dict(r)
            for r in conn.execute(f"SELECT fid, {', '.join(COLUMNS)} FROM register ORDER BY fid")
        ]
        audit = [
            dict(r)
            for r in conn.execute(
                "SELECT id, parcel_id, at, who, action, before, after FROM register_audit ORDER BY id"
            )
        ]
    return register, audit


def _gpkg_layers(gpkg: Path) -> list[tuple[str, Layer]]:
    """Every layer of ``workspace.gpkg`` but the register tables, as Arrow (fids kept)."""
    out = []
    for name, _ in pyogrio.list_layers(gpkg):
        if name in REGISTER_TABLES:
            continue
        meta, table = pyogrio.read_arrow(gpkg, layer=name, return_fids=True)
        geometry_type = meta.get("geometry_type")
        srid = None
        if geometry_type:
            geom_name = meta.get("geometry_name") or "wkb_geometry"
            i = table.column_names.index(geom_name)
            # a plain binary column: the geoarrow extension metadata is not stored
            table = table.set_column(i, pa.field("geom", pa.binary()), table.column(i))
            srid = _workspace_srid(meta) or 0
        out.append((str(name), Layer(table, geometry_type, srid)))
    return out


def _stage_rasters(source: Path, name: str) -> Path | None:
    """Copy ``source/rasters/*.tif`` beside the raster root's ``name`` folder (not yet in place)."""
    tifs = sorted((source / "rasters").glob("*.tif")) if (source / "rasters").is_dir() else []
    if not tifs:
        return None
    root = raster_root()
    root.mkdir(parents=True, exist_ok=True)
    stage = root / f".{name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    for tif in tifs:
        shutil.copy2(tif, stage / tif.name)
    return stage


def _place_rasters(stage: Path | None, name: str) -> None:
    """Swap the staged rasters in (after the database commit); no stage removes old rasters."""
    target = raster_root() / name
    old = target.parent / f".{name}.previous-{uuid.uuid4().hex[:8]}"
    if target.exists():
        target.rename(old)
    if stage is not None:
        stage.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def push(
    workspace_dir: str | Path, dsn: str, /, *, name: str | None = None, replace: bool = False
) -> PushReport:
    """Copy a GeoPackage workspace directory into PostGIS, in one transaction.

    The workspace is called ``name``, else the DSN's ``?workspace=``, else the directory name.
    An existing workspace of that name is refused unless ``replace``; a replacement is built in
    a staging schema and swapped in (DROP + RENAME) in the same transaction, so readers see the
    old or the new workspace.  Rasters are copied to the raster root and swapped in after commit.
    """
    source = Path(workspace_dir)
    ws = GpkgWorkspace(source)
    ws.metadata()
    conninfo, dsn_name = split_dsn(dsn)
    if name is None:
        name = dsn_name if "workspace=" in str(dsn) else _default_name(source.resolve())
    name = check_workspace_name(name)
    layers = _gpkg_layers(ws.gpkg)
    register, audit = _read_gpkg_register(ws.gpkg)
    files = {
        p.name: p.read_bytes()
        for p in sorted(source.iterdir())
        if p.is_file() and p.name not in REBUILT_FILES and not p.name.startswith(".")
    }
    policy = source / "policy.toml"
    rasters = _stage_rasters(source, name)
    stage_schema = f"{name}__push_{uuid.uuid4().hex[:8]}"
    try:
        with connect(conninfo) as conn, conn.transaction():
            lock_workspace(conn, name)
            exists = schema_exists(conn, name)
            if exists and not replace:
                raise WorkspaceError(
                    f"workspace {name!r} already exists at {describe(conninfo)}; "
                    "give --replace to replace it or --name for another name"
                )
            migrate(conn, stage_schema)
            set_meta(conn, stage_schema, "workspace", (source / MARKER).read_text(encoding="utf-8"))
            set_meta(conn, stage_schema, "push_id", uuid.uuid4().hex[:12])
            if policy.exists():
                set_meta(conn, stage_schema, "policy_toml", policy.read_text(encoding="utf-8"))
            for position, (layer_name, layer) in enumerate(layers):
                _load_layer(conn, stage_schema, layer_name, layer, position)
            insert_rows(conn, stage_schema, register, audit)
            _store_files(conn, stage_schema, files)
            if exists:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                    sql.Identifier(stage_schema), sql.Identifier(name)
                )
            )
    except BaseException:
        if rasters is not None:
            shutil.rmtree(rasters, ignore_errors=True)
        raise
    _place_rasters(rasters, name)
    return PushReport(
        name=name,
        layers=tuple(n for n, _ in layers),
        register_rows=len(register),
        audit_rows=len(audit),
        rasters=tuple(sorted(p.stem for p in (raster_root() / name).glob("*.tif"))),
        files=tuple(files),
    )


def _store_files(conn, schema: str, files: Mapping[str, bytes]) -> None:
    query = sql.SQL("INSERT INTO {} (name, content) VALUES (%s, %s)").format(
        sql.Identifier(schema, "landplan_files")
    )
    with conn.cursor() as cur:
        cur.executemany(query, list(files.items()))


def _write_gpkg_layer(gpkg: Path, name: str, layer: Layer) -> None:
    """Write an Arrow layer (fids kept) into a GeoPackage."""
    if layer.geometry_type is None:
        pyogrio.write_arrow(layer.table, gpkg, layer=name, driver="GPKG")
        return
    pyogrio.write_arrow(
        layer.table,
        gpkg,
        layer=name,
        driver="GPKG",
        geometry_name="geom",
        geometry_type=layer.geometry_type,
        crs=f"EPSG:{layer.srid}" if layer.srid else None,
    )


def _write_gpkg_register(gpkg: Path, register: list[dict], audit: list[dict]) -> None:
    """The register tables as :class:`landplan.store.register.Register` creates them, rows and ids kept."""
    from landplan.store.register import _connect, ensure_schema

    conn = _connect(gpkg)
    try:
        ensure_schema(conn)
        conn.execute("BEGIN IMMEDIATE")
        for table, rows in (("register", register), ("register_audit", audit)):
            if rows:
                cols = list(rows[0])
                marks = ", ".join("?" for _ in cols)
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                    [[r[c] for c in cols] for r in rows],
                )
        conn.execute("COMMIT")
    finally:
        conn.close()


def pull(dsn: str, workspace_dir: str | Path, /) -> Path:
    """Write the PostGIS workspace of ``dsn`` as a GeoPackage workspace directory (atomically).

    Everything is read in one REPEATABLE READ transaction (one consistent snapshot), under the
    workspace's shared lock: pushes and layer replacements wait, and the snapshot is taken
    after the ones before have committed (a snapshot older than a table swap would read the
    new table as empty).
    """
    store = PgStore.from_dsn(dsn)
    target = Path(workspace_dir)
    with staged_directory(target) as stage:
        gpkg = stage / "workspace.gpkg"
        with connect(store.conninfo) as conn, shared_workspace_lock(conn, store.name):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            marker = get_meta(conn, store.name, "workspace") or "{}"
            policy = get_meta(conn, store.name, "policy_toml")
            layers = {
                n: store._read(conn, n)
                for n, _, _ in conn.execute(store._catalog_query()).fetchall()
            }
            register = register_rows(conn, store.name)
            audit = audit_rows(conn, store.name)
            files = conn.execute(
                sql.SQL("SELECT name, content FROM {}").format(store._table("landplan_files"))
            ).fetchall()
        for name, layer in layers.items():
            _write_gpkg_layer(gpkg, name, layer)
        if register or audit:
            _write_gpkg_register(gpkg, register, audit)
        for name in ("result_parcels", "park_summary"):
            if name in layers:
                layer = layers[name]
                out = Layer(layer.table.drop_columns(["fid"]), layer.geometry_type, layer.srid)
                _write_gpkg_layer(
                    stage / "results.gpkg", "parcels" if name == "result_parcels" else name, out
                )
        for name, content in files:
            (stage / name).write_bytes(bytes(content))
        if policy is not None:
            (stage / "policy.toml").write_text(policy, encoding="utf-8")
        _pull_rasters(store.name, stage)
        (stage / MARKER).write_text(marker, encoding="utf-8")
    return target


def _pull_rasters(name: str, stage: Path) -> None:
    source = raster_root() / name
    tifs = sorted(source.glob("*.tif")) if source.is_dir() else []
    if tifs:
        (stage / "rasters").mkdir()
        for tif in tifs:
            shutil.copy2(tif, stage / "rasters" / tif.name)


def drop_workspace(dsn: str, /) -> bool:
    """Remove a workspace (schema and rasters); False when there was none."""
    conninfo, name = split_dsn(dsn)
    with connect(conninfo) as conn, conn.transaction():
        lock_workspace(conn, name)
        if not schema_exists(conn, name):
            return False
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    shutil.rmtree(raster_root() / name, ignore_errors=True)
    return True

"""PostGIS transport for whole layers: frames ↔ Arrow ↔ ``COPY`` (in and out), with types kept.

Attribute types travel through Arrow (``int64`` / ``int32`` / ``bool`` / ``float64`` / ``float32`` /
``string`` / ``date32``, NULLs); geometries as EWKB.  Used by the store (:mod:`landplan.store.pgstore`)
and by push/pull (:mod:`landplan.store.pgtransfer`).
"""

from __future__ import annotations

import io
import struct
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from geopandas import GeoDataFrame

from landplan.core.errors import CRSError, WorkspaceError
from landplan.store.pgschema import (
    check_column_name,
    check_layer_name,
    sql,
)

#: layers of ``workspace.gpkg`` that are not copied as layers (the register has its own tables)
#: files of the workspace directory rebuilt on pull rather than stored
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
API_TYPES = {
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


def pg_columns(conn, schema: str, table: str) -> list[Column]:
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


def copy_out(conn, schema: str, name: str, geometry: bool) -> pa.Table:
    """The layer as Arrow (``fid``, attributes in their types, ``geom`` as ISO WKB), fid order.

    NOT NULL columns come back as non-nullable Arrow fields.
    """
    columns = pg_columns(conn, schema, name)
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


def load_layer(conn, schema: str, name: str, layer: Layer, position: int | None = None) -> None:
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


def frame_layer(frame: GeoDataFrame | pd.DataFrame, srid: int | None) -> Layer:
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


def table_frame(table: pa.Table, srid: int | None, geometry: bool) -> GeoDataFrame | pd.DataFrame:
    """Arrow → the frame ``pyogrio.read_dataframe`` would give (no fid; dates as datetime64)."""
    attrs = table.drop_columns([c for c in ("fid", "geom") if c in table.column_names])
    frame = attrs.to_pandas(date_as_object=False)
    if not geometry:
        return frame
    geoms = shapely.from_wkb(np.asarray(table.column("geom").to_pylist(), dtype=object))
    return GeoDataFrame(frame, geometry=geoms, crs=f"EPSG:{srid}" if srid else None)

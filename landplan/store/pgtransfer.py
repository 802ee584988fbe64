"""Push a GeoPackage workspace directory into PostGIS and pull one back, losslessly.

The round trip keeps attribute values and types, geometries (WKB), fids, the register with its
audit trail, scenarios, the marker, ``policy.toml``, the other files of the directory and the
rasters (GeoTIFF files under the raster root).
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyogrio

from landplan.core.errors import WorkspaceError
from landplan.core.types import GPKG_DATASET_OPTIONS
from landplan.store.pgcopy import Layer, load_layer
from landplan.store.pgregister import audit_rows, insert_rows, register_rows
from landplan.store.pgschema import (
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
    table_exists,
)
from landplan.store.pgstore import PgStore, raster_root, workspace_srid
from landplan.store.workspace import MARKER, GpkgWorkspace, staged_directory

REGISTER_TABLES = ("register", "register_audit", "register_meta")
REBUILT_FILES = ("workspace.gpkg", "results.gpkg", MARKER, "policy.toml")

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
    from landplan.store.register_schema import COLUMNS

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
        if name in REGISTER_TABLES or name == "layer_styles":  # QGIS styles stay in the file
            continue
        meta, table = pyogrio.read_arrow(gpkg, layer=name, return_fids=True)
        geometry_type = meta.get("geometry_type")
        srid = None
        if geometry_type:
            geom_name = meta.get("geometry_name") or "wkb_geometry"
            i = table.column_names.index(geom_name)
            # a plain binary column: the geoarrow extension metadata is not stored
            table = table.set_column(i, pa.field("geom", pa.binary()), table.column(i))
            srid = workspace_srid(meta) or 0
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
    workspace_dir: str | Path,
    dsn: str,
    /,
    *,
    name: str | None = None,
    replace: bool = False,
    carry: bool = False,
) -> PushReport:
    """Copy a GeoPackage workspace directory into PostGIS, in one transaction.

    The workspace is called ``name``, else the DSN's ``?workspace=``, else the directory name.
    An existing workspace of that name is refused unless ``replace``; a replacement is built in
    a staging schema and swapped in (DROP + RENAME) in the same transaction, so readers see the
    old or the new workspace.  Rasters are copied to the raster root and swapped in after commit.
    With ``carry`` (a re-analysis written into PostGIS) the register, its audit trail and the saved
    scenarios of the workspace being replaced are kept when the pushed directory has none.
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
                load_layer(conn, stage_schema, layer_name, layer, position)
            insert_rows(conn, stage_schema, register, audit)
            _store_files(conn, stage_schema, files)
            if exists and carry:
                _carry_tables(
                    conn, name, stage_schema, keep_scenarios="scenarios" not in dict(layers)
                )
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


def _carry_tables(conn, old: str, new: str, /, *, keep_scenarios: bool) -> None:
    """Copy the register tables (and the scenarios layer) of schema ``old`` into ``new``."""
    for table in REGISTER_TABLES:
        if not (table_exists(conn, old, table) and table_exists(conn, new, table)):
            continue
        target = sql.Identifier(new, table)
        if conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()[0]:
            continue  # the pushed directory brought its own register
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, sql.Identifier(old, table))
        )
    if keep_scenarios and table_exists(conn, old, "scenarios"):
        for statement in (  # a plain copy: no default may point into the schema being dropped
            "CREATE TABLE {new}.scenarios AS SELECT * FROM {old}.scenarios",
            "INSERT INTO {new}.landplan_layers SELECT * FROM {old}.landplan_layers "
            "WHERE name = 'scenarios'",
        ):
            conn.execute(
                sql.SQL(statement).format(new=sql.Identifier(new), old=sql.Identifier(old))
            )


def _store_files(conn, schema: str, files: Mapping[str, bytes]) -> None:
    query = sql.SQL("INSERT INTO {} (name, content) VALUES (%s, %s)").format(
        sql.Identifier(schema, "landplan_files")
    )
    with conn.cursor() as cur:
        cur.executemany(query, list(files.items()))


def _write_gpkg_layer(gpkg: Path, name: str, layer: Layer) -> None:
    """Write an Arrow layer (fids kept) into a GeoPackage (version 1.3: GDAL 3.6 opens it)."""
    opts = GPKG_DATASET_OPTIONS
    if layer.geometry_type is None:
        pyogrio.write_arrow(layer.table, gpkg, layer=name, driver="GPKG", dataset_options=opts)
        return
    pyogrio.write_arrow(
        layer.table,
        gpkg,
        layer=name,
        driver="GPKG",
        geometry_name="geom",
        geometry_type=layer.geometry_type,
        crs=f"EPSG:{layer.srid}" if layer.srid else None,
        dataset_options=opts,
    )


def _write_gpkg_register(gpkg: Path, register: list[dict], audit: list[dict]) -> None:
    """The register tables as :class:`landplan.store.register.Register` creates them, rows and ids kept."""
    from landplan.store.register_sqlite import _connect, ensure_schema

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
        _write_styles(gpkg, layers)
        if register or audit:
            _write_gpkg_register(gpkg, register, audit)
        for name in ("result_parcels", "park_summary"):
            if name in layers:
                layer = layers[name]
                out = Layer(layer.table.drop_columns(["fid"]), layer.geometry_type, layer.srid)
                _write_gpkg_layer(
                    stage / "results.gpkg", "parcels" if name == "result_parcels" else name, out
                )
        if "result_parcels" in layers:
            _write_styles(stage / "results.gpkg", {"parcels": layers["result_parcels"]})
        for name, content in files:
            (stage / name).write_bytes(bytes(content))
        if policy is not None:
            (stage / "policy.toml").write_text(policy, encoding="utf-8")
        _pull_rasters(store.name, stage)
        (stage / MARKER).write_text(marker, encoding="utf-8")
    return target


def _write_styles(gpkg: Path, layers: Mapping[str, Layer]) -> None:
    """QGIS default styles derive from the layers' columns: written again, not kept in PostGIS."""
    from datetime import UTC, datetime

    from landplan.export.qgis import styles_for_layers, write_layer_styles

    frames = {
        name: pd.DataFrame(columns=layer.table.column_names)
        for name, layer in layers.items()
        if layer.geometry_type is not None
    }
    write_layer_styles(gpkg, styles_for_layers(frames), written_at=datetime.now(UTC))


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

"""Scenario storage in a GeoPackage workspace: the ``scenarios`` feature table.

The layer is an ordinary GeoPackage feature table (QGIS and
``pyogrio.read_dataframe(..., layer="scenarios")`` open it) with the columns ``name`` (unique),
``created_at`` (UTC ISO-8601), the key figures (``gross_mu``, ``net_available_mu``, ...) and
``evaluation`` (the whole evaluation as JSON).

Writes go through :mod:`sqlite3`, never through a whole-layer rewrite: one ``BEGIN IMMEDIATE``
transaction creates the table and its ``gpkg_contents`` / ``gpkg_geometry_columns`` rows if
needed, deletes the row of the same name and inserts the new one.  Any failure rolls the
transaction back, so the previous scenarios and every other layer are untouched; other writers
(the lifecycle register) wait on the same SQLite lock.  Geometries are stored as GeoPackage
binary (``GP`` header, little-endian, XY envelope, ISO WKB) in the workspace's SRS.

``landplan analyze`` replaces the whole workspace; it carries the scenarios over
(:func:`carry_scenarios`), so a re-analysis keeps them.
"""

from __future__ import annotations

import sqlite3
import struct
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from geopandas import GeoDataFrame

from landplan.core.errors import WorkspaceError

LAYER = "scenarios"
BUSY_TIMEOUT_S = 30.0
#: REAL key-figure columns of the scenarios table (besides name, created_at, evaluation)
FIGURES = (
    "gross_mu",
    "gross_ellipsoidal_mu",
    "excluded_mu",
    "net_available_mu",
    "urban_boundary_share",
    "park_overlap_mu",
    "parcels_inside",
    "parcels_inside_mu",
    "transferable_parcels",
    "blocked_parcels",
    "mean_cost_weighted_suitability",
    "dev_cost_wan",
    "leading_industries",
    "block_reasons",
    "warn_reasons",
)
TEXT_FIGURES = ("reason_codes",)


def gpkg_geometry(geom: shapely.Geometry, srs_id: int, /) -> bytes:
    """GeoPackage binary: ``GP``, version 0, flags (little-endian, XY envelope), srs_id, envelope, WKB."""
    minx, miny, maxx, maxy = geom.bounds
    header = b"GP" + bytes([0, 0b00000011]) + struct.pack("<i", srs_id)
    envelope = struct.pack("<4d", minx, maxx, miny, maxy)
    return header + envelope + shapely.to_wkb(geom, byte_order=1, flavor="iso")


def _srs_id(conn: sqlite3.Connection, crs) -> int:
    epsg = crs.to_epsg()
    if epsg is not None:
        row = conn.execute(
            "SELECT srs_id FROM gpkg_spatial_ref_sys WHERE lower(organization) = 'epsg' "
            "AND organization_coordsys_id = ?",
            (epsg,),
        ).fetchone()
        if row:
            return int(row[0])
    row = conn.execute(
        "SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = 'result_parcels'"
    ).fetchone()
    if row:
        return int(row[0])
    raise WorkspaceError(f"the workspace GeoPackage has no spatial reference for {crs}")


def _create_table(conn: sqlite3.Connection, srs_id: int) -> None:
    cols = (
        ", ".join(f'"{c}" REAL' for c in FIGURES)
        + ", "
        + ", ".join(f'"{c}" TEXT' for c in TEXT_FIGURES)
    )
    conn.execute(
        f'CREATE TABLE "{LAYER}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom MULTIPOLYGON, '
        f"name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, {cols}, evaluation TEXT NOT NULL)"
    )
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
        "srs_id) VALUES (?, 'features', ?, 'landplan boundary scenarios', ?, ?)",
        (LAYER, LAYER, _now_ms(), srs_id),
    )
    conn.execute(
        "INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, "
        "z, m) VALUES (?, 'geom', 'MULTIPOLYGON', ?, 0, 0)",
        (LAYER, srs_id),
    )


def _now_ms() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def _as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    if geom.geom_type == "MultiPolygon":
        return geom
    return shapely.MultiPolygon([geom])


def write_scenario(
    gpkg: Path, name: str, geom: shapely.Geometry, crs, figures: dict, payload: str, /
) -> None:
    """Insert (or replace) scenario ``name`` in ``gpkg`` in one transaction."""
    values = [_real(figures.get(c)) for c in FIGURES] + [
        str(figures.get(c) or "") for c in TEXT_FIGURES
    ]
    with closing(sqlite3.connect(gpkg, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            srs_id = _srs_id(conn, crs)
            if not _has_table(conn, LAYER):
                _create_table(conn, srs_id)
            conn.execute(f'DELETE FROM "{LAYER}" WHERE name = ?', (name,))
            blob = gpkg_geometry(_as_multipolygon(geom), srs_id)
            cols = ", ".join(f'"{c}"' for c in (*FIGURES, *TEXT_FIGURES))
            marks = ", ".join("?" for _ in (*FIGURES, *TEXT_FIGURES))
            conn.execute(
                f'INSERT INTO "{LAYER}" (geom, name, created_at, {cols}, evaluation) '
                f"VALUES (?, ?, ?, {marks}, ?)",
                (blob, name, datetime.now(UTC).isoformat(timespec="seconds"), *values, payload),
            )
            _update_extent(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _real(v) -> float | None:
    if v is None or isinstance(v, str):
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _update_extent(conn: sqlite3.Connection) -> None:
    bounds = [None] * 4
    for (blob,) in conn.execute(f'SELECT geom FROM "{LAYER}"'):
        minx, maxx, miny, maxy = struct.unpack("<4d", blob[8:40])
        b = (minx, miny, maxx, maxy)
        bounds = [
            b[i] if bounds[i] is None else (min if i < 2 else max)(bounds[i], b[i])
            for i in range(4)
        ]
    conn.execute(
        "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, last_change = ? "
        "WHERE table_name = ?",
        (*bounds, _now_ms(), LAYER),
    )


def read_scenarios(gpkg: Path, /) -> GeoDataFrame:
    """Every stored scenario (an empty frame when none was saved)."""
    if LAYER not in pyogrio.list_layers(gpkg)[:, 0]:
        return GeoDataFrame({"name": [], "created_at": [], "evaluation": []}, geometry=[])
    return pyogrio.read_dataframe(gpkg, layer=LAYER)


def carry_scenarios(old_gpkg: str | Path, new_gpkg: str | Path, crs, /) -> int:
    """Copy the ``scenarios`` layer of ``old_gpkg`` into ``new_gpkg`` (a re-analysis keeps them).

    Call it under the workspace lock held by ``GpkgWorkspace.write_result``; returns the rows copied.
    """
    old, new = Path(old_gpkg), Path(new_gpkg)
    if not old.exists():
        return 0
    with closing(sqlite3.connect(new, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as conn:
        conn.execute("ATTACH DATABASE ? AS old", (str(old),))
        found = "SELECT 1 FROM old.sqlite_master WHERE type = 'table' AND name = ?"
        if conn.execute(found, (LAYER,)).fetchone() is None:
            return 0
        conn.execute("BEGIN")
        try:
            _create_table(conn, _srs_id(conn, crs))
            n = conn.execute(f'INSERT INTO main."{LAYER}" SELECT * FROM old."{LAYER}"').rowcount
            _update_extent(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return n

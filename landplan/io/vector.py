"""Reading users' files: the only module that opens vector and raster inputs.

Every read returns the layer *and* a :class:`LayerReport` listing what was wrong
with it and what was repaired.  Nothing is repaired silently, and nothing that
cannot be repaired safely is repaired at all: those cases raise a
:class:`~landplan.core.errors.LandplanError` whose message names the fix.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from geopandas import GeoDataFrame
from pyproj import CRS

from landplan.core import crs as crsmod
from landplan.core.errors import (
    CRSError,
    DataSourceError,
    DuplicateIdError,
    EmptyLayerError,
    EncodingError,
    GeometryError,
    ManifestError,
)
from landplan.core.types import LayerRole

#: polygons smaller than this after repair count as degenerate (m²)
DEGENERATE_AREA_M2 = 1.0e-4
POLYGONAL = ("Polygon", "MultiPolygon")
MAX_IDS_IN_MESSAGE = 10


@dataclass
class Issue:
    """One finding about a layer: an error that stopped the read, a repair, or a warning."""

    code: str
    severity: str  # "error" | "repaired" | "warning"
    message: str
    count: int = 0
    feature_ids: list[str] = field(default_factory=list)


@dataclass
class LayerReport:
    """What validation found in one input layer."""

    name: str
    role: str
    path: str
    layer: str | None = None
    n_features: int = 0
    source_crs: str | None = None
    encoding: str | None = None
    issues: list[Issue] = field(default_factory=list)

    def add(
        self, code: str, severity: str, message: str, *, count: int = 0, ids: Sequence = ()
    ) -> None:
        self.issues.append(
            Issue(code, severity, message, int(count), [str(i) for i in list(ids)[:20]])
        )

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- files


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataSourceError(f"file not found: {path}")


def list_layers(path: str | Path, /) -> list[str]:
    """Names of the layers in a vector file (GeoPackage, FileGDB, Shapefile, ...)."""
    path = Path(path)
    _check_exists(path)
    try:
        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:
        raise DataSourceError(
            f"cannot open {path.name}: it is not a readable vector file ({type(exc).__name__})"
        ) from exc


def _dbf_bytes(path: Path, layer: str | None) -> tuple[bytes | None, bool]:
    """Return (raw .dbf bytes, has .cpg) for a Shapefile or zipped Shapefile, else (None, True)."""
    suffix = path.suffix.lower()
    if suffix == ".shp":
        dbf = path.with_suffix(".dbf")
        if not dbf.exists():
            dbf = path.with_suffix(".DBF")
        cpg = path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists()
        return (dbf.read_bytes() if dbf.exists() else None), cpg
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                dbfs = [n for n in names if n.lower().endswith(".dbf")]
                if layer is not None:
                    dbfs = [n for n in dbfs if Path(n).stem == layer] or dbfs
                if not dbfs:
                    return None, True
                stem = dbfs[0][:-4]
                cpg = any(n.lower() == (stem + ".cpg").lower() for n in names)
                return zf.read(dbfs[0]), cpg
        except zipfile.BadZipFile as exc:
            raise DataSourceError(
                f"{path.name} is not a valid zip archive; re-create the archive"
            ) from exc
    return None, True


def _dbf_text_bytes(dbf: bytes) -> bytes:
    """The record area of a DBF file (header skipped), where attribute text lives."""
    if len(dbf) < 32:
        raise DataSourceError("the .dbf file is truncated (shorter than its 32-byte header)")
    header_len = int.from_bytes(dbf[8:10], "little")
    return dbf[header_len:]


def detect_dbf_encoding(dbf: bytes, /) -> str:
    """Guess the encoding of a DBF's attribute text: ``"ASCII"``, ``"UTF-8"`` or ``"GB18030"``.

    GB18030 is a superset of GBK and GB2312, so a GBK file decodes with it.

    Examples
    --------
    >>> head = bytes(8) + (32).to_bytes(2, "little") + bytes(22)
    >>> detect_dbf_encoding(head + "金山".encode("gbk"))
    'GB18030'
    >>> detect_dbf_encoding(head + "金山".encode("utf-8"))
    'UTF-8'
    """
    body = _dbf_text_bytes(dbf)
    if body.isascii():
        return "ASCII"
    try:
        body.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        body.decode("gb18030")
        return "GB18030"
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"attribute text is neither UTF-8 nor GBK/GB18030 (bad byte at offset {exc.start}); "
            'state the encoding of this layer with encoding = "..." in the manifest'
        ) from exc


def _check_stated_encoding(dbf: bytes, encoding: str, name: str) -> None:
    body = _dbf_text_bytes(dbf)
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        try:
            guess = detect_dbf_encoding(dbf)
        except EncodingError:
            guess = None
        hint = (
            f'; it decodes as {guess}: set encoding = "{guess}" or remove the setting'
            if guess
            else ""
        )
        raise EncodingError(
            f"layer {name!r}: attribute text is not valid {encoding}{hint}"
        ) from exc


def _resolve_encoding(
    path: Path, layer: str | None, encoding: str | None, report: LayerReport
) -> str | None:
    dbf, has_cpg = _dbf_bytes(path, layer)
    if dbf is None:
        return encoding
    if encoding is not None:
        _check_stated_encoding(dbf, encoding, report.name)
        return encoding
    if has_cpg:
        return None  # GDAL reads the .cpg itself
    detected = detect_dbf_encoding(dbf)
    if detected == "GB18030":
        report.add(
            "ENCODING_DETECTED",
            "warning",
            "no .cpg file: attribute text detected as GBK/GB18030; add a .cpg containing GBK to make it explicit",
        )
    return None if detected == "ASCII" else detected


def read_vector(
    path: str | Path,
    /,
    *,
    role: LayerRole,
    workspace_crs: CRS | None,
    name: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    id_field: str | None = None,
    duplicate_ids: str = "error",
) -> tuple[GeoDataFrame, LayerReport]:
    """Read one vector layer, check it, repair what is safe, reproject it.

    Parameters
    ----------
    path
        GeoPackage, Shapefile (also zipped), GeoJSON, FileGDB directory, or any OGR format.
    role
        ``"parcels"``, ``"constraint"`` or ``"network"``; decides which geometry
        types are allowed and what happens to empty geometries.
    workspace_crs
        Projected CRS to reproject into; ``None`` keeps the source CRS (used to
        pick the workspace CRS first).
    crs
        The CRS the user states for the layer; it overrides a missing or wrong ``.prj``.
    id_field
        For parcels: the field holding the parcel id (must be unique and not null).
    duplicate_ids
        ``"error"`` (default) refuses duplicate ids; ``"suffix"`` keeps every
        feature and appends ``-2``, ``-3``, ... to the repeats, reported as a repair.
    """
    path = Path(path)
    name = name or (layer or path.stem)
    _check_exists(path)
    report = LayerReport(name=name, role=role, path=str(path), layer=layer)
    layers = list_layers(path)
    if layer is None and len(layers) > 1:
        raise ManifestError(
            f'{path.name} holds {len(layers)} layers {layers}; name one with layer = "..."'
        )
    if layer is not None and layer not in layers:
        raise ManifestError(f"{path.name} has no layer {layer!r}; its layers are {layers}")
    enc = _resolve_encoding(path, layer, encoding, report)
    report.encoding = enc or "declared by file"
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, encoding=enc)
    except Exception as exc:
        raise DataSourceError(
            f"cannot read layer {name!r} from {path.name}: the file is damaged or not a vector format "
            f"({type(exc).__name__})"
        ) from exc
    if not isinstance(gdf, GeoDataFrame) or gdf.geometry is None:
        raise GeometryError(f"layer {name!r} in {path.name} has no geometry column")
    report.n_features = len(gdf)
    if len(gdf) == 0:
        raise EmptyLayerError(
            f"layer {name!r} ({path.name}) has no features; fix the export, or remove it from the manifest"
        )
    gdf = _apply_crs(gdf, crs, report)
    if workspace_crs is not None:
        gdf = gdf.to_crs(workspace_crs)
    if role == "parcels":
        gdf = _check_ids(gdf, id_field, duplicate_ids, report)
    gdf = _check_geometries(gdf, role, report, id_field)
    return gdf, report


# --------------------------------------------------------------------------- CRS


def _apply_crs(gdf: GeoDataFrame, stated: str | None, report: LayerReport) -> GeoDataFrame:
    file_crs = gdf.crs
    report.source_crs = file_crs.to_string() if file_crs is not None else None
    if stated is not None:
        stated_crs = crsmod.parse_crs(stated)
        if file_crs is not None and not stated_crs.equals(file_crs, ignore_axis_order=True):
            report.add(
                "CRS_OVERRIDDEN",
                "repaired",
                f"the file declares {file_crs.to_string()}; the manifest's {stated_crs.to_string()} is used instead",
            )
        gdf = gdf.set_crs(stated_crs, allow_override=True)
    elif file_crs is None:
        raise CRSError(
            f"layer {report.name!r} ({Path(report.path).name}) has no CRS (no .prj or SRS); "
            'state it in the manifest, e.g. crs = "EPSG:4542" (CGCS2000 GK CM 99°E) or "EPSG:4490" '
            "(CGCS2000 longitude/latitude)"
        )
    return _check_coordinates(gdf, report)


def _check_coordinates(gdf: GeoDataFrame, report: LayerReport) -> GeoDataFrame:
    geoms = gdf.geometry.values
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return gdf
    bounds = tuple(float(v) for v in shapely.total_bounds(geoms[present]))
    layer_crs: CRS = gdf.crs
    if layer_crs.is_geographic:
        if not crsmod.looks_like_degrees(bounds):
            raise CRSError(
                f"layer {report.name!r} declares {layer_crs.to_string()} (degrees) but its coordinates reach "
                f"{bounds[2]:.0f}, {bounds[3]:.0f}: they are metres of a projected CRS; state it, e.g. "
                'crs = "EPSG:4542"'
            )
    else:
        if crsmod.looks_like_degrees(bounds):
            raise CRSError(
                f"layer {report.name!r} declares {layer_crs.to_string()} (metres) but its coordinates look like "
                'degrees of longitude/latitude; if they are, state crs = "EPSG:4490"'
            )
        gdf = _check_zone_prefix(gdf, bounds, report)
    if crsmod.outside_area_of_use(tuple(float(v) for v in gdf.total_bounds), gdf.crs):
        report.add(
            "OUTSIDE_CRS_AREA",
            "warning",
            f"the layer lies outside the area of use of {gdf.crs.to_string()}; check that the CRS is right",
        )
    return gdf


def _check_zone_prefix(
    gdf: GeoDataFrame, bounds: tuple[float, float, float, float], report: LayerReport
) -> GeoDataFrame:
    """Repair the common mix-up of zone-prefixed and CM-form CGCS2000 GK CRSs, when it is unambiguous."""
    gk = crsmod.gk3_zone_of_crs(gdf.crs)
    prefix_min = crsmod.prefixed_zone_of_easting(bounds[0])
    prefix_max = crsmod.prefixed_zone_of_easting(bounds[2])
    if gk is None:
        if prefix_min is not None:
            report.add(
                "ZONE_PREFIXED_EASTING",
                "warning",
                f"eastings look zone-prefixed (zone {prefix_min}) but the CRS is {gdf.crs.to_string()}",
            )
        return gdf
    zone, prefixed = gk
    if not prefixed and prefix_min is not None:
        if prefix_min == prefix_max == zone:
            fixed = CRS.from_epsg(4513 + zone - crsmod.GK3_MIN_ZONE)
            report.add(
                "ZONE_PREFIXED_EASTING",
                "repaired",
                f"eastings carry the zone prefix {zone} (8 digits) but the CRS is the CM form "
                f"{gdf.crs.to_string()}; read as EPSG:{fixed.to_epsg()} (same zone, prefixed)",
            )
            return gdf.set_crs(fixed, allow_override=True)
        raise CRSError(
            f"layer {report.name!r}: eastings carry zone prefix {prefix_min} but the CRS is zone {zone} "
            f"({gdf.crs.to_string()}); state the right CRS in the manifest"
        )
    if prefixed and prefix_min is None and 1.0e5 <= bounds[0] and bounds[2] < 1.0e6:
        fixed = CRS.from_epsg(4534 + zone - crsmod.GK3_MIN_ZONE)
        report.add(
            "ZONE_PREFIX_MISSING",
            "repaired",
            f"the CRS {gdf.crs.to_string()} expects zone-prefixed eastings but they have 6 digits; "
            f"read as EPSG:{fixed.to_epsg()} (same zone, no prefix)",
        )
        return gdf.set_crs(fixed, allow_override=True)
    return gdf


# --------------------------------------------------------------------------- ids


def _check_ids(
    gdf: GeoDataFrame, id_field: str | None, duplicate_ids: str, report: LayerReport
) -> GeoDataFrame:
    if id_field is None:
        raise ManifestError('[parcels] needs id_field = "..." naming the parcel-id field')
    if id_field not in gdf.columns:
        fields = [c for c in gdf.columns if c != gdf.geometry.name]
        raise ManifestError(f"parcels have no field {id_field!r}; their fields are {fields}")
    ids = gdf[id_field]
    null = ids.isna() | (ids.astype(str).str.strip() == "")
    if null.any():
        rows = list(np.flatnonzero(null.to_numpy())[:MAX_IDS_IN_MESSAGE])
        raise DuplicateIdError(
            f"{int(null.sum())} parcels have no {id_field} (rows {rows}); every parcel needs an id"
        )
    ids = ids.astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        counts = ids[dup].value_counts()
        shown = ", ".join(f"{k} ×{v}" for k, v in counts.head(MAX_IDS_IN_MESSAGE).items())
        if duplicate_ids != "suffix":
            raise DuplicateIdError(
                f"{len(counts)} parcel ids occur more than once ({shown}); fix the cadastre, or set "
                'duplicate_ids = "suffix" under [parcels] to keep every feature with suffixed ids'
            )
        rank = ids.groupby(ids).cumcount() + 1
        ids = ids.where(rank == 1, ids + "-" + rank.astype(str))
        report.add(
            "DUPLICATE_ID",
            "repaired",
            f"{len(counts)} ids occur more than once ({shown}); repeats were suffixed -2, -3, ...",
            count=int(dup.sum()),
            ids=counts.index,
        )
    gdf = gdf.copy()
    gdf[id_field] = ids.to_numpy()
    return gdf


# --------------------------------------------------------------------------- geometry


def _ids_of(gdf: GeoDataFrame, mask: np.ndarray, id_field: str | None) -> list[str]:
    if id_field is not None and id_field in gdf.columns:
        return [str(v) for v in gdf.loc[mask, id_field].head(20)]
    return [str(i) for i in np.flatnonzero(mask)[:20]]


def _polygonal_part(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of (collections of) geometries; empty polygon where none."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    sub, sub_index = shapely.get_parts(parts, return_index=True)  # flattens nested multipolygons
    index = index[sub_index]
    keep = shapely.get_type_id(sub) == 3
    out = np.empty(len(geoms), dtype=object)
    out[:] = None
    shapely.multipolygons(sub[keep], indices=index[keep], out=out)
    out[shapely.is_missing(out)] = shapely.Polygon()
    single = shapely.get_num_geometries(out) == 1
    out[single] = shapely.get_geometry(out[single], 0)
    return out


def _check_geometries(
    gdf: GeoDataFrame, role: str, report: LayerReport, id_field: str | None
) -> GeoDataFrame:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
        report.add("Z_DROPPED", "repaired", "Z coordinates were dropped; analysis is 2-D")
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    present = ~missing
    if role in ("parcels", "constraint"):
        geoms, missing = _check_polygonal(gdf, geoms, types, missing, report, id_field)
    else:
        kinds = set(shapely.get_type_id(geoms[present]).tolist())
        if len(kinds - {1, 5}) and len(kinds) > 1:
            report.add(
                "MIXED_GEOMETRY_TYPES",
                "warning",
                "the network layer mixes lines with points or polygons",
            )
        invalid = present & ~shapely.is_valid(geoms)
        if invalid.any():
            geoms[invalid] = shapely.make_valid(geoms[invalid])
            report.add(
                "INVALID_GEOMETRY",
                "repaired",
                f"{int(invalid.sum())} invalid geometries made valid",
                count=int(invalid.sum()),
                ids=_ids_of(gdf, invalid, id_field),
            )
    gdf = gdf.set_geometry(geoms, crs=gdf.crs)
    if missing.any():
        ids = _ids_of(gdf, missing, id_field)
        if role == "parcels":
            report.add(
                "EMPTY_GEOMETRY",
                "warning",
                f"{int(missing.sum())} parcels have no usable geometry; they are kept and reported as not "
                "transferable (GEOMETRY_EMPTY)",
                count=int(missing.sum()),
                ids=ids,
            )
        else:
            gdf = gdf.loc[~missing]
            report.add(
                "EMPTY_GEOMETRY",
                "repaired",
                f"{int(missing.sum())} features without geometry were dropped",
                count=int(missing.sum()),
                ids=ids,
            )
            if len(gdf) == 0:
                raise EmptyLayerError(f"layer {report.name!r} has no usable geometry left")
    return gdf.reset_index(drop=True)


def _check_polygonal(gdf, geoms, types, missing, report, id_field):
    present = ~missing
    non_poly = present & ~np.isin(types, (3, 6, 7))
    if non_poly.any():
        found = sorted(set(shapely.get_type_id(geoms[non_poly]).tolist()))
        names = [shapely.GeometryType(t).name for t in found]
        raise GeometryError(
            f"layer {report.name!r} must hold polygons but {int(non_poly.sum())} features are {names} "
            f"(e.g. {_ids_of(gdf, non_poly, id_field)[:5]}); convert them to polygons or remove them"
        )
    invalid = present & ~shapely.is_valid(geoms)
    collections = present & (types == 7)
    fix = invalid | collections
    if fix.any():
        before = shapely.area(geoms[fix])
        repaired = _polygonal_part(
            shapely.make_valid(geoms[fix], method="structure", keep_collapsed=False)
        )
        after = shapely.area(repaired)
        geoms = geoms.copy()
        geoms[fix] = repaired
        change = float(np.abs(after - before).sum())
        report.add(
            "INVALID_GEOMETRY",
            "repaired",
            f"{int(fix.sum())} invalid or mixed geometries were made valid (polygonal parts kept); "
            f"total area changed by {change:.2f} m²",
            count=int(fix.sum()),
            ids=_ids_of(gdf, fix, id_field),
        )
    degenerate = (
        present & ~missing & (shapely.is_empty(geoms) | (shapely.area(geoms) < DEGENERATE_AREA_M2))
    )
    if degenerate.any():
        report.add(
            "DEGENERATE_GEOMETRY",
            "warning",
            f"{int(degenerate.sum())} polygons have (almost) no area",
            count=int(degenerate.sum()),
            ids=_ids_of(gdf, degenerate, id_field),
        )
        missing = missing | degenerate
    return geoms, missing


def reports_frame(reports: Sequence[LayerReport], /) -> pd.DataFrame:
    """Flatten layer reports into one table (one row per issue)."""
    rows = [
        {
            "layer": r.name,
            "role": r.role,
            "code": i.code,
            "severity": i.severity,
            "count": i.count,
            "message": i.message,
        }
        for r in reports
        for i in r.issues
    ]
    return pd.DataFrame(rows, columns=["layer", "role", "code", "severity", "count", "message"])

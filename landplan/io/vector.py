"""Reading users' files: the only module that opens vector and raster inputs.

Every read returns the layer *and* a :class:`LayerReport` listing what was wrong
with it and what was repaired.  Nothing is repaired silently, and nothing that
cannot be repaired safely is repaired at all: those cases raise a
:class:`~landplan.core.errors.LandplanError` whose message names the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
    GeometryError,
    ManifestError,
)
from landplan.core.types import LayerRole
from landplan.io.manifest import FrameSource
from landplan.io.report import Issue, LayerReport, reports_frame  # noqa: F401  (public here too)
from landplan.io.shapefile import check_parts, detect_dbf_encoding, resolve_encoding

__all__ = ["Issue", "LayerReport", "detect_dbf_encoding", "list_layers", "read_vector"]

#: polygons smaller than this after repair count as degenerate (m²)
DEGENERATE_AREA_M2 = 1.0e-4
POLYGONAL = ("Polygon", "MultiPolygon")
MAX_IDS_IN_MESSAGE = 10


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
    if isinstance(path, FrameSource):
        return _read_frame(
            path,
            role=role,
            name=name,
            workspace_crs=workspace_crs,
            crs=crs,
            id_field=id_field,
            duplicate_ids=duplicate_ids,
        )
    path = Path(path)
    name = name or (layer or path.stem)
    report = LayerReport(name=name, role=role, path=str(path), layer=layer)
    check_source(path, layer)
    enc, finding = resolve_encoding(path, layer, encoding, name=name, role=role)
    if finding is not None:
        report.add("ENCODING_DETECTED", "warning", finding)
    report.encoding = enc or "declared by file"
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, encoding=enc)
    except Exception as exc:
        raise DataSourceError(
            f"cannot read layer {name!r} from {path.name}: the file is damaged or not a vector format "
            f"({_gdal_message(exc, path)}); export it again"
        ) from exc
    if not isinstance(gdf, GeoDataFrame) or gdf.geometry is None:
        raise GeometryError(f"layer {name!r} in {path.name} has no geometry column")
    return validate_layer(
        gdf,
        report,
        source=path.name,
        workspace_crs=workspace_crs,
        crs=crs,
        id_field=id_field,
        duplicate_ids=duplicate_ids,
    )


def validate_layer(
    gdf: GeoDataFrame,
    report: LayerReport,
    /,
    *,
    source: str,
    workspace_crs: CRS | None,
    crs: str | None = None,
    id_field: str | None = None,
    duplicate_ids: str = "error",
) -> tuple[GeoDataFrame, LayerReport]:
    """The checks and repairs of :func:`read_vector` on features already read (a file's or a frame's).

    ``source`` names where the features came from in messages (a file name, or
    ``"parcels (GeoDataFrame)"``).
    """
    name, role = report.name, report.role
    report.n_features = len(gdf)
    if len(gdf) == 0:
        raise EmptyLayerError(
            f"layer {name!r} ({source}) has no features; fix the export, or remove it from the manifest"
        )
    gdf = _apply_crs(gdf, crs, report, id_field)
    if workspace_crs is not None:
        gdf = gdf.to_crs(workspace_crs)
    if role == "parcels":
        gdf = _check_ids(gdf, id_field, duplicate_ids, report)
    gdf = _check_geometries(gdf, role, report, id_field)
    if role == "parcels":
        _report_overlaps(gdf, report)
    return gdf, report


def _read_frame(
    source: FrameSource, /, *, role: LayerRole, name: str | None, **checks
) -> tuple[GeoDataFrame, LayerReport]:
    """A GeoDataFrame given in memory, validated like a file's features."""
    gdf = source.frame
    if not isinstance(gdf, GeoDataFrame) or gdf.geometry is None or gdf.geometry.name not in gdf:
        raise GeometryError(f"{source.name} has no geometry column")
    report = LayerReport(name=name or source.label, role=role, path=source.name, layer=None)
    report.encoding = "in memory"
    return validate_layer(gdf.copy(), report, source=source.name, **checks)


def check_source(path: Path, layer: str | None) -> list[str]:
    """The file exists, is whole (Shapefile sidecars, length) and holds the layer; its layers."""
    _check_exists(path)
    check_parts(path, layer)
    layers = list_layers(path)
    if layer is None and len(layers) > 1:
        raise ManifestError(
            f'{path.name} holds {len(layers)} layers {layers}; name one with layer = "..."'
        )
    if layer is not None and layer not in layers:
        raise ManifestError(f"{path.name} has no layer {layer!r}; its layers are {layers}")
    return layers


def _gdal_message(exc: Exception, path: Path) -> str:
    """GDAL's own words, without the folder the file sits in."""
    text = str(exc).replace(str(path.parent) + "/", "").replace(str(path.parent), "")
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


# --------------------------------------------------------------------------- CRS


def _apply_crs(
    gdf: GeoDataFrame, stated: str | None, report: LayerReport, id_field: str | None = None
) -> GeoDataFrame:
    file_crs = gdf.crs
    report.source_crs = file_crs.to_string() if file_crs is not None else None
    if stated is not None:
        try:
            stated_crs = crsmod.parse_crs(stated)
        except CRSError as exc:
            raise CRSError(f"layer {report.name!r} ({Path(report.path).name}): {exc}") from exc
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
    gdf = _drop_bad_coordinates(gdf, report, id_field)
    return _check_coordinates(gdf, report)


#: no projected coordinate on Earth reaches this (zone-prefixed GK eastings stay below 4.6e7)
MAX_PROJECTED_COORD = 1.0e8


def bad_coordinates(geoms: np.ndarray, geographic: bool) -> np.ndarray:
    """Per geometry: any coordinate non-finite or beyond what the CRS can hold."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    out = np.zeros(len(geoms), dtype=bool)
    if len(coords) == 0:
        return out
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(coords).all(axis=1) | (np.abs(coords) > MAX_PROJECTED_COORD).any(axis=1)
    if geographic:
        lon_ok = np.abs(coords[:, 0]) <= 180.0
        lat_ok = np.abs(coords[:, 1]) <= 90.0
        plausible = np.bincount(index, weights=lon_ok & lat_ok, minlength=len(geoms))
        counts = np.bincount(index, minlength=len(geoms))
        # only when most of the layer is degrees: otherwise the whole layer is in metres (a CRS error)
        if (plausible[counts > 0] == counts[counts > 0]).mean() > 0.5:
            bad |= ~(lon_ok & lat_ok)
    np.logical_or.at(out, index, bad)
    return out


def _drop_bad_coordinates(
    gdf: GeoDataFrame, report: LayerReport, id_field: str | None
) -> GeoDataFrame:
    """Non-finite or out-of-range coordinates: parcels kept as GEOMETRY_INVALID (geometry emptied),
    network features dropped, constraint layers refused (a lost red line would be a wrong answer)."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    bad = bad_coordinates(geoms, bool(gdf.crs.is_geographic))
    if not bad.any():
        return gdf
    ids = _ids_of(gdf, bad, id_field)
    n = int(bad.sum())
    what = f"{n} features have non-finite (NaN/inf) or out-of-range coordinates (e.g. {ids[:5]})"
    if report.role == "constraint":
        raise GeometryError(
            f"layer {report.name!r} ({Path(report.path).name}): {what}; fix or remove them, a "
            "constraint cannot be analysed with features missing"
        )
    if report.role == "parcels":
        report.add(
            "BAD_COORDINATES",
            "warning",
            f"{what}; they are kept and reported as not transferable (GEOMETRY_INVALID)",
            count=n,
            ids=ids,
        )
        gdf = gdf.copy()
        gdf["_landplan_bad"] = bad
    else:
        report.add("BAD_COORDINATES", "repaired", f"{what}; they were dropped", count=n, ids=ids)
        gdf = gdf.loc[~bad]
        if len(gdf) == 0:
            raise EmptyLayerError(
                f"layer {report.name!r} ({Path(report.path).name}) has no usable geometry left"
            )
    geoms = np.asarray(gdf.geometry.values, dtype=object).copy()
    if report.role == "parcels":
        geoms[bad] = shapely.Polygon()
        if bad.all():
            raise GeometryError(
                f"layer {report.name!r} ({Path(report.path).name}): no parcel has usable coordinates "
                f"(e.g. {ids[:5]}); check the export and the CRS"
            )
    return gdf.set_geometry(geoms, crs=gdf.crs)


def _check_coordinates(gdf: GeoDataFrame, report: LayerReport) -> GeoDataFrame:
    geoms = gdf.geometry.values
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    report.used_crs = gdf.crs.to_string()
    if not present.any():
        return gdf
    bounds = tuple(float(v) for v in shapely.total_bounds(geoms[present]))
    layer_crs: CRS = gdf.crs
    where = f"layer {report.name!r} ({Path(report.path).name})"
    if layer_crs.is_geographic:
        if not crsmod.looks_like_degrees(bounds):
            raise CRSError(
                f"{where} declares {layer_crs.to_string()} (degrees) but its coordinates reach "
                f"{bounds[2]:.0f}, {bounds[3]:.0f}: they are metres of a projected CRS; state it, e.g. "
                'crs = "EPSG:4542"'
            )
    else:
        if crsmod.looks_like_degrees(bounds):
            raise CRSError(
                f"{where} declares {layer_crs.to_string()} (metres) but its coordinates look like "
                'degrees of longitude/latitude; if they are, state crs = "EPSG:4490"'
            )
        gdf = _check_zone_prefix(gdf, bounds, report)
    if crsmod.outside_area_of_use(bounds_of(gdf), gdf.crs):
        report.add(
            "OUTSIDE_CRS_AREA",
            "warning",
            f"the layer lies outside the area of use of {gdf.crs.to_string()}; check that the CRS is right",
        )
    report.used_crs = gdf.crs.to_string()
    return gdf


def bounds_of(gdf: GeoDataFrame) -> tuple[float, float, float, float]:
    """Total bounds of the non-empty geometries (NaN when there are none)."""
    geoms = gdf.geometry.values
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return (np.nan,) * 4
    return tuple(float(v) for v in shapely.total_bounds(geoms[present]))


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
            f"layer {report.name!r} ({Path(report.path).name}): eastings carry zone prefix {prefix_min} "
            f"but the CRS is zone {zone} "
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
    where = f"the parcels ({Path(report.path).name})"
    if id_field is None:
        raise ManifestError(f'{where}: [parcels] needs id_field = "..." naming the parcel-id field')
    if id_field not in gdf.columns:
        fields = [c for c in gdf.columns if c != gdf.geometry.name]
        raise ManifestError(f"{where} have no field {id_field!r}; their fields are {fields}")
    ids = gdf[id_field]
    null = ids.isna() | (ids.astype(str).str.strip() == "")
    if null.any():
        rows = list(np.flatnonzero(null.to_numpy())[:MAX_IDS_IN_MESSAGE])
        raise DuplicateIdError(
            f"{where}: {int(null.sum())} parcels have no {id_field} (rows {rows}); every parcel "
            "needs an id: fill them in, or name another id_field"
        )
    ids = ids.astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        counts = ids[dup].value_counts()
        shown = ", ".join(f"{k} ×{v}" for k, v in counts.head(MAX_IDS_IN_MESSAGE).items())
        if duplicate_ids != "suffix":
            raise DuplicateIdError(
                f"{where}: {len(counts)} parcel ids occur more than once ({shown}); fix the cadastre, or set "
                'duplicate_ids = "suffix" under [parcels] to keep every feature with suffixed ids'
            )
        rank = ids.groupby(ids).cumcount() + 1
        ids = ids.where(rank == 1, ids + "-" + rank.astype(str))
        while ids.duplicated().any():  # a suffixed id that another parcel already holds
            rank = ids.groupby(ids).cumcount() + 1
            ids = ids.where(rank == 1, ids + "-" + rank.astype(str))
        report.add(
            "DUPLICATE_ID",
            "repaired",
            f"{len(counts)} ids occur more than once ({shown}); the repeats get a parcel_id "
            f"suffixed -2, -3, ... (the source field {id_field} is kept as it was)",
            count=int(dup.sum()),
            ids=counts.index,
        )
    return with_parcel_id(gdf, ids.to_numpy(), report)


def source_name(name: str, taken) -> str:
    """The name a source attribute gets when ``name`` is taken by a landplan column: ``src_<name>``."""
    new = f"src_{name}"
    while new in taken:
        new = f"src_{new}"
    return new


def with_parcel_id(gdf: GeoDataFrame, ids, report: LayerReport | None = None) -> GeoDataFrame:
    """``gdf`` with ``parcel_id`` (unique text) first; a source field ``parcel_id`` becomes ``src_parcel_id``."""
    gdf = gdf.copy()
    if "parcel_id" in gdf.columns:
        new = source_name("parcel_id", set(gdf.columns))
        gdf = gdf.rename(columns={"parcel_id": new})
        if report is not None:
            report.add(
                "COLUMN_RENAMED",
                "repaired",
                f"the source field parcel_id is kept as {new}; parcel_id is landplan's id column",
            )
    gdf.insert(0, "parcel_id", np.asarray(ids, dtype=object))
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
    bad_coords = (
        gdf.pop("_landplan_bad").to_numpy(dtype=bool)
        if "_landplan_bad" in gdf.columns
        else np.zeros(len(gdf), dtype=bool)
    )
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    present = ~missing
    degenerate = np.zeros(len(gdf), dtype=bool)
    if role in ("parcels", "constraint"):
        geoms, missing, degenerate, unrepairable = _check_polygonal(
            gdf, geoms, types, missing, report, id_field
        )
        bad_coords = bad_coords | unrepairable
    else:
        _check_lines(gdf, geoms, types, present, report, id_field, polygons_ok=role != "network")
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
    empty = missing & ~degenerate & ~bad_coords
    if role == "parcels":
        status = np.where(bad_coords, "invalid", np.where(degenerate, "degenerate", "ok"))
        status = np.where(empty, "empty", status)
        gdf.insert(1, "geometry_status", status.astype(object))
        if empty.any():
            report.add(
                "EMPTY_GEOMETRY",
                "warning",
                f"{int(empty.sum())} parcels have no geometry; they are kept and reported as not "
                "transferable (GEOMETRY_EMPTY)",
                count=int(empty.sum()),
                ids=_ids_of(gdf, empty, id_field),
            )
        if not (status == "ok").any():
            raise GeometryError(
                f"layer {report.name!r} ({Path(report.path).name}): none of its {len(gdf)} parcels has "
                "a usable geometry (empty, degenerate or invalid); check the export"
            )
    elif missing.any():
        ids = _ids_of(gdf, missing, id_field)
        gdf = gdf.loc[~missing]
        report.add(
            "EMPTY_GEOMETRY",
            "repaired",
            f"{int(missing.sum())} features without geometry were dropped",
            count=int(missing.sum()),
            ids=ids,
        )
        if len(gdf) == 0:
            raise EmptyLayerError(
                f"layer {report.name!r} ({Path(report.path).name}) has no usable geometry left"
            )
    return gdf.reset_index(drop=True)


def _check_lines(gdf, geoms, types, present, report, id_field, *, polygons_ok=False) -> None:
    """Network layers hold lines (points, e.g. substations, are accepted); polygons are refused.

    ``polygons_ok``: the ``features`` role (sources of the distance commands) takes any geometry.
    """
    polys = present & np.isin(types, (3, 6))
    if polys.any() and not polygons_ok:
        raise GeometryError(
            f"network layer {report.name!r} ({Path(report.path).name}) holds {int(polys.sum())} polygons "
            f"(e.g. {_ids_of(gdf, polys, id_field)[:5]}); network layers must be lines (centre lines): "
            "export the centre lines, or list a polygon layer under [[constraints]] instead"
        )
    kinds = set(types[present].tolist())
    if len(kinds - {1, 5}) and len(kinds) > 1:
        report.add(
            "MIXED_GEOMETRY_TYPES",
            "warning",
            "the network layer mixes lines with points or collections",
        )


def _check_polygonal(gdf, geoms, types, missing, report, id_field):
    present = ~missing
    non_poly = present & ~np.isin(types, (3, 6, 7))
    if non_poly.any():
        found = sorted(set(shapely.get_type_id(geoms[non_poly]).tolist()))
        names = [shapely.GeometryType(t).name for t in found]
        raise GeometryError(
            f"layer {report.name!r} ({Path(report.path).name}) must hold polygons but "
            f"{int(non_poly.sum())} features are {names} "
            f"(e.g. {_ids_of(gdf, non_poly, id_field)[:5]}); convert them to polygons or remove them"
        )
    orig_area = shapely.area(geoms)
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
    tiny = present & (shapely.is_empty(geoms) | (shapely.area(geoms) < DEGENERATE_AREA_M2))
    # invalid with area, and nothing with area survived the repair (a collapsed ring is degenerate)
    unrepairable = tiny & fix & ~(orig_area < DEGENERATE_AREA_M2)
    degenerate = tiny & ~fix
    if unrepairable.any():
        report.add(
            "UNREPAIRABLE_GEOMETRY",
            "warning",
            f"{int(unrepairable.sum())} invalid polygons have no area left after repair"
            + ("; they are kept as GEOMETRY_INVALID" if report.role == "parcels" else "; dropped"),
            count=int(unrepairable.sum()),
            ids=_ids_of(gdf, unrepairable, id_field),
        )
    if degenerate.any():
        report.add(
            "DEGENERATE_GEOMETRY",
            "warning",
            f"{int(degenerate.sum())} polygons have (almost) no area (below {DEGENERATE_AREA_M2:g} m²)"
            + ("; they are kept as GEOMETRY_EMPTY" if report.role == "parcels" else "; dropped"),
            count=int(degenerate.sum()),
            ids=_ids_of(gdf, degenerate, id_field),
        )
    return geoms, missing | tiny, degenerate, unrepairable


def _report_overlaps(gdf: GeoDataFrame, report: LayerReport) -> None:
    from landplan.io.checks import parcel_overlaps, remember_overlaps

    i, j, area = parcel_overlaps(np.asarray(gdf.geometry.values, dtype=object))
    remember_overlaps(gdf, (i, j, area))
    if len(i) == 0:
        return
    ids = gdf["parcel_id"].to_numpy()
    order = np.argsort(-area)[:MAX_IDS_IN_MESSAGE]
    shown = ", ".join(f"{ids[i[k]]}/{ids[j[k]]} {area[k]:.2f} m²" for k in order)
    report.add(
        "PARCELS_OVERLAP",
        "warning",
        f"{len(i)} pairs of parcels overlap, {float(area.sum()):.2f} m² in all ({shown}); each parcel "
        "keeps its full area, the park's gross area counts the shared land once",
        count=len(i),
        ids=sorted({str(ids[k]) for k in np.concatenate([i[order], j[order]])}),
    )

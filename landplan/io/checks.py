"""Checks across layers: overlapping parcels, layers that miss the parcels, a DEM that is no DEM.

These run in validation (``landplan validate`` and the first step of ``analyze``), so a
wrong zone label, degrees read as metres or a DEM of something else is refused before any
computation, with the layer, its extent in CRS84 and the likely cause.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import shapely

#: a layer within this distance of the parcels' extent "overlaps" it (a road beside the park does)
NEAR_M = 5_000.0
#: overlaps between parcels smaller than this are digitising noise, not findings (m²)
OVERLAP_NOISE_M2 = 0.01


def parcel_overlaps(geoms: np.ndarray, /) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` with ``i < j`` of polygons whose interiors overlap, and the shared area (m²).

    Candidates come from the envelopes (an STRtree); one DE-9IM test per candidate pair
    (interiors meet in two dimensions: ``2********``) keeps overlaps, containment and duplicates
    and drops parcels that only share an edge.
    """
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & shapely.is_valid(geoms)
    idx = np.flatnonzero(ok)
    empty = np.empty(0, dtype=np.int64)
    if len(idx) < 2:
        return empty, empty, np.empty(0)
    g = geoms[idx]
    a, b = shapely.STRtree(g).query(g)
    keep = a < b
    a, b = a[keep], b[keep]
    inner = _interiors_meet(g, a, b)
    a, b = a[inner], b[inner]
    if len(a) == 0:
        return empty, empty, np.empty(0)
    area = shapely.area(shapely.intersection(g[a], g[b]))
    big = area > OVERLAP_NOISE_M2
    return idx[a[big]], idx[b[big]], area[big]


#: candidate pairs tested per thread at least (a park of tiled parcels has ~4 per parcel)
_PAIRS_PER_THREAD = 20_000


def _interiors_meet(g: np.ndarray, a: np.ndarray, b: np.ndarray, /) -> np.ndarray:
    """``relate_pattern(g[a], g[b], "2********")`` on one thread per core (GEOS releases the
    GIL): at the start of ``analyze`` this test holds up the first chunk (~1.2 s for 200,000
    pairs on one core)."""
    from landplan.core.parallel import pool_map

    parts = max(1, min(os.cpu_count() or 1, len(a) // _PAIRS_PER_THREAD))
    slices = list(zip(np.array_split(a, parts), np.array_split(b, parts), strict=True))
    found = pool_map(lambda ab: shapely.relate_pattern(g[ab[0]], g[ab[1]], "2********"), slices)
    return np.concatenate(found)


_OVERLAPS = "landplan:parcel_overlaps"  # GeoDataFrame.attrs key: the pairs validation found


def remember_overlaps(gdf, pairs: tuple[np.ndarray, np.ndarray, np.ndarray], /) -> None:
    """Keep :func:`parcel_overlaps`'s pairs on the validated parcels, for :func:`known_overlaps`."""
    gdf.attrs[_OVERLAPS] = (len(gdf), _fingerprint(gdf), pairs)


def known_overlaps(gdf, /) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The overlapping pairs of ``gdf``: those validation found, if these are still its parcels."""
    kept = gdf.attrs.get(_OVERLAPS)
    if kept is not None and kept[0] == len(gdf) and kept[1] == _fingerprint(gdf):
        return kept[2]
    return parcel_overlaps(np.asarray(gdf.geometry.values, dtype=object))


def _fingerprint(gdf) -> tuple[float, ...]:
    """Cheap identity of a geometry column (same parcels, same order): sums of coordinates."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    w = np.arange(1, len(xy) + 1, dtype=float)
    return (float(np.nansum(xy[:, 0] * w)), float(np.nansum(xy[:, 1] * w)), len(xy))


def overlap_counted_before_m2(
    geoms: np.ndarray, /, pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Per polygon: the area it shares with polygons listed before it (0 for most).

    ``Σ area − Σ overlap_counted_before`` is the area of the union, so a park's gross area
    counts land shared by overlapping parcels once (for the parcel listed first).  ``pairs``
    are :func:`parcel_overlaps`'s, when already known.
    """
    out = np.zeros(len(geoms))
    i, j, _ = parcel_overlaps(geoms) if pairs is None else pairs
    if len(i) == 0:
        return out
    for k in np.unique(j):
        earlier = shapely.union_all(geoms[i[j == k]])
        out[k] = shapely.area(shapely.intersection(geoms[k], earlier))
    return out


# --------------------------------------------------------------------------- extents


@lru_cache(maxsize=256)
def _transformer(src, dst):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def _crs84(bounds, crs) -> tuple[float, float, float, float]:
    from pyproj import CRS

    t = _transformer(crs, CRS.from_epsg(4326))
    try:
        return tuple(float(v) for v in t.transform_bounds(*bounds))
    except Exception:  # pyproj raises on coordinates its projection cannot invert
        return (np.nan,) * 4


def fmt_crs84(bounds) -> str:
    """An extent in CRS84 as text: ``lon 100.12–100.34°E, lat 26.81–26.90°N``."""
    w, s, e, n = bounds
    if not np.all(np.isfinite(bounds)):
        return "outside any valid longitude/latitude"
    return f"lon {w:.3f}–{e:.3f}°, lat {s:.3f}–{n:.3f}°"


def _intersects(a, b, margin: float = 0.0) -> bool:
    return bool(
        a[0] - margin <= b[2]
        and b[0] - margin <= a[2]
        and a[1] - margin <= b[3]
        and b[1] - margin <= a[3]
    )


def _gap_m(a, b) -> float:
    dx = max(b[0] - a[2], a[0] - b[2], 0.0)
    dy = max(b[1] - a[3], a[1] - b[3], 0.0)
    return float(np.hypot(dx, dy))


def _candidates(used, parcels_crs):
    """CRSs a layer's coordinates may really be in: every CGCS2000 3° GK zone, and the parcels' CRS."""
    from pyproj import CRS

    from landplan.core import crs as crsmod

    out = []
    if parcels_crs is not None:
        out.append(parcels_crs)
    if used.is_projected:
        gk = crsmod.gk3_zone_of_crs(used)
        first = 4513 if (gk is not None and gk[1]) else 4534
        out += [
            CRS.from_epsg(first + z) for z in range(crsmod.GK3_MAX_ZONE - crsmod.GK3_MIN_ZONE + 1)
        ]
    return [c for c in out if not c.equals(used)]


def likely_cause(raw_bounds, used, workspace, target, parcels_crs=None) -> str | None:
    """Why a layer misses the parcels, when another reading of its coordinates would hit them."""
    for cand in _candidates(used, parcels_crs):
        try:
            moved = _transformer(cand, workspace).transform_bounds(*raw_bounds)
        except Exception:
            continue
        if np.all(np.isfinite(moved)) and _intersects(moved, target, margin=1000.0):
            return (
                f"its coordinates fall on the parcels when read as {cand.name} ({cand.to_string()}), "
                f"not {used.name} ({used.to_string()}) as labelled: the layer (or the parcels) carries the "
                f'wrong CRS or Gauss-Krüger zone; state the right one with crs = "{cand.to_string()}"'
            )
    return None


def _layer_bounds(gdf) -> tuple[float, float, float, float] | None:
    geoms = gdf.geometry.values
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return None
    return tuple(float(v) for v in shapely.total_bounds(geoms[ok]))


def check_extents(manifest, parcels, constraints: dict, networks, reports: list) -> None:
    """Refuse a constraint or network layer that misses the parcels because of a wrong CRS label.

    A layer whose extent does not overlap the parcels' is refused when another reading of its
    coordinates (another GK zone, the parcels' CRS) would put it on the parcels; otherwise it
    merely lies far away, stays valid and gets a ``LAYER_FAR`` warning.
    """
    from pyproj import CRS

    from landplan.core.errors import CRSError

    target = _layer_bounds(parcels)
    if target is None:
        return
    workspace = parcels.crs
    by_name = {r.name: r for r in reports}
    prep = by_name.get("parcels")
    parcels_crs = CRS.from_user_input(prep.used_crs) if prep and prep.used_crs else None
    layers = [(f"constraint:{k}", g) for k, g in constraints.items()]
    if len(networks):
        layers += [(f"network:{k}", g) for k, g in networks.groupby("kind", sort=False)]
    for name, gdf in layers:
        rep = by_name.get(name)
        b = _layer_bounds(gdf)
        if rep is None or b is None or _intersects(b, target, margin=NEAR_M):
            continue
        used = CRS.from_user_input(rep.used_crs) if rep.used_crs else workspace
        raw = _to(b, workspace, used)
        cause = likely_cause(raw, used, workspace, target, parcels_crs)
        where = f"layer {name!r} ({_fname(rep.path)})"
        extents = (
            f"its extent is {fmt_crs84(_crs84(b, workspace))}, the parcels' is "
            f"{fmt_crs84(_crs84(target, workspace))}"
        )
        if cause is not None:
            raise CRSError(f"{where} does not overlap the parcels: {extents}; {cause}")
        rep.add(
            "LAYER_FAR",
            "warning",
            f"the layer does not overlap the parcels ({extents}; {_gap_m(b, target) / 1000:.1f} km "
            "apart); it is used as it is: check that it is the right area",
        )


def _to(bounds, src, dst):
    if src == dst:
        return bounds
    return tuple(_transformer(src, dst).transform_bounds(*bounds))


def _fname(path) -> str:
    from pathlib import Path

    return Path(path).name


# --------------------------------------------------------------------------- DEM

#: elevations on Earth (m): below the Dead Sea shore / above Everest means "not a DEM, or nodata undeclared"
ELEVATION_RANGE_M = (-450.0, 8900.0)
#: share of nodata over the parcels' extent above which the DEM gets a warning
NODATA_WARN_SHARE = 0.2
SAMPLE_CELLS = 1024


def check_dem(path, parcels, workspace, /, *, stated_crs: str | None = None):
    """Check a DEM before any raster step: readable, CRS, overlap with the parcels, nodata, values.

    Returns a :class:`~landplan.io.report.LayerReport` (role ``dem``) with the warnings;
    raises :class:`~landplan.core.errors.LandplanError` for a DEM that cannot be right.
    """
    from pathlib import Path

    import rasterio
    from rasterio.windows import from_bounds

    from landplan.core.errors import CRSError, DataSourceError, LandplanError, RasterError
    from landplan.io.report import LayerReport
    from landplan.raster.grid import open_raster

    path = Path(path)
    report = LayerReport(name="dem", role="dem", path=str(path))
    if not path.exists():
        raise DataSourceError(f"DEM not found: {path}; check [dem] path in the manifest")
    where = f"the DEM {path.name}"
    try:
        ctx = open_raster(path, projected=False, check_data=False)
        src = ctx.__enter__()
    except LandplanError as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    try:
        from pyproj import CRS

        dem_crs = CRS.from_user_input(src.crs.to_wkt())
        report.source_crs = report.used_crs = dem_crs.to_string()
        if stated_crs is not None:
            from landplan.core.crs import parse_crs

            if not parse_crs(stated_crs).equals(dem_crs, ignore_axis_order=True):
                raise CRSError(
                    f"{where} declares {dem_crs.to_string()} but the manifest says {stated_crs}; "
                    "remove [dem] crs, or fix the file's CRS with gdal_edit.py -a_srs"
                )
        target = _layer_bounds(parcels)
        if target is None:
            return report
        dem_b = _to(tuple(src.bounds), dem_crs, workspace)
        if not _intersects(dem_b, target):
            cause = likely_cause(tuple(src.bounds), dem_crs, workspace, target, workspace)
            raise RasterError(
                f"{where} does not overlap the parcels: its extent is {fmt_crs84(_crs84(tuple(src.bounds), dem_crs))}, "
                f"the parcels' is {fmt_crs84(_crs84(target, workspace))}"
                + (f"; {cause}" if cause else "; give the DEM of the parcels' area")
            )
        covered = _cover_share(dem_b, target)
        if covered < 0.999:
            report.add(
                "DEM_PARTIAL",
                "warning",
                f"the DEM covers only {100 * covered:.0f}% of the parcels' extent; parcels outside it "
                "get no slope, suitability or earthwork",
            )
        window = from_bounds(*_to(target, workspace, dem_crs), transform=src.transform)
        window = window.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
        h, w = int(max(1, round(window.height))), int(max(1, round(window.width)))
        scale = max(1.0, max(h, w) / SAMPLE_CELLS)
        data = src.read(
            1,
            window=window,
            masked=True,
            out_shape=(max(1, int(h / scale)), max(1, int(w / scale))),
        )
    except LandplanError:
        raise
    except Exception as exc:
        raise DataSourceError(f"{where} cannot be read ({type(exc).__name__}: {exc})") from exc
    finally:
        ctx.__exit__(None, None, None)
    values = np.ma.masked_invalid(data).compressed().astype("float64")
    nodata_share = 1.0 - values.size / max(data.size, 1)
    if values.size == 0:
        raise RasterError(
            f"{where} has no elevation values over the parcels (all {data.size} sampled cells are nodata)"
        )
    lo, hi = float(values.min()), float(values.max())
    found = f"values {lo:.4g}–{hi:.4g}, {100 * nodata_share:.0f}% nodata over the parcels' extent"
    if lo < ELEVATION_RANGE_M[0] or hi > ELEVATION_RANGE_M[1]:
        raise RasterError(
            f"{where} is not a plausible elevation model ({found}): values outside "
            f"{ELEVATION_RANGE_M[0]:.0f}…{ELEVATION_RANGE_M[1]:.0f} m are not elevations on Earth; if they "
            "mark missing cells, declare the nodata value (gdal_edit.py -a_nodata VALUE)"
        )
    if hi - lo < 1.0 and max(abs(lo), abs(hi)) < 1.0:
        raise RasterError(
            f"{where} is not a plausible elevation model ({found}): elevations in metres do not all "
            "lie within one metre of sea level; it looks like a slope, index or ratio raster — give "
            "the DEM (elevations in metres)"
        )
    if nodata_share > NODATA_WARN_SHARE:
        report.add(
            "DEM_NODATA",
            "warning",
            f"{100 * nodata_share:.0f}% of the DEM's cells over the parcels' extent are nodata ({found}); "
            "parcels there get no slope, suitability or earthwork",
        )
    report.n_features = int(values.size)  # cells sampled with data
    return report


def _cover_share(dem_b, target) -> float:
    w = max(0.0, min(dem_b[2], target[2]) - max(dem_b[0], target[0]))
    h = max(0.0, min(dem_b[3], target[3]) - max(dem_b[1], target[1]))
    area = (target[2] - target[0]) * (target[3] - target[1])
    return 1.0 if area <= 0 else float(w * h / area)

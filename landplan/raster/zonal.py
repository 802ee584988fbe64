"""Exact zonal statistics per parcel (exactextract), not cell-centre sampling.

A cell half inside a parcel counts with weight ½: ``mean`` is coverage-weighted, ``min``
and ``max`` look at every cell the parcel touches, nodata cells are left out.
:func:`share_above` is how "the share of a parcel steeper than the slope limit" is measured.

The raster and the parcels must be in the same CRS (:class:`~landplan.core.errors.CRSError`
otherwise: landplan never reprojects inside a computation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import rasterio

from landplan.core.errors import ManifestError
from landplan.raster.grid import GDAL_CACHE_MB, grid_info, open_raster, require_same_crs

_ROW = "_landplan_row"
DEFAULT_STATS = ("mean", "min", "max")
#: exactextract reads the raster in chunks of at most this many cells and finds the
#: parcels each chunk touches ("raster-sequential"): 2–3× faster than one read per
#: parcel for thousands of parcels, with memory bounded by the chunk
_EXACTEXTRACT = {"strategy": "raster-sequential", "max_cells_in_memory": 4_000_000}


@dataclass(frozen=True)
class ParcelCells:
    """Every (parcel, cell) pair with data: ``row`` (parcel position), ``coverage``, ``value``.

    ``coverage`` is the fraction of the cell inside the parcel (0–1]; ``cell_area`` is
    the area of one cell in CRS units (m²).
    """

    row: np.ndarray
    coverage: np.ndarray
    value: np.ndarray
    n_parcels: int
    cell_area: float

    def groups(self):
        """Yield ``(row, coverage, value)`` for each parcel (empty arrays where no cell has data)."""
        bounds = np.searchsorted(self.row, np.arange(self.n_parcels + 1))
        for i in range(self.n_parcels):
            s = slice(bounds[i], bounds[i + 1])
            yield i, self.coverage[s], self.value[s]


def zonal_stats(
    raster_path: str | os.PathLike,
    parcels,
    /,
    *,
    stats: tuple[str, ...] | list[str] = DEFAULT_STATS,
    id_field: str | None = None,
) -> pd.DataFrame:
    """One row per parcel (same order) with the exactextract ``stats`` of the raster.

    Parameters
    ----------
    raster_path
        Single-band raster in the parcels' CRS.
    parcels
        GeoDataFrame of polygons.
    stats
        exactextract operation names: ``mean``, ``min``, ``max``, ``sum``, ``count``
        (covered cells, fractional), ``median``, ``stdev``, ``majority``, ...
    id_field
        Column copied into the result as the first column (else the parcels' index).
    """
    stats = [s.strip() for s in stats if s.strip()]
    if not stats:
        raise ValueError("stats must name at least one statistic, e.g. mean,min,max")
    ids = _ids(parcels, id_field)
    with open_raster(raster_path, projected=False) as src:
        require_same_crs(src.crs, parcels, raster=f"raster {raster_path}")
    try:
        res = _extract(raster_path, parcels, stats)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"exactextract refused stats {stats}: {exc}") from exc
    # parcels without a usable geometry were not sent: their row is all NaN
    res = res.set_index(_ROW).reindex(np.arange(len(parcels))).reset_index(drop=True)
    res.insert(0, ids.name, ids.to_numpy())
    return res


def parcel_cells(
    raster_path: str | os.PathLike, parcels, /, *, projected: bool = True
) -> ParcelCells:
    """The exact coverage fraction and value of every raster cell each parcel touches."""
    with open_raster(raster_path, projected=projected) as src:
        require_same_crs(src.crs, parcels, raster=f"raster {raster_path}")
        cell_area = grid_info(src).cell_area
    res = _extract(raster_path, parcels, ["coverage", "values"]).sort_values(_ROW)
    lengths = np.array([len(c) for c in res["coverage"]], dtype=np.int64)
    rows = np.repeat(res[_ROW].to_numpy(np.int64), lengths)
    cov = _concat(res["coverage"])
    val = _concat(res["values"])
    return ParcelCells(rows, cov, val, len(parcels), cell_area)


def share_above(
    raster_path: str | os.PathLike,
    parcels,
    threshold: float,
    /,
    *,
    id_field: str | None = None,
) -> pd.Series:
    """Coverage-weighted share (0–1) of each parcel's area with data where raster > ``threshold``.

    The denominator is the parcel area covered by cells with data (nodata cells and
    parts outside the raster are left out); a parcel with no data gets NaN.
    """
    ids = _ids(parcels, id_field)
    cells = parcel_cells(raster_path, parcels, projected=False)
    n = cells.n_parcels
    total = np.bincount(cells.row, weights=cells.coverage, minlength=n)
    above = np.bincount(cells.row, weights=cells.coverage * (cells.value > threshold), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, above / total, np.nan)
    return pd.Series(share, index=pd.Index(ids.to_numpy(), name=ids.name), name="share_above")


def _extract(raster_path, parcels, ops) -> pd.DataFrame:
    """exactextract with landplan's strategy, a bounded GDAL cache, and the row number kept."""
    from exactextract import exact_extract

    features = _features(parcels)
    if len(features) == 0:
        return pd.DataFrame({_ROW: np.empty(0, dtype=np.int64), **{op: [] for op in ops}})
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return exact_extract(str(raster_path), features, list(ops), include_cols=[_ROW],
                             output="pandas", **_EXACTEXTRACT)  # fmt: skip


def _concat(col) -> np.ndarray:
    arrays = [np.asarray(a, dtype=np.float64) for a in col]
    return np.concatenate(arrays) if arrays else np.empty(0)


def usable_geometries(geoms) -> np.ndarray:
    """Polygons exactextract can take: present, finite coordinates, valid, with area.

    exactextract raises "Failed to parse geometry" on the rest; they are never sent to it.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if ok.any():
        sub = geoms[ok]
        coords, index = shapely.get_coordinates(sub, return_index=True)
        finite = np.ones(len(sub), dtype=bool)
        np.logical_and.at(finite, index, np.isfinite(coords).all(axis=1))
        good = finite & shapely.is_valid(sub) & (shapely.area(sub) > 0)
        ok[ok] = good
    return ok


def _features(parcels):
    import geopandas as gpd

    geoms = np.asarray(parcels.geometry.values, dtype=object)
    keep = usable_geometries(geoms)
    return gpd.GeoDataFrame({_ROW: np.flatnonzero(keep)}, geometry=geoms[keep],
                            crs=parcels.crs)  # fmt: skip


def _ids(parcels, id_field: str | None) -> pd.Series:
    if id_field is None:
        return pd.Series(parcels.index.to_numpy(), name=parcels.index.name or "index")
    if id_field not in parcels.columns:
        fields = [c for c in parcels.columns if c != parcels.geometry.name]
        raise ManifestError(f"parcels have no field {id_field!r}; their fields are {fields}")
    return parcels[id_field].reset_index(drop=True)

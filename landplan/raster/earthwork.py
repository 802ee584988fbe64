"""Cut and fill (场地平整土方) per parcel from a DEM, DOMAIN §7.1 (the grid method, 方格网法).

For a flat pad at elevation z_d, with each DEM cell weighted by the area of the cell
inside the parcel (exact partial coverage from exactextract, so a cell half inside
counts half its area)::

    cut  V_c = Σ wᵢ · max(zᵢ − z_d, 0)        fill V_f = Σ wᵢ · max(z_d − zᵢ, 0)

The **balanced pad** is the z_d where ``V_c = compaction · V_f``.  ``compaction`` is the
bank (in-place) volume of cut that one m³ of compacted fill needs: 1.0 ignores
shrink/swell and gives the area-weighted mean elevation; > 1 (soil that shrinks when
compacted) lowers the pad.  DOMAIN §7.1 writes the same balance as ``V_c · k = V_f``
with k = 1 / compaction.  The pad elevation is found exactly: with ``compaction`` 1 it is
the weighted mean (V_c − V_f = Σ wᵢ (zᵢ − z_d)); otherwise by sorting each parcel's cells
(the balance is piecewise linear in z_d), not by iteration.

Depths (``max_cut_m``, ``max_fill_m``) use every cell the parcel touches.  Cells with
no data are left out; ``dem_coverage`` says which share of the parcel had data.

All parcels are computed at once (:func:`balanced_elevations`, :func:`pad_volumes_many`):
numpy over the cells of every parcel, no Python loop per parcel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from landplan.raster.zonal import CHUNK_CELLS, GridCells, ParcelCells, _ids, grid_cells


@dataclass(frozen=True)
class PadVolumes:
    """Earthwork to level one parcel to ``elevation_m``."""

    elevation_m: float
    cut_m3: float
    fill_m3: float
    max_cut_m: float
    max_fill_m: float

    @property
    def net_m3(self) -> float:
        """Cut − fill (> 0: surplus to haul away, < 0: fill to bring in)."""
        return self.cut_m3 - self.fill_m3


def pad_volumes(z: np.ndarray, area_m2: np.ndarray, elevation_m: float, /) -> PadVolumes:
    """Cut and fill (m³) and the deepest cut and fill (m) for a pad at ``elevation_m``.

    ``z`` are cell elevations and ``area_m2`` the area of each cell inside the parcel.

    >>> v = pad_volumes(np.array([10.0, 11, 12]), np.array([100.0, 100, 50]), 11)
    >>> v.cut_m3, v.fill_m3, v.max_cut_m, v.max_fill_m
    (50.0, 100.0, 1.0, 1.0)
    """
    z, w = np.asarray(z, float), np.asarray(area_m2, float)
    row = np.zeros(z.size, np.intp)
    cut, fill, max_cut, max_fill = pad_volumes_many(row, z, w, np.array([float(elevation_m)]))
    return PadVolumes(float(elevation_m), float(cut[0]), float(fill[0]), float(max_cut[0]),
                      float(max_fill[0]))  # fmt: skip


def balanced_elevation(z: np.ndarray, area_m2: np.ndarray, /, *, compaction: float = 1.0) -> float:
    """Pad elevation where cut = ``compaction`` × fill (exact; NaN without cells).

    >>> balanced_elevation(np.array([10.0, 12.0]), np.array([1.0, 1.0]))
    11.0
    >>> balanced_elevation(np.array([10.0, 12.0]), np.array([1.0, 1.0]), compaction=3.0)
    10.5
    """
    z, w = np.asarray(z, float), np.asarray(area_m2, float)
    row = np.zeros(z.size, np.intp)
    return float(balanced_elevations(row, z, w, 1, compaction=compaction)[0])


def pad_volumes_many(
    row: np.ndarray, z: np.ndarray, area_m2: np.ndarray, elevation_m: np.ndarray, /
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pad_volumes` of every parcel at once: ``(cut_m3, fill_m3, max_cut_m, max_fill_m)``.

    ``row`` (ascending) says which parcel each cell belongs to; ``elevation_m`` holds one pad
    elevation per parcel.  A parcel without cells gets 0 m³ and NaN depths.
    """
    n = len(elevation_m)
    d = z - np.asarray(elevation_m, float)[row]
    cut = np.bincount(row, weights=area_m2 * np.clip(d, 0, None), minlength=n)
    fill = np.bincount(row, weights=area_m2 * np.clip(-d, 0, None), minlength=n)
    deepest_cut, deepest_fill = np.full(n, np.nan), np.full(n, np.nan)
    starts, has = _starts(row, n)
    if has.any():
        deepest_cut[has] = np.maximum(np.maximum.reduceat(d, starts[has]), 0.0)
        deepest_fill[has] = np.maximum(-np.minimum.reduceat(d, starts[has]), 0.0)
    return cut, fill, deepest_cut, deepest_fill


def balanced_elevations(
    row: np.ndarray, z: np.ndarray, area_m2: np.ndarray, n: int, /, *, compaction: float = 1.0
) -> np.ndarray:
    """:func:`balanced_elevation` of each of ``n`` parcels at once (NaN without cells).

    ``row`` (ascending) says which parcel each cell belongs to; cells without area are left out.
    """
    if not compaction > 0:
        raise ValueError(f"compaction must be > 0, got {compaction!r}")
    row, z, w = np.asarray(row, np.intp), np.asarray(z, float), np.asarray(area_m2, float)
    keep = w > 0
    if not keep.all():
        row, z, w = row[keep], z[keep], w[keep]
    out = np.full(n, np.nan)
    starts, has = _starts(row, n)
    if not has.any():
        return out
    first = starts[has]
    sizes = np.diff(np.r_[first, len(z)])
    if compaction == 1.0:  # cut − fill = Σ w (z − z_d): zero at the weighted mean
        z0 = np.minimum.reduceat(z, first)  # shift for precision
        zs = z - np.repeat(z0, sizes)
        wt = np.bincount(row, weights=w, minlength=n)[has]
        out[has] = z0 + np.bincount(row, weights=w * zs, minlength=n)[has] / wt
        return out
    order = np.lexsort((z, row))  # each parcel's cells by elevation (stable on ties)
    z, w = z[order], w[order]
    last = first + sizes - 1
    z0 = z[first]
    zs = z - np.repeat(z0, sizes)  # shift for precision
    # weight and moment of the cells at or below each cell, per parcel (cumulative sums
    # restarted at each parcel's first cell)
    wb = _segment_cumsum(w, first, sizes)
    sb = _segment_cumsum(w * zs, first, sizes)
    wt, st = np.repeat(wb[last], sizes), np.repeat(sb[last], sizes)
    k = compaction
    f = (st - sb) - zs * (wt - wb) - k * (zs * wb - sb)  # cut − k·fill at zs[j], falling
    idx = np.where(f <= 0, np.arange(len(z)), len(z))
    j = np.minimum(np.minimum.reduceat(idx, first), last)  # first cell where f ≤ 0
    at_cell = (f[j] == 0) | (j == first)
    below = np.maximum(j - 1, first)  # cells below the pad
    wb_, sb_ = wb[below], sb[below]
    stg, wtg = sb[last], wb[last]
    with np.errstate(invalid="ignore", divide="ignore"):
        za = (stg - sb_ + k * sb_) / ((wtg - wb_) + k * wb_)
    out[has] = np.where(at_cell, zs[j], za) + z0
    return out


def _starts(row: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of each parcel's first cell (``row`` ascending) and which parcels have cells."""
    counts = np.bincount(row, minlength=n)
    return np.cumsum(counts) - counts, counts > 0


def _segment_cumsum(x: np.ndarray, first: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``x`` restarted at each segment's ``first`` index."""
    c = np.cumsum(x)
    before = np.r_[0.0, c[first[1:] - 1]]
    return c - np.repeat(before, sizes)


def earthwork(
    dem_path: str | os.PathLike,
    parcels,
    /,
    *,
    id_field: str | None = None,
    design_elevation: float | None = None,
    compaction: float = 1.0,
) -> pd.DataFrame:
    """Per parcel: earthwork of the balanced pad and (if given) of a pad at ``design_elevation``.

    Columns: the id, ``area_m2`` (planar), ``dem_area_m2`` (part with DEM data),
    ``dem_coverage``, ``mean_elevation_m``, ``balanced_elevation_m``, ``balanced_cut_m3``,
    ``balanced_fill_m3``, ``balanced_max_cut_m``, ``balanced_max_fill_m``, and with a
    design elevation ``design_elevation_m``, ``cut_m3``, ``fill_m3``, ``net_m3``,
    ``max_cut_m``, ``max_fill_m``.  The DEM must be in the parcels' projected CRS.
    """
    if not compaction > 0:
        raise ValueError(f"compaction must be > 0, got {compaction!r}")
    ids = _ids(parcels, id_field)
    cells = grid_cells({"dem": dem_path}, parcels, projected=True)
    out = earthwork_of_grid(cells, "dem", design_elevation=design_elevation, compaction=compaction)
    out.insert(0, ids.name, ids.to_numpy())
    area = parcels.geometry.area.to_numpy()
    out.insert(1, "area_m2", area)
    with np.errstate(invalid="ignore", divide="ignore"):
        out.insert(3, "dem_coverage", np.where(area > 0, out["dem_area_m2"] / area, np.nan))
    return out


def earthwork_of_grid(
    cells: GridCells,
    name: str,
    /,
    *,
    design_elevation: float | None = None,
    compaction: float = 1.0,
    block_cells: int = CHUNK_CELLS,
) -> pd.DataFrame:
    """:func:`earthwork_of_cells` of every parcel of ``cells`` (DEM raster ``name``).

    Computed a block of parcels at a time (about ``block_cells`` cells), blocks side by side.
    """
    work = partial(earthwork_of_cells, design_elevation=design_elevation, compaction=compaction)
    parts = cells.map(name, work, cells=block_cells)
    if not parts:
        return work(ParcelCells(np.empty(0, np.intp), np.empty(0), np.empty(0), 0, 1.0))
    return pd.concat(parts, ignore_index=True)


def earthwork_of_cells(
    cells: ParcelCells, /, *, design_elevation: float | None = None, compaction: float = 1.0
) -> pd.DataFrame:
    """The per-parcel columns of :func:`earthwork` from the DEM cells (without id and area)."""
    n, row = cells.n_parcels, cells.row
    z = np.asarray(cells.value, float)
    w = np.asarray(cells.coverage, float) * cells.cell_area
    area = np.bincount(row, weights=w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(area > 0, np.bincount(row, weights=w * z, minlength=n) / area, np.nan)
    zb = balanced_elevations(row, z, w, n, compaction=compaction)
    cut, fill, max_cut, max_fill = pad_volumes_many(row, z, w, zb)
    out = pd.DataFrame(
        {
            "dem_area_m2": area,
            "mean_elevation_m": mean,
            "balanced_elevation_m": zb,
            "balanced_cut_m3": cut,
            "balanced_fill_m3": fill,
            "balanced_max_cut_m": max_cut,
            "balanced_max_fill_m": max_fill,
        }
    )
    if design_elevation is not None:
        design = float(design_elevation)
        cut, fill, max_cut, max_fill = pad_volumes_many(row, z, w, np.full(n, design))
        out["design_elevation_m"] = design
        out["cut_m3"], out["fill_m3"], out["net_m3"] = cut, fill, cut - fill
        out["max_cut_m"], out["max_fill_m"] = max_cut, max_fill
    return out

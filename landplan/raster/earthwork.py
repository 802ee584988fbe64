"""Cut and fill (场地平整土方) per parcel from a DEM, DOMAIN §7.1 (the grid method, 方格网法).

For a flat pad at elevation z_d, with each DEM cell weighted by the area of the cell
inside the parcel (exact partial coverage from exactextract, so a cell half inside
counts half its area)::

    cut  V_c = Σ wᵢ · max(zᵢ − z_d, 0)        fill V_f = Σ wᵢ · max(z_d − zᵢ, 0)

The **balanced pad** is the z_d where ``V_c = compaction · V_f``.  ``compaction`` is the
bank (in-place) volume of cut that one m³ of compacted fill needs: 1.0 ignores
shrink/swell and gives the area-weighted mean elevation; > 1 (soil that shrinks when
compacted) lowers the pad.  DOMAIN §7.1 writes the same balance as ``V_c · k = V_f``
with k = 1 / compaction.  The pad elevation is found exactly by sorting the cells
(the balance is piecewise linear in z_d), not by iteration.

Depths (``max_cut_m``, ``max_fill_m``) use every cell the parcel touches.  Cells with
no data are left out; ``dem_coverage`` says which share of the parcel had data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from landplan.raster.zonal import _ids, parcel_cells


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
    if z.size == 0:
        return PadVolumes(float(elevation_m), 0.0, 0.0, np.nan, np.nan)
    d = z - elevation_m
    cut = float(np.sum(w * np.clip(d, 0, None)))
    fill = float(np.sum(w * np.clip(-d, 0, None)))
    return PadVolumes(
        float(elevation_m), cut, fill, max(float(d.max()), 0.0), max(float(-d.min()), 0.0)
    )


def balanced_elevation(z: np.ndarray, area_m2: np.ndarray, /, *, compaction: float = 1.0) -> float:
    """Pad elevation where cut = ``compaction`` × fill (exact; NaN without cells).

    >>> balanced_elevation(np.array([10.0, 12.0]), np.array([1.0, 1.0]))
    11.0
    >>> balanced_elevation(np.array([10.0, 12.0]), np.array([1.0, 1.0]), compaction=3.0)
    10.5
    """
    if not compaction > 0:
        raise ValueError(f"compaction must be > 0, got {compaction!r}")
    z, w = np.asarray(z, float), np.asarray(area_m2, float)
    keep = w > 0
    z, w = z[keep], w[keep]
    if z.size == 0:
        return float("nan")
    order = np.argsort(z, kind="stable")
    z0 = z[order[0]]
    zs, ws = z[order] - z0, w[order]  # shift for precision
    wb, sb = np.cumsum(ws), np.cumsum(ws * zs)  # weight, moment of cells at or below zs[j]
    wt, st = wb[-1], sb[-1]
    f = (st - sb) - zs * (wt - wb) - compaction * (zs * wb - sb)  # cut − k·fill at zs[j], falling
    j = int(np.argmax(f <= 0))
    if f[j] == 0 or j == 0:
        return float(zs[j] + z0)
    wb_, sb_ = wb[j - 1], sb[j - 1]  # cells below the pad
    za = (st - sb_ + compaction * sb_) / ((wt - wb_) + compaction * wb_)
    return float(za + z0)


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
    cells = parcel_cells(dem_path, parcels, projected=True)
    rows = [_parcel_row(cov * cells.cell_area, z, design_elevation, compaction)
            for _, cov, z in cells.groups()]  # fmt: skip
    out = pd.DataFrame(rows)
    out.insert(0, ids.name, ids.to_numpy())
    area = parcels.geometry.area.to_numpy()
    out.insert(1, "area_m2", area)
    with np.errstate(invalid="ignore", divide="ignore"):
        out.insert(3, "dem_coverage", np.where(area > 0, out["dem_area_m2"] / area, np.nan))
    return out


def _parcel_row(w: np.ndarray, z: np.ndarray, design: float | None, compaction: float) -> dict:
    area = float(w.sum())
    zb = balanced_elevation(z, w, compaction=compaction)
    row = {
        "dem_area_m2": area,
        "mean_elevation_m": float(np.sum(w * z) / area) if area > 0 else np.nan,
        "balanced_elevation_m": zb,
    }
    b = pad_volumes(z, w, zb)
    row |= {
        "balanced_cut_m3": b.cut_m3,
        "balanced_fill_m3": b.fill_m3,
        "balanced_max_cut_m": b.max_cut_m,
        "balanced_max_fill_m": b.max_fill_m,
    }
    if design is not None:
        d = pad_volumes(z, w, float(design))
        row |= {
            "design_elevation_m": d.elevation_m,
            "cut_m3": d.cut_m3,
            "fill_m3": d.fill_m3,
            "net_m3": d.net_m3,
            "max_cut_m": d.max_cut_m,
            "max_fill_m": d.max_fill_m,
        }
    return row

"""Cut and fill: a tilted plane by hand, half cells, direct cell sums on a real DEM."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from landplan.core.errors import CRSError
from landplan.raster.earthwork import (
    balanced_elevation,
    earthwork,
    earthwork_of_cells,
    earthwork_of_grid,
    pad_volumes,
)
from landplan.raster.zonal import ParcelCells, grid_cells
from tests.helpers import GK, box
from tests.landplan.test_zonal import CELL, write_raster


@pytest.fixture
def plane(tmp_path):
    """6 rows × 8 columns of 10 m cells; elevation = column index (1 m rise per cell to the east)."""
    z = np.tile(np.arange(8, dtype=np.float32), (6, 1))
    return write_raster(tmp_path / "plane.tif", z)


def parcels(*geoms) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"DKBH": [f"P{i}" for i in range(len(geoms))]}, geometry=list(geoms), crs=GK
    )


def test_tilted_plane_aligned_parcel_by_hand(plane):
    # columns 0–3, rows 0–3: elevations 0,1,2,3 in each of 4 rows, 100 m² per cell
    df = earthwork(plane, parcels(box(0, 20, 40, 40)), id_field="DKBH", design_elevation=0.0)
    r = df.iloc[0]
    assert r["area_m2"] == 1600 and r["dem_area_m2"] == 1600 and r["dem_coverage"] == 1
    assert r["balanced_elevation_m"] == pytest.approx(1.5)
    # cut at 1.5: (0.5 + 1.5)·100 per row × 4 rows = 800; fill the same
    assert r["balanced_cut_m3"] == pytest.approx(800) and r["balanced_fill_m3"] == pytest.approx(
        800
    )
    assert r["balanced_max_cut_m"] == pytest.approx(1.5) and r[
        "balanced_max_fill_m"
    ] == pytest.approx(1.5)
    # to elevation 0: (0 + 1 + 2 + 3)·100 × 4 = 2400 of cut, no fill
    assert (r["cut_m3"], r["fill_m3"], r["net_m3"]) == pytest.approx((2400, 0, 2400))
    assert (r["max_cut_m"], r["max_fill_m"]) == pytest.approx((3, 0))


def test_half_cells_count_half(plane):
    # x 0–35: columns 0–2 whole, column 3 (elevation 3) half → weights 100, 100, 100, 50 per row
    df = earthwork(plane, parcels(box(0, 0, 35, 10)), id_field="DKBH", design_elevation=2.0)
    r = df.iloc[0]
    assert r["dem_area_m2"] == pytest.approx(350)
    assert r["mean_elevation_m"] == pytest.approx((0 + 1 + 2 + 1.5) / 3.5)
    assert r["cut_m3"] == pytest.approx(50 * 1)  # only the half cell at 3 m
    assert r["fill_m3"] == pytest.approx(100 * 2 + 100 * 1)
    zb = (0 + 100 + 200 + 150) / 350
    assert r["balanced_elevation_m"] == pytest.approx(zb)
    assert r["balanced_cut_m3"] == pytest.approx(r["balanced_fill_m3"])


def test_compaction_balances_cut_against_fill(plane):
    df = earthwork(plane, parcels(box(0, 0, 80, 60), box(12, 7, 41, 33)), id_field="DKBH",
                   compaction=1.25)  # fmt: skip
    for _, r in df.iterrows():
        assert r["balanced_cut_m3"] == pytest.approx(1.25 * r["balanced_fill_m3"], rel=1e-9)
    # whole plane, elevations 0..7 equally: cut(z) = 1.25 fill(z) solved by hand on [3, 4]:
    # cut = 600·(Σ_{k≥4}(k − z)), fill = 600·(Σ_{k≤3}(z − k)) → (22 − 4z) = 1.25(4z − 6) → z = 29.5/9
    assert df.loc[0, "balanced_elevation_m"] == pytest.approx(29.5 / 9)


def test_direct_cell_sum_on_a_real_dem(tmp_path):
    """Parcel aligned to the grid: volumes equal plain numpy sums over the cells inside."""
    from matplotlib import cbook

    z = np.asarray(cbook.get_sample_data("jacksboro_fault_dem.npz")["elevation"], np.float32)
    src = write_raster(tmp_path / "jb.tif", z)
    r0, r1, c0, c1 = 100, 140, 200, 260  # rows and columns inside the parcel
    top = z.shape[0] * CELL
    geom = box(c0 * CELL, top - r1 * CELL, (c1 - c0) * CELL, (r1 - r0) * CELL)
    df = earthwork(src, parcels(geom), id_field="DKBH", design_elevation=500.0)
    cells = z[r0:r1, c0:c1].astype(float)
    a = CELL * CELL
    r = df.iloc[0]
    assert r["cut_m3"] == pytest.approx(a * np.clip(cells - 500, 0, None).sum())
    assert r["fill_m3"] == pytest.approx(a * np.clip(500 - cells, 0, None).sum())
    assert r["max_cut_m"] == pytest.approx(cells.max() - 500)
    assert r["balanced_elevation_m"] == pytest.approx(cells.mean())
    assert r["balanced_cut_m3"] == pytest.approx(a * np.clip(cells - cells.mean(), 0, None).sum())


@pytest.mark.parametrize("compaction", [0.8, 1.0, 1.3])
def test_balanced_elevation_matches_root_finding(compaction):
    rng = np.random.default_rng(3)
    z = rng.normal(1800, 12, 500)
    w = rng.uniform(0, 100, 500)

    def f(e):
        v = pad_volumes(z, w, e)
        return v.cut_m3 - compaction * v.fill_m3

    expected = brentq(f, z.min(), z.max(), xtol=1e-12)
    assert balanced_elevation(z, w, compaction=compaction) == pytest.approx(expected, abs=1e-8)


def test_edge_cases():
    assert balanced_elevation(np.array([5.0, 5.0]), np.array([1.0, 2.0])) == 5.0
    assert np.isnan(balanced_elevation(np.array([]), np.array([])))
    assert balanced_elevation(np.array([3.0]), np.array([0.4])) == 3.0
    with pytest.raises(ValueError, match="compaction"):
        balanced_elevation(np.array([1.0]), np.array([1.0]), compaction=0)


def test_parcel_partly_off_the_dem_reports_coverage(plane):
    df = earthwork(plane, parcels(box(60, 0, 40, 10)), id_field="DKBH")
    assert df.loc[0, "dem_coverage"] == pytest.approx(0.5)


def test_crs_errors(plane, tmp_path):
    with pytest.raises(CRSError, match="EPSG:4542"):
        earthwork(plane, parcels(box(0, 0, 10, 10)).to_crs("EPSG:4543"))
    geo = write_raster(tmp_path / "geo.tif", np.ones((3, 3)), crs="EPSG:4490")
    p = gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10)], crs="EPSG:4490")
    with pytest.raises(CRSError, match="geographic"):
        earthwork(geo, p)


# --------------------------------------------------------------------------- the previous code
# The per-parcel implementation the vectorised one replaced (a Python loop over the parcels),
# copied here unchanged as the reference.


def _old_pad_volumes(z, w, elevation_m):
    z, w = np.asarray(z, float), np.asarray(w, float)
    if z.size == 0:
        return float(elevation_m), 0.0, 0.0, np.nan, np.nan
    d = z - elevation_m
    cut = float(np.sum(w * np.clip(d, 0, None)))
    fill = float(np.sum(w * np.clip(-d, 0, None)))
    return float(elevation_m), cut, fill, max(float(d.max()), 0.0), max(float(-d.min()), 0.0)


def _old_balanced_elevation(z, w, compaction=1.0):
    z, w = np.asarray(z, float), np.asarray(w, float)
    keep = w > 0
    z, w = z[keep], w[keep]
    if z.size == 0:
        return float("nan")
    order = np.argsort(z, kind="stable")
    z0 = z[order[0]]
    zs, ws = z[order] - z0, w[order]
    wb, sb = np.cumsum(ws), np.cumsum(ws * zs)
    wt, st = wb[-1], sb[-1]
    f = (st - sb) - zs * (wt - wb) - compaction * (zs * wb - sb)
    j = int(np.argmax(f <= 0))
    if f[j] == 0 or j == 0:
        return float(zs[j] + z0)
    wb_, sb_ = wb[j - 1], sb[j - 1]
    za = (st - sb_ + compaction * sb_) / ((wt - wb_) + compaction * wb_)
    return float(za + z0)


def _old_parcel_row(w, z, design, compaction):
    area = float(w.sum())
    zb = _old_balanced_elevation(z, w, compaction=compaction)
    row = {
        "dem_area_m2": area,
        "mean_elevation_m": float(np.sum(w * z) / area) if area > 0 else np.nan,
        "balanced_elevation_m": zb,
    }
    _, cut, fill, max_cut, max_fill = _old_pad_volumes(z, w, zb)
    row |= {
        "balanced_cut_m3": cut,
        "balanced_fill_m3": fill,
        "balanced_max_cut_m": max_cut,
        "balanced_max_fill_m": max_fill,
    }
    if design is not None:
        e, cut, fill, max_cut, max_fill = _old_pad_volumes(z, w, float(design))
        row |= {
            "design_elevation_m": e,
            "cut_m3": cut,
            "fill_m3": fill,
            "net_m3": cut - fill,
            "max_cut_m": max_cut,
            "max_fill_m": max_fill,
        }
    return row


def _random_cells(seed: int, n: int = 400) -> ParcelCells:
    """Parcels of 0–80 cells: rough terrain, ties, cells without area, a flat parcel."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 80, n)
    row = np.repeat(np.arange(n), sizes)
    z = rng.normal(1800, 15, len(row)) + rng.normal(0, 40, n)[row]
    z = np.where(rng.random(len(row)) < 0.3, np.round(z), z)  # equal elevations
    cov = rng.uniform(0, 1, len(row))
    cov[rng.random(len(row)) < 0.05] = 0.0  # no area (left out of the balance)
    cov[rng.random(len(row)) < 0.2] = 1.0
    flat = row == 7
    z[flat] = 1750.0
    return ParcelCells(row, cov, z, n, 6.25)


@pytest.mark.parametrize("compaction", [1.0, 0.8, 1.25, 3.0])
def test_vectorised_earthwork_equals_the_per_parcel_code(compaction):
    cells = _random_cells(21)
    new = earthwork_of_cells(cells, design_elevation=1790.0, compaction=compaction)
    old = pd.DataFrame(
        [
            _old_parcel_row(cov * cells.cell_area, z, 1790.0, compaction)
            for _, cov, z in cells.groups()
        ]
    )
    assert list(new.columns) == list(old.columns)
    for col in old.columns:
        x, y = new[col].to_numpy(), old[col].to_numpy()
        assert (np.isnan(x) == np.isnan(y)).all(), col
        # the same sums in another order: equal to rounding (volumes ~1e5 m³, elevations ~2e3 m)
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-7, equal_nan=True, err_msg=col)
    empty = np.bincount(cells.row, minlength=cells.n_parcels) == 0
    assert empty.any() and np.isnan(new.loc[empty, "balanced_elevation_m"]).all()
    assert (new.loc[empty, ["balanced_cut_m3", "cut_m3"]] == 0).all().all()
    assert new.loc[7, "balanced_elevation_m"] == 1750.0 and new.loc[7, "balanced_cut_m3"] == 0


def test_earthwork_in_blocks_of_parcels_equals_all_at_once(tmp_path):
    rng = np.random.default_rng(4)
    z = (1800 + np.cumsum(rng.normal(0, 0.5, (70, 90)), axis=1)).astype(np.float32)
    z[rng.random(z.shape) < 0.02] = -9999  # nodata cells are left out
    dem = write_raster(tmp_path / "dem.tif", z)
    geoms = [
        box(rng.uniform(-20, 850), rng.uniform(-20, 650), rng.uniform(5, 60), rng.uniform(5, 60))
        for _ in range(150)
    ]
    cells = grid_cells({"dem": dem}, parcels(*geoms), projected=True)
    whole = earthwork_of_cells(cells.parcel_cells("dem"), compaction=1.3)
    blocks = earthwork_of_grid(cells, "dem", compaction=1.3, block_cells=200)
    assert len(list(cells.chunks("dem", cells=200))) > 10
    pd.testing.assert_frame_equal(blocks, whole, check_exact=False, rtol=1e-12)

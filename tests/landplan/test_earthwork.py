"""Cut and fill: a tilted plane by hand, half cells, direct cell sums on a real DEM."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from scipy.optimize import brentq

from landplan.core.errors import CRSError
from landplan.raster.earthwork import balanced_elevation, earthwork, pad_volumes
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

"""Exact zonal statistics: hand cases, exactextract called directly, shapely cell areas."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from landplan.core.errors import CRSError, ManifestError, RasterError
from landplan.raster.zonal import parcel_cells, share_above, zonal_stats
from tests.helpers import GK, X0, Y0, box

CELL = 10.0


def write_raster(path: Path, z: np.ndarray, *, crs=GK, nodata=-9999.0) -> Path:
    """``z`` on 10 m cells whose lower-left corner is (X0, Y0) (row 0 is the northern row)."""
    top = Y0 + z.shape[0] * CELL
    with rasterio.open(
        path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
        dtype="float32", crs=crs, transform=from_origin(X0, top, CELL, CELL), nodata=nodata,
    ) as ds:  # fmt: skip
        ds.write(z.astype(np.float32), 1)
    return path


@pytest.fixture
def grid4(tmp_path) -> Path:
    """4×4 cells of 10 m: value = 10·row + col (row 0 north), one nodata cell at row 3, col 3."""
    z = 10 * np.arange(4)[:, None] + np.arange(4)[None, :]
    z = z.astype(np.float32)
    z[3, 3] = -9999
    return write_raster(tmp_path / "g.tif", z)


def parcels(*geoms, ids=None) -> gpd.GeoDataFrame:
    ids = ids or [f"P{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"DKBH": ids}, geometry=list(geoms), crs=GK)


def test_hand_case_partial_cells(grid4):
    # A: the two south-west cells (row 3: values 30, 31) fully → mean 30.5
    # B: half of cell (row 0, col 0) = 0 and all of cell (row 0, col 1) = 1 → mean (0·½ + 1)/1.5
    # C: covers the nodata cell and half of (row 3, col 2) = 32 → nodata left out
    p = parcels(box(0, 0, 20, 10), box(5, 30, 15, 10), box(25, 0, 15, 10))
    df = zonal_stats(grid4, p, stats=("mean", "min", "max", "count"), id_field="DKBH")
    assert list(df["DKBH"]) == ["P0", "P1", "P2"]
    assert df["mean"].tolist() == pytest.approx([30.5, 1 / 1.5, 32.0])
    assert df["min"].tolist() == [30, 0, 32] and df["max"].tolist() == [31, 1, 32]
    assert df["count"].tolist() == pytest.approx([2.0, 1.5, 0.5])


def test_share_above_hand_case(grid4):
    # x 0–13 over rows 0–1: col 0 whole (values 0, 10), col 1 at 30 % (values 1, 11);
    # threshold 5 → above: 10 (whole) and 11 (30 %) of a covered 2.6 cells
    p = parcels(box(0, 20, 13, 20))
    share = share_above(grid4, p, 5.0, id_field="DKBH")
    assert share["P0"] == pytest.approx((1.0 + 0.3) / 2.6)
    assert share.name == "share_above"


def test_share_above_against_shapely_cell_areas(tmp_path):
    """Independent oracle: intersect each parcel with every cell polygon using shapely."""
    rng = np.random.default_rng(5)
    z = rng.uniform(0, 30, (30, 40)).astype(np.float32)
    src = write_raster(tmp_path / "s.tif", z)
    geoms = [
        shapely.Point(X0 + rng.uniform(50, 350), Y0 + rng.uniform(50, 250)).buffer(
            rng.uniform(8, 40), quad_segs=8
        )
        for _ in range(12)
    ]
    p = parcels(*geoms)
    got = share_above(src, p, 15.0, id_field="DKBH").to_numpy()
    rows, cols = np.mgrid[0:30, 0:40]
    x0 = X0 + cols.ravel() * CELL
    y1 = Y0 + (30 - rows.ravel()) * CELL
    cells = shapely.box(x0, y1 - CELL, x0 + CELL, y1)
    above = z.ravel() > 15
    for g, share in zip(geoms, got, strict=True):
        a = shapely.area(shapely.intersection(cells, g))
        assert share == pytest.approx(a[above].sum() / a.sum(), abs=1e-6)  # float32 coverage


def test_zonal_matches_exactextract_called_directly(tmp_path):
    from exactextract import exact_extract

    rng = np.random.default_rng(7)
    z = rng.normal(1500, 40, (60, 80)).astype(np.float32)
    z[rng.random(z.shape) < 0.05] = -9999
    src = write_raster(tmp_path / "z.tif", z)
    geoms = [
        shapely.Point(X0 + rng.uniform(0, 800), Y0 + rng.uniform(0, 600)).buffer(rng.uniform(5, 60))
        for _ in range(40)
    ]
    p = parcels(*geoms)
    stats = ["mean", "min", "max", "sum", "count", "stdev"]
    got = zonal_stats(src, p, stats=stats, id_field="DKBH")
    ref = exact_extract(str(src), p, stats, output="pandas")
    for s in stats:
        np.testing.assert_allclose(got[s].to_numpy(), ref[s].to_numpy(), rtol=1e-12)


def test_parcel_cells_coverage_adds_up_to_area(grid4):
    p = parcels(box(3, 3, 24.5, 11.25), box(0, 0, 40, 40))
    cells = parcel_cells(grid4, p)
    got = np.bincount(cells.row, weights=cells.coverage * cells.cell_area)
    assert got[0] == pytest.approx(24.5 * 11.25)
    assert got[1] == pytest.approx(1600 - 100)  # the nodata cell is left out


def test_parcel_outside_raster_gets_nan(grid4):
    p = parcels(box(1000, 1000, 10, 10), box(0, 0, 10, 10))
    df = zonal_stats(grid4, p, id_field="DKBH")
    assert np.isnan(df.loc[0, "mean"]) and df.loc[1, "mean"] == 30
    assert np.isnan(share_above(grid4, p, 0, id_field="DKBH")["P0"])


def test_crs_mismatch_names_both_crs(grid4):
    p = parcels(box(0, 0, 10, 10)).to_crs("EPSG:4490")
    with pytest.raises(CRSError, match=r"EPSG:4542.*EPSG:4490"):
        zonal_stats(grid4, p)
    with pytest.raises(CRSError, match="EPSG:4490"):
        share_above(grid4, p, 1.0)


def test_missing_id_field_and_all_nodata_raster(grid4, tmp_path):
    with pytest.raises(ManifestError, match="no field 'XX'"):
        zonal_stats(grid4, parcels(box(0, 0, 10, 10)), id_field="XX")
    empty = write_raster(tmp_path / "e.tif", np.full((4, 4), -9999.0))
    with pytest.raises(RasterError):
        zonal_stats(empty, parcels(box(0, 0, 10, 10)))


def test_bad_geometries_never_reach_exactextract(tmp_path):
    """Empty, null, zero-area, NaN and infinite parcels get NaN rows; the good ones keep their values."""
    z = np.arange(100, dtype=float).reshape(10, 10)
    raster = write_raster(tmp_path / "z.tif", z)
    good = box(0, 0, 30, 30)
    bad = [
        shapely.Polygon(),
        None,
        shapely.Polygon([(X0, Y0), (X0 + 10, Y0), (X0 + 20, Y0)]),
        shapely.Polygon([(X0, Y0), (np.nan, Y0), (X0 + 10, Y0 + 10)]),
        shapely.Polygon([(X0, Y0), (np.inf, Y0), (X0 + 10, Y0 + 10)]),
    ]
    parcels = gpd.GeoDataFrame({"id": list("gabcde")}, geometry=[good, *bad], crs=GK)
    stats = zonal_stats(raster, parcels, stats=("mean", "count"), id_field="id")
    alone = zonal_stats(raster, parcels.iloc[:1], stats=("mean", "count"), id_field="id")
    assert stats["id"].tolist() == list("gabcde")
    assert (
        stats.iloc[0]["mean"] == pytest.approx(alone.iloc[0]["mean"])
        and stats.iloc[0]["count"] == 9
    )
    assert stats.iloc[1:][["mean", "count"]].isna().all().all()
    share = share_above(raster, parcels, 50.0)
    assert np.isnan(share.to_numpy()[1:]).all() and 0 <= share.to_numpy()[0] <= 1

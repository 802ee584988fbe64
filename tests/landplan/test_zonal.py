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
from landplan.raster.zonal import grid_cells, parcel_cells, share_above, zonal_stats
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


def _uint8_raster(path: Path, z: np.ndarray, *, nodata=0) -> Path:
    top = Y0 + z.shape[0] * CELL
    with rasterio.open(
        path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1, dtype="uint8",
        crs=GK, transform=from_origin(X0, top, CELL, CELL), nodata=nodata,
    ) as ds:  # fmt: skip
        ds.write(z.astype(np.uint8), 1)
    return path


def test_one_pass_over_several_rasters_equals_exactextract_on_each(tmp_path):
    """grid_cells' statistics are exactextract's, to the bit, for every raster of the grid."""
    from exactextract import exact_extract

    rng = np.random.default_rng(12)
    shape = (60, 80)
    z = rng.normal(1500, 40, shape).astype(np.float32)
    z[rng.random(shape) < 0.05] = -9999  # nodata
    s = rng.uniform(0, 30, shape).astype(np.float32)
    s[rng.random(shape) < 0.05] = np.nan  # NaN is no data to exactextract too
    g = rng.integers(0, 6, shape)  # 0 = nodata; many ties between classes
    rasters = {
        "z": write_raster(tmp_path / "z.tif", z),
        "s": write_raster(tmp_path / "s.tif", s),
        "g": _uint8_raster(tmp_path / "g.tif", g),
    }
    geoms = [
        shapely.Point(X0 + rng.uniform(-50, 850), Y0 + rng.uniform(-50, 650)).buffer(
            rng.uniform(3, 70)
        )
        for _ in range(120)
    ] + [box(0, 0, 20, 20), box(5000, 5000, 10, 10), shapely.Polygon()]  # whole, outside, empty
    p = parcels(*geoms)
    cells = grid_cells(rasters, p)
    stats = ["mean", "min", "max", "sum", "count", "majority"]
    for name, path in rasters.items():
        got = cells.stats(name, stats)
        small = _stats_in_blocks(cells, name, stats)  # blocks of a few parcels: the same
        ref = zonal_stats(path, p, stats=stats)
        direct = exact_extract(str(path), p.iloc[:-1], stats, output="pandas",
                               strategy="raster-sequential", max_cells_in_memory=4_000_000)  # fmt: skip
        for st in stats:
            x = np.asarray(got[st], dtype=float)
            np.testing.assert_array_equal(x, ref[st].to_numpy(dtype=float), err_msg=f"{name} {st}")
            np.testing.assert_array_equal(x[:-1], direct[st].to_numpy(dtype=float))
            np.testing.assert_array_equal(x[:-1], small[st][:-1], err_msg=f"{name} {st} blocks")
        share = cells.share_above(name, 3.0)
        np.testing.assert_array_equal(share, share_above(path, p, 3.0).to_numpy())
    assert np.isnan(cells.stats("z", ["mean"])["mean"][-2:]).all()  # outside, empty


def _stats_in_blocks(cells, name, stats):
    from landplan.raster.zonal import cell_stats

    parts = [
        cell_stats(c.row, c.coverage, c.value, c.n_parcels, stats)
        for _, c in cells.chunks(name, cells=37, native=True)
    ]
    return {s: np.concatenate([np.asarray(x[s], dtype=float) for x in parts]) for s in stats}


def test_grid_cells_refuses_rasters_off_the_grid(grid4, tmp_path):
    other = tmp_path / "o.tif"
    with rasterio.open(
        other, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs=GK,
        transform=from_origin(X0 + 5, Y0 + 40, CELL, CELL),
    ) as ds:  # fmt: skip
        ds.write(np.ones((1, 4, 4), np.float32))
    with pytest.raises(RasterError, match="not on the grid"):
        grid_cells({"a": grid4, "b": other}, parcels(box(0, 0, 10, 10)))


def test_large_rasters_are_read_band_by_band_with_the_same_result(tmp_path, monkeypatch):
    from landplan.raster import zonal

    rng = np.random.default_rng(3)
    z = rng.normal(100, 10, (1300, 24)).astype(np.float32)  # 3 bands of 512 rows
    z[rng.random(z.shape) < 0.03] = -9999
    src = write_raster(tmp_path / "tall.tif", z)
    geoms = [
        box(rng.uniform(0, 200), rng.uniform(0, 12900), 35, rng.uniform(5, 300)) for _ in range(80)
    ]
    p = parcels(*geoms)
    whole = grid_cells({"z": src}, p).stats("z", ["mean", "min", "max"])
    monkeypatch.setattr(zonal, "WHOLE_CELLS", 0)
    monkeypatch.setattr(zonal, "BAND_CELLS", 1000)
    cells = grid_cells({"z": src}, p)
    banded = cells.stats("z", ["mean", "min", "max"])
    assert cells._cache["bands"].order is not None and len(cells._cache["bands"].start) == 4
    for s in whole:
        np.testing.assert_array_equal(banded[s], whole[s])
    ref = zonal_stats(src, p, stats=["mean", "min", "max"])
    np.testing.assert_array_equal(banded["mean"], ref["mean"].to_numpy())
    # the cells looked up a few at a time (both modes) find the same values
    monkeypatch.setattr(zonal, "_PIECE", 7)
    for whole_cells in (0, 1 << 25):
        monkeypatch.setattr(zonal, "WHOLE_CELLS", whole_cells)
        pieces = grid_cells({"z": src}, p).stats("z", ["mean", "min", "max"])
        for s in whole:
            np.testing.assert_array_equal(pieces[s], whole[s])


def test_parcels_in_batches_get_the_cells_of_one_run(grid4, tmp_path, monkeypatch):
    from landplan.raster import zonal

    rng = np.random.default_rng(8)
    z = rng.normal(0, 1, (50, 70)).astype(np.float32)
    src = write_raster(tmp_path / "b.tif", z)
    geoms = [
        shapely.Point(X0 + rng.uniform(0, 700), Y0 + rng.uniform(0, 500)).buffer(rng.uniform(2, 40))
        for _ in range(60)
    ]
    p = parcels(*geoms[:30], shapely.Polygon(), *geoms[30:])
    one = grid_cells({"z": src}, p)
    monkeypatch.setattr(zonal, "BATCH_CELLS", 30)  # a batch every parcel or two
    many = grid_cells({"z": src}, p)
    for f in ("offsets", "coverage", "cell", "sent"):
        np.testing.assert_array_equal(getattr(many, f), getattr(one, f), err_msg=f)
    assert not many.sent[30] and many.offsets[31] == many.offsets[30]

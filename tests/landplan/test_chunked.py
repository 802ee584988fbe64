"""Chunked (dask) slope, relief, distance and suitability equal the single-process functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from geopandas import GeoSeries
from rasterio.transform import from_origin

from landplan.raster import chunked, terrain
from landplan.raster.distance import distance_array
from landplan.raster.grid import NODATA_OUT
from landplan.raster.suitability import SuitabilityConfig, score_suitability
from tests.helpers import GK, X0, Y0

CHUNKS = 64  # cuts the 344×403 Jacksboro DEM into 6×7 chunks, the last ones partial


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _write(path: Path, z: np.ndarray, cx: float, cy: float, nodata) -> Path:
    with rasterio.open(
        path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1, dtype=z.dtype,
        crs=GK, transform=from_origin(X0, Y0 + 50_000, cx, cy), nodata=nodata,
    ) as ds:  # fmt: skip
        ds.write(z, 1)
    return path


@pytest.fixture(scope="module")
def dems(tmp_path_factory) -> dict[str, tuple[Path, np.ndarray, float, float]]:
    """Jacksboro (matplotlib's USGS 3″ DEM, int16, non-square 74.27×92.67 m cells), as is and
    with nodata holes lying across chunk borders (and touching the raster edge)."""
    from matplotlib import cbook

    d = tmp_path_factory.mktemp("dems")
    jb = cbook.get_sample_data("jacksboro_fault_dem.npz")
    z = np.asarray(jb["elevation"], np.int16)
    cy = 111_200 * float(jb["dy"])
    cx = 111_200 * float(jb["dx"]) * np.cos(np.radians(float(jb["ymin"])))
    holes = z.copy()
    holes[60:70, 100:140] = -32768  # across the row border at 64 and the column border at 128
    holes[120:200, 190:195] = -32768  # across column border 192 and row borders 128, 192
    holes[0:3, 250:260] = -32768  # on the top edge
    holes[300:344, 400:403] = -32768  # bottom-right corner
    holes[127:129, 255:257] = -32768  # a 2×2 hole on a chunk corner
    out = {}
    for name, arr in (("jacksboro", z), ("holes", holes)):
        path = _write(d / f"{name}.tif", arr, cx, cy, -32768)
        out[name] = (path, np.where(arr == -32768, np.nan, arr).astype(np.float32), cx, cy)
    return out


@pytest.mark.parametrize("name", ["jacksboro", "holes"])
@pytest.mark.parametrize("algorithm", ["horn", "zevenbergenthorne"])
def test_slope_equals_the_whole_array(client, dems, name, algorithm):
    path, z, cx, cy = dems[name]
    dem, grid = chunked.read_dask(path, chunks=CHUNKS)
    assert dem.numblocks == (6, 7)
    for units in ("degrees", "percent"):
        got = chunked.slope_dask(dem, grid, units=units, algorithm=algorithm).compute()
        want = terrain.slope_array(z, cx, cy, units=units, algorithm=algorithm)
        assert got.dtype == np.float32
        assert np.array_equal(got, want, equal_nan=True)
    assert np.isnan(got[0]).all() and np.isnan(got[:, -1]).all()  # edges nodata, as gdaldem


@pytest.mark.parametrize("name", ["jacksboro", "holes"])
@pytest.mark.parametrize("window", [3, 4, 15])
def test_relief_equals_the_whole_array(client, dems, name, window):
    path, z, _, _ = dems[name]
    dem, grid = chunked.read_dask(path, chunks=(50, 64))
    got = chunked.relief_dask(dem, grid, window=window).compute()
    want = terrain.relief_array(z, window=window)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.isnan(got).sum() == np.isnan(z).sum()  # nodata exactly where the DEM has none


def test_relief_brute_force_at_a_chunk_corner(client, dems):
    """Independent oracle: max − min of the clipped window, by hand, around (64, 64)."""
    path, z, _, _ = dems["holes"]
    dem, grid = chunked.read_dask(path, chunks=CHUNKS)
    got = chunked.relief_dask(dem, grid, window=12).compute()
    for i, j in [(63, 63), (64, 64), (63, 64), (0, 0), (343, 402), (127, 256)]:
        w = z[max(0, i - 6) : i + 6, max(0, j - 6) : j + 6]
        want = np.nan if np.isnan(z[i, j]) else np.nanmax(w) - np.nanmin(w)
        np.testing.assert_equal(got[i, j], np.float32(want))


def test_distance_equals_distance_array(client, dems):
    path, _, _, _ = dems["jacksboro"]
    from landplan.raster.distance import read_grid

    grid = read_grid(path)
    x1 = X0 + grid.width * grid.cellsize_x
    y_top = Y0 + 50_000
    lines = GeoSeries(
        [
            shapely.LineString([(X0 + 500, y_top - 300), (x1 - 700, y_top - 25_000)]),
            shapely.LineString([(X0 + 9_000, y_top - 31_000), (X0 + 29_000, y_top - 31_500)]),
            shapely.Point(X0 + 20_000, y_top - 10_000),
            shapely.box(X0 + 5_000, y_top - 20_000, X0 + 6_000, y_top - 18_000),
        ],
        crs=GK,
    )
    for max_d in (1_500.0, 6_000.0):
        got = chunked.distance_dask(lines, path, max_distance_m=max_d, chunks=CHUNKS).compute()
        want = distance_array(lines, path, max_distance_m=max_d)
        assert np.isfinite(want).sum() > 1000 and np.isnan(want).sum() > 1000
        assert np.array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, equal_nan=True)


def test_suitability_equals_score_suitability(client, dems, tmp_path):
    _, z, cx, cy = dems["holes"]
    slope = terrain.slope_array(z, cx, cy)
    s_path = _write(tmp_path / "slope.tif", np.nan_to_num(slope, nan=-9999.0), cx, cy, -9999.0)
    elev = _write(tmp_path / "elev.tif", np.nan_to_num(z, nan=-9999.0), cx, cy, -9999.0)
    mask = np.zeros(z.shape, np.uint8)
    mask[100:180, 30:300] = 1
    m_path = _write(tmp_path / "mask.tif", mask, cx, cy, None)
    cfg = SuitabilityConfig(
        factors=[
            {"name": "slope", "raster": s_path, "weight": 50,
             "rescale": {"kind": "small", "midpoint": 8, "spread": 3}},
            {"name": "elev", "raster": elev, "weight": 30,
             "rescale": {"kind": "gaussian", "midpoint": 400, "spread": 1e-4}},
            {"name": "band", "raster": elev, "weight": 20,
             "rescale": {"kind": "classes", "breaks": [300, 450], "scores": [1, 0.5, 0]}},
        ],
        masks=[m_path],
    )  # fmt: skip
    ref = score_suitability(cfg, tmp_path / "ref.tif", cog=False)
    with rasterio.open(ref.path) as ds:
        want = ds.read(1)
    res = chunked.suitability_dask(cfg, chunks=CHUNKS)
    got = res.score.compute()
    assert np.array_equal(np.where(np.isnan(got), NODATA_OUT, got), want)
    assert int(res.masked.sum().compute()) == ref.masked_cells > 0
    assert res.weights == ref.weights
    # and written as a COG by the workers, tile by tile
    written = chunked.write_cog_dask(res.score, res.grid, tmp_path / "suit.tif")
    with rasterio.open(written.path) as ds:
        assert np.array_equal(ds.read(1), want)
    assert written.cells == ref.cells and written.tiles == 42
    assert written.sum / written.cells == pytest.approx(ref.mean_score, rel=1e-6)  # float32 sums


def test_written_cog_has_cog_layout_and_equals_memory(client, tmp_path):
    """A 1300×1100 synthetic DEM with holes across chunk borders: large enough for overviews."""
    rng = np.random.default_rng(8)
    yy, xx = np.mgrid[0:1100, 0:1300]
    z = (500 + 80 * np.sin(xx / 90) * np.cos(yy / 70) + rng.normal(0, 2, xx.shape)).astype(
        np.float32
    )
    z[250:262, 100:900] = -9999.0
    z[500:700, 511:514] = -9999.0
    path = _write(tmp_path / "dem.tif", z, 10.0, 10.0, -9999.0)
    dem, grid = chunked.read_dask(path, chunks=256)
    arr = chunked.slope_dask(dem, grid)
    out = tmp_path / "slope.tif"
    res = chunked.write_cog_dask(arr, grid, out)
    want = terrain.slope_array(np.where(z == -9999.0, np.nan, z), 10.0, 10.0)
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.overviews(1) == [2, 4]
        assert ds.block_shapes[0] == (512, 512) and ds.nodata == NODATA_OUT
        assert ds.crs.to_epsg() == 4542 and ds.transform == grid.transform
        got = ds.read(1)
    assert np.array_equal(got, np.where(np.isnan(want), NODATA_OUT, want))
    assert res.tiles == 5 * 6 and res.cells == int(np.isfinite(want).sum())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging removed
    plain = chunked.write_cog_dask(arr, grid, tmp_path / "plain.tif", cog=False)
    with rasterio.open(plain.path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG" and not ds.overviews(1)
        assert ds.profile["tiled"] and ds.block_shapes[0] == (512, 512)
        assert np.array_equal(ds.read(1), got)


def test_cli_slope_with_two_workers(dems, tmp_path):
    path, z, cx, cy = dems["holes"]
    out = tmp_path / "slope.tif"
    env = {k: v for k, v in os.environ.items() if k != "LANDPLAN_DASK_SCHEDULER"}
    run = subprocess.run(
        [sys.executable, "-m", "landplan", "terrain", "slope", str(path), str(out),
         "--workers", "2"],
        capture_output=True, text=True, env={**env, "COLUMNS": "120"}, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "dask dashboard: http" in run.stdout and "(chunked)" in run.stdout
    want = terrain.slope_array(z, cx, cy)
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1), np.where(np.isnan(want), NODATA_OUT, want))

"""``landplan distance`` and ``landplan costdistance``, the real command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from landplan.raster.costdistance import cost_distance
from landplan.raster.distance import distance_array
from landplan.raster.grid import NODATA_OUT
from tests.helpers import GK


def _landplan(*args, cwd):
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "landplan", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def sample_dir(sample_manifest) -> Path:
    return Path(sample_manifest).parent


@pytest.fixture(scope="module")
def cost_tif(sample_dir, tmp_path_factory) -> Path:
    """A cost raster on the DEM grid: 1 per metre on the valley floor, rising with height."""
    with rasterio.open(sample_dir / "dem.tif") as src:
        dem = src.read(1, masked=True)
        profile = src.profile
    cost = np.ma.filled(1.0 + np.clip(dem - 2400.0, 0, None) / 50.0, -9999.0).astype("float32")
    path = tmp_path_factory.mktemp("cli") / "cost.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cost, 1)
    return path


def test_distance_command_writes_the_raster(sample_dir, tmp_path):
    out = tmp_path / "dist_road.tif"
    run = _landplan(
        "distance",
        sample_dir / "networks.gpkg",
        out,
        "--like",
        sample_dir / "dem.tif",
        "--layer",
        "road",
        "--max-distance-m",
        "400",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert str(out) in run.stdout and "56 features" in run.stdout
    with rasterio.open(out) as src:
        written = src.read(1)
    roads = gpd.read_file(sample_dir / "networks.gpkg", layer="road")
    expect = distance_array(roads, sample_dir / "dem.tif", max_distance_m=400)
    assert np.array_equal(np.where(np.isnan(expect), NODATA_OUT, expect), written)


def test_costdistance_command_with_polygon_barriers(sample_dir, cost_tif, tmp_path):
    barriers = tmp_path / "barriers.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(619_500, 2_977_600).buffer(400)], crs=GK).to_file(
        barriers
    )
    out = tmp_path / "acc.tif"
    args = ["--sources", sample_dir / "networks.gpkg", "--layer", "water", "--cost", cost_tif]
    run = _landplan("costdistance", out, *args, "--barriers", barriers, "--knight", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "cells reached" in run.stdout
    with rasterio.open(out) as src:
        written = src.read(1, masked=True)
    water = gpd.read_file(sample_dir / "networks.gpkg", layer="water")
    bars = gpd.read_file(barriers)
    expect = cost_distance(water, cost_tif, barriers=bars, knight=True).accumulated
    assert np.array_equal(written.mask, np.isnan(expect))
    assert np.allclose(written.compressed(), expect[~np.isnan(expect)], rtol=1e-6)
    assert f"{int((~np.isnan(expect)).sum()):,} cells reached" in run.stdout
    assert f"max {np.nanmax(expect):.1f}" in run.stdout


def test_outputs_are_tiled_geotiffs_by_default_and_cogs_with_cog(sample_dir, cost_tif, tmp_path):
    nets = sample_dir / "networks.gpkg"
    for name, extra in (("plain", []), ("cog", ["--cog"])):
        run = _landplan("distance", nets, tmp_path / f"d_{name}.tif", "--like", cost_tif,
                        "--layer", "road", *extra, cwd=tmp_path)  # fmt: skip
        assert run.returncode == 0, run.stderr
        run = _landplan("costdistance", tmp_path / f"c_{name}.tif", "--sources", nets, "--layer",
                        "road", "--cost", cost_tif, *extra, cwd=tmp_path)  # fmt: skip
        assert run.returncode == 0, run.stderr
    for kind in ("d", "c"):
        with (
            rasterio.open(tmp_path / f"{kind}_plain.tif") as plain,
            rasterio.open(tmp_path / f"{kind}_cog.tif") as cog,
        ):
            assert plain.profile["tiled"] and plain.block_shapes[0] == (512, 512)
            assert plain.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG"
            assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert np.array_equal(plain.read(1), cog.read(1))


def test_bad_input_exits_2_with_the_reason(sample_dir, cost_tif, tmp_path):
    roads_wgs = tmp_path / "roads_wgs.geojson"
    gpd.read_file(sample_dir / "networks.gpkg", layer="road").to_crs("EPSG:4326").to_file(roads_wgs)
    run = _landplan("distance", roads_wgs, tmp_path / "d.tif", "--like", cost_tif, cwd=tmp_path)
    assert run.returncode == 2
    assert "error:" in run.stderr and "EPSG:4326" in run.stderr and "EPSG:4542" in run.stderr
    corrupt = tmp_path / "cost.tif"
    corrupt.write_bytes(b"II*\x00garbage")
    args = ["--sources", sample_dir / "networks.gpkg", "--layer", "road", "--cost", corrupt]
    run = _landplan("costdistance", tmp_path / "a.tif", *args, cwd=tmp_path)
    assert run.returncode == 2 and "cost.tif" in run.stderr
    args = ["--sources", sample_dir / "networks.gpkg", "--layer", "road", "--cost", cost_tif]
    run = _landplan("costdistance", tmp_path / "a.tif", *args, "--max-cells", "100", cwd=tmp_path)
    assert run.returncode == 2 and "budget" in run.stderr
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "d.tif").exists()

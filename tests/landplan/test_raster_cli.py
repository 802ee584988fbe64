"""``landplan terrain slope|aspect|relief``, ``landplan zonal`` and ``landplan earthwork``."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from typer.testing import CliRunner

from landplan.cli.main import app
from landplan.raster.terrain import slope_array
from tests.helpers import GK, box
from tests.landplan.test_zonal import CELL, write_raster

runner = CliRunner()


@pytest.fixture
def dem(tmp_path):
    """A 40×50 DEM of 10 m cells: a bowl plus a ramp (elevations 1000–1100 m)."""
    rows, cols = np.mgrid[0:40, 0:50]
    z = 1000 + 0.05 * ((rows - 20) ** 2 + (cols - 25) ** 2) + 0.5 * cols
    return write_raster(tmp_path / "dem.tif", z)


@pytest.fixture
def parcels_file(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"DKBH": ["A-1", "A-2"]}, geometry=[box(0, 0, 200, 150), box(205, 103, 120, 91)], crs=GK
    )
    path = tmp_path / "parcels.gpkg"
    gdf.to_file(path)
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_terrain_slope_percent_and_algorithm(dem, tmp_path):
    res = invoke("terrain", "slope", dem, tmp_path / "s.tif", "--percent", "--algorithm",
                 "zevenbergenthorne")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "slope_percent: 50×40 cells of 10×10 m" in res.output
    with rasterio.open(dem) as ds:
        z = ds.read(1)
    ref = slope_array(z, CELL, CELL, units="percent", algorithm="zevenbergenthorne")
    got = read(tmp_path / "s.tif")
    np.testing.assert_allclose(got[1:-1, 1:-1], ref[1:-1, 1:-1], rtol=1e-6)
    assert (got[0] == -9999).all()


def test_terrain_outputs_are_tiled_geotiffs_or_cogs_on_request(dem, tmp_path):
    assert invoke("terrain", "slope", dem, tmp_path / "s.tif").exit_code == 0
    assert invoke("terrain", "slope", dem, tmp_path / "c.tif", "--cog").exit_code == 0
    assert invoke("terrain", "relief", dem, tmp_path / "r.tif", "--cog").exit_code == 0
    with rasterio.open(tmp_path / "s.tif") as plain, rasterio.open(tmp_path / "c.tif") as cog:
        assert plain.profile["tiled"] and plain.block_shapes[0] == (512, 512)
        assert plain.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG"
        assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert cog.compression.name.upper() == "DEFLATE"
        assert np.array_equal(plain.read(1), cog.read(1))
    with rasterio.open(tmp_path / "r.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_zonal_reads_the_named_layer_of_a_geopackage(dem, parcels_file, tmp_path):
    multi = tmp_path / "multi.gpkg"
    gpd.read_file(parcels_file).to_file(multi, layer="地块 parcels")
    gpd.GeoDataFrame({"DKBH": ["X"]}, geometry=[box(0, 0, 10, 10)], crs=GK).to_file(
        multi, layer="other"
    )
    out = tmp_path / "z.csv"
    res = invoke("zonal", dem, multi, "--id-field", "DKBH", "--out", out, "--stats", "count",
                 "--layer", "地块 parcels")  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert df["DKBH"].tolist() == ["A-1", "A-2"]
    assert df["count"].tolist() == pytest.approx([300.0, 120 * 91 / 100])
    res = invoke("zonal", dem, multi, "--id-field", "DKBH", "--out", tmp_path / "y.csv")
    assert res.exit_code == 2 and "other" in res.output and "layer" in res.output
    res = invoke("zonal", dem, multi, "--id-field", "DKBH", "--out", tmp_path / "y.csv",
                 "--layer", "nope")  # fmt: skip
    assert res.exit_code == 2 and "nope" in res.output
    assert not (tmp_path / "y.csv").exists()


def test_terrain_slope_compute_edges_and_aspect(dem, tmp_path):
    assert invoke("terrain", "slope", dem, tmp_path / "s.tif", "--compute-edges").exit_code == 0
    assert (read(tmp_path / "s.tif") != -9999).all()
    res = invoke("terrain", "aspect", dem, tmp_path / "a.tif")
    assert res.exit_code == 0, res.output
    a = read(tmp_path / "a.tif")[1:-1, 1:-1]
    assert np.argwhere(a == -9999).tolist() == [[19, 19]]  # the flat bottom of the bowl, (20, 20)
    assert ((a >= 0) & (a < 360) | (a == -9999)).all()


def test_terrain_relief_default_and_explicit_window(dem, tmp_path):
    res = invoke("terrain", "relief", dem, tmp_path / "r.tif")
    assert res.exit_code == 0 and "window 15×15 cells" in res.output  # 10 m cells
    res = invoke("terrain", "relief", dem, tmp_path / "r3.tif", "--window", "3")
    assert res.exit_code == 0 and "window 3×3" in res.output
    assert read(tmp_path / "r.tif").max() > read(tmp_path / "r3.tif").max()


def test_zonal_csv(dem, parcels_file, tmp_path):
    out = tmp_path / "z.csv"
    res = invoke("zonal", dem, parcels_file, "--stats", "mean,min,max,count", "--id-field", "DKBH",
                 "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert list(df.columns) == ["DKBH", "mean", "min", "max", "count"]
    assert df["count"].tolist() == pytest.approx([300.0, 120 * 91 / 100])


def test_earthwork_csv(dem, parcels_file, tmp_path):
    out = tmp_path / "e.csv"
    res = invoke("earthwork", dem, parcels_file, "--id-field", "DKBH", "--out", out,
                 "--design-elevation", "1030", "--compaction", "1.1")  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert df["DKBH"].tolist() == ["A-1", "A-2"]
    assert np.allclose(df["balanced_cut_m3"], 1.1 * df["balanced_fill_m3"])
    assert (df["design_elevation_m"] == 1030).all()


def test_bad_input_exits_2_with_a_message(dem, parcels_file, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"garbage" * 50)
    res = invoke("terrain", "slope", bad, tmp_path / "s.tif")
    assert res.exit_code == 2 and "error:" in res.output and "bad.tif" in res.output
    other = tmp_path / "other.tif"
    write_raster(other, np.ones((5, 5)), crs="EPSG:4543")
    res = invoke("zonal", other, parcels_file, "--id-field", "DKBH", "--out", tmp_path / "z.csv")
    assert res.exit_code == 2 and "EPSG:4543" in res.output and "EPSG:4542" in res.output
    res = invoke("earthwork", dem, parcels_file, "--id-field", "NOPE", "--out", tmp_path / "e.csv")
    assert res.exit_code == 2 and "NOPE" in res.output
    empty = write_raster(tmp_path / "empty.tif", np.full((5, 5), -9999.0))
    res = invoke("terrain", "relief", empty, tmp_path / "r.tif")
    assert res.exit_code == 2 and "nodata" in res.output
    res = invoke("terrain", "slope", dem, tmp_path / "s.tif", "--algorithm", "d8")
    assert res.exit_code == 2 and "algorithm" in res.output

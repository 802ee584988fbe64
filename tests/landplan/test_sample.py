"""Tests of the synthetic sample park (:mod:`landplan.data.sample`)."""

from __future__ import annotations

import tomllib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from landplan.data.sample import NETWORK_KINDS, generate_sample

FILES = [
    "manifest.toml",
    "dem.tif",
    "parcels/parcels.shp",
    "parcels/parcels.shx",
    "parcels/parcels.dbf",
    "parcels/parcels.prj",
    "eco.gpkg",
    "farmland.zip",
    "udb.geojson",
    "inundation.gpkg",
    "networks.gpkg",
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return generate_sample(tmp_path_factory.mktemp("sample")).parent


@pytest.fixture(scope="module")
def parcels(sample):
    return gpd.read_file(sample / "parcels" / "parcels.shp", encoding="GBK")


def _overlap_areas(geoms, others):
    """Per-geometry total intersection area with ``others``."""
    a, b = np.asarray(geoms), np.asarray(others)
    return shapely.area(shapely.intersection(a[:, None], b[None, :])).sum(axis=1)


def test_files_exist(sample):
    for name in FILES:
        assert (sample / name).is_file(), name
    assert not (sample / "parcels" / "parcels.cpg").exists()


def test_deterministic(sample, parcels, tmp_path):
    again = generate_sample(tmp_path / "again").parent
    other = gpd.read_file(again / "parcels" / "parcels.shp", encoding="GBK")
    pd.testing.assert_frame_equal(parcels.drop(columns="geometry"), other.drop(columns="geometry"))
    assert list(shapely.to_wkb(parcels.geometry.values)) == list(
        shapely.to_wkb(other.geometry.values)
    )
    for path, layer in [("eco.gpkg", "redline"), ("networks.gpkg", "water")]:
        a = gpd.read_file(sample / path, layer=layer)
        b = gpd.read_file(again / path, layer=layer)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
        assert list(shapely.to_wkb(a.geometry.values)) == list(shapely.to_wkb(b.geometry.values))


def test_dbf_is_gbk_with_chinese(sample):
    raw = (sample / "parcels" / "parcels.dbf").read_bytes()
    body = raw[int.from_bytes(raw[8:10], "little") :]
    text = body.decode("gbk")
    assert "金山片区" in text and "标准地" in text
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_parcel_attributes(parcels):
    assert 2500 <= len(parcels) <= 4000
    assert parcels["DKBH"].is_unique
    assert parcels["DKBH"].str.fullmatch(r"530702-GY-\d{5}").all()
    assert parcels["DKMC"].str.contains("[\u4e00-\u9fff]").all()
    assert set(parcels["ZT"]) == {"储备", "标准地", "已出让", "在建"}
    assert set(parcels["QY"]) == {"金山片区", "东山片区", "玉龙片区"}
    assert set(parcels["DLBM"]) <= {"0601", "0602", "0508", "0809", "0810"}
    # TBMJ is the ellipsoidal area: a few 1e-4 below the GK planar area here
    ratio = parcels["TBMJ"] / parcels.area
    assert ratio.between(0.999, 1.0).all()


def test_dongshan_standard_land(parcels):
    std = parcels[(parcels["QY"] == "东山片区") & (parcels["ZT"] == "标准地")]
    assert 380.0 <= std.area.sum() * 3 / 2000 <= 420.0


def test_parcels_valid_and_tiling(parcels):
    geoms = np.asarray(parcels.geometry.values)
    assert shapely.is_valid(geoms).all()
    assert not shapely.is_empty(geoms).any()
    assert (shapely.get_type_id(geoms) == 3).all()  # Polygon
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    overlap = shapely.area(shapely.intersection(geoms[i[keep]], geoms[j[keep]])).sum()
    assert overlap < 1.0
    assert tree.query(geoms, predicate="overlaps").shape[1] == 0


def test_redline_layer(sample):
    red = gpd.read_file(sample / "eco.gpkg", layer="redline")
    assert red.crs.to_epsg() == 4490
    assert shapely.is_valid(red.geometry.values).all()
    assert red["HXMC"].str.contains("[\u4e00-\u9fff]").all()
    parts = shapely.get_parts(red.geometry.values)
    assert any(len(p.interiors) > 0 for p in parts)
    assert (shapely.get_num_geometries(red.geometry.values) > 1).any()


def test_constraint_situations(sample, parcels):
    geoms = parcels.geometry.values
    red = gpd.read_file(sample / "eco.gpkg", layer="redline").to_crs(parcels.crs)
    red_area = _overlap_areas(geoms, red.geometry.values)
    slivers = (red_area > 1e-6) & (red_area < 5.0)
    assert 2 <= slivers.sum() <= 3
    assert (red_area >= 5.0).sum() >= 5

    farm = gpd.read_file(f"zip://{sample / 'farmland.zip'}")
    assert farm.crs.to_epsg() == 4542 and set(farm["DLMC"]) <= {"水田", "旱地", "水浇地"}
    assert shapely.is_valid(farm.geometry.values).all()
    assert (_overlap_areas(geoms, farm.geometry.values) > 1.0).sum() >= 3

    flood = gpd.read_file(sample / "inundation.gpkg", layer="inundation")
    assert (_overlap_areas(geoms, flood.geometry.values) > 1.0).sum() >= 3

    udb = gpd.read_file(sample / "udb.geojson")
    assert udb.crs.to_epsg() == 4326
    inside = parcels.within(udb.to_crs(parcels.crs).union_all())
    assert 0.8 * len(parcels) < inside.sum() < len(parcels)


def test_networks(sample):
    for kind in NETWORK_KINDS:
        layer = gpd.read_file(sample / "networks.gpkg", layer=kind)
        assert layer.crs.to_epsg() == 4542
        assert set(layer["status"]) == {"已建", "规划"}
        assert set(layer.geom_type) <= {"LineString", "MultiLineString"}
        assert shapely.is_valid(layer.geometry.values).all()


def test_dem(sample, parcels):
    with rasterio.open(sample / "dem.tif") as dem:
        assert dem.crs.to_epsg() == 4542
        assert dem.res == (10.0, 10.0)
        assert dem.nodata == -9999.0 and dem.dtypes[0] == "float32"
        b = dem.bounds
        z = dem.read(1)
    x0, y0, x1, y1 = parcels.total_bounds
    assert b.left < x0 and b.bottom < y0 and b.right > x1 and b.top > y1
    assert z.min() > 2300.0 and z.max() < 3400.0


def test_manifest(sample):
    manifest = tomllib.loads((sample / "manifest.toml").read_text(encoding="utf-8"))
    assert manifest["name"] == "丽江金山高新区（示例）"
    assert [n["kind"] for n in manifest["networks"]] == list(NETWORK_KINDS)
    paths = [manifest["parcels"]["path"], manifest["dem"]["path"]]
    paths += [c["path"] for c in manifest["constraints"] + manifest["networks"]]
    assert all((sample / p).is_file() for p in paths)

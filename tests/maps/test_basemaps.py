"""Basemaps: Tianditu key handling, Gaode's GCJ-02 shift of every overlay, OSM/none."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

folium = pytest.importorskip("folium")

from landplan.maps import build_result_map  # noqa: E402
from landplan.maps.basemaps import ENV_TIANDITU_TK, BasemapError  # noqa: E402
from landplan.maps.boundary_map import build_boundary_map  # noqa: E402

from landplan.core.gcj02 import wgs84_to_gcj02  # noqa: E402

KEY = "0123abcdSECRETtk"
TO_WGS84 = Transformer.from_crs("EPSG:4542", 4326, always_xy=True)


def _tiles(m) -> list:
    return [c for c in m._children.values() if isinstance(c, folium.TileLayer)]


def _geojson(m, name_part: str):
    return next(
        c
        for c in m._children.values()
        if isinstance(c, folium.GeoJson) and name_part in c.layer_name
    )


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(ENV_TIANDITU_TK, raising=False)


def test_default_basemap_is_unchanged_osm(parcels):
    tiles = _tiles(build_result_map(parcels))
    assert len(tiles) == 1 and "openstreetmap" in tiles[0].tiles


@pytest.mark.parametrize("basemap", ["osm", "none"])
def test_osm_and_none(parcels, basemap):
    m = build_result_map(parcels, basemap=basemap)
    assert len(_tiles(m)) == (1 if basemap == "osm" else 0)


def test_tianditu_without_key_is_a_clear_error(parcels):
    with pytest.raises(BasemapError, match=f"--tk KEY or set {ENV_TIANDITU_TK}"):
        build_result_map(parcels, basemap="tianditu")


def test_tianditu_layers_and_key_not_written(parcels):
    m = build_result_map(parcels, basemap="tianditu", tk=KEY)
    tiles = _tiles(m)
    layers = [t.tiles.split("tianditu.gov.cn/")[1].split("/")[0] for t in tiles]
    assert layers == ["vec_w", "img_w", "cva_w", "cia_w"]
    assert all("TILEMATRIXSET=w" in t.tiles and t.tiles.endswith("&tk={tk}") for t in tiles)
    assert [t.overlay for t in tiles] == [False, False, True, True]
    assert all(t.options["subdomains"] == "01234567" for t in tiles)
    assert "天地图" in tiles[0].options["attribution"]
    assert "审图号" in tiles[0].options["attribution"]
    html = m.get_root().render()
    assert KEY not in html
    assert '"tk": landplanTiandituKey()' in html
    assert "window.landplanTiandituKey = function" in html
    assert 'URLSearchParams(window.location.search).get("tk")' in html
    assert "window.LANDPLAN_TIANDITU_TK" in html


def test_tianditu_key_from_env_and_embedded_on_request(parcels, monkeypatch):
    monkeypatch.setenv(ENV_TIANDITU_TK, KEY)
    html = build_result_map(parcels, basemap="tianditu", embed_key=True).get_root().render()
    assert f'"tk": "{KEY}"' in html
    assert "landplanTiandituKey" not in html


def test_unknown_basemap(parcels):
    with pytest.raises(BasemapError, match="basemap must be one of"):
        build_result_map(parcels, basemap="baidu")


def test_gaode_shifts_every_parcel_vertex(parcels):
    m = build_result_map(parcels, basemap="gaode")
    tile = _tiles(m)[0]
    assert "autonavi.com" in tile.tiles and tile.options["subdomains"] == "1234"
    from landplan.maps.compact import decode_geometries

    layer = next(c for c in m._children.values() if type(c).__name__ == "ParcelLayer")
    shapes = dict(zip(layer.data["ids"], decode_geometries(layer.data["g"]), strict=True))
    for _, row in parcels.iterrows():
        expected = shapely.get_coordinates(row.geometry)
        lon, lat = TO_WGS84.transform(expected[:, 0], expected[:, 1])
        glon, glat = wgs84_to_gcj02(lon, lat)
        drawn = np.array(shapes[row["parcel_id"]][0][0])
        # same vertex set (ring order may start elsewhere); 6 decimals are rounded in the page
        for x, y in zip(glon, glat, strict=True):
            assert np.min(np.hypot(drawn[:, 0] - x, drawn[:, 1] - y)) < 2e-6
        assert np.min(np.hypot(drawn[:, 0] - lon[0], drawn[:, 1] - lat[0])) > 1e-3  # moved


def test_gaode_shifts_constraints_networks_fit_and_image_bounds(
    parcels, constraints, networks, tmp_path
):
    import rasterio
    from rasterio.transform import from_origin

    raster = tmp_path / "slope.tif"
    profile = {"driver": "GTiff", "width": 10, "height": 10, "count": 1, "dtype": "float32"}
    with rasterio.open(
        raster, "w", crs="EPSG:4542", transform=from_origin(619_000, 2_977_300, 30, 30), **profile
    ) as ds:
        ds.write(np.full((10, 10), 5.0, dtype="float32"), 1)
    plain = build_result_map(
        parcels, constraints=constraints, networks=networks, overlays={"slope": raster}
    )
    shifted = build_result_map(
        parcels,
        constraints=constraints,
        networks=networks,
        overlays={"slope": raster},
        basemap="gaode",
    )
    for name in ("生态保护红线", "道路"):
        a = np.array(shapely.get_coordinates(shapely.from_geojson(_first_geom(plain, name))))
        b = np.array(shapely.get_coordinates(shapely.from_geojson(_first_geom(shifted, name))))
        glon, glat = wgs84_to_gcj02(a[:, 0], a[:, 1])
        np.testing.assert_allclose(b, np.column_stack([glon, glat]), atol=2e-6, rtol=0)
    (s0, w0), (n0, e0) = _child(plain, "ImageOverlay").bounds
    (s1, w1), (n1, e1) = _child(shifted, "ImageOverlay").bounds
    assert (w1, s1) == pytest.approx(tuple(map(float, wgs84_to_gcj02(w0, s0))), abs=1e-9)
    assert (e1, n1) == pytest.approx(tuple(map(float, wgs84_to_gcj02(e0, n0))), abs=1e-9)
    fit0, fit1 = _child(plain, "FitBounds").bounds, _child(shifted, "FitBounds").bounds
    assert fit1[0][1] - fit0[0][1] == pytest.approx(
        float(wgs84_to_gcj02(fit0[0][1], fit0[0][0])[0]) - fit0[0][1], abs=1e-5
    )


def _child(m, type_name: str):
    return next(c for c in m._children.values() if type(c).__name__ == type_name)


def _first_geom(m, name_part: str) -> str:
    import json

    return json.dumps(_geojson(m, name_part).data["features"][0]["geometry"])


def test_boundary_map_gaode_shifts_scenarios(parcels):
    import geopandas as gpd

    scenarios = gpd.GeoDataFrame(
        {"name": ["方案A"]}, geometry=[parcels.geometry.union_all().envelope], crs=parcels.crs
    )
    m = build_boundary_map(parcels, scenarios, basemap="gaode", assets="cdn")
    outline = _geojson(m, "方案A").data["features"][0]["geometry"]["coordinates"][0][0]
    x, y = shapely.get_coordinates(scenarios.geometry.iloc[0])[0]
    lon, lat = TO_WGS84.transform(x, y)
    glon, glat = wgs84_to_gcj02(lon, lat)
    corners = shapely.get_coordinates(shapely.from_geojson(_first_geom(m, "方案A")))
    assert np.min(np.hypot(corners[:, 0] - glon, corners[:, 1] - glat)) < 2e-6
    assert len(outline) == 2

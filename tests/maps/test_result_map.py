"""Tests for maps.build_result_map / save_map: checked by map state and by HTML."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

folium = pytest.importorskip("folium")
gpd = pytest.importorskip("geopandas")

from landplan.maps import build_result_map, save_map  # noqa: E402
from landplan.maps.styles import VERDICTS  # noqa: E402
from shapely.geometry import LineString, Polygon, box  # noqa: E402

CRS = "EPSG:4542"  # CGCS2000 3-degree Gauss-Krüger CM 99E
X0, Y0 = 619_000.0, 2_977_000.0
SCRIPT_ID = "<script>alert(1)</script>"
BLOCK_ZH = "地块位于生态保护红线内"
BLOCK_EN = "Parcel lies inside the ecological red line"


def _reasons(*items: dict) -> str:
    return json.dumps(list(items), ensure_ascii=False)


RED_LINE_REASON = {
    "code": "RED_LINE_OVERLAP",
    "severity": "block",
    "value": 812.5,
    "threshold": 0.0,
    "unit": "m²",
    "basis": "《生态保护红线管理办法》",
    "message_zh": BLOCK_ZH,
    "message_en": BLOCK_EN,
}
SLOPE_WARNING = {
    "code": "SLOPE_HIGH",
    "severity": "warn",
    "value": 16.0,
    "threshold": 15.0,
    "unit": "%",
    "basis": "GB 50187",
    "message_zh": "平均坡度偏大",
    "message_en": "Mean slope is high",
}


@pytest.fixture
def parcels():
    rows = [
        ("P-001", "transferable", box(X0, Y0, X0 + 100, Y0 + 100), ""),
        (
            "P-002",
            "transferable_with_warnings",
            box(X0 + 120, Y0, X0 + 220, Y0 + 100),
            _reasons(SLOPE_WARNING),
        ),
        ("P-003", "blocked", box(X0, Y0 + 120, X0 + 100, Y0 + 220), _reasons(RED_LINE_REASON)),
        (SCRIPT_ID, "transferable", box(X0 + 120, Y0 + 120, X0 + 220, Y0 + 220), "[]"),
        ("EMPTY-9", "blocked", Polygon(), "[]"),
    ]
    gdf = gpd.GeoDataFrame(
        {
            "parcel_id": [r[0] for r in rows],
            "verdict": [r[1] for r in rows],
            "reasons": [r[3] for r in rows],
            "owner": ["甲", "乙", "丙", "丁", "戊"],
        },
        geometry=[r[2] for r in rows],
        crs=CRS,
    )
    area = gdf.area
    gdf["area_m2"] = area
    gdf["area_mu"] = area / 666.6667
    gdf["area_ellipsoidal_m2"] = area * 1.0004
    gdf["area_ellipsoidal_mu"] = gdf["area_ellipsoidal_m2"] / 666.6667
    gdf["excluded_mu"] = [0.0, 0.0, 1.22, 0.0, 0.0]
    gdf["net_available_mu"] = gdf["area_mu"] - gdf["excluded_mu"]
    gdf["dist_road_m"] = [12.3456, 40.0, 5.0, 0.0, float("nan")]
    gdf["dist_power_m"] = [250.0, 90.0, float("nan"), 10.0, 1.0]
    return gdf


@pytest.fixture
def constraints():
    def layer(*geoms):
        return gpd.GeoDataFrame(geometry=list(geoms), crs=CRS)

    return {
        "red_line": layer(box(X0 - 20, Y0 + 150, X0 + 60, Y0 + 260)),
        "basic_farmland": layer(box(X0 + 240, Y0, X0 + 320, Y0 + 80)),
        "urban_boundary": layer(box(X0 - 50, Y0 - 50, X0 + 350, Y0 + 300)),
        "inundation": layer(box(X0 + 150, Y0 - 40, X0 + 260, Y0 + 20)),
        "地灾<隐患>": layer(box(X0 + 240, Y0 + 120, X0 + 300, Y0 + 200)),
    }


@pytest.fixture
def networks():
    return gpd.GeoDataFrame(
        {
            "kind": ["road", "road", "water", "power"],
            "status": ["built", "planned", "built", "planned"],
        },
        geometry=[
            LineString([(X0 - 30, Y0 - 10), (X0 + 330, Y0 - 10)]),
            LineString([(X0 + 110, Y0 - 30), (X0 + 110, Y0 + 280)]),
            LineString([(X0 - 30, Y0 + 110), (X0 + 330, Y0 + 110)]),
            LineString([(X0 + 230, Y0 - 30), (X0 + 230, Y0 + 280)]),
        ],
        crs=CRS,
    )


@pytest.fixture
def result_map(parcels, constraints, networks):
    return build_result_map(
        parcels, constraints=constraints, networks=networks, title="示范园区 <出让> 结论"
    )


def _html(m) -> str:
    """Rendered HTML with JSON \\uXXXX escapes decoded (folium's tojson is ASCII-only)."""
    out = m.get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), out)


def _stripped(text: str) -> str:
    return "".join(text.split())


def _layers(m) -> dict:
    return {
        child.layer_name: child
        for child in m._children.values()
        if isinstance(child, folium.GeoJson)
    }


def _parcel_layer(m):
    return next(c for c in m._children.values() if type(c).__name__ == "ParcelLayer")


def _parcel_ids(m) -> list[str]:
    return _parcel_layer(m).data["ids"]


def test_builds_with_layers_and_controls(result_map):
    assert isinstance(result_map, folium.Map)
    assert result_map.control_scale is False  # our own metric-only scale bar instead
    names = set(_layers(result_map)) | {_parcel_layer(result_map).layer_name}
    assert {"地块 Parcels", "生态保护红线 Ecological red line", "道路 Road", "电力 Power"} <= names
    assert "地灾&lt;隐患&gt;" in names  # custom kind: escaped, shown once
    kinds = {type(c).__name__ for c in result_map._children.values()}
    assert {"LayerControl", "Fullscreen", "MeasureControl", "FitBounds", "ParcelLayer"} <= kinds
    control = next(c for c in result_map._children.values() if isinstance(c, folium.LayerControl))
    assert control.options["collapsed"] is False
    html = result_map.get_root().render()
    assert "imperial: false" in html and "L.control.scale(" in html


def test_save_map_writes_html(result_map, tmp_path):
    path = save_map(result_map, tmp_path / "result.html")
    assert path == (tmp_path / "result.html").resolve()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "lp-legend" in text
    assert [p.name for p in tmp_path.iterdir()] == ["result.html"]  # no temp file left


def test_html_has_legend_colours_reasons_and_hatches(result_map):
    html = _html(result_map)
    stripped = _stripped(html)
    for label in (
        "可出让Transferable",
        "有条件可出让",
        "不可出让Blocked",
        "永久基本农田",
        "城镇开发边界",
    ):
        assert label in stripped
    for style in VERDICTS.values():
        assert style.color in html
    assert BLOCK_ZH in html and BLOCK_EN in html
    assert "《生态保护红线管理办法》" in html and "RED_LINE_OVERLAP" in html
    assert html.count("new L.StripePattern(") == 3  # red line, farmland, custom kind
    assert '"fillPattern": ' in html
    assert "leaflet.pattern.js" in html


def test_compact_parcel_data(result_map):
    from landplan.maps.compact import decode_reasons

    data = _parcel_layer(result_map).data
    assert data["ids"] == ["P-001", "P-002", "P-003", SCRIPT_ID]
    i = data["ids"].index("P-003")
    assert data["num"]["area_mu"][0] == 15.0 and data["num"]["area_m2"][i] == 10_000
    assert data["num"]["excluded_mu"][i] == 1.22 and data["num"]["net_available_mu"][i] == 13.78
    assert list(data["dist"]["road"][:2]) == [12, 40] and np.isnan(data["dist"]["power"][2])
    assert list(data["rn"]) == [0, 1, 1, 0] and len(data["r"]) == 2
    j = data["r"][1]  # P-003's reason, a row of the columnar reason table
    reasons, strings = data["R"], data["S"]
    assert strings[reasons["c"][j]] == "RED_LINE_OVERLAP" and reasons["b"][j] == 1
    assert (reasons["v"][j], reasons["t"][j], strings[reasons["u"][j]]) == (812.5, 0.0, "m²")
    assert strings[reasons["s"][j]] == "《生态保护红线管理办法》"
    zh, en = reasons["z"][j], reasons["e"][j]
    assert strings[data["T"]["s"][zh]] == BLOCK_ZH and strings[data["T"]["s"][en]] == BLOCK_EN
    assert data["T"]["k"][zh] == data["T"]["k"][en] == 0  # no figures in these messages
    decoded = decode_reasons(data)
    assert decoded[0] == decoded[3] == [] and decoded[2] == [RED_LINE_REASON]
    assert decoded[1] == [SLOPE_WARNING]
    # no pre-rendered HTML per parcel in the page
    html = result_map.get_root().render()
    assert "lp-badge" in html and html.count("lp-badge") < 5


def test_parcel_geometry_round_trips(result_map, parcels):
    from landplan.maps.compact import decode_geometries

    data = _parcel_layer(result_map).data
    shapes = decode_geometries(data["g"])
    drawn = parcels[parcels["parcel_id"].isin(data["ids"])].to_crs(4326)
    for polys, geom in zip(shapes, drawn.geometry, strict=True):
        ring = np.array(polys[0][0])
        expected = np.array(geom.exterior.coords)[:-1]
        assert ring.shape == expected.shape
        assert np.abs(ring - expected).max() < 1e-6


def test_fit_bounds_in_lon_lat(result_map):
    fit = next(c for c in result_map._children.values() if type(c).__name__ == "FitBounds")
    (south, west), (north, east) = fit.bounds
    assert 100.19 < west < east < 100.21
    assert 26.89 < south < north < 26.91


def test_empty_geometry_is_skipped(result_map):
    ids = _parcel_ids(result_map)
    assert "EMPTY-9" not in ids and len(ids) == 4
    assert "EMPTY-9" not in _html(result_map)


def test_lang_en_puts_english_first(parcels):
    m = build_result_map(parcels, lang="en")
    stripped = _stripped(_html(m))
    assert "Transferable可出让" in stripped and "可出让Transferable" not in stripped
    vocab = json.loads(_parcel_layer(m).vocab_json)
    assert vocab["lang"] == "en" and vocab["t"]["reasons"] == "Reasons 原因"
    assert _parcel_layer(m).layer_name == "Parcels 地块"


def test_html_escaping(result_map):
    raw = result_map.get_root().render()
    assert "<script>alert" not in raw  # JSON in <script> blocks is \u003c-escaped
    html = _html(result_map)
    assert "示范园区 &lt;出让&gt; 结论" in html
    assert SCRIPT_ID in _parcel_ids(result_map)  # kept as data; the page escapes it as text


def test_planned_networks_are_dashed_and_lighter(result_map):
    road = _layers(result_map)["道路 Road"]
    built, planned = (road.style_function(f) for f in road.data["features"])
    assert "dashArray" not in built
    assert planned["dashArray"] == "6 6"
    assert planned["color"] != built["color"]
    assert '"dashArray":"66"' in _stripped(_html(result_map))


def test_tiles_none_and_no_optional_layers(parcels):
    m = build_result_map(parcels, tiles=None)
    assert not any(isinstance(c, folium.TileLayer) for c in m._children.values())
    assert set(_layers(m)) == set() and _parcel_layer(m).layer_name == "地块 Parcels"


def test_bad_lang_raises(parcels):
    with pytest.raises(ValueError, match="lang must be one of"):
        build_result_map(parcels, lang="fr")


def test_networks_without_kind_raise(parcels):
    with pytest.raises(ValueError, match="'kind' and 'status'"):
        build_result_map(parcels, networks=gpd.GeoDataFrame(geometry=[], crs=CRS))


def test_missing_crs_raises(parcels):
    from landplan.core.errors import CRSError

    with pytest.raises(CRSError, match="set_crs"):
        build_result_map(parcels.set_crs(None, allow_override=True))


def test_bad_reasons_json_names_parcel(parcels):
    parcels.loc[0, "reasons"] = "{not json"
    with pytest.raises(ValueError, match="P-001"):
        build_result_map(parcels)


def test_no_drawable_parcels_fits_other_layers(parcels, constraints):
    m = build_result_map(parcels.iloc[[4]], constraints=constraints)
    assert _parcel_layer(m).data["ids"] == []
    fit = next(c for c in m._children.values() if type(c).__name__ == "FitBounds")
    (south, west), _ = fit.bounds
    assert 100.19 < west < 100.21 and 26.89 < south < 26.91
    assert "lp-legend" in m.get_root().render()


def _slope_tif(path, scale=1.0):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    z = np.linspace(0, 30 * scale, 100 * 80, dtype="float32").reshape(80, 100)
    z[0, 0] = -9999  # one nodata cell
    profile = {
        "driver": "GTiff",
        "width": 100,
        "height": 80,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4542",
        "transform": from_origin(619_000, 2_977_800, 10, 10),
        "nodata": -9999,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(z, 1)
    return path


def test_raster_overlays_with_colour_bars(parcels, tmp_path):
    path = _slope_tif(tmp_path / "slope.tif")
    m = build_result_map(parcels, overlays={"slope": path, "suitability": path})
    html = m.get_root().render()
    assert html.count("data:image/png;base64,") == 2
    overlays = [c for c in m._children.values() if type(c).__name__ == "ImageOverlay"]
    assert [o.layer_name for o in overlays] == [
        "坡度（°） Slope (°)",
        "建设适宜性（0–100） Suitability (0–100)",
    ]
    (south, west), (north, east) = overlays[0].bounds
    assert 26.8 < south < north < 27.0 and 100.1 < west < east < 100.3
    assert "d3.min.js" not in html  # the colour bars are plain HTML/CSS, no extra script
    assert html.count('class="lp-colorbar"') == 2
    assert (
        "linear-gradient(to right, #1a9850" in html
        and "<span>25</span>" in html
        and "<span>100</span>" in html
    )


def test_urban_boundary_is_distinct_from_every_network_and_networks_are_quiet():
    from landplan.maps.layers import NETWORK_OPACITY, NETWORK_WEIGHT
    from landplan.maps.styles import CONSTRAINTS, NETWORKS, PLANNED_DASH, lighten

    def rgb(c: str) -> np.ndarray:
        return np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)], float)

    ub = CONSTRAINTS["urban_boundary"]
    for color, _label in NETWORKS.values():
        for shade in (color, lighten(color)):
            assert np.linalg.norm(rgb(ub.outline) - rgb(shade)) > 80, shade
    assert ub.dash_array not in (None, PLANNED_DASH) and len(ub.dash_array.split()) == 4  # dash-dot
    assert ub.weight > NETWORK_WEIGHT  # heavier than any network line
    assert NETWORK_WEIGHT < 2 and NETWORK_OPACITY < 0.8  # context, under the parcels


def test_an_overlay_made_ahead_is_the_one_made_then_and_only_for_the_same_file(parcels, tmp_path):
    """``landplan analyze`` draws the overlays while the chunks are written
    (:func:`prepare_overlay`); the map takes that image only if the file is unchanged."""
    from landplan.maps import rasters

    path = _slope_tif(tmp_path / "slope.tif")
    fresh = build_result_map(parcels, overlays={"slope": path}).get_root().render()
    rasters.prepare_overlay(path, rasters.SLOPE)
    assert len(rasters._PREPARED) == 1
    ahead = build_result_map(parcels, overlays={"slope": path}).get_root().render()
    assert rasters._PREPARED == {}  # taken
    images = lambda h: re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", h)  # noqa: E731
    assert images(ahead) == images(fresh) and len(images(fresh)) == 1
    rasters.prepare_overlay(path, rasters.SLOPE)
    _slope_tif(path, scale=0.5)  # rewritten after it was prepared: made again from the file
    os.utime(path, ns=(1, 1))
    again = build_result_map(parcels, overlays={"slope": path}).get_root().render()
    assert images(again) != images(fresh)
    assert images(again) == [rasters.overlay_image(path, rasters.SLOPE)[0]]
    rasters._PREPARED.clear()


def test_a_failed_overlay_made_ahead_is_made_again_and_reported_by_the_map(parcels, tmp_path):
    from landplan.maps import rasters

    path = tmp_path / "slope.tif"
    path.write_bytes(b"not a GeoTIFF")
    rasters.prepare_overlay(path, rasters.SLOPE)  # fails in its thread, silently
    with pytest.raises(Exception, match=r"slope\.tif|not recognized|not a supported"):
        build_result_map(parcels, overlays={"slope": path})
    assert rasters._PREPARED == {}


def test_a_large_overlay_averages_the_cells_each_pixel_covers(tmp_path):
    """A raster larger than the overlay is warped straight to the small grid by averaging
    the source cells each overlay pixel covers: cell-to-cell noise averages out (a decimated
    read would keep it), on the full-resolution warp's bounds and geometry."""
    import rasterio
    from landplan.maps import rasters
    from rasterio.crs import CRS
    from rasterio.transform import from_origin
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    yy, xx = np.mgrid[0:600, 0:500]
    smooth = (xx / 500 * 20 + 5 * np.sin(yy / 40)).astype("float32")
    noise = np.random.default_rng(7).normal(0, 3, yy.shape).astype("float32")
    profile = {"driver": "GTiff", "width": 500, "height": 600, "count": 1, "dtype": "float32",
               "crs": "EPSG:4542", "transform": from_origin(619_000, 2_977_800, 2, 2),
               "nodata": -9999}  # fmt: skip
    paths = {}
    for name, z in (("smooth", smooth), ("noisy", smooth + noise)):
        z = z.copy()
        z[:40, :60] = -9999  # a nodata corner
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", **profile) as ds:
            ds.write(z, 1)
    got, bounds = rasters._warped(paths["noisy"], 64)
    with rasterio.open(paths["smooth"]) as src, WarpedVRT(src, crs=CRS.from_epsg(3857)) as vrt:
        scale = max(vrt.width, vrt.height) / 64
        shape = (int(vrt.height / scale), int(vrt.width / scale))
        centres = vrt.read(1, out_shape=shape, masked=True)  # the smooth field, decimated
        west, south, east, north = transform_bounds(vrt.crs, "EPSG:4326", *vrt.bounds)
    assert got.shape == centres.shape and max(got.shape) == 64
    assert bounds == [[south, west], [north, east]]
    both = ~got.mask & ~centres.mask
    assert both.sum() > 0.9 * got.size and got.mask[0, 0]  # the nodata corner stays masked
    diff = np.abs(got.data[both] - centres.data[both])
    # ~90 cells per pixel: the noise (σ 3) averages to σ ~0.3; a decimated read keeps σ 3
    assert diff.mean() < 0.6 and np.percentile(diff, 99) < 1.5

"""Vector tiles for large parcel layers: threshold, URLs, styling, popup fetch, Gaode refusal."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess

import pytest

folium = pytest.importorskip("folium")

from landplan.maps import build_result_map  # noqa: E402
from landplan.maps.basemaps import BasemapError  # noqa: E402
from landplan.maps.styles import VERDICTS  # noqa: E402
from landplan.maps.vectortiles import (  # noqa: E402
    POPUP_JS,
    _vocabulary,
    tile_url_template,
    use_vector_tiles,
)


def _tile_layer(m):
    return next(c for c in m._children.values() if type(c).__name__ == "ParcelTiles")


def test_threshold():
    assert not use_vector_tiles(20_000) and use_vector_tiles(20_001)
    assert use_vector_tiles(5, threshold=4) and not use_vector_tiles(10**7, threshold=None)
    assert tile_url_template("/api/") == "/api/collections/result_parcels/tiles/{z}/{x}/{y}"


def test_large_layer_is_drawn_from_tiles_not_inlined(parcels):
    m = build_result_map(parcels, api_base="/api", vector_tile_threshold=3, basemap="none")
    layer = _tile_layer(m)
    assert layer.url == "/api/collections/result_parcels/tiles/{z}/{x}/{y}"
    assert not any(isinstance(c, folium.GeoJson) for c in m._children.values())
    html = m.get_root().render()
    assert "P-003" not in html and "P-001" not in html  # nothing embedded
    assert (
        'L.vectorGrid.protobuf(\n                "/api/collections/result_parcels/tiles/{z}/{x}/{y}"'
        in html
    )
    assert '"vectorTileLayerStyles": {"result_parcels": function (props)' in html  # not camelized
    for style in VERDICTS.values():
        assert style.color in html
    assert '"/api/collections/result_parcels/items/"' in html and "?f=json" in html
    fit = next(c for c in m._children.values() if type(c).__name__ == "FitBounds")
    (south, west), (north, east) = fit.bounds
    assert 100.19 < west < east < 100.21 and 26.89 < south < north < 26.91


def test_small_layer_stays_inline(parcels):
    m = build_result_map(parcels, vector_tile_threshold=4)
    assert not any(type(c).__name__ == "ParcelTiles" for c in m._children.values())


def test_vector_tiles_with_gaode_are_refused(parcels):
    with pytest.raises(BasemapError, match="GCJ-02"):
        build_result_map(parcels, basemap="gaode", vector_tile_threshold=1)


def test_offline_mode_serves_vectorgrid_locally(parcels):
    html = (
        build_result_map(parcels, vector_tile_threshold=1, assets="offline", basemap="none")
        .get_root()
        .render()
    )
    assert (
        '<script src="/assets/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.min.js">'
        in html
    )
    assert "unpkg.com" not in html


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_popup_js_fetches_the_item_and_escapes(lang):
    """Run the popup builder in node with a fake fetch and a tiny DOM shim."""
    reasons = json.dumps(
        [
            {
                "code": "RED_LINE_OVERLAP",
                "severity": "block",
                "message_zh": "压占<红线>",
                "message_en": "in red line",
            }
        ]
    )
    item = {
        "type": "Feature",
        "properties": {
            "parcel_id": "P/1",
            "verdict": "blocked",
            "area_mu": 15.0,
            "excluded_mu": 1.22,
            "net_available_mu": 13.78,
            "reasons": reasons,
        },
    }
    script = f"""
    var seen = [];
    global.document = {{createElement: function () {{ var d = {{}};
      Object.defineProperty(d, "textContent", {{set: function (s) {{ d.innerHTML = s
        .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }} }});
      return d; }} }};
    global.fetch = function (url) {{ seen.push(url); return Promise.resolve(
      {{ok: true, json: function () {{ return Promise.resolve({json.dumps(item)}); }} }}); }};
    var make = ({POPUP_JS});
    make({json.dumps(_vocabulary(lang), ensure_ascii=False)}, "/api/collections/result_parcels/items/")
      ({{parcel_id: "P/1"}}).then(function (html) {{ console.log(JSON.stringify([seen, html])); }});
    """
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    seen, html = json.loads(out.stdout)
    assert seen == ["/api/collections/result_parcels/items/P%2F1?f=json"]
    assert "15.00" in html and "1.22" in html and "13.78" in html
    assert "压占&lt;红线&gt;" in html and "<红线>" not in html
    assert VERDICTS["blocked"].color in html
    first, second = ("压占", "in red line") if lang == "zh" else ("in red line", "压占")
    assert html.index(first) < html.index(second)


def _mvt(parcels, z: int, x: int, y: int) -> bytes:
    """Encode the parcels falling in tile z/x/y as the API does (layer = collection id)."""
    import mapbox_vector_tile
    import morecantile
    import shapely

    minx, miny, maxx, maxy = morecantile.tms.get("WebMercatorQuad").xy_bounds(x, y, z)
    frame = parcels.to_crs(3857)
    geoms = shapely.clip_by_rect(frame.geometry.values, minx, miny, maxx, maxy)
    keep = ~shapely.is_empty(geoms)
    feats = [
        {"geometry": g, "properties": {"parcel_id": pid, "verdict": v, "transferable": bool(t)}}
        for g, pid, v, t in zip(
            geoms[keep],
            frame["parcel_id"][keep],
            frame["verdict"][keep],
            frame["transferable"][keep],
            strict=True,
        )
    ]
    return mapbox_vector_tile.encode(
        [{"name": "result_parcels", "features": feats}],
        default_options={"quantize_bounds": (minx, miny, maxx, maxy), "extents": 4096},
    )


def test_tiles_render_and_click_opens_the_api_popup(
    parcels, asset_dir, tmp_path, playwright_session
):
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("mapbox_vector_tile")
    pytest.importorskip("morecantile")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium")
    from landplan.maps.assets import apply_assets

    api = "http://landplan.test"
    m = build_result_map(parcels, api_base=api, vector_tile_threshold=1, basemap="none")
    apply_assets(m, "inline", asset_dir=asset_dir)
    path = tmp_path / "tiles.html"
    path.write_text(m.get_root().render(), encoding="utf-8")
    item = parcels[parcels["parcel_id"] == "P-003"].iloc[0]
    body = {
        "type": "Feature",
        "properties": {
            k: (v if not hasattr(v, "item") else v.item()) for k, v in item.drop("geometry").items()
        },
    }
    calls, errors = [], []

    def route(r):
        url = r.request.url
        calls.append(url)
        if "/tiles/" in url:
            z, x, y = (int(v) for v in url.split("/tiles/")[1].split("/")[:3])
            return r.fulfill(status=200, body=_mvt(parcels, z, x, y))
        if "/items/" in url:
            return r.fulfill(status=200, content_type="application/json", body=json.dumps(body))
        return r.abort() if url.startswith("http") else r.continue_()

    centre = item.geometry.centroid
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(parcels.crs, 4326, always_xy=True).transform(centre.x, centre.y)
    with contextlib.nullcontext(playwright_session) as p:  # one driver per process
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", route)
        page.goto(path.as_uri())
        tiles = _tile_layer(m).get_name()
        page.wait_for_function(
            f"!{tiles}.isLoading() && document.querySelector('canvas.leaflet-tile-loaded')"
        )
        point = page.evaluate(
            f"(() => {{ var p = {m.get_name()}.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()"
        )
        page.mouse.click(point[0], point[1])
        page.wait_for_selector(".leaflet-popup-content .lp-popup", timeout=10_000)
        popup = page.inner_text(".leaflet-popup-content")
        browser.close()
    assert errors == []
    assert any("/collections/result_parcels/tiles/" in c for c in calls)
    assert f"{api}/collections/result_parcels/items/P-003?f=json" in calls
    assert "P-003" in popup and "15.00" in popup and "13.78" in popup
    assert (
        "地块位于生态保护红线内" in popup and "Parcel lies inside the ecological red line" in popup
    )

"""MapLibre GL JS in Debian's Chromium adds a layer from the service's TileJSON URL alone.

The page (served at the server's origin through Playwright) loads maplibre-gl from the asset
directory (npm, pinned with sha512 in maps/assets.toml), adds a vector source whose only
configuration is ``url: .../tiles/WebMercatorQuad/tilejson.json`` and draws the parcels by
verdict; then the parcels MapLibre rendered are checked against the workspace and the
screenshot must show the verdict colours.  A second map is built from
``/styles/parcels-by-verdict`` alone.
"""

from __future__ import annotations

import io

import numpy as np
import pyogrio
import pytest

MAPLIBRE = "maplibre-gl@5.24.1"
TILEJSON = "/collections/result_parcels/tiles/WebMercatorQuad/tilejson.json"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="/assets/{lib}/dist/maplibre-gl.css">
<script src="/assets/{lib}/dist/maplibre-gl.js"></script>
<style>html,body,#map{{margin:0;width:800px;height:600px}}</style></head>
<body><div id="map"></div><script>
window.__state = {{loaded: false, error: null}};
const mode = new URLSearchParams(location.search).get("mode");
const blank = {{version: 8, sources: {{}}, layers: [
  {{id: "bg", type: "background", paint: {{"background-color": "#ffffff"}}}}]}};
const map = new maplibregl.Map({{container: "map", center: [{lon}, {lat}], zoom: 15,
  style: mode === "style" ? "/styles/parcels-by-verdict" : blank, fadeDuration: 0}});
map.on("error", (e) => {{ window.__state.error = String(e.error && e.error.message || e); }});
map.on("load", () => {{
  if (mode !== "style") {{
    map.addSource("parcels", {{type: "vector", url: "{tilejson}"}});
    map.addLayer({{id: "parcels-fill", type: "fill", source: "parcels",
      "source-layer": "result_parcels",
      paint: {{"fill-color": ["match", ["get", "verdict"],
        "transferable", "#00c000", "transferable_with_warnings", "#ffa500",
        "blocked", "#ff0000", "#808080"], "fill-opacity": 1}}}});
  }}
  map.once("idle", () => {{
    const layer = mode === "style" ? "parcels-fill" : "parcels-fill";
    const feats = map.queryRenderedFeatures({{layers: [layer]}});
    window.__state.ids = [...new Set(feats.map((f) => f.properties.parcel_id))];
    window.__state.verdicts = [...new Set(feats.map((f) => f.properties.verdict))];
    window.__state.loaded = true;
  }});
}});
</script></body></html>
"""


@pytest.fixture(scope="module")
def gl_browser(playwright_session):
    """Chromium with WebGL on the CPU (SwiftShader): MapLibre needs WebGL."""
    from tests.browser.conftest import chromium_path

    path = chromium_path()
    b = playwright_session.chromium.launch(
        executable_path=path,
        args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
              "--ignore-gpu-blocklist"],
    )  # fmt: skip
    yield b
    b.close()


def _open(gl_browser, server, mode: str):
    import httpx

    tj = httpx.get(server.url + TILEJSON, timeout=30).json()
    lon, lat = tj["center"][:2]
    html = PAGE.format(lib=MAPLIBRE, lon=lon, lat=lat, tilejson=TILEJSON)
    page = gl_browser.new_page(viewport={"width": 800, "height": 600})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text[:300]}"))
    page.route(
        f"{server.url}/maplibre-test.html*",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    page.goto(f"{server.url}/maplibre-test.html?mode={mode}")
    try:  # SwiftShader draws on the CPU: slow when the machine is busy
        page.wait_for_function("window.__state.loaded || window.__state.error", timeout=240_000)
    except Exception as exc:
        state = page.evaluate("JSON.stringify(window.__state)")
        raise AssertionError(f"map never went idle: {state}; console: {console[-10:]}") from exc
    state = page.evaluate("window.__state")
    return page, state, errors, (lon, lat)


def _colours(png: bytes) -> dict[str, int]:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return {
        "green": int(((g > 150) & (r < 80) & (b < 80)).sum()),
        "red": int(((r > 200) & (g < 60) & (b < 60)).sum()),
    }


def test_maplibre_source_from_tilejson_draws_the_parcels(
    gl_browser, server, workspace_template, artifacts
):
    page, state, errors, (lon, lat) = _open(gl_browser, server, "tilejson")
    try:
        assert state["error"] is None and not errors, (state["error"], errors)
        png = page.screenshot(path=str(artifacts / "maplibre-tilejson.png"))
    finally:
        page.close()
    parcels = pyogrio.read_dataframe(
        workspace_template / "workspace.gpkg", layer="result_parcels"
    ).to_crs("OGC:CRS84")
    drawn = set(state["ids"])
    assert len(drawn) > 20 and drawn <= set(parcels["parcel_id"])
    # the parcels MapLibre drew lie around the TileJSON centre (zoom 15 ≈ 3.4 km across)
    near = parcels.cx[lon - 0.02 : lon + 0.02, lat - 0.015 : lat + 0.015]
    assert drawn <= set(near["parcel_id"])
    assert set(state["verdicts"]) <= {"transferable", "transferable_with_warnings", "blocked"}
    colours = _colours(png)
    assert colours["green"] > 5_000, colours


def test_maplibre_style_document_alone(gl_browser, server, artifacts):
    page, state, errors, _ = _open(gl_browser, server, "style")
    try:
        assert state["error"] is None and not errors, (state["error"], errors)
        page.screenshot(path=str(artifacts / "maplibre-style.png"))
    finally:
        page.close()
    assert len(state["ids"]) > 20

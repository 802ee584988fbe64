"""The map pages in a real Chromium: no console errors, nothing fetched from outside 127.0.0.1,
layers toggle, popups show the reasons, drawing a boundary shows the API's evaluation."""

from __future__ import annotations

import io
import json
from urllib.parse import urlsplit

import numpy as np
import pyogrio
import pytest
from PIL import Image

MAP_JS = "window[Object.keys(window).find(k => k.startsWith('map_') && window[k] && window[k].getCenter)]"
PARCELS_JS = "window[Object.keys(window).find(k => k.startsWith('parcel_layer_'))]"


def _not_blank(png: bytes) -> None:
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), float)
    assert img.std() > 8, "screenshot is blank"


def _only_local(requests: list[str]) -> None:
    outside = [
        u
        for u in requests
        if urlsplit(u).hostname not in ("127.0.0.1", None) and not u.startswith("data:")
    ]
    assert not outside, outside[:5]


def _open(page, url: str) -> None:
    page.goto(url, wait_until="networkidle", timeout=180_000)
    page.wait_for_function(f"!!({MAP_JS})", timeout=60_000)


def test_result_map_offline_layers_and_popup(server, page, artifacts, workspace_template):
    _open(page, f"{server.url}/maps/result?basemap=none")
    assert not page.watch.errors, page.watch.errors
    _only_local(page.watch.requests)
    assert page.evaluate(f"{PARCELS_JS}.getLayers().length") > 1000  # drawn on a canvas
    n_all = page.evaluate(f"Object.keys({MAP_JS}._layers).length")
    page.screenshot(path=str(artifacts / "result-map.png"))
    _not_blank((artifacts / "result-map.png").read_bytes())

    # layers toggle: switch each overlay (constraint, network, parcel layers) off and on
    boxes = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
    assert boxes.count() >= 3
    toggled = 0
    for i in range(boxes.count()):
        if not boxes.nth(i).is_checked():
            continue
        boxes.nth(i).uncheck()
        fewer = page.evaluate(f"Object.keys({MAP_JS}._layers).length") < n_all
        boxes.nth(i).check()
        assert page.evaluate(f"Object.keys({MAP_JS}._layers).length") == n_all
        toggled += fewer
    assert toggled >= 3  # constraint layers, networks, parcels

    # a popup with the reasons of a blocked parcel
    rp = pyogrio.read_dataframe(workspace_template / "workspace.gpkg", layer="result_parcels")
    blocked = rp[~rp["transferable"].astype(bool)].to_crs(4326)
    target = blocked.iloc[int(np.argmax(blocked.to_crs(rp.crs).area.to_numpy()))]
    reason = json.loads(target.reasons)[0]["message_zh"]
    p = target.geometry.representative_point()
    page.evaluate(f"void {MAP_JS}.setView([{p.y}, {p.x}], 17, {{animate: false}})")
    page.wait_for_timeout(800)  # no animation, but let the canvas renderer redraw
    xy = page.evaluate(
        f"(() => {{ const pt = {MAP_JS}.latLngToContainerPoint([{p.y}, {p.x}]); const r = {MAP_JS}.getContainer().getBoundingClientRect(); return [pt.x + r.left, pt.y + r.top]; }})()"
    )
    page.mouse.click(*xy)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    assert target.parcel_id in popup.inner_text()
    assert reason[:8] in popup.inner_text()
    page.wait_for_timeout(500)  # the popup fades in
    page.screenshot(path=str(artifacts / "result-map-popup.png"))
    _not_blank((artifacts / "result-map-popup.png").read_bytes())
    assert not page.watch.errors, page.watch.errors


def test_planner_draw_shows_the_api_evaluation(server, page, artifacts):
    _open(page, f"{server.url}/maps/planner?basemap=none")
    assert not page.watch.errors, page.watch.errors
    _only_local(page.watch.requests)
    page.locator(".leaflet-draw-draw-rectangle").click()
    box = page.locator(".leaflet-container").bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.40, box["y"] + box["height"] * 0.40
    with page.expect_response(lambda r: "/boundaries/evaluate" in r.url, timeout=30_000) as resp:
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 120, y0 + 90, steps=8)
        page.mouse.up()
    evaluation = resp.value.json()
    assert resp.value.status == 200
    net = evaluation["key_figures"]["net_available_mu"]
    page.wait_for_function("document.getElementById('lp-net-mu').innerText.trim().length > 0")
    shown = page.locator("#lp-net-mu").inner_text()
    assert float("".join(ch for ch in shown if ch.isdigit() or ch == ".")) == pytest.approx(
        net, rel=0.01, abs=0.1
    )
    page.wait_for_timeout(800)  # let the panel and map tiles finish painting
    page.screenshot(path=str(artifacts / "planner.png"))
    _not_blank((artifacts / "planner.png").read_bytes())
    assert not page.watch.errors, page.watch.errors


def test_vector_tile_map_and_popup_from_the_api(tiled_server, page, artifacts, workspace_template):
    _open(page, f"{tiled_server.url}/maps/result?basemap=none")
    page.wait_for_timeout(1500)
    assert not page.watch.errors, page.watch.errors
    _only_local(page.watch.requests)
    tiles = [u for u in page.watch.requests if "/collections/result_parcels/tiles/" in u]
    assert tiles, "no vector tile was requested"
    rp = pyogrio.read_dataframe(
        workspace_template / "workspace.gpkg", layer="result_parcels"
    ).to_crs(4326)
    target = rp.iloc[len(rp) // 2]
    p = target.geometry.representative_point()
    page.evaluate(f"void {MAP_JS}.setView([{p.y}, {p.x}], 17, {{animate: false}})")
    page.wait_for_timeout(1500)
    xy = page.evaluate(
        f"(() => {{ const pt = {MAP_JS}.latLngToContainerPoint([{p.y}, {p.x}]); const r = {MAP_JS}.getContainer().getBoundingClientRect(); return [pt.x + r.left, pt.y + r.top]; }})()"
    )
    with page.expect_response(
        lambda r: "/collections/result_parcels/items/" in r.url, timeout=15_000
    ):
        page.mouse.click(*xy)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    assert target.parcel_id in popup.inner_text()
    page.screenshot(path=str(artifacts / "vector-tiles.png"))
    _not_blank((artifacts / "vector-tiles.png").read_bytes())
    assert not page.watch.errors, page.watch.errors

"""The light map and the offline intranet in a real Chromium, every request off 127.0.0.1 blocked.

- the demo's ``map.html`` is at most 2 MB and draws its parcels across the whole first view
  (checked from screenshot pixels, band by band down to the bottom quarter);
- ``/maps/result``, ``/maps/planner`` and ``/docs`` with the service's default settings make
  no request that leaves 127.0.0.1 and log no console error;
- a local MBTiles basemap and the DEM hillshade are drawn under the parcels (the pixel inside
  a parcel is the parcel's fill blended over the basemap).
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pyogrio
import pytest
from PIL import Image

from tests.browser.conftest import block_outside
from tests.browser.test_map_pages import MAP_JS, PARCELS_JS, _only_local
from tests.maps.test_localtiles import _raster_mbtiles

MAX_MAP_BYTES = 2 * 2**20
CITY = (200, 0, 200)
FILL_OPACITY = 0.6  # maps/popups.py: the parcels' fillOpacity


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


def _wait_idle(page, ms: int = 1200) -> None:
    page.wait_for_load_state("networkidle", timeout=120_000)
    page.wait_for_timeout(ms)  # the canvas and the tiles finish painting


def _parcel_box(page) -> tuple[int, int, int, int]:
    """Screen box (x0, y0, x1, y1) of the parcel layer, clipped to the map."""
    return tuple(
        page.evaluate(
            f"""(() => {{
              const m = {MAP_JS}, b = {PARCELS_JS}.getBounds(), s = m.getSize();
              const a = m.latLngToContainerPoint(b.getNorthWest());
              const c = m.latLngToContainerPoint(b.getSouthEast());
              return [Math.max(0, Math.round(a.x)), Math.max(0, Math.round(a.y)),
                      Math.min(s.x, Math.round(c.x)), Math.min(s.y, Math.round(c.y))];
            }})()"""
        )
    )


def test_demo_map_is_light_and_draws_every_parcel_in_the_first_view(
    sample_result, assets_dir, browser, tmp_path, artifacts
):
    from landplan.cli.main import _map_writer

    _map_writer(sample_result, lang="zh")(tmp_path)  # what `landplan demo` writes
    path = tmp_path / "map.html"
    assert path.stat().st_size <= MAX_MAP_BYTES, path.stat().st_size

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    blocked: list[str] = []
    block_outside(context, blocked)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load", timeout=120_000)
    page.wait_for_function(f"!!({PARCELS_JS})", timeout=60_000)
    page.wait_for_timeout(1500)
    assert not errors, errors
    n = page.evaluate(f"{PARCELS_JS}.getLayers().length")
    assert n == len(sample_result.parcels)
    scale = page.locator(".leaflet-control-scale").bounding_box()
    legend = page.locator(".lp-legend").bounding_box()
    assert page.locator(".leaflet-control-scale-line").count() == 1  # metric only
    assert scale["y"] >= legend["y"] + legend["height"]  # below the legend, not under it
    with_parcels = page.screenshot(path=str(artifacts / "demo-map.png"))
    x0, y0, x1, y1 = _parcel_box(page)
    page.evaluate(f"void {MAP_JS}.removeLayer({PARCELS_JS})")
    page.wait_for_timeout(800)
    without = page.screenshot()
    context.close()

    drawn = np.abs(_pixels(with_parcels) - _pixels(without)).max(axis=2) > 12
    height = drawn.shape[0]
    assert y1 - y0 > 0.6 * height  # the first view is fitted to the parcels
    bands = np.array_split(np.arange(y0, y1), 4)
    shares = [drawn[b[0] : b[-1] + 1, x0:x1].mean() for b in bands]
    # every quarter of the parcels' extent is drawn, the bottom one too
    assert min(shares) > 0.25 and min(shares) > 0.4 * max(shares), shares
    assert drawn[int(0.75 * height) :, :].mean() > 0.05  # the view's bottom quarter has parcels


@pytest.mark.parametrize("path", ["/maps/result", "/maps/planner"])
def test_default_pages_stay_on_the_host(server, page, artifacts, path):
    page.goto(f"{server.url}{path}", wait_until="networkidle", timeout=180_000)
    page.wait_for_function(f"!!({MAP_JS})", timeout=60_000)
    _wait_idle(page)
    assert page.blocked == [] and not page.watch.errors, (page.blocked, page.watch.errors)
    _only_local(page.watch.requests)
    # the default basemap is the workspace's own DEM hillshade, served by the service
    assert any("/basemaps/hillshade/tiles/" in u for u in page.watch.requests)
    name = path.strip("/").replace("/", "-")
    page.screenshot(path=str(artifacts / f"offline-{name}.png"))


def test_docs_work_offline(server, page, artifacts):
    page.goto(f"{server.url}/docs", wait_until="networkidle", timeout=120_000)
    page.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
    assert "landplan" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock", timeout=60_000)  # the operations are listed
    _wait_idle(page, 500)
    assert page.blocked == [] and not page.watch.errors, (page.blocked, page.watch.errors)
    _only_local(page.watch.requests)
    assert any("/assets/swagger-ui-dist@" in u for u in page.watch.requests)
    page.screenshot(path=str(artifacts / "docs.png"))


@pytest.fixture(scope="module")
def city_server(workspace_template, assets_dir, tmp_path_factory):
    """The sample workspace with a bureau basemap (solid magenta tiles) in basemaps/."""
    from tests.api.conftest import LiveServer

    folder = tmp_path_factory.mktemp("browser-city") / "ws"
    shutil.copytree(workspace_template, folder)
    rp = pyogrio.read_dataframe(folder / "workspace.gpkg", layer="result_parcels", columns=[])
    w, s, e, n = rp.to_crs(4326).total_bounds
    pad = 0.05
    (folder / "basemaps").mkdir()
    _raster_mbtiles(
        folder / "basemaps" / "city.mbtiles",
        color=CITY,
        zooms=range(11, 16),
        bounds=(w - pad, s - pad, e + pad, n + pad),
    )
    server = LiveServer(
        str(folder), tmp_path_factory.mktemp("browser-log"), LANDPLAN_ASSETS_DIR=str(assets_dir)
    )
    server.workspace = folder
    yield server
    server.stop()


def _inside_points(page, workspace: str, k: int = 6) -> list[tuple[int, int, str]]:
    """Screen points well inside the largest parcels, with their verdicts."""
    rp = pyogrio.read_dataframe(f"{workspace}/workspace.gpkg", layer="result_parcels")
    rp = rp[rp["verdict"] == "transferable"]
    rp = rp.loc[rp.area.sort_values(ascending=False).index[:k]]
    out = []
    for geom, verdict in zip(rp.to_crs(4326).geometry, rp["verdict"], strict=True):
        inner = geom.buffer(-1e-5)  # ~1 m inside: off the outline
        p = (geom if inner.is_empty else inner).representative_point()
        x, y = page.evaluate(
            f"(() => {{ const q = {MAP_JS}.latLngToContainerPoint([{p.y}, {p.x}]); return [q.x, q.y]; }})()"
        )
        out.append((round(x), round(y), verdict))
    return out


def _underneath(pixel: np.ndarray, fill: tuple[int, int, int]) -> np.ndarray:
    """What lies under a parcel pixel: (pixel − α·fill) / (1 − α)."""
    return (pixel - FILL_OPACITY * np.array(fill, float)) / (1 - FILL_OPACITY)


def _median(img: np.ndarray, x: int, y: int) -> np.ndarray:
    return np.median(img[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3), axis=0)


def test_local_mbtiles_and_hillshade_are_drawn_under_the_parcels(city_server, page, artifacts):
    from landplan.maps.styles import VERDICTS

    green = tuple(int(VERDICTS["transferable"].color[i : i + 2], 16) for i in (1, 3, 5))
    page.goto(f"{city_server.url}/maps/result", wait_until="networkidle", timeout=180_000)
    page.wait_for_function(f"!!({MAP_JS})", timeout=60_000)
    _wait_idle(page)
    assert page.blocked == [] and not page.watch.errors, (page.blocked, page.watch.errors)
    loaded = page.evaluate(
        "document.querySelectorAll('img.leaflet-tile-loaded[src*=\"/basemaps/city/tiles/\"]').length"
    )
    assert loaded > 0  # the bureau's MBTiles is the default basemap
    img = _pixels(page.screenshot(path=str(artifacts / "basemap-city.png")))
    magenta = (np.abs(img - np.array(CITY)).max(axis=2) <= 3).mean()
    assert magenta > 0.02  # visible between the parcels
    points = _inside_points(page, city_server.workspace)
    under = [_underneath(_median(img, x, y), green) for x, y, _ in points]
    hits = sum(np.abs(u - np.array(CITY)).max() <= 25 for u in under)
    assert hits >= len(points) - 1, under  # the parcels are drawn over the city basemap

    page.goto(f"{city_server.url}/maps/result?basemap=hillshade", wait_until="networkidle")
    page.wait_for_function(f"!!({MAP_JS})", timeout=60_000)
    _wait_idle(page)
    assert page.blocked == [] and not page.watch.errors, (page.blocked, page.watch.errors)
    loaded = page.evaluate(
        "document.querySelectorAll('img.leaflet-tile-loaded[src*=\"/basemaps/hillshade/tiles/\"]').length"
    )
    assert loaded > 0
    img = _pixels(page.screenshot(path=str(artifacts / "basemap-hillshade.png")))
    points = _inside_points(page, city_server.workspace)
    greys = 0
    for x, y, _ in points:
        r, g, b = _underneath(_median(img, x, y), green)
        # the hillshade is light grey with a slight blue tint: 110–255, r ≈ g, b ≥ g
        greys += 100 <= g <= 260 and abs(r - g) <= 12 and -6 <= b - g <= 20
    assert greys >= len(points) - 1

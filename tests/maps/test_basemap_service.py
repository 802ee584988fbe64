"""The service's local basemaps, offline default and self-hosted API docs (TestClient)."""

from __future__ import annotations

import gzip
import io
import re
import shutil

import pytest
from fastapi.testclient import TestClient
from landplan.api.app import create_app
from PIL import Image

from tests.api.conftest import make_settings
from tests.maps.test_localtiles import _dem, _raster_mbtiles, _vector_mbtiles

URL = re.compile(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"')


@pytest.fixture(scope="module")
def workspace(tiny_workspace, tmp_path_factory):
    ws = tmp_path_factory.mktemp("svc") / "ws"
    shutil.copytree(tiny_workspace, ws)
    (ws / "rasters").mkdir()
    _dem(ws / "rasters" / "dem.tif", lambda x, y: 2000 + 0.05 * x + 0.03 * y)
    (ws / "basemaps").mkdir()
    _raster_mbtiles(ws / "basemaps" / "city.mbtiles", zooms=(2, 3))
    _vector_mbtiles(ws / "basemaps" / "roads.mbtiles")
    return ws


def _client(workspace, asset_dir, **overrides):
    app = create_app(make_settings(str(workspace), assets_dir=asset_dir, **overrides))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(workspace, asset_dir):
    with _client(workspace, asset_dir) as c:
        yield c


def test_basemaps_listed_with_the_bureau_file_as_default(client):
    body = client.get("/basemaps").json()
    names = [b["name"] for b in body["basemaps"]]
    assert names == ["city", "roads", "hillshade"]  # files first, then the DEM hillshade
    assert body["default"] == "city" and body["offline"] is True
    hs = body["basemaps"][2]
    assert hs["source"] == "hillshade" and hs["tiles"].endswith(
        "/basemaps/hillshade/tiles/{z}/{x}/{y}"
    )


def test_tiles_are_served_from_this_host(client):
    city = client.get("/basemaps/city/tiles/2/3/1")
    assert city.status_code == 200 and city.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(city.content)).getpixel((9, 9)) == (200, 0, 200)
    empty = client.get("/basemaps/city/tiles/5/1/1")  # none stored: transparent, not an error
    assert empty.status_code == 200
    assert Image.open(io.BytesIO(empty.content)).getextrema()[3] == (0, 0)
    road = client.get("/basemaps/roads/tiles/1/1/1")
    assert road.status_code == 200 and road.headers["content-type"] == "application/x-protobuf"
    assert client.get("/basemaps/roads/tiles/1/0/0").status_code == 204
    hs = client.get("/basemaps/hillshade/tiles/14/13138/6923")
    assert hs.status_code == 200 and hs.content.startswith(b"\x89PNG")
    missing = client.get("/basemaps/nope/tiles/1/0/0")
    assert missing.status_code == 404 and "city" in missing.json()["detail"]
    assert client.get("/basemaps/city/tiles/1/5/0").status_code == 400


def test_vector_tiles_keep_their_gzip_encoding(client):
    import mapbox_vector_tile

    raw = client.get("/basemaps/roads/tiles/1/1/1")  # httpx decodes Content-Encoding: gzip
    assert "roads" in mapbox_vector_tile.decode(raw.content)
    assert gzip.compress(b"") and raw.headers.get("content-encoding") in (None, "gzip")


@pytest.mark.parametrize("page", ["/maps/result", "/maps/planner"])
def test_offline_pages_default_to_the_local_basemap_and_refer_to_nothing_outside(client, page):
    r = client.get(page)
    assert r.status_code == 200
    html = r.text
    assert "/basemaps/city/tiles/{z}/{x}/{y}" in html and "/basemaps/hillshade/tiles/" in html
    assert "openstreetmap" not in html.lower() and "tianditu.gov.cn/vec" not in html
    for url in URL.findall(html):
        assert url.startswith("http://testserver/"), url
    assert client.get(f"{page}?basemap=hillshade").status_code == 200
    assert client.get(f"{page}?basemap=none").status_code == 200


@pytest.mark.parametrize("basemap", ["osm", "tianditu", "gaode"])
def test_offline_refuses_online_basemaps(client, basemap):
    r = client.get(f"/maps/result?basemap={basemap}")
    assert r.status_code == 400 and "offline" in r.json()["detail"]


def test_unknown_basemap_is_a_400_naming_the_choices(client):
    r = client.get("/maps/result?basemap=baidu")
    assert r.status_code == 400 and "city" in r.json()["detail"]


def test_online_mode_allows_osm(workspace, asset_dir):
    with _client(workspace, asset_dir, offline=False) as c:
        assert c.get("/basemaps").json()["default"] == "city"
        assert "openstreetmap" in c.get("/maps/result?basemap=osm").text.lower()


def test_no_local_basemap_means_none_offline(tiny_workspace, asset_dir, tmp_path):
    ws = tmp_path / "bare"
    shutil.copytree(tiny_workspace, ws)
    with _client(ws, asset_dir) as c:
        assert c.get("/basemaps").json() == {"basemaps": [], "default": "none", "offline": True}
        html = c.get("/maps/result").text
        assert "tile.openstreetmap.org" not in html and "L.tileLayer" not in html


def test_docs_are_served_from_the_asset_directory(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    assert '"validatorUrl": null' in r.text
    urls = URL.findall(r.text)
    assert len(urls) == 3  # script, style, favicon
    for url in urls:
        assert url.startswith("http://testserver/assets/swagger-ui-dist@"), url
        got = client.get(url.removeprefix("http://testserver"))
        assert got.status_code == 200 and len(got.content) > 500, url
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/basemaps"]

"""Map pages served by the API: offline assets, planner page, read-only embeds, PNG/PDF."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from landplan.api.app import create_app
from landplan.api.mapdata import embed_token
from PIL import Image

from tests.api.conftest import auth, make_settings

ASSET_URL = re.compile(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"')


@pytest.fixture(scope="module")
def maps_client(store_spec, assets_dir):
    app = create_app(make_settings(store_spec, assets_dir=assets_dir, embed_secret="s3cret"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    "page", ["/maps/result", "/maps/planner", "/maps/result?basemap=none&lang=en"]
)
def test_pages_load_every_asset_from_the_service(maps_client, page):
    r = maps_client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = ASSET_URL.findall(r.text)
    assert any("leaflet.js" in u for u in urls)
    for url in urls:
        assert url.startswith("http://testserver/assets/"), url
        got = maps_client.get(url.removeprefix("http://testserver"))
        assert got.status_code == 200 and len(got.content) > 100, url


def test_planner_page_has_the_panel(maps_client):
    html = maps_client.get("/maps/planner").text
    for element in ("lp-eval", "lp-gross-mu", "lp-net-mu", "lp-save", "lp-compare-table"):
        assert f'id="{element}"' in html
    assert "/boundaries/evaluate" in html and "leaflet.draw" in html


def test_embed_tokens(maps_client):
    assert maps_client.post("/maps/embed-tokens").status_code == 401
    assert maps_client.post("/maps/embed-tokens", headers=auth("viewer")).status_code == 403
    made = maps_client.post("/maps/embed-tokens?days=1", headers=auth("admin")).json()
    r = maps_client.get(f"/maps/embed?token={made['token']}")
    assert r.status_code == 200 and "frame-ancestors" in r.headers["content-security-policy"]
    assert maps_client.get("/maps/embed?token=123.abc").status_code == 403
    expired = embed_token("s3cret", int(time.time()) - 10)
    assert maps_client.get(f"/maps/embed?token={expired}").status_code == 403


def test_static_png_and_pdf(maps_client):
    png = maps_client.get("/maps/static.png?dpi=80")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(png.content)).convert("L"), float)
    assert img.std() > 10  # a drawing, not a blank page
    pdf = maps_client.get("/maps/static.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert re.search(rb"/BaseFont\s*/[A-Z]{6}\+Noto|/BaseFont\s*/Noto|CJK", pdf.content)


def test_result_map_styled_by_lifecycle_state(maps_client, workspace_template):
    import pyogrio

    rp = pyogrio.read_dataframe(
        workspace_template / "workspace.gpkg", layer="result_parcels", read_geometry=False
    )
    pid = sorted(rp.loc[rp["transferable"].astype(bool), "parcel_id"])[-1]
    r = maps_client.post(
        f"/register/{pid}/transitions",
        json={"to": "ready", "expected_version": 0},
        headers=auth("registrar"),
    )
    assert r.status_code in (200, 409)
    html = maps_client.get("/maps/result?style_by=state&basemap=none").text
    assert "生命周期状态" in html and "具备供地条件" in html and "未登记" in html
    assert maps_client.get("/maps/result?style_by=net_available_mu&basemap=none").status_code == 200
    assert maps_client.get("/maps/result?style_by=nope").status_code == 400

"""The planner page: structure, GCJ-02 inverse in JS, and the panel driven in a browser."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess

import pytest

folium = pytest.importorskip("folium")

from landplan.maps.planner import GCJ02_INVERSE_JS, build_planner_page  # noqa: E402

from landplan.core.gcj02 import wgs84_to_gcj02  # noqa: E402

IDS = (
    "lp-eval",
    "lp-gross-mu",
    "lp-net-mu",
    "lp-save-name",
    "lp-save",
    "lp-compare-a",
    "lp-compare-b",
    "lp-compare",
    "lp-compare-table",
    "lp-api-key",
)
EVALUATION = {
    "evaluation": {
        "excluded_by_kind_mu": {"red_line": 1.5, "basic_farmland": 0.25},
        "reasons": [
            {
                "code": "TOO_MANY_LEADING_INDUSTRIES",
                "severity": "warn",
                "message_zh": "主导产业超过3个",
                "message_en": "more than 3 leading industries",
            }
        ],
    },
    "key_figures": {
        "gross_mu": 1234.5678,
        "excluded_mu": 1.75,
        "net_available_mu": 1232.8178,
        "transferable_parcels": 7,
        "mean_cost_weighted_suitability": 55.55,
        "dev_cost_wan": 1000.0,
        "leading_industries": 4,
    },
}


def _page(parcels, constraints, **kw):
    return build_planner_page(parcels, constraints=constraints, basemap="none", **kw)


def test_page_structure(parcels, constraints):
    m = _page(parcels, constraints, api_base="/api", assets="offline", lang="en")
    html = m.get_root().render()
    for element_id in IDS:
        assert f'id="{element_id}"' in html
    kinds = [type(c).__name__ for c in m._children.values()]
    assert "Draw" in kinds and kinds[-1] == "LayerControl"
    assert '<script src="/assets/leaflet-draw@1.0.4/dist/leaflet.draw.js">' in html
    assert '"apiBase": "/api"' in html and '"gcj02": false' in html
    assert "Boundary planner 边界规划" in html  # English first
    assert '"polyline": false' in html and '"rectangle"' in html


def test_gaode_planner_converts_back_to_wgs84(parcels, constraints):
    m = build_planner_page(parcels, constraints=constraints, basemap="gaode", assets="cdn")
    assert '"gcj02": true' in m.get_root().render()


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_js_gcj02_inverse_round_trips_python_forward():
    points = [(121.5272106, 31.1774276), (113.912316, 22.543847), (100.2, 26.9), (2.35, 48.85)]
    shifted = [tuple(map(float, wgs84_to_gcj02(x, y))) for x, y in points]
    script = f"{GCJ02_INVERSE_JS}\nconsole.log(JSON.stringify({json.dumps(shifted)}.map(function (p) {{ return lpGcjToWgs(p[0], p[1]); }})));"
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for (x, y), (bx, by) in zip(points, json.loads(out.stdout), strict=True):
        assert abs(bx - x) < 2e-7 and abs(by - y) < 2e-7


def test_panel_in_a_browser_uses_the_api_numbers(
    parcels, constraints, asset_dir, tmp_path, playwright_session
):
    pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium")
    from landplan.maps.assets import apply_assets

    api = "http://landplan.test/api"
    m = _page(parcels, constraints, api_base=api, assets="cdn", lang="zh")
    apply_assets(m, "inline", asset_dir=asset_dir)
    drawn = next(c for c in m._children.values() if isinstance(c, folium.FeatureGroup))
    path = tmp_path / "planner.html"
    path.write_text(m.get_root().render(), encoding="utf-8")
    calls, errors = [], []

    def route(r):
        req = r.request
        calls.append((req.method, req.url, req.post_data, req.headers.get("x-api-key")))
        bodies = {
            "/boundaries/evaluate": EVALUATION,
            "/scenarios/compare": {
                "columns": ["name", "gross_mu", "leading_industries"],
                "rows": [
                    {"name": "A", "gross_mu": 10.5, "leading_industries": 2},
                    {"name": "B", "gross_mu": 20.25, "leading_industries": 5},
                ],
            },
            "/scenarios": {"scenarios": [{"name": "A", "key_figures": {}}, {"name": "B"}]},
        }
        for key, body in bodies.items():
            if req.url.split("?")[0].endswith(key) or (key in req.url and "compare" in key):
                return r.fulfill(status=200, content_type="application/json", body=json.dumps(body))
        if req.method == "PUT":
            return r.fulfill(status=200, content_type="application/json", body="{}")
        return r.abort() if req.url.startswith("http") else r.continue_()

    with contextlib.nullcontext(playwright_session) as p:  # one driver per process
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", route)
        page.goto(path.as_uri())
        page.wait_for_selector("#lp-compare-b option", state="attached")
        page.evaluate(
            f"""() => {{ var poly = L.polygon([[26.9, 100.2], [26.91, 100.2], [26.91, 100.21]]);
            {drawn.get_name()}.addLayer(poly);
            {m.get_name()}.fire('draw:created', {{layer: poly, layerType: 'polygon'}}); }}"""
        )
        page.wait_for_function("document.getElementById('lp-gross-mu').textContent !== '—'")
        gross, net = page.inner_text("#lp-gross-mu"), page.inner_text("#lp-net-mu")
        leading_class = page.get_attribute("#lp-leading", "class")
        reasons = page.inner_text("#lp-reasons")
        page.fill("#lp-api-key", "key-123")
        page.fill("#lp-save-name", "方案 A")
        page.click("#lp-save")
        page.wait_for_function(
            "document.getElementById('lp-status').textContent.includes('方案 A')"
        )
        page.select_option("#lp-compare-b", "B")
        page.click("#lp-compare")
        page.wait_for_selector("#lp-compare-table tr", state="attached")
        table = page.inner_text("#lp-compare-table")
        browser.close()
    assert errors == []
    assert gross == "1,234.57 亩 mu" and net == "1,232.82 亩 mu"
    assert leading_class == "lp-over"  # 4 > 3
    assert "主导产业超过3个" in reasons and reasons.index("主导") < reasons.index("more than")
    post = next(c for c in calls if c[0] == "POST")
    assert post[1] == f"{api}/boundaries/evaluate"
    geometry = json.loads(post[2])
    assert geometry["type"] == "Polygon"
    assert geometry["coordinates"][0][0] == [100.2, 26.9]  # lon, lat (CRS84)
    put = next(c for c in calls if c[0] == "PUT")
    assert put[1] == f"{api}/scenarios/%E6%96%B9%E6%A1%88%20A" and put[3] == "key-123"
    assert json.loads(put[2]) == geometry
    assert any(c[1] == f"{api}/scenarios/compare?names=A&names=B" for c in calls)
    assert "10.50" in table and "20.25" in table and "毛面积" in table

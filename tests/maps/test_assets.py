"""Offline assets: npm install with sha512 checks, and pages in offline / inline mode."""

from __future__ import annotations

import contextlib
import re
import shutil
from html.parser import HTMLParser

import pytest

folium = pytest.importorskip("folium")

from landplan.maps import build_result_map  # noqa: E402
from landplan.maps.assets import (  # noqa: E402
    AssetError,
    apply_assets,
    asset_urls,
    assets_status,
    install_assets,
    load_manifest,
    verify_integrity,
)


class _Refs(HTMLParser):
    """Every src/href attribute of the page (script bodies are not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))


def _refs(html: str) -> list[tuple[str, str, str]]:
    parser = _Refs()
    parser.feed(html)
    return parser.refs


def _css_urls(html: str) -> list[str]:
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    return [u for css in styles for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", css)]


def test_manifest_is_consistent_and_pinned():
    manifest = load_manifest()
    assert {"leaflet", "leaflet-draw", "leaflet.vectorgrid"} <= set(manifest.packages)
    for pkg in manifest.packages.values():
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", pkg.integrity), pkg.name
        assert re.fullmatch(r"\d+\.\d+\.\d+", pkg.version)
    assert manifest.relative_path("leaflet/dist/leaflet.js") == "leaflet@1.9.4/dist/leaflet.js"


def test_every_folium_resource_we_use_is_mapped_or_dropped():
    from folium.plugins import Draw, Fullscreen, MeasureControl, VectorGridProtobuf
    from folium.plugins.pattern import StripePattern

    manifest = load_manifest()
    known = set(manifest.js) | set(manifest.css) | manifest.drop
    for cls in (folium.Map, Fullscreen, MeasureControl, StripePattern, Draw, VectorGridProtobuf):
        for name, _url in [*cls.default_js, *cls.default_css]:
            assert name in known, f"{cls.__name__}: {name}"


def test_asset_urls_offline():
    urls = asset_urls("offline", base_url="/static/assets/")
    assert urls["js"]["leaflet"] == "/static/assets/leaflet@1.9.4/dist/leaflet.js"
    assert (
        urls["css"]["leaflet_draw_css"] == "/static/assets/leaflet-draw@1.0.4/dist/leaflet.draw.css"
    )
    with pytest.raises(ValueError, match="'cdn' or 'offline'"):
        asset_urls("inline")


def test_integrity_mismatch_is_refused():
    data = b"not the leaflet tarball"
    with pytest.raises(AssetError, match="sha512 mismatch"):
        verify_integrity(data, load_manifest().packages["leaflet"].integrity)
    with pytest.raises(AssetError, match="only sha512"):
        verify_integrity(data, "sha1-abc")


def test_install_is_verified_idempotent_and_repairs(asset_dir, tmp_path):
    status = assets_status(asset_dir)
    assert all(s.ok for s in status), [s.detail for s in status]
    assert (asset_dir / "leaflet@1.9.4/dist/images/layers.png").stat().st_size > 0
    assert not list(asset_dir.glob(".stage-*")) and not list(asset_dir.glob(".old-*"))
    actions = []
    install_assets(asset_dir, on_package=lambda s, a: actions.append(a))
    assert set(actions) == {"skipped"}
    # a damaged copy is detected and replaced
    copy = tmp_path / "assets"
    shutil.copytree(asset_dir, copy)
    (copy / "leaflet@1.9.4/dist/leaflet.js").write_text("tampered", encoding="utf-8")
    bad = {s.name: s for s in assets_status(copy)}["leaflet"]
    assert not bad.ok and "leaflet.js" in bad.detail
    actions.clear()
    install_assets(copy, on_package=lambda s, a: actions.append((s.name, a)))
    assert ("leaflet", "installed") in actions and all(s.ok for s in assets_status(copy))


def test_status_of_empty_dir(tmp_path):
    assert {s.detail for s in assets_status(tmp_path)} == {"not installed"}


def test_offline_page_loads_nothing_from_outside(parcels, constraints, networks):
    m = build_result_map(
        parcels, constraints=constraints, networks=networks, basemap="none", assets="offline"
    )
    html = m.get_root().render()
    refs = _refs(html)
    scripts = [v for tag, _, v in refs if tag == "script"]
    assert scripts[0] == "/assets/leaflet@1.9.4/dist/leaflet.js"  # Leaflet first
    assert "/assets/leaflet.pattern@0.1.0/dist/leaflet.pattern.js" in scripts
    assert all(v.startswith("/assets/") for _, _, v in refs), refs
    assert not re.search(r"jquery|bootstrap|awesome", html, flags=re.I)
    assert not any(u.startswith(("http:", "https:", "//")) for u in _css_urls(html))


def test_offline_with_osm_only_tile_template_is_external(parcels):
    html = build_result_map(parcels, basemap="osm", assets="offline").get_root().render()
    assert all(v.startswith("/assets/") for _, _, v in _refs(html))
    assert "tile.openstreetmap.org/{z}/{x}/{y}.png" in html  # data, not an asset


def test_inline_page_is_standalone(parcels, constraints, networks, asset_dir, monkeypatch):
    monkeypatch.setenv("LANDPLAN_ASSETS_DIR", str(asset_dir))
    m = build_result_map(
        parcels, constraints=constraints, networks=networks, basemap="none", assets="inline"
    )
    html = m.get_root().render()
    assert _refs(html) == []  # no <script src>, no <link href>
    css_urls = _css_urls(html)
    assert css_urls and all(u.startswith(("data:", "#")) for u in css_urls), css_urls[:3]
    assert "Leaflet 1.9.4" in html and "leaflet-control-zoom-fullscreen" in html
    assert len(html) > 200_000


def test_inlined_code_cannot_close_its_element():
    from landplan.maps.assets import _inline_element

    js = _inline_element("js", "var s = '</script><b>';").render()
    assert js == "<script>var s = '<\\/script><b>';</script>"
    css = _inline_element("css", "a::after{content:'</STYLE>'}").render()
    assert css.count("</style>") == 1 and css.endswith("</style>")


def test_inline_without_installed_assets_fails_clearly(parcels, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDPLAN_ASSETS_DIR", str(tmp_path))
    with pytest.raises(AssetError, match="landplan assets install"):
        build_result_map(parcels, assets="inline")


def test_unknown_external_asset_is_refused_at_render(parcels):
    from folium.plugins import MiniMap

    m = build_result_map(parcels, basemap="none", assets="offline")
    MiniMap().add_to(m)
    with pytest.raises(AssetError, match=r"Control\.MiniMap"):
        m.get_root().render()


def test_bad_mode(parcels):
    with pytest.raises(ValueError, match="assets must be one of"):
        build_result_map(parcels, assets="local")


def test_inline_page_runs_in_a_browser_without_network(
    parcels, constraints, asset_dir, tmp_path, playwright_session
):
    pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium")
    m = build_result_map(parcels, constraints=constraints, basemap="none")
    apply_assets(m, "inline", asset_dir=asset_dir)  # explicit directory, no environment
    path = tmp_path / "map.html"
    path.write_text(m.get_root().render(), encoding="utf-8")
    external, errors = [], []
    with contextlib.nullcontext(playwright_session) as p:  # one driver per process
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))

        def route(r):
            if r.request.url.startswith(("http:", "https:")):
                external.append(r.request.url)
                return r.abort()
            return r.continue_()

        page.route("**/*", route)
        page.goto(path.as_uri())
        page.wait_for_function("Object.keys(window).some(k => k.startsWith('parcel_layer_'))")
        n_paths = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
        n_patterns = page.evaluate("document.querySelectorAll('pattern').length")
        has_measure = page.evaluate("!!document.querySelector('.leaflet-control-measure')")
        # every vector layer is drawn on one canvas (hatches as canvas patterns), no SVG path
        n_canvas = page.evaluate("document.querySelectorAll('canvas.leaflet-zoom-animated').length")
        n_parcels = page.evaluate(
            "window[Object.keys(window).find(k => k.startsWith('parcel_layer_'))].getLayers().length"
        )
        browser.close()
    assert external == [] and errors == []
    assert n_paths == 0 and n_patterns == 2 and has_measure
    assert n_canvas == 1 and n_parcels == len(parcels)

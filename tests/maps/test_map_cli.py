"""``landplan map`` and ``landplan assets`` through typer's CliRunner."""

from __future__ import annotations

import pytest
from landplan.maps.assets import load_manifest
from landplan.maps.basemaps import ENV_TIANDITU_TK
from typer.testing import CliRunner

from landplan.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_TIANDITU_TK, raising=False)
    monkeypatch.setenv("LANDPLAN_ASSETS_DIR", str(tmp_path / "no-assets-here"))


def test_html_with_offline_assets(tiny_workspace, tmp_path):
    out = tmp_path / "map.html"
    result = runner.invoke(
        app, ["map", str(tiny_workspace), "--out", str(out), "--assets", "offline", "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in result.stdout
    html = out.read_text(encoding="utf-8")
    assert '<script src="/assets/leaflet@1.9.4/dist/leaflet.js">' in html
    assert '<div class="lp-title">示例园区</div>' in html and "Transferable 可出让" in html


def test_default_assets_inline_when_installed(tiny_workspace, tmp_path, asset_dir, monkeypatch):
    monkeypatch.setenv("LANDPLAN_ASSETS_DIR", str(asset_dir))
    out = tmp_path / "map.html"
    result = runner.invoke(
        app, ["map", str(tiny_workspace), "--out", str(out), "--basemap", "none"]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "<script src=" not in html and "<link rel=" not in html
    assert "Leaflet 1.9.4" in html


def test_default_assets_cdn_with_a_warning_when_not_installed(tiny_workspace, tmp_path):
    out = tmp_path / "map.html"
    result = runner.invoke(app, ["map", str(tiny_workspace), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "landplan assets install" in result.stderr
    assert "cdn.jsdelivr.net/npm/leaflet@" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "magic"), [("map.png", b"\x89PNG"), ("m.PDF", b"%PDF")])
def test_static_exports_by_suffix(tiny_workspace, tmp_path, name, magic):
    out = tmp_path / name
    result = runner.invoke(app, ["map", str(tiny_workspace), "--out", str(out), "--dpi", "60"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["map.out", "map", "map.svg", "map.png.txt"])
def test_unknown_suffix_is_refused_and_nothing_written(tiny_workspace, tmp_path, name):
    out = tmp_path / name
    result = runner.invoke(app, ["map", str(tiny_workspace), "--out", str(out), "--png"])
    assert result.exit_code == 2 and "unknown map format" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_flag_must_agree_with_the_suffix(tiny_workspace, tmp_path):
    out = tmp_path / "map.html"
    result = runner.invoke(app, ["map", str(tiny_workspace), "--out", str(out), "--png"])
    assert result.exit_code == 2 and "contradicts" in result.stderr and not out.exists()


def test_tianditu_key_handling(tiny_workspace, tmp_path):
    out = tmp_path / "map.html"
    args = ["map", str(tiny_workspace), "--out", str(out), "--basemap", "tianditu"]
    missing = runner.invoke(app, args)
    assert missing.exit_code == 2 and ENV_TIANDITU_TK in missing.stderr
    assert not out.exists()
    ok = runner.invoke(app, [*args, "--tk", "SECRET-TK-1"])
    assert ok.exit_code == 0, ok.output
    assert "SECRET-TK-1" not in out.read_text(encoding="utf-8")
    embedded = runner.invoke(app, [*args, "--tk", "SECRET-TK-1", "--embed-key"])
    assert embedded.exit_code == 0 and "SECRET-TK-1" in out.read_text(encoding="utf-8")


def test_bad_input_exits_2(tiny_workspace, tmp_path):
    not_a_workspace = runner.invoke(app, ["map", str(tmp_path), "--out", str(tmp_path / "m.html")])
    assert not_a_workspace.exit_code == 2 and "workspace" in not_a_workspace.stderr
    bad_mode = runner.invoke(
        app, ["map", str(tiny_workspace), "--out", str(tmp_path / "m.html"), "--assets", "local"]
    )
    assert bad_mode.exit_code == 2 and "--assets must be one of" in bad_mode.stderr
    both = runner.invoke(
        app, ["map", str(tiny_workspace), "--out", str(tmp_path / "m.png"), "--png", "--pdf"]
    )
    assert both.exit_code == 2


def test_assets_status_and_install(asset_dir, tmp_path):
    empty = runner.invoke(app, ["assets", "status", "--dir", str(tmp_path)])
    assert empty.exit_code == 1 and "MISSING" in empty.stdout
    n = len(load_manifest().packages)  # Leaflet and plugins, Swagger UI, MapLibre
    ok = runner.invoke(app, ["assets", "status", "--dir", str(asset_dir)])
    assert ok.exit_code == 0 and ok.stdout.count("verified") == n == 8
    again = runner.invoke(app, ["assets", "install", "--dir", str(asset_dir)])
    assert again.exit_code == 0 and again.stdout.count("skipped") == n


def test_help_lists_the_commands():
    top = runner.invoke(app, ["--help"])
    assert "map" in top.stdout and "assets" in top.stdout
    assert "--basemap" in runner.invoke(app, ["map", "--help"]).stdout


def test_results_gpkg_is_accepted(tmp_path, parcels):
    from landplan.store.workspace import write_layer

    gpkg = tmp_path / "results.gpkg"
    write_layer(gpkg, "parcels", parcels)
    out = tmp_path / "map.html"
    result = runner.invoke(
        app, ["map", str(gpkg), "--out", str(out), "--assets", "offline", "--basemap", "none"]
    )
    assert result.exit_code == 0, result.output
    assert "P-003" in out.read_text(encoding="utf-8")


def test_style_by_a_column_and_by_state(tiny_workspace, tmp_path):
    out = tmp_path / "styled.html"
    args = ["map", str(tiny_workspace), "--out", str(out), "--assets", "cdn"]
    result = runner.invoke(app, [*args, "--style-by", "net_available_mu"])
    assert result.exit_code == 0, result.output
    assert "net_available_mu" in out.read_text(encoding="utf-8")
    result = runner.invoke(app, [*args, "--style-by", "state"])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "生命周期状态" in html and "未登记" in html
    bad = runner.invoke(app, [*args, "--style-by", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output

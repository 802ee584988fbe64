"""Scenarios in workspace.gpkg: replace by name, atomic saves, side-by-side comparison, CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
import shapely

from landplan.core.errors import NotFoundError
from landplan.core.units import m2_to_mu
from landplan.planning import scenarios
from landplan.planning.scenarios import compare_scenarios, read_scenarios, save_scenario
from landplan.store import gpkg_scenarios
from landplan.store.workspace import GpkgWorkspace
from tests.helpers import GK

BOX_A = shapely.box(618_500, 2_976_000, 619_500, 2_977_000)
BOX_B = shapely.box(618_000, 2_976_000, 619_500, 2_977_500)


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory, sample_result):
    path = tmp_path_factory.mktemp("scen") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    return path


@pytest.fixture
def ws(base_ws, tmp_path):
    path = tmp_path / "ws"
    shutil.copytree(base_ws, path)
    return path


def _layers(ws):
    return {
        str(n): pyogrio.read_info(ws / "workspace.gpkg", layer=n)["features"]
        for n in pyogrio.list_layers(ws / "workspace.gpkg")[:, 0]
    }


def test_save_twice_replaces(ws):
    before = _layers(ws)
    save_scenario(ws, "A", gpd.GeoSeries([BOX_A], crs=GK))
    save_scenario(ws, "B", gpd.GeoSeries([BOX_B], crs=GK))
    save_scenario(ws, "A", gpd.GeoSeries([BOX_B], crs=GK))
    frame = read_scenarios(ws)
    assert sorted(frame["name"]) == ["A", "B"]
    a = frame.set_index("name").loc["A"]
    assert a["gross_mu"] == pytest.approx(m2_to_mu(BOX_B.area))
    assert frame.crs == GK
    assert frame.geometry.iloc[0].geom_type == "MultiPolygon"
    assert json.loads(a["evaluation"])["gross_mu"] == pytest.approx(a["gross_mu"])
    after = _layers(ws)
    assert after.pop("scenarios") == 2
    assert after == before  # every other layer untouched
    with sqlite3.connect(ws / "workspace.gpkg") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_failure_mid_save_leaves_previous_scenarios(ws, monkeypatch):
    save_scenario(ws, "A", gpd.GeoSeries([BOX_A], crs=GK))
    save_scenario(ws, "B", gpd.GeoSeries([BOX_B], crs=GK))

    def boom(conn):
        raise RuntimeError("disk full (simulated)")

    # fails after the DELETE and INSERT of "A", inside the transaction
    monkeypatch.setattr(gpkg_scenarios, "_update_extent", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        save_scenario(ws, "A", gpd.GeoSeries([BOX_B], crs=GK))
    frame = read_scenarios(ws).set_index("name")
    assert sorted(frame.index) == ["A", "B"]
    assert frame.loc["A", "gross_mu"] == pytest.approx(m2_to_mu(BOX_A.area))
    assert pyogrio.read_info(ws / "workspace.gpkg", layer="result_parcels")["features"] > 0


def test_first_save_failing_leaves_no_table(ws, monkeypatch):
    monkeypatch.setattr(gpkg_scenarios, "_update_extent", lambda conn: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        save_scenario(ws, "A", gpd.GeoSeries([BOX_A], crs=GK))
    assert "scenarios" not in _layers(ws)
    assert len(read_scenarios(ws)) == 0


def test_compare_has_one_column_per_scenario(ws, tmp_path):
    save_scenario(ws, "A", gpd.GeoSeries([BOX_A], crs=GK))
    save_scenario(ws, "B", gpd.GeoSeries([BOX_B], crs=GK))
    table = compare_scenarios(ws, ["B", "A"])
    assert list(table.columns) == ["B", "A"]
    assert table.loc["gross_mu", "A"] == pytest.approx(m2_to_mu(BOX_A.area))
    assert "excluded_basic_farmland_mu" in table.index
    out = scenarios.export_comparison_xlsx(table, tmp_path / "c.xlsx")
    sheet = openpyxl.load_workbook(out).active
    assert [c.value for c in sheet[1]] == ["指标", "指标名称", "B", "A"]
    assert [c.value for c in sheet[2]] == ["figure", "figure_label", "B", "A"]  # hidden row
    row = {sheet.cell(r, 1).value: r for r in range(3, sheet.max_row + 1)}["gross_mu"]
    assert sheet.cell(row, 2).value == "毛面积（亩）"
    assert sheet.cell(row, 4).value == pytest.approx(m2_to_mu(BOX_A.area))
    assert sheet.cell(row, 4).number_format == "#,##0.00"
    with pytest.raises(NotFoundError, match="nope"):
        compare_scenarios(ws, ["A", "nope"])


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "landplan", "boundary", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_evaluate_suggest_compare(ws, tmp_path):
    geo = gpd.GeoDataFrame(geometry=[BOX_A], crs=GK).to_crs(4490)
    f = tmp_path / "b.geojson"
    geo.to_file(f, driver="GeoJSON")
    r = _cli("evaluate", ws, f, "--save-as", "drawn", "--out", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    ev = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert ev["gross_m2"] == pytest.approx(BOX_A.area, abs=0.01)
    r = _cli(
        "suggest",
        ws,
        "--target-mu",
        150,
        "--regions",
        2,
        "--snap",
        "--save-as",
        "s",
        "--out",
        tmp_path / "sug",
    )
    assert r.returncode == 0, r.stderr
    regions = gpd.read_file(tmp_path / "sug" / "regions.gpkg", layer="regions")
    assert len(regions) == 2 and "snap_difference_mu" in regions.columns
    assert (tmp_path / "sug" / "regions.geojson").exists()
    r = _cli("compare", ws, "drawn", "s-1", "s-2", "--out", tmp_path / "cmp")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cmp" / "compare.xlsx").exists()
    assert "s-2" in (tmp_path / "cmp" / "map.html").read_text(encoding="utf-8")
    r = _cli("compare", ws, "drawn", "missing", "--out", tmp_path / "cmp2")
    assert r.returncode == 2 and r.stderr.startswith("error: ")
    nocrs = tmp_path / "nocrs.csv"
    nocrs.write_text('WKT\n"POLYGON((0 0,1 0,1 1,0 0))"\n', encoding="utf-8")
    r = _cli("evaluate", ws, nocrs)
    assert r.returncode == 2 and "no CRS" in r.stderr


def test_scenarios_survive_a_re_analysis(tmp_path, sample_result):
    from landplan.planning.scenarios import list_scenarios, read_scenarios, save_scenario
    from landplan.store.workspace import GpkgWorkspace

    ws = tmp_path / "ws"
    GpkgWorkspace(ws).write_result(sample_result)
    x0, y0, x1, y1 = sample_result.parcels.total_bounds
    box = shapely.box(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    save_scenario(ws, "西南片", gpd.GeoSeries([box], crs=sample_result.crs))
    before = read_scenarios(ws)
    GpkgWorkspace(ws).write_result(sample_result)
    assert list_scenarios(ws) == ["西南片"]
    after = read_scenarios(ws)
    assert after.geometry.iat[0].equals(before.geometry.iat[0])
    assert after["evaluation"].iat[0] == before["evaluation"].iat[0]

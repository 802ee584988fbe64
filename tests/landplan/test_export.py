"""Tables and GeoPackages for people: LibreOffice reads the XLSX, GDAL 3.6 and QGIS the GeoPackages.

Oracles: LibreOffice headless (``soffice --convert-to csv/pdf``) renders what a user sees;
Debian's ``ogrinfo`` (GDAL 3.6) opens every GeoPackage; the XML parser reads the QGIS styles.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest

from landplan.export.labels import header, reasons_text
from landplan.export.xlsx import Sheet, read_sheet, write_workbook
from landplan.store.workspace import GpkgWorkspace

CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"


def _tool(name: str) -> str:
    """Path of a system tool; in CI its absence is a failure (.ci/run installs it), else a skip."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed in CI: .ci/run must install it")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def workspace(sample_result, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "ws"
    GpkgWorkspace(out).write_result(sample_result)
    return out


def _soffice_csv(xlsx: Path, outdir: Path) -> dict[str, list[list[str]]]:
    """Every sheet of ``xlsx`` as LibreOffice shows it (formatted text), keyed by sheet name."""
    profile = outdir / "profile"
    run = subprocess.run(
        [
            _tool("soffice"),
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            CSV_FILTER,
            "--outdir",
            str(outdir),
            str(xlsx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    sheets = {}
    for f in outdir.glob(f"{xlsx.stem}-*.csv"):
        with f.open(encoding="utf-8", newline="") as fh:
            sheets[f.stem.removeprefix(f"{xlsx.stem}-")] = list(csv.reader(fh))
    assert sheets, run.stdout + run.stderr
    return sheets


def _soffice_pdf(xlsx: Path, outdir: Path) -> str:
    profile = outdir / "profile"
    run = subprocess.run(
        [
            _tool("soffice"),
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(outdir),
            str(xlsx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    pdf = outdir / f"{xlsx.stem}.pdf"
    text = subprocess.run(
        [_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text


def _row(sheet: list[list[str]], figure: str) -> list[str]:
    return next(r for r in sheet if r and r[0] == figure)


@pytest.fixture(scope="module")
def park_csv(workspace, tmp_path_factory) -> dict[str, list[list[str]]]:
    return _soffice_csv(workspace / "park_summary.xlsx", tmp_path_factory.mktemp("csv"))


def test_park_summary_as_libreoffice_shows_it(workspace, park_csv):
    assert {"汇总", "原因统计", "数据检查", "地块"} <= set(park_csv)
    for name, rows in park_csv.items():
        for row in rows:
            for cell in row:
                assert "None" not in cell and "{" not in cell and "nan" != cell, (name, cell)
    gpkg = pyogrio.read_dataframe(workspace / "results.gpkg", layer="parcels", read_geometry=False)
    summary = park_csv["汇总"]
    assert summary[0][:2] == ["指标", "指标名称"] and summary[1][0] == "figure"
    net = _row(summary, "net_available_mu")
    assert net[1] == "净可用面积（亩）"
    assert re.fullmatch(r"[\d,]+\.\d\d", net[2])  # 亩: 2 decimals
    assert float(net[2].replace(",", "")) == pytest.approx(gpkg["net_available_mu"].sum(), abs=0.01)
    assert _row(summary, "parcels")[2] == f"{len(gpkg):,}"
    assert _row(summary, "transferable_parcels")[2] == f"{int(gpkg['transferable'].sum()):,}"
    assert _row(summary, "blocked_parcels")[2] == f"{int((gpkg['verdict'] == 'blocked').sum()):,}"
    assert re.fullmatch(r"\d+\.\d\d%", _row(summary, "planar_vs_ellipsoidal_pct")[2])
    # per-parcel sheet: one row per GeoPackage parcel, Chinese headers with units
    parcels = park_csv["地块"]
    head, names, body = parcels[0], parcels[1], parcels[2:]
    assert "净可用面积（亩）" in head and "面积（m²）" in head and "结论" in head
    assert len(body) == len(gpkg)
    col = dict(zip(names, range(len(names)), strict=True))
    by_id = gpkg.set_index("parcel_id")
    for row in body[:50]:
        p = by_id.loc[row[col["parcel_id"]]]
        assert re.fullmatch(r"[\d,]+", row[col["area_m2"]])  # m²: no decimals
        assert float(row[col["net_available_mu"]].replace(",", "")) == pytest.approx(
            p["net_available_mu"], abs=0.006
        )
        verdict = {"transferable": "可出让", "blocked": "不可出让"}.get(
            p["verdict"], "有条件可出让"
        )
        assert row[col["verdict"]] == verdict
        for code in filter(None, str(p["reason_codes"] or "").split(";")):
            assert code in row[col["reasons"]]
    # reason counts and validation findings: counts agree with the GeoPackage and the messages
    reasons = pyogrio.read_dataframe(workspace / "workspace.gpkg", layer="reason_counts")
    shown = {(r[0], r[1]): int(r[2].replace(",", "")) for r in park_csv["原因统计"][2:]}
    for r in reasons.itertuples():
        sev = {"block": "否决", "warn": "警告"}[r.severity]
        assert shown[(r.code, sev)] == r.parcels
    for row in park_csv["数据检查"][2:]:
        m = re.match(r"(\d+) features", row[-1])
        if m:
            assert row[-2] == m.group(1), row  # count column equals the message's number


def test_park_summary_layout_frozen_and_printable(workspace, tmp_path):
    wb = openpyxl.load_workbook(workspace / "park_summary.xlsx")
    for ws in wb.worksheets:
        assert ws.freeze_panes and ws.freeze_panes.endswith("3"), ws.title  # both header rows
        assert ws.row_dimensions[2].hidden  # machine names
        assert all(c.font.b for c in ws[1] if c.value)
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        assert ws.print_title_rows == "$1:$2"
    ws = wb["地块"]
    names = [c.value for c in ws[2]]
    assert ws.cell(3, names.index("net_available_mu") + 1).number_format == "#,##0.00"
    assert ws.cell(3, names.index("area_m2") + 1).number_format == "#,##0"
    # round trip: the machine names read back
    back = read_sheet(workspace / "park_summary.xlsx", "地块")
    assert {"parcel_id", "net_available_mu", "verdict", "reasons"} <= set(back.columns)
    # printed, the header repeats on every page and no header is cut
    text = _soffice_pdf(workspace / "park_summary.xlsx", tmp_path)
    pages = text.split("\f")
    parcel_pages = [p for p in pages if "530702" in p]
    assert len(parcel_pages) > 1 and all("净可用面积" in p for p in parcel_pages)


def test_english_headers_and_readable_values(tmp_path):
    frame = pd.DataFrame(
        {
            "parcel_id": ["A", "B"],
            "net_available_mu": [1.23456, None],
            "steep_share": [0.25, 0.5],
            "dev_cost_wan": [12.345, 0.0],
            "verdict": ["blocked", "transferable"],
            "transferable": [False, True],
            "reasons": [
                '[{"code": "RED_LINE_OVERLAP", "severity": "block", "value": 5.0, '
                '"threshold": 1.0, "unit": "m2", "basis": "红线", "message_zh": "占用红线", '
                '"message_en": "in the red line"}]',
                "[]",
            ],
            "notes": ['{"composite_far": "no floor area"}', None],
        }
    )
    path = write_workbook(tmp_path / "t.xlsx", [Sheet("表", "table", frame)], lang="en")
    ws = openpyxl.load_workbook(path)["table"]
    assert [c.value for c in ws[1]][:4] == [
        "Parcel ID",
        "Net available area (mu)",
        "Steep share",
        "Development cost (10k CNY)",
    ]
    assert ws["B3"].number_format == "#,##0.00" and ws["B4"].value is None
    assert ws["C3"].number_format == "0.0%" and ws["D3"].number_format == "#,##0.00"
    assert ws["E3"].value == "Blocked" and ws["F3"].value == "no"
    assert ws["G3"].value.startswith("1. in the red line (RED_LINE_OVERLAP")
    assert ws["G4"].value is None and ws["H3"].value == "Composite FAR: no floor area"
    assert header("net_available_mu") == "净可用面积（亩）"
    assert "依据：红线" in reasons_text(frame["reasons"][0], "zh")


def test_geopackages_open_in_gdal_36_without_warning(workspace):
    ogrinfo = _tool("ogrinfo")
    for gpkg in workspace.glob("*.gpkg"):
        run = subprocess.run(
            [ogrinfo, "-ro", "-so", "-al", str(gpkg)], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
        assert "Warning" not in run.stderr + run.stdout, (gpkg.name, run.stderr)


def _fields_in(qml: str) -> set[str]:
    root = ET.fromstring(qml.split("\n", 1)[1] if qml.startswith("<!DOCTYPE") else qml)
    fields = set()
    for r in root.iter("renderer-v2"):
        if r.get("attr"):
            fields.add(r.get("attr"))
    for rule in root.iter("rule"):
        fields |= set(re.findall(r'"(\w+)"', rule.get("filter", "")))
    return fields


def test_layer_styles_parse_and_reference_existing_fields(workspace):
    for name in ("results.gpkg", "workspace.gpkg"):
        gpkg = workspace / name
        styles = pyogrio.read_dataframe(gpkg, layer="layer_styles")
        assert styles["useAsDefault"].all()
        for row in styles.itertuples():
            fields = set(pyogrio.read_info(gpkg, layer=row.f_table_name)["fields"])
            assert _fields_in(row.styleQML) <= fields, (name, row.f_table_name)
            ET.fromstring(row.styleSLD)  # well-formed
    results = pyogrio.read_dataframe(workspace / "results.gpkg", layer="layer_styles")
    qml = results.set_index("f_table_name").loc["parcels", "styleQML"]
    root = ET.fromstring(qml.split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "verdict"
    labels = {c.get("value"): c.get("label") for c in renderer.iter("category")}
    assert labels["blocked"].startswith("不可出让") and labels["transferable"].startswith("可出让")
    ws = pyogrio.read_dataframe(workspace / "workspace.gpkg", layer="layer_styles")
    by_table = ws.set_index("f_table_name")["styleQML"]
    assert 'value="b_diagonal"' in by_table["constraint_red_line"]  # hatched
    net = ET.fromstring(by_table["networks"].split("\n", 1)[1])
    styles = {r.get("filter"): r.get("symbol") for r in net.iter("rule")}
    symbols = {s.get("name"): s for s in net.iter("symbol")}

    def line_style(kind, status):
        sym = symbols[styles[f"\"kind\" = '{kind}' AND \"status\" = '{status}'"]]
        return next(o.get("value") for o in sym.iter("Option") if o.get("name") == "line_style")

    assert line_style("road", "built") == "solid" and line_style("road", "planned") == "dash"
    # the API and the PostGIS push do not treat the style table as data
    from landplan.store.gpkgstore import GpkgStore

    assert "layer_styles" not in {c.id for c in GpkgStore(workspace).collections()}


def _all_cells_clean(sheets: dict[str, list[list[str]]]) -> None:
    for name, rows in sheets.items():
        for row in rows:
            for cell in row:
                assert "None" not in cell and "{" not in cell and cell != "nan", (name, cell)


def test_every_other_workbook_as_libreoffice_shows_it(workspace, tmp_path):
    """unlock.xlsx, indicators, 亩均 and the scenario comparison: headers, formats, no JSON/None."""
    import sys

    from landplan.cli.indicators import write_check_outputs
    from landplan.cli.mujun import write_outputs
    from landplan.indicators import mujun
    from landplan.indicators.check import check_projects
    from landplan.indicators.tables import load_indicator_table
    from landplan.planning.scenarios import export_comparison_xlsx
    from tests.landplan.test_indicator_cli import PROJECTS, _firms

    table = load_indicator_table("national-2008")
    result = check_projects(PROJECTS, table=table)
    _, indicators = write_check_outputs(result, table, tmp_path / "ind" / "r.csv")
    _, efficiency = write_outputs(
        mujun.evaluate(_firms(), preset="huaian-2024"), tmp_path / "mj" / "m.csv"
    )
    compare = pd.DataFrame(
        {"A": [12.345, 0.5, 3], "B": [7.0, 0.25, 5]},
        index=pd.Index(["net_available_mu", "steep_share", "transferable_parcels"], name="figure"),
    )
    scenarios = export_comparison_xlsx(compare, tmp_path / "cmp" / "compare.xlsx")
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("landplan")),
            "unlock",
            str(workspace),
            "--out",
            str(tmp_path / "u"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    books = {
        "indicators": indicators,
        "mujun": efficiency,
        "compare": scenarios,
        "unlock": tmp_path / "u" / "unlock.xlsx",
    }
    shown = {k: _soffice_csv(v, tmp_path / f"csv-{k}") for k, v in books.items()}
    for book in shown.values():
        _all_cells_clean(book)
    projects = shown["indicators"]["项目"]
    assert projects[1][0] == "project_id" and "项目编号" in projects[0]
    assert any(h.endswith("（亩）") for h in projects[0]) and any(
        "（万元/亩）" in h for h in projects[0]
    )
    assert len(projects) - 2 == len(PROJECTS)
    firms = shown["mujun"]["企业"]
    assert len(firms) - 2 == len(_firms()) and "企业编号" in firms[0]
    cmp_rows = {r[0]: r for r in shown["compare"]["方案比较"][2:]}
    assert cmp_rows["net_available_mu"][1:] == ["净可用面积（亩）", "12.35", "7.00"]
    assert cmp_rows["steep_share"][2:] == ["50.0%", "25.0%"]
    assert cmp_rows["transferable_parcels"][2:] == ["3", "5"]
    ranking = shown["unlock"]["排序"]
    ranking_csv = pd.read_csv(tmp_path / "u" / "unlock.csv", encoding="utf-8-sig")
    assert len(ranking) - 2 == len(ranking_csv)  # the same rows as the CSV
    assert ranking[1][: len(ranking_csv.columns)] == list(ranking_csv.columns)


def test_display_width_agrees_with_unicodedata_on_the_scripts_of_the_tables():
    """Column widths count wide characters by block; unicodedata is the oracle."""
    import unicodedata

    from landplan.export.xlsx import display_width

    blocks = [(0x20, 0x7E), (0xA0, 0x2FF), (0x2000, 0x206F), (0x2100, 0x22FF), (0x3000, 0x30FF),
              (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF)]  # fmt: skip
    for lo, hi in blocks:
        for cp in range(lo, hi + 1):
            c = chr(cp)
            if unicodedata.category(c) in ("Cn", "Cs", "Co", "Mn", "Me", "Cf"):
                continue
            expected = 2 if unicodedata.east_asian_width(c) in "WF" else 1
            assert display_width("x" + c) == 1 + expected, hex(cp)


def _widths(ws) -> dict[int, float]:
    """Column widths by 1-based index (XlsxWriter writes equal neighbours as one ``<col>`` range)."""
    out = {}
    for d in ws.column_dimensions.values():
        for c in range(d.min or 0, (d.max or 0) + 1):
            out[c] = d.width
    return out


MIXED_REASONS = (
    '[{"code": "RED_LINE_OVERLAP", "severity": "block", "value": 1692.3506, "threshold": 10.0, '
    '"unit": "m2", "basis": "《关于加强生态保护红线管理的通知（试行）》（2022）", '
    '"message_zh": "与生态保护红线重叠 1692.35 m²", "message_en": "overlaps the red line"}, '
    '{"code": "NETWORK_MISSING:water", "severity": "block", "value": 237.3306, '
    '"threshold": 200.0, "unit": "m", "basis": "三通一平（通水）", '
    '"message_zh": "给水未通：最近已建给水距地块 237 m", "message_en": "no water supply"}]'
)


def _mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parcel_id": ["530702-GY-00001", "530702-GY-00002", None, "A & <B>"],
            "net_available_mu": [1.5, float("nan"), float("inf"), -2.25],
            "parcels": [1, 2, 30_000, 4],
            "transferable": [True, False, True, False],
            "verdict": ["blocked", "transferable", "transferable_with_warnings", "odd_code"],
            "reasons": [MIXED_REASONS, "[]", None, ""],
            "notes": ['{"composite_far": "no floor area"}', None, "", "  plain  "],
            "created_at": pd.to_datetime(
                ["2025-01-02 03:04:05", None, None, "2025-06-30 00:00:00"]
            ),
            "value": [1, "文字", 2.5, None],  # mixed object column, no unit
            "name_zh": ["工业用地一号地块工业用地一号地块", "二", None, "三"],
            "name_en": ["industrial plot1industrial plot1"[:16], "b", None, "c"],
        }
    )


def test_mixed_types_cells_formats_and_layout(tmp_path):
    """Every dtype becomes the right cell: numbers keep their type and unit format, NaN/inf/None
    and empty JSON stay empty, bools and codes become words, JSON reasons readable lines."""
    frame = _mixed_frame()
    path = write_workbook(tmp_path / "mixed.xlsx", [Sheet("混合", "mixed", frame)])
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed into place
    wb = openpyxl.load_workbook(path)
    ws = wb["混合"]
    names = [c.value for c in ws[2]]
    assert names == list(frame.columns) and ws.row_dimensions[2].hidden
    col = {n: i + 1 for i, n in enumerate(names)}

    def cell(row: int, name: str):
        return ws.cell(row + 3, col[name])

    heads = [c.value for c in ws[1]]
    assert heads[:3] == ["地块编号", "净可用面积（亩）", "地块数（宗）"]
    first = ws["A1"]
    assert first.font.b and first.alignment.wrap_text and first.fill.fgColor.rgb.endswith("E8EEF4")
    assert first.border.bottom.style == "thin"
    assert (
        ws.freeze_panes == "B3"
        and ws.auto_filter.ref == f"A2:{ws.cell(1, len(names)).column_letter}6"
    )
    # numbers: type and format from the unit; NaN and inf empty
    assert cell(0, "net_available_mu").value == 1.5 and cell(3, "net_available_mu").value == -2.25
    assert cell(0, "net_available_mu").number_format == "#,##0.00"
    assert cell(1, "net_available_mu").value is None and cell(2, "net_available_mu").value is None
    assert [cell(i, "parcels").value for i in range(4)] == [1, 2, 30_000, 4]
    assert all(type(cell(i, "parcels").value) is int for i in range(4))
    assert cell(2, "parcels").number_format == "#,##0"
    assert cell(0, "parcels").alignment.vertical == "top"
    # bools, codes, text (escaped), missing
    assert [cell(i, "transferable").value for i in range(4)] == ["是", "否", "是", "否"]
    assert [cell(i, "verdict").value for i in range(3)] == ["不可出让", "可出让", "有条件可出让"]
    assert cell(3, "verdict").value == "odd_code"  # an unknown code is kept
    assert cell(3, "parcel_id").value == "A & <B>" and cell(2, "parcel_id").value is None
    # JSON: reasons as numbered lines (wrapped, the row taller), an empty list empty
    reasons = cell(0, "reasons")
    assert reasons.value == reasons_text(MIXED_REASONS, "zh")
    assert reasons.value.startswith("1. 与生态保护红线重叠") and "\n2. 给水未通" in reasons.value
    assert reasons.alignment.wrap_text and ws.row_dimensions[3].height >= 30
    assert all(cell(i, "reasons").value is None for i in (1, 2, 3))
    assert cell(0, "notes").value == "综合容积率: no floor area" and cell(1, "notes").value is None
    assert cell(2, "notes").value is None and cell(3, "notes").value == "  plain  "
    assert cell(0, "created_at").value == "2025-01-02 03:04:05"
    assert cell(1, "created_at").value is None
    # a mixed object column: numbers stay numbers (plain format), text stays text
    assert cell(0, "value").value == 1 and cell(0, "value").number_format == "#,##0.####"
    assert cell(1, "value").value == "文字" and cell(2, "value").value == 2.5
    for row in ws.iter_rows(min_row=3):
        for c in row:
            assert c.value is None or (c.value != "" and str(c.value) not in ("None", "nan"))
    # widths: CJK counts double, so the Chinese column (16 characters) is wider than the English
    widths = _widths(ws)
    assert widths[col["name_zh"]] > widths[col["name_en"]] >= 16
    assert widths[col["reasons"]] <= 60 + 3  # long text wraps at MAX_WIDTH (+ XlsxWriter's pad)
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_options.gridLines
    assert ws.page_margins.left == ws.page_margins.right == 0.4
    assert ws.print_title_rows == "$1:$2"
    back = read_sheet(path)
    assert list(back.columns) == list(frame.columns)
    assert back["parcels"].tolist() == [1, 2, 30_000, 4]


def test_bulk_rows_agree_with_xlsxwriters_own_cell_writer(tmp_path):
    """The data rows rendered in bulk read back exactly like XlsxWriter's own cell-by-cell file
    (the oracle): values, types, number formats, wrapping, row heights, several batches."""
    rng = np.random.default_rng(7)
    n = 4500  # more than one batch of rendered rows
    big = pd.DataFrame(
        {
            "parcel_id": [f"P{i:05d}" for i in range(n)],
            "area_m2": rng.uniform(-10, 1e6, n),
            "steep_share": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
            "net_water_status": rng.choice(["connected", "needs_extension", "not_provided"], n),
            "reasons": rng.choice([MIXED_REASONS, "[]"], n),
            "DKMC": rng.choice(
                ["工业\n用地", " 前后空格 ", "a_x0041_b", "tab\tand\x01ctrl", ""], n
            ),
        }
    )
    compare = pd.DataFrame(
        {"A": [12.345, 0.5, 3, "text"], "B": [7.0, 0.25, 5, None]},
        index=pd.Index(["net_available_mu", "steep_share", "parcels", "verdict"], name="figure"),
    )
    sheets = [
        Sheet("大表", "big", big, wrap=("DKMC",)),
        Sheet("比较", "compare", compare, row_formats="figure", wrap=("A", "B")),
        Sheet("混合", "mixed", _mixed_frame()),
        Sheet("空", "empty", big.iloc[:0]),
    ]
    ours = write_workbook(tmp_path / "bulk.xlsx", sheets)
    oracle = write_workbook(tmp_path / "cells.xlsx", sheets, _bulk=False)
    a, b = openpyxl.load_workbook(ours), openpyxl.load_workbook(oracle)
    assert a.sheetnames == b.sheetnames == ["大表", "比较", "混合", "空"]
    for x, y in zip(a.worksheets, b.worksheets, strict=True):
        assert (x.max_row, x.max_column) == (y.max_row, y.max_column), x.title
        assert x.freeze_panes == y.freeze_panes and x.auto_filter.ref == y.auto_filter.ref
        assert _widths(x) == _widths(y)
        for r in range(1, x.max_row + 1):
            assert x.row_dimensions[r].height == y.row_dimensions[r].height, (x.title, r)
            for cx, cy in zip(x[r], y[r], strict=True):
                if isinstance(cx.value, float):  # XlsxWriter writes 16 digits, we write repr
                    assert cx.value == pytest.approx(cy.value, rel=1e-15), cx.coordinate
                else:
                    assert cx.value == cy.value, (x.title, cx.coordinate, cx.value, cy.value)
                assert cx.data_type == cy.data_type and cx.number_format == cy.number_format
                assert cx.alignment.wrap_text == cy.alignment.wrap_text, cx.coordinate
    big_ws = a["大表"]
    assert big_ws.max_row == n + 2 and big_ws.cell(n + 2, 1).value == f"P{n - 1:05d}"
    one_line = big.index[big["DKMC"] == "a_x0041_b"][0] + 3
    assert big_ws.cell(one_line, 6).alignment.wrap_text  # DKMC is a `wrap` column
    assert not big_ws.cell(one_line, 1).alignment.wrap_text  # a one-line id is not
    for i, (name, reasons) in enumerate(zip(big["DKMC"], big["reasons"], strict=True)):
        if reasons == "[]":  # the name alone decides: two lines 30 pt, else the default
            expected = 30 if name == "工业\n用地" else None
            assert big_ws.row_dimensions[i + 3].height == expected, (i, name)
    assert big_ws["C3"].number_format == "0.0%" and big_ws["B3"].number_format == "#,##0"
    cmp_ws = a["比较"]
    assert cmp_ws.column_dimensions["A"].hidden and cmp_ws.freeze_panes == "C3"
    assert cmp_ws["C3"].number_format == "#,##0.00" and cmp_ws["C4"].number_format == "0.0%"
    assert cmp_ws["C6"].value == "text" and cmp_ws["D6"].value is None
    with zipfile.ZipFile(ours) as z:  # Excel keeps leading and trailing spaces only if told
        assert (
            '<t xml:space="preserve"> 前后空格 </t>' in z.read("xl/worksheets/sheet1.xml").decode()
        )
    # LibreOffice opens the bulk file and shows the text as written (escapes, spaces, newlines)
    shown = _soffice_csv(ours, tmp_path / "csv")["大表"]
    texts = {row[5] for row in shown[2:]}
    assert {"工业\n用地", " 前后空格 ", "a_x0041_b"} <= texts


def test_workbook_checks_language_and_sheet_names(tmp_path):
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="lang"):
        write_workbook(tmp_path / "x.xlsx", [Sheet("表", "t", frame)], lang="fr")
    with pytest.raises(ValueError, match="two sheets"):
        write_workbook(tmp_path / "x.xlsx", [Sheet("表", "Data", frame), Sheet("表2", "data", frame)],
                       lang="en")  # fmt: skip
    assert not list(tmp_path.iterdir())  # nothing half-written
    path = write_workbook(tmp_path / "x.xlsx", [Sheet("a[b]:c*?/\\d" + "x" * 40, "t", frame)])
    assert openpyxl.load_workbook(path).sheetnames == [("a b  c    d" + "x" * 40)[:31]]


def test_line_widths_agree_with_display_width():
    """The NumPy widths of every line equal display_width, the per-text oracle."""
    from landplan.export.xlsx import display_width, line_widths

    rng = np.random.default_rng(3)
    alphabet = [*"ab 1\n\t²—", "中", "文", "ｆ", "한", "の", "🀄", "\U00020001", "\u3000"]
    for _ in range(300):
        texts = [
            "".join(rng.choice(alphabet, rng.integers(0, 14))) for _ in range(rng.integers(1, 6))
        ]
        widths, owner = line_widths(texts)
        lines = [(i, line) for i, t in enumerate(texts) for line in t.split("\n")]
        assert owner.tolist() == [i for i, _ in lines]
        assert widths.tolist() == [display_width(line) for _, line in lines], texts

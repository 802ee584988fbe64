"""park_summary.xlsx written chunk by chunk equals the one-shot writer's file, part for part.

The oracle is :func:`landplan.export.park.write_park_summary` on the concatenated chunks: both
files are unzipped and every part is compared byte for byte (``docProps/core.xml`` holds the
creation time, so it alone is left out).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from landplan.export.park import ParkWorkbookWriter, parcel_table, write_park_summary

STATUSES = ["connected", "connectable", "needs_extension", "not_provided"]


def _reason(k: int, i: int) -> dict:
    """A reason as the pipeline writes it; some messages are longer than a wrapped line."""
    long = "，超过可接入距离 200 m；规划道路距 1,234 m，需新建支线并经主管部门审批" * (k % 3)
    return {
        "code": f"NETWORK_MISSING:road{k}",
        "severity": "block" if k % 2 else "warn",
        "value": round(200.5 + i + k / 7, 4),
        "threshold": 200.0,
        "unit": "m",
        "basis": "三通一平（通路）；距离阈值为默认值，可按地方规定修改",
        "message_zh": f"道路未通：最近已建道路距地块 {200 + i + k} m{long}",
        "message_en": f"no road: the nearest built road is {200 + i + k} m away" + " more" * k * 9,
    }


def _parcels(n: int = 60, seed: int = 3) -> pd.DataFrame:
    """Result-like parcels: NaNs and inf, zh text, escapes, several reasons per parcel (wrapped,
    tall rows, one past Excel's tallest), an all-empty column in the first rows, the widest
    number and text last (so the column widths are only known at the end)."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(100, 9000, n)
    ids = [f"530702-GY-{i:05d}" for i in range(n)]
    ids[3], ids[5], ids[8] = "地块-一号（东区）", " 前后空格 ", "A & <B> _x0041_ \x01"
    ids[-1] = "最后一块：名称很长的地块编号，用来在最后一块把列宽撑到最宽的宽度为止的地块" * 2
    df = pd.DataFrame({"parcel_id": pd.array(ids, dtype="string")})
    df["DKMC"] = "不进地块表"  # not a parcel_table column
    df["area_m2"] = area
    df["area_mu"] = np.where(rng.random(n) < 0.1, np.nan, area / 666.667)
    df["area_ellipsoidal_mu"] = area / 666.0
    red = np.where(rng.random(n) < 0.3, rng.uniform(0, 5, n), np.nan)
    red[:20] = np.nan  # no value at all in the first chunks
    df["excluded_red_line_mu"] = red
    df["excluded_basic_farmland_mu"] = np.nan  # never a value
    df["excluded_mu"] = np.nan_to_num(red)
    net = area / 666.667 - df["excluded_mu"]
    net[7] = -3.25
    net[n - 1] = 123_456_789_012.125  # the widest number comes last (wider than its header)
    df["net_available_mu"] = net
    df["net_road_status"] = pd.array(rng.choice(STATUSES, n), dtype="string")
    df.loc[4, "net_road_status"] = pd.NA
    df["dev_cost_wan"] = np.where(rng.random(n) < 0.2, np.nan, area * 0.02)
    df.loc[6, "dev_cost_wan"] = np.inf
    reasons = []
    for i in range(n):
        k = int(rng.integers(0, 5)) if i % 4 else 0
        k = 30 if i == 11 else k  # 30 reasons: taller than Excel's tallest row
        reasons.append(json.dumps([_reason(j, i) for j in range(k)], ensure_ascii=False))
    df["reasons"] = pd.array(reasons, dtype="string")
    df["verdict"] = np.where(df["reasons"] == "[]", "transferable", "blocked")
    df["transferable"] = df["verdict"] != "blocked"
    return df


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    summary = pd.DataFrame(
        {
            "group": ["全部", "东区"],
            "parcels": [60, 20],
            "gross_mu": [812.5, 250.25],
            "steep_share": [0.125, np.nan],
            "not_computable": ['{"dev_cost_wan": "无 DEM / no DEM"}', None],
        }
    )
    reasons = pd.DataFrame(
        {"code": ["NETWORK_MISSING:road"], "severity": ["block"], "parcels": [12], "area_mu": [3.5]}
    )
    validation = pd.DataFrame(
        {
            "layer": ["parcels", "red_line"],
            "code": ["INVALID_GEOMETRY_FIXED", "CRS_ASSUMED"],
            "severity": ["warn", "info"],
            "count": [12, 0],
            "message": [
                "12 features had invalid geometry",
                "红线图层未声明坐标系，按 CGCS2000 处理",
            ],
        }
    )
    return summary, reasons, validation


def _widths(ws) -> dict[int, float]:
    """Column (1-based) -> width; openpyxl keeps runs of equal columns as one range."""
    return {j: d.width for d in ws.column_dimensions.values() for j in range(d.min, d.max + 1)}


def _parts(path: Path) -> dict[str, bytes]:
    """Every part of the XLSX but ``docProps/core.xml`` (its creation time), in zip order."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def _streamed(path: Path, chunks, lang: str = "zh") -> Path:
    summary, reasons, validation = _tables()
    with ParkWorkbookWriter(path, lang=lang) as book:
        for chunk in chunks:
            book.add_parcels(chunk)
        return book.close(summary, reasons, validation)


def _one_shot(path: Path, parcels, lang: str = "zh") -> Path:
    return write_park_summary(path, *_tables(), parcels, lang=lang)


def test_styles_first_used_by_the_parcel_sheet(tmp_path):
    """Tables before the parcels with (almost) no cells: the parcel sheet introduces its cell
    styles itself, numbered in the order the one-shot writer first uses them."""
    parcels = _parcels()
    tables = (pd.DataFrame({"group": ["全部"]}), pd.DataFrame(), pd.DataFrame())
    expected = _parts(write_park_summary(tmp_path / "one.xlsx", *tables, parcels))
    with ParkWorkbookWriter(tmp_path / "stream.xlsx") as book:
        for chunk in _chunks(parcels, 9):
            book.add_parcels(chunk)
        book.close(*tables)
    assert _parts(tmp_path / "stream.xlsx") == expected


def _chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]


@pytest.mark.parametrize(("size", "lang"), [(1, "zh"), (7, "zh"), (7, "en"), (10_000, "zh")])
def test_chunks_write_the_one_shot_file_byte_for_byte(tmp_path, size, lang):
    parcels = _parcels()
    expected = _parts(_one_shot(tmp_path / "one.xlsx", parcels, lang))
    got = _parts(_streamed(tmp_path / "stream.xlsx", _chunks(parcels, size), lang))
    assert list(got) == list(expected)
    for name in expected:
        assert got[name] == expected[name], name
    # the comparison can fail: the data the sheet was made of shows in it
    ws = openpyxl.load_workbook(tmp_path / "stream.xlsx")["地块" if lang == "zh" else "parcels"]
    assert ws.max_row == len(parcels) + 2
    assert [c.value for c in ws[2]] == list(parcel_table(parcels).columns)
    assert ws.cell(3 + 11, 1).value == "530702-GY-00011"
    assert ws.row_dimensions[3 + 11].height == 409  # 30 reasons: Excel's tallest row
    widths = _widths(ws)
    assert widths[1] == pytest.approx(62, abs=1)  # the last id: capped at MAX_WIDTH
    widest = len(f"{123_456_789_012.125:,.2f}")  # the last number: wider than its header
    net = [c.value for c in ws[2]].index("net_available_mu") + 1
    if lang == "zh":  # 净可用面积（亩）: 16 cells; the English header is wider than the number
        assert widths[net] == pytest.approx(widest + 2, abs=1)


def test_a_change_in_any_chunk_shows_in_the_file(tmp_path):
    """The oracle comparison is sensitive: one changed cell in the last chunk breaks equality."""
    parcels = _parcels()
    changed = parcels.copy()
    changed.loc[59, "verdict"] = "transferable_with_warnings"
    expected = _parts(_one_shot(tmp_path / "one.xlsx", parcels))
    got = _parts(_streamed(tmp_path / "stream.xlsx", _chunks(changed, 7)))
    assert got["xl/worksheets/sheet5.xml"] != expected["xl/worksheets/sheet5.xml"]


def test_sample_result_in_chunks(tmp_path, sample_result):
    """The real pipeline's parcels (its columns, dtypes and reasons) in three chunks."""
    parcels = pd.DataFrame(sample_result.parcels.drop(columns="geometry"))
    expected = _parts(_one_shot(tmp_path / "one.xlsx", parcels))
    got = _parts(_streamed(tmp_path / "stream.xlsx", _chunks(parcels, 1000)))
    assert got == expected


def test_chunks_of_other_dtypes_than_the_rest(tmp_path):
    """Text as object in one chunk and pandas strings in another, a float column that is all
    missing, then object: what pandas.concat makes of them is what gets written."""
    parcels = _parcels(30)
    a, b, c = parcels.iloc[:10].copy(), parcels.iloc[10:20].copy(), parcels.iloc[20:].copy()
    b["parcel_id"] = b["parcel_id"].astype(object)
    b["reasons"] = b["reasons"].astype(object)
    c["excluded_basic_farmland_mu"] = None  # object: concat makes the column object
    whole = pd.concat([a, b, c])
    assert whole["excluded_basic_farmland_mu"].dtype == object
    expected = _parts(_one_shot(tmp_path / "one.xlsx", whole))
    assert _parts(_streamed(tmp_path / "stream.xlsx", [a, b, c])) == expected


def test_no_parcels(tmp_path):
    """No chunk: no parcel sheet (as ``parcels=None``); chunks without rows: headers only."""
    parcels = _parcels()
    none = _parts(_streamed(tmp_path / "none.xlsx", []))
    assert none == _parts(_one_shot(tmp_path / "none1.xlsx", None))
    assert "xl/worksheets/sheet5.xml" not in none
    empty = _parts(_streamed(tmp_path / "empty.xlsx", [parcels.iloc[:0], parcels.iloc[:0]]))
    assert empty == _parts(_one_shot(tmp_path / "empty1.xlsx", parcels.iloc[:0]))
    ws = openpyxl.load_workbook(tmp_path / "empty.xlsx")["地块"]
    assert (
        ws.max_row == 2 and ws.auto_filter.ref == f"A2:{ws.cell(1, ws.max_column).column_letter}2"
    )
    then_rows = [parcels.iloc[:0], *_chunks(parcels, 25), parcels.iloc[:0]]
    assert _parts(_streamed(tmp_path / "later.xlsx", then_rows)) == _parts(
        _one_shot(tmp_path / "later1.xlsx", parcels)
    )


def _folder(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir())}


def test_abort_and_exceptions_keep_the_old_file_and_leave_nothing(tmp_path):
    path = tmp_path / "out" / "park_summary.xlsx"
    old = _one_shot(path, _parcels().iloc[:5])
    before = _folder(old)
    with ParkWorkbookWriter(path) as book:
        book.add_parcels(_parcels())
        assert _folder(path) == before  # the spool has no name in the folder
        book.abort()
        with pytest.raises(ValueError, match="aborted"):
            book.add_parcels(_parcels())
    assert _folder(path) == before

    with pytest.raises(RuntimeError, match="stop"), ParkWorkbookWriter(path) as book:
        book.add_parcels(_parcels())
        raise RuntimeError("stop")
    assert _folder(path) == before
    with pytest.raises(ValueError, match="closed or aborted"):
        book.close(*_tables())

    # a chunk that cannot be written (reasons that are not JSON) discards everything
    bad = _parcels()
    bad["reasons"] = bad["reasons"].astype(object)
    bad.loc[3, "reasons"] = "[not json"
    book = ParkWorkbookWriter(path)
    book.add_parcels(_parcels())
    with pytest.raises(json.JSONDecodeError):
        book.add_parcels(bad)
    with pytest.raises(ValueError, match="closed or aborted"):
        book.close(*_tables())
    assert _folder(path) == before

    # a chunk with other columns than the first
    book = ParkWorkbookWriter(path)
    book.add_parcels(_parcels())
    with pytest.raises(ValueError, match="columns differ"):
        book.add_parcels(_parcels().drop(columns="dev_cost_wan"))
    assert _folder(path) == before

    # a failure while the workbook is being written (a sheet before the parcels)
    summary, reasons, validation = _tables()
    validation["reasons"] = "[not json"
    book = ParkWorkbookWriter(path)
    book.add_parcels(_parcels())
    with pytest.raises(json.JSONDecodeError):
        book.close(summary, reasons, validation)
    assert _folder(path) == before

    # and a good run replaces the file
    written = _streamed(path, _chunks(_parcels(), 20))
    assert written == path and _folder(path) != before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_lang_is_checked():
    with pytest.raises(ValueError, match="lang"):
        ParkWorkbookWriter("x.xlsx", lang="fr")


def test_rows_past_excels_limit_are_counted_and_said(tmp_path, monkeypatch):
    """A county past 1 048 574 parcels: the sheet stops at the limit and the findings say so."""
    import openpyxl

    from landplan.export import park

    monkeypatch.setattr(park, "MAX_PARCEL_ROWS", 5)
    rows = pd.DataFrame(
        {"parcel_id": [f"P{i}" for i in range(8)], "area_mu": np.arange(8.0), "verdict": "blocked"}
    )
    summary = pd.DataFrame({"group": ["全部"], "parcels": [8]})
    reasons = pd.DataFrame(columns=["code", "severity", "parcels", "area_mu"])
    validation = pd.DataFrame(columns=["layer", "role", "code", "severity", "count", "message"])
    seen = {}
    real = park.write_workbook
    monkeypatch.setattr(park, "ZIP64_FROM_BYTES", 0)  # any spool counts as large
    monkeypatch.setattr(park, "write_workbook", lambda *a, **k: seen.update(k) or real(*a, **k))
    with park.ParkWorkbookWriter(tmp_path / "b.xlsx", lang="zh") as book:
        book.add_parcels(rows.iloc[:3])
        book.add_parcels(rows.iloc[3:])
        assert book.omitted == 3
        book.close(summary, reasons, validation)
    assert seen["zip64"] is True
    wb = openpyxl.load_workbook(tmp_path / "b.xlsx")
    sheet = wb[wb.sheetnames[-1]]
    ids = [r[0] for r in sheet.iter_rows(min_row=3, values_only=True)]
    assert ids == ["P0", "P1", "P2", "P3", "P4"]
    found = [r for ws in wb for r in ws.iter_rows(values_only=True) if "SHEET_ROW_LIMIT" in r]
    assert len(found) == 1 and 3 in found[0]
    assert any("results.gpkg" in str(v) for v in found[0])

"""The one XLSX writer: every table landplan hands to people goes through :func:`write_workbook`.

Each sheet has two header rows: row 1 the human header with its unit in the chosen
language (``净可用面积（亩）``), bold, wrapped and frozen; row 2, hidden, the machine
column names, so :func:`read_sheet` (or ``pandas.read_excel(path, header=1)``) reads
the file back with the names the GeoPackage and CSV use.  Numbers get a format from
their unit suffix (亩/ha two decimals, m² none, shares as %, 万元 two decimals);
codes become words, JSON becomes readable text, missing values stay empty (never
``None`` or ``nan``).  Every sheet prints landscape on A4, fitted to the page width,
with the header repeated on each page.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from landplan.export.labels import (
    CODED,
    Lang,
    header,
    json_text,
    number_format,
    reasons_text,
    value_text,
)

MAX_WIDTH = 60  # characters; longer text wraps
MIN_WIDTH = 6
HEADER_MAX_WIDTH = 24  # a header wraps beyond this rather than widening a numeric column
_BAD_SHEET_CHARS = str.maketrans(dict.fromkeys("[]:*?/\\", " "))


@dataclass(frozen=True)
class Sheet:
    """One sheet: its names in both languages and its table (machine column names).

    ``row_formats`` names a column whose value is itself a column name (a transposed
    table such as the scenario comparison, one figure per row): each row's numbers then
    take that figure's format, and the column gains a readable label beside it.
    """

    name_zh: str
    name_en: str
    frame: pd.DataFrame
    row_formats: str | None = None
    wrap: tuple[str, ...] = field(default=())

    def title(self, lang: Lang, /) -> str:
        name = self.name_zh if lang == "zh" else self.name_en
        return name.translate(_BAD_SHEET_CHARS)[:31]


#: the Unicode blocks whose characters are East Asian Wide or Fullwidth (CJK, kana, hangul,
#: full-width forms): matched in C rather than asking ``unicodedata`` character by character
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
    "\U00020000-\U0003fffd]"
)


def display_width(text: str, /) -> int:
    """Width in character cells: CJK and full-width characters count two."""
    if text.isascii():
        return len(text)
    return len(text) + len(_WIDE.findall(text))


def cell_value(column: str, value, /, lang: Lang = "zh"):
    """What a spreadsheet cell holds for ``value`` of ``column``: a number, text, or None (empty)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, int):
        return value
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return pd.Timestamp(value).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dict | list | tuple):
        return json_text(list(value) if isinstance(value, tuple) else value, lang) or None
    text = str(value)
    if column == "reasons":
        return reasons_text(text, lang) or None
    if CODED.match(column):
        return value_text(text, lang)
    if column == "area_basis":
        return header(text, lang)
    stripped = text.strip()
    if stripped[:1] in "{[" and stripped[-1:] in "}]":
        return json_text(stripped, lang) or None
    return text if text != "" else None


def _shown_width(value, fmt: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int | float):
        decimals = fmt.split(".")[1].count("0") if "." in fmt else 0
        return len(f"{value:,.{decimals}f}") + (1 if "%" in fmt else 0)
    return max(display_width(line) for line in str(value).split("\n"))


def _lines(text: str, width: int) -> int:
    """Lines ``text`` takes wrapped in a column ``width`` characters wide."""
    return sum(max(1, math.ceil(display_width(part) / max(width, 1))) for part in text.split("\n"))


def write_sheet(wb, sheet: Sheet, /, *, lang: Lang = "zh") -> None:
    """Add one formatted sheet to an openpyxl workbook."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    frame = sheet.frame
    if isinstance(frame.index, pd.MultiIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if sheet.row_formats is not None and sheet.row_formats in frame.columns:
        pos = list(frame.columns).index(sheet.row_formats) + 1
        labels = [header(str(v), lang) for v in frame[sheet.row_formats]]
        frame.insert(pos, f"{sheet.row_formats}_label", labels)
    ws = wb.create_sheet(sheet.title(lang))
    columns = list(frame.columns)
    row_fmt_col = sheet.row_formats
    col_formats = [number_format(name) for name in columns]
    cells: list[list] = []
    formats: list[list[str]] = []
    for row in frame.itertuples(index=False, name=None):
        figure = str(row[columns.index(row_fmt_col)]) if row_fmt_col else None
        row_fmt = number_format(figure) if figure else None
        meaning = [
            n if figure is None or n.startswith(str(row_fmt_col)) else figure for n in columns
        ]
        cells.append([cell_value(n, v, lang) for n, v in zip(meaning, row, strict=True)])
        formats.append([row_fmt or f for f in col_formats])
    widths = []
    for j, name in enumerate(columns):
        content = max(
            (_shown_width(r[j], f[j]) for r, f in zip(cells, formats, strict=True)), default=0
        )
        head = display_width(header(name, lang))
        widths.append(min(MAX_WIDTH, max(MIN_WIDTH, content, min(head, HEADER_MAX_WIDTH))))
    bold = Font(bold=True)
    grey = Font(color="808080", size=8)
    fill = PatternFill("solid", fgColor="E8EEF4")
    line = Border(bottom=Side(style="thin", color="404040"))
    head_align = Alignment(wrap_text=True, vertical="center", horizontal="center")
    head_lines = 1
    for j, name in enumerate(columns, 1):
        text = header(name, lang)
        c = ws.cell(row=1, column=j, value=text)
        c.font, c.fill, c.border, c.alignment = bold, fill, line, head_align
        ws.cell(row=2, column=j, value=name).font = grey
        ws.column_dimensions[get_column_letter(j)].width = widths[j - 1] + 2
        head_lines = max(head_lines, _lines(text, widths[j - 1]))
    ws.row_dimensions[1].height = 15 * head_lines + 4
    ws.row_dimensions[2].hidden = True
    if row_fmt_col is not None and row_fmt_col in columns:  # its readable label stands beside it
        ws.column_dimensions[get_column_letter(columns.index(row_fmt_col) + 1)].hidden = True
    wrap_align = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    # openpyxl hashes a style object on every assignment; a cell's style is copied from the
    # first cell that got the same (format, alignment) instead (5x faster on 50k parcels)
    styles: dict[tuple, object] = {}

    def style(c, fmt: str | None, align) -> None:
        key = (fmt, id(align))
        if (known := styles.get(key)) is not None:
            c._style = copy(known)
            return
        if fmt is not None:
            c.number_format = fmt
        c.alignment = align
        styles[key] = copy(c._style)

    for i, (values, fmts) in enumerate(zip(cells, formats, strict=True), 3):
        lines = 1
        for j, value in enumerate(values):
            if value is None:
                continue
            c = ws.cell(row=i, column=j + 1, value=value)
            if isinstance(value, int | float):
                style(c, fmts[j], top)
            else:
                n = _lines(value, widths[j])
                style(c, None, wrap_align if n > 1 or columns[j] in sheet.wrap else top)
                lines = max(lines, n)
        if lines > 1:
            ws.row_dimensions[i].height = 15 * lines
    first = columns[0] if columns else ""
    key_first = first in ("parcel_id", "group", "project_id", "firm_id", "figure", "code", "layer")
    if row_fmt_col is not None and row_fmt_col in columns:
        key = columns.index(row_fmt_col) + 3  # the machine and readable figure columns
        ws.freeze_panes = f"{get_column_letter(min(key, len(columns)))}3"
    else:
        ws.freeze_panes = "B3" if key_first and len(columns) > 1 else "A3"
    if columns:
        ws.auto_filter.ref = f"A2:{get_column_letter(len(columns))}{max(2, len(frame) + 2)}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:2"
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4


def write_workbook(path: str | Path, sheets: Sequence[Sheet], /, *, lang: Lang = "zh") -> Path:
    """Write ``sheets`` to ``path`` atomically (a temporary file renamed into place)."""
    from openpyxl import Workbook

    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    seen: set[str] = set()
    for sheet in sheets:
        title = sheet.title(lang)
        if title in seen:
            raise ValueError(f"two sheets named {title!r} in {target.name}")
        seen.add(title)
        write_sheet(wb, sheet, lang=lang)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".xlsx", dir=target.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_sheet(path: str | Path, sheet: str | int = 0, /) -> pd.DataFrame:
    """Read a sheet written by :func:`write_workbook` back with its machine column names."""
    return pd.read_excel(path, sheet_name=sheet, header=1)

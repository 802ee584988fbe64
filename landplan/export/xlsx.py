"""The one XLSX writer: every table landplan hands to people goes through :func:`write_workbook`.

Each sheet has two header rows: row 1 the human header with its unit in the chosen
language (``净可用面积（亩）``), bold, wrapped and frozen; row 2, hidden, the machine
column names, so :func:`read_sheet` (or ``pandas.read_excel(path, header=1)``) reads
the file back with the names the GeoPackage and CSV use.  Numbers get a format from
their unit suffix (亩/ha two decimals, m² none, shares as %, 万元 two decimals);
codes become words, JSON becomes readable text, missing values stay empty (never
``None`` or ``nan``).  Every sheet prints landscape on A4, fitted to the page width,
with the header repeated on each page.

How (fast on 50,000 parcels): XlsxWriter writes the workbook, its styles and the two header
rows; each column is converted once by its dtype (numbers, yes/no, and every *distinct*
code, JSON or text through :mod:`landplan.export.labels`), widths and wrapped line counts
come from NumPy over code points, and the data rows are rendered column by column into the
sheet XML (inline strings, one style per number format and alignment).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
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
    reasons_texts,
    value_text,
)

MAX_WIDTH = 60  # characters; longer text wraps
MIN_WIDTH = 6
HEADER_MAX_WIDTH = 24  # a header wraps beyond this rather than widening a numeric column
LINE_HEIGHT = 15  # points per wrapped line
MAX_ROW_HEIGHT = 409  # points: the tallest row Excel keeps
MAX_CELL_CHARS = 32767  # Excel's limit on the text of one cell (XlsxWriter cuts there too)
_BAD_SHEET_CHARS = str.maketrans(dict.fromkeys("[]:*?/\\", " "))
_BATCH = 2048  # data rows rendered into one string
_KEY_COLUMNS = ("parcel_id", "group", "project_id", "firm_id", "figure", "code", "layer")


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
        return name.translate(_BAD_SHEET_CHARS)[:31].strip("'")  # Excel refuses ' at either end


#: the Unicode blocks whose characters are East Asian Wide or Fullwidth (CJK, kana, hangul,
#: full-width forms)
_WIDE_RANGES = (
    (0x1100, 0x115F), (0x2E80, 0x303E), (0x3041, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA000, 0xA4CF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFF60),
    (0xFFE0, 0xFFE6), (0x20000, 0x3FFFD),
)  # fmt: skip
#: matched in C rather than asking ``unicodedata`` character by character
_WIDE = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _WIDE_RANGES) + "]")


@functools.cache
def _wide_table() -> np.ndarray:
    """``table[code point]``: 1 where the character is wide, for every code point."""
    table = np.zeros(0x110000, dtype=np.uint8)
    for a, b in _WIDE_RANGES:
        table[a : b + 1] = 1
    return table


def display_width(text: str, /) -> int:
    """Width in character cells: CJK and full-width characters count two."""
    if text.isascii():
        return len(text)
    return len(text) + len(_WIDE.findall(text))


def line_widths(texts: Sequence[str], /) -> tuple[np.ndarray, np.ndarray]:
    """The :func:`display_width` of every line of every text, and which text each line is of.

    One pass over the code points of the texts (UTF-32 in NumPy), a batch at a time so the
    copies stay small, so 50,000 cells of several lines cost milliseconds, not the ~10 µs a
    regular expression takes per line.
    """
    if not texts:
        return np.zeros(0, np.int64), np.zeros(0, np.intp)
    widths, owners = [], []
    for start in range(0, len(texts), _WIDTH_BATCH):
        w, o = _line_widths(texts[start : start + _WIDTH_BATCH])
        widths.append(w)
        owners.append(o + start)
    return np.concatenate(widths), np.concatenate(owners)


_WIDTH_BATCH = 2048  # texts measured at a time


def _line_widths(texts: Sequence[str], /) -> tuple[np.ndarray, np.ndarray]:
    lines = np.fromiter((t.count("\n") + 1 for t in texts), np.intp, len(texts))
    owner = np.repeat(np.arange(len(texts)), lines)
    joined = "\n".join(texts)
    if len(owner) == len(texts) and joined.isascii():  # one ASCII line each
        return np.fromiter(map(len, texts), np.int64, len(texts)), owner
    if joined.isascii():
        cps = np.frombuffer(joined.encode("ascii"), np.uint8)
    else:
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
    breaks = np.flatnonzero(cps == 10)
    starts = np.concatenate(([0], breaks + 1))
    width = np.concatenate((breaks, [len(cps)])) - starts  # characters per line
    if not joined.isascii():
        wide = _wide_table()[cps]
        filled = width > 0  # reduceat reads one element for an empty line: not counted
        at = np.minimum(starts, len(cps) - 1)
        width += np.add.reduceat(wide, at, dtype=np.int64) * filled
    return width.astype(np.int64), owner


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


@dataclass
class _Column:
    """One column's cells as distinct values: ``values[codes[row]]``, code -1 an empty cell.

    ``formats[k]`` is the number format of value ``k`` (None for text).  :func:`_measure` adds
    the width, ``lines[k]`` (lines value ``k`` wraps to at that width, plus a trailing 1 for
    code -1) and the cell styles: ``style[k]`` indexes ``styles``, (number format, wrap) pairs.
    ``numeric``: every value is a number in the one format ``formats[0]``.
    """

    name: str
    values: list
    codes: np.ndarray
    formats: list
    numeric: bool = False
    width: int = MIN_WIDTH
    lines: np.ndarray = field(default_factory=lambda: np.ones(1, np.int64))
    style: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp))
    styles: list = field(default_factory=list)


def _text_values(name: str, texts: list[str], lang: Lang) -> list:
    """:func:`cell_value` of distinct texts, calling labels.py only where a text needs it."""
    if name == "reasons":  # as cell_value: reasons_text(text) or None, for all at once
        return [text or None for text in reasons_texts(texts, lang)]
    if CODED.match(name) or name == "area_basis":
        return [cell_value(name, t, lang) for t in texts]
    out: list = texts.copy()
    for i, t in enumerate(texts):
        if t == "" or t[0] in "{[" or t[-1] in "}]" or t[0].isspace() or t[-1].isspace():
            out[i] = cell_value(name, t, lang)  # JSON (perhaps padded) or empty
    return out


def _distinct(
    name: str, series: pd.Series, lang: Lang, meanings: list[str] | None, formats: list[str] | None
) -> _Column:
    """Convert a column once per distinct value (by dtype where the dtype says it all)."""
    fmt = number_format(name)
    n = len(series)
    dtype = series.dtype
    by_dtype = meanings is None and formats is None  # one meaning and one format: the column's
    if by_dtype and isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        array = series.to_numpy()
        keep = np.isfinite(array) if dtype.kind == "f" else np.ones(n, bool)
        values = array[keep].tolist()
        codes = np.full(n, -1, np.intp)
        codes[keep] = np.arange(len(values))
        return _Column(name, values, codes, [fmt] * len(values), numeric=True)
    if by_dtype and isinstance(dtype, np.dtype) and dtype.kind == "b":
        words = [cell_value(name, False, lang), cell_value(name, True, lang)]
        return _Column(name, words, series.to_numpy().astype(np.intp), [None, None])
    if by_dtype and isinstance(dtype, pd.StringDtype):
        codes, uniques = pd.factorize(series)
        converted = _text_values(name, uniques.tolist(), lang)
        values, formats_out, remap = [], [], np.full(len(converted) + 1, -1, np.intp)
        for k, v in enumerate(converted):
            if v is not None and v != "":
                remap[k] = len(values)
                values.append(v)
                formats_out.append(None if isinstance(v, str) else fmt)
        return _Column(name, values, remap[codes], formats_out)  # code -1 picks remap[-1] = -1
    # anything else (objects, mixed types, dates, nullable, per-row meanings): a cache per value
    values, formats_out, codes = [], [], np.empty(n, np.intp)
    cache: dict = {}

    def add(v, f) -> int:
        if v is None or v == "":
            return -1
        values.append(v)
        formats_out.append(None if isinstance(v, str) else f)
        return len(values) - 1

    for i, v in enumerate(series.tolist()):
        m = name if meanings is None else meanings[i]
        f = fmt if formats is None else formats[i]
        key = (m, f, v.__class__, v)
        try:
            codes[i] = cache[key]
        except KeyError:
            codes[i] = cache[key] = add(cell_value(m, v, lang), f)
        except TypeError:  # unhashable (a dict or list) or an ambiguous comparison (pd.NA)
            codes[i] = add(cell_value(m, v, lang), f)
    return _Column(name, values, codes, formats_out)


def _number_width(col: _Column) -> int:
    """Widest number as shown: a number's width grows with its magnitude, plus one for a sign."""
    extremes: dict[str, list] = {}
    if col.numeric:  # one format: the largest and the most negative value decide
        if col.values:
            extremes[col.formats[0]] = [max(col.values), min(col.values)]
    else:
        for v, f in zip(col.values, col.formats, strict=True):
            if f is not None:
                e = extremes.setdefault(f, [v, v])
                e[0], e[1] = max(e[0], v), min(e[1], v)
    return max((_shown_width(v, f) for f, e in extremes.items() for v in e), default=0)


def _measure(col: _Column, lang: Lang, wrap_column: bool) -> None:
    """Set the column's width and, at that width, each text's line count and cell style."""
    head = display_width(header(col.name, lang))
    if col.numeric:
        content = _number_width(col)
        col.width = min(MAX_WIDTH, max(MIN_WIDTH, content, min(head, HEADER_MAX_WIDTH)))
        col.styles = [(col.formats[0] if col.values else None, False)]
        col.style = np.zeros(len(col.values), np.intp)
        col.lines = np.ones(len(col.values) + 1, np.int64)  # the extra 1: code -1 (empty)
        return
    texts = [i for i, f in enumerate(col.formats) if f is None]
    widths, owner = line_widths([col.values[i] for i in texts])
    content = max(_number_width(col), int(widths.max()) if len(widths) else 0)
    col.width = min(MAX_WIDTH, max(MIN_WIDTH, content, min(head, HEADER_MAX_WIDTH)))
    col.lines = np.ones(len(col.values) + 1, np.int64)
    wrap = np.zeros(len(col.values), bool)
    if texts:
        per_line = np.maximum(1, -(-widths // max(col.width, 1)))
        lines = np.bincount(owner, weights=per_line, minlength=len(texts)).astype(np.int64)
        col.lines[texts] = lines
        wrap[texts] = (lines > 1) | wrap_column
    assign_styles(col, wrap)


def assign_styles(col: _Column, wrap: np.ndarray, /) -> None:
    """Each value's cell style (number format, wrap) as an index into ``col.styles``, in the
    order the styles first occur."""
    keys: dict[tuple, int] = {}
    col.style = np.fromiter(
        (
            keys.setdefault((f, bool(w)), len(keys))
            for f, w in zip(col.formats, wrap.tolist(), strict=True)
        ),
        np.intp,
        len(col.values),
    )
    col.styles = list(keys)


_CONTROL = re.compile(r"_x[0-9a-fA-F]{4}_|[\x00-\x08\x0b-\x1f\ufffe\uffff]")


def _xml_text(text: str, /) -> str:
    """A cell's text in the sheet XML, escaped as XlsxWriter escapes it."""
    text = text[:MAX_CELL_CHARS]
    # _CONTROL cannot match without "_x" or a character that is not printable (control
    # characters and U+FFFE/U+FFFF are not); the checks in C are faster than the search
    if (
        "_x" in text or not (text.isprintable() or text.replace("\n", " ").isprintable())
    ) and _CONTROL.search(text):
        text = _CONTROL.sub(
            lambda m: "_x005F" + m[0] if len(m[0]) > 1 else f"_x{ord(m[0]):04X}_", text
        )
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f"<is><t{space}>{text}</t></is>"


def _column_letter(j: int, /) -> str:
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _row_heights(columns: list[_Column], n: int) -> np.ndarray:
    """Points per data row: 15 per line of its tallest wrapped cell, 0 for a one-line row."""
    lines = np.ones(n, np.int64)
    for col in columns:
        if len(col.values) and col.lines.max() > 1:
            np.maximum(lines, col.lines[col.codes], out=lines)
    return np.where(lines > 1, np.minimum(LINE_HEIGHT * lines, MAX_ROW_HEIGHT), 0)


def _rows_xml(columns: list[_Column], formats: list[list], heights: np.ndarray) -> Iterator[str]:
    """The ``<row>`` elements of the data rows (sheet rows 3…), a few thousand rows a string.

    The style indices are asked for when the first rows are (XlsxWriter numbers its formats in
    the order they are first written, so this happens while the sheet is being written).
    """
    xfs = [[str(f._get_xf_index()) for f in fmts] for fmts in formats]
    yield from _cells_xml(columns, xfs, heights, 3)


def _cells_xml(
    columns: list[_Column], xfs: list[list[str]], heights: np.ndarray, first_row: int
) -> Iterator[str]:
    """The ``<row>`` elements of ``len(heights)`` data rows, the first being sheet row ``first_row``.

    ``xfs[j][k]``: the text written as the style (``s="…"``) of style ``k`` of column ``j``.
    """
    tails = []  # per column and distinct value: the cell element after its reference
    for col, xf in zip(columns, xfs, strict=True):
        if col.numeric:
            tails.append([f'" s="{xf[0]}"><v>{v!r}</v></c>' for v in col.values])
            continue
        tails.append(
            [
                f'" s="{xf[k]}" t="inlineStr">{_xml_text(v)}</c>'
                if isinstance(v, str)
                else f'" s="{xf[k]}"><v>{v!r}</v></c>'
                for v, k in zip(col.values, col.style.tolist(), strict=True)
            ]
        )
    prefixes = ['<c r="' + _column_letter(j) for j in range(len(columns))]
    n = len(heights)
    for start in range(0, n, _BATCH):
        stop = min(n, start + _BATCH)
        refs = [str(r) for r in range(start + first_row, stop + first_row)]
        cells = []
        for col, tail, pre in zip(columns, tails, prefixes, strict=True):
            codes = col.codes[start:stop].tolist()
            cells.append(
                [pre + r + tail[c] if c >= 0 else "" for r, c in zip(refs, codes, strict=True)]
            )
        heads = [
            f'<row r="{r}" ht="{h}" customHeight="1">' if h else f'<row r="{r}">'
            for r, h in zip(refs, heights[start:stop].tolist(), strict=True)
        ]
        ends = itertools.repeat("</row>", len(refs))
        yield "".join(itertools.chain.from_iterable(zip(heads, *cells, ends, strict=True)))


@functools.cache
def _worksheet_class():
    """XlsxWriter's worksheet, writing its data rows from :func:`_rows_xml` when given them."""
    from xlsxwriter.worksheet import Worksheet

    class BulkWorksheet(Worksheet):
        # the data rows below the two header rows: text, or UTF-8 bytes copied as they are
        body: Iterator[str | bytes] | None = None
        last_row: int = 1  # 0-based, the last data row

        def _write_sheet_data(self) -> None:
            if self.body is None:
                return super()._write_sheet_data()
            self._xml_start_tag("sheetData")
            self.dim_rowmax = 1  # XlsxWriter's own cells: the two header rows
            self._write_rows()
            self.dim_rowmax = self.last_row
            for chunk in self.body:
                if isinstance(chunk, bytes) and hasattr(self.fh, "buffer"):
                    self.fh.flush()  # the text written so far, then the bytes after it
                    self.fh.buffer.write(chunk)
                elif isinstance(chunk, bytes):  # an in-memory sheet (StringIO)
                    self.fh.write(chunk.decode("utf-8"))
                else:
                    self.fh.write(chunk)
            self._xml_end_tag("sheetData")
            return None

        def _write_page_setup(self) -> None:
            # XlsxWriter leaves fitToWidth="1" out (the schema's default); readers such as
            # openpyxl report a missing one as unset, so it is written out
            if not (self.fit_page and self.fit_width == 1):
                return super()._write_page_setup()
            plain = self._xml_empty_tag

            def tag(name, attributes=()):
                if name == "pageSetup":
                    attributes = [*attributes, ("fitToWidth", 1)]
                plain(name, list(attributes))

            self._xml_empty_tag = tag
            try:
                super()._write_page_setup()
            finally:
                del self._xml_empty_tag
            return None

    return BulkWorksheet


class _Styles:
    """The workbook's formats, each made once: headers, and per (number format, wrap) a cell's."""

    def __init__(self, wb) -> None:
        self.wb = wb
        self.head = wb.add_format(
            {"bold": True, "text_wrap": True, "valign": "vcenter", "align": "center",
             "pattern": 1, "bg_color": "#E8EEF4", "bottom": 1, "bottom_color": "#404040"}
        )  # fmt: skip
        self.names = wb.add_format({"font_color": "#808080", "font_size": 8})
        self.cells: dict[tuple[str | None, bool], object] = {}

    def cell(self, num_format: str | None, wrap: bool):
        key = (num_format, bool(wrap))
        if key not in self.cells:
            props: dict = {"valign": "top"}
            if num_format is not None:
                props["num_format"] = num_format
            elif wrap:
                props["text_wrap"] = True
            self.cells[key] = self.wb.add_format(props)
        return self.cells[key]


def _prepared(sheet: Sheet, lang: Lang) -> tuple[pd.DataFrame, str | None]:
    frame = sheet.frame
    if isinstance(frame.index, pd.MultiIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    row_fmt_col = sheet.row_formats if sheet.row_formats in frame.columns else None
    if row_fmt_col is not None:
        pos = list(frame.columns).index(row_fmt_col) + 1
        labels = [header(str(v), lang) for v in frame.iloc[:, pos - 1]]
        frame.insert(pos, f"{row_fmt_col}_label", labels, allow_duplicates=True)
    return frame, row_fmt_col


def write_sheet(wb, sheet: Sheet, /, *, lang: Lang = "zh", styles: _Styles | None = None) -> None:
    """Add one formatted sheet to an XlsxWriter workbook (made by :func:`write_workbook`)."""
    styles = styles or _Styles(wb)
    frame, row_fmt_col = _prepared(sheet, lang)
    columns = list(frame.columns)
    n = len(frame)
    figures = formats = None
    if row_fmt_col is not None:  # each row's numbers mean (and are formatted as) its figure
        figures = [str(v) for v in frame.iloc[:, columns.index(row_fmt_col)]]
        formats = [number_format(f) for f in figures]
    cols = []
    for j, name in enumerate(columns):
        own = row_fmt_col is None or name.startswith(row_fmt_col)
        series = frame.iloc[:, j]
        col = _distinct(name, series, lang, None if own else figures, formats)
        _measure(col, lang, name in sheet.wrap)
        cols.append(col)
    cell_styles = [[styles.cell(f, w) for f, w in c.styles] for c in cols]
    heights = _row_heights(cols, n)

    figure_pos = columns.index(row_fmt_col) if row_fmt_col is not None else -1
    ws = _start_sheet(
        wb, sheet.title(lang), columns, [c.width for c in cols], figure_pos, styles, lang
    )
    if n and columns and not wb.constant_memory:
        ws.body = _rows_xml(cols, cell_styles, heights)
        ws.last_row = n + 1
        ws.dim_rowmax = n + 1  # the sheet's <dimension> spans the data rows
    else:  # XlsxWriter's own writer, row by row (constant memory)
        for i, h in enumerate(heights.tolist()):
            if h:
                ws.set_row(i + 2, h)
            for j, (col, fmts) in enumerate(zip(cols, cell_styles, strict=True)):
                c = col.codes[i]
                if c < 0:
                    continue
                v, fmt = col.values[c], fmts[col.style[c]]
                if isinstance(v, str):
                    ws.write_string(i + 2, j, v, fmt)
                else:
                    ws.write_number(i + 2, j, v, fmt)
    _finish_sheet(ws, columns, n, figure_pos)


def _start_sheet(
    wb,
    title: str,
    columns: list[str],
    widths: list[int],
    figure_pos: int,
    styles: _Styles,
    lang: Lang,
):
    """Add a worksheet with its two header rows and column widths (``widths``: characters).

    ``figure_pos``: the column of a transposed table's machine figure names (hidden), or -1.
    """
    ws = wb.add_worksheet(title, worksheet_class=_worksheet_class())
    heads = [header(name, lang) for name in columns]
    head_lines = max((_lines(t, w) for t, w in zip(heads, widths, strict=True)), default=1)
    ws.set_row(0, LINE_HEIGHT * head_lines + 4)
    for j, (text, width) in enumerate(zip(heads, widths, strict=True)):
        ws.write_string(0, j, text, styles.head)
        hidden = j == figure_pos  # the machine figure: its readable label stands beside it
        ws.set_column(j, j, width + 2, None, {"hidden": True} if hidden else None)
    ws.set_row(1, None, None, {"hidden": True})
    for j, name in enumerate(columns):
        ws.write_string(1, j, name, styles.names)
    return ws


def _finish_sheet(ws, columns: list[str], n: int, figure_pos: int) -> None:
    """Freeze the headers (and key column), filter, and set up printing for ``n`` data rows."""
    if figure_pos >= 0:
        key = figure_pos + 3  # the machine and readable figure columns
        ws.freeze_panes(2, min(key, len(columns)) - 1)
    else:
        first = columns[0] if columns else ""
        ws.freeze_panes(2, 1 if first in _KEY_COLUMNS and len(columns) > 1 else 0)
    if columns:
        ws.autofilter(1, 0, max(1, n + 1), len(columns) - 1)
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0, 1)
    ws.hide_gridlines(0)  # gridlines on screen and printed
    ws.set_margins(left=0.4, right=0.4, top=1.0, bottom=1.0)
    ws.set_header("", {"margin": 0.5})
    ws.set_footer("", {"margin": 0.5})


_ZIP_LOCK = threading.Lock()


@contextlib.contextmanager
def _zip_level(filename: str, level: int | None) -> Iterator[None]:
    """While XlsxWriter closes the workbook at ``filename``, deflate its parts at ``level``.

    XlsxWriter has no option for it: ``Workbook._store_workbook`` makes its
    ``zipfile.ZipFile(filename, "w", compression=ZIP_DEFLATED)`` through the name ``ZipFile``
    of ``xlsxwriter.workbook``.  That name is swapped, for the duration of the ``with`` only
    (under a lock, so concurrent closes take turns), for a subclass that adds
    ``compresslevel=level`` to the ZipFile of ``filename`` alone; any other ZipFile is made
    as before.  ``level=None``: nothing is swapped.  The parts' bytes do not change, only how
    they are deflated.
    """
    if level is None:
        yield
        return
    from xlsxwriter import workbook as xlsxwriter_workbook

    with _ZIP_LOCK:
        base = xlsxwriter_workbook.ZipFile

        class LevelZipFile(base):
            def __init__(self, file, *args, **kwargs) -> None:
                if file == filename and "compresslevel" not in kwargs:
                    kwargs["compresslevel"] = level
                super().__init__(file, *args, **kwargs)

        xlsxwriter_workbook.ZipFile = LevelZipFile
        try:
            yield
        finally:
            xlsxwriter_workbook.ZipFile = base


def write_workbook(
    path: str | Path,
    sheets: Sequence[Sheet],
    /,
    *,
    lang: Lang = "zh",
    zip_level: int | None = None,
    zip64: bool = False,
    _bulk: bool = True,
) -> Path:
    """Write ``sheets`` to ``path`` atomically (a temporary file renamed into place).

    A sheet may also be a :class:`landplan.export.xlsx_stream.SpooledSheet` (rows added in
    chunks beforehand): anything with ``title(lang)`` and ``write(wb, lang=, styles=)``.

    ``zip_level``: the zlib level (0-9) the parts are deflated at; None: XlsxWriter's (zlib's
    default, 6).  Levels 1-3 deflate sheet XML in about half the CPU time of 6 for a file
    30-50 % larger; the parts themselves are the same bytes at any level.

    ``zip64``: allow ZIP64 records, which a part over 2 GiB needs (a parcel sheet of ~1M parcels);
    off by default, as some Excel versions warn about ZIP64 files.

    ``_bulk=False`` writes the data rows through XlsxWriter's cell API instead (constant
    memory, several times slower); the tests compare the two.
    """
    import xlsxwriter

    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
    target = Path(path)
    seen: set[str] = set()
    for sheet in sheets:
        title = sheet.title(lang)
        if title.casefold() in seen:  # Excel compares sheet names case-insensitively
            raise ValueError(f"two sheets named {title!r} in {target.name}")
        seen.add(title.casefold())
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".xlsx", dir=target.parent)
    os.close(fd)
    # XlsxWriter's own part files, in a folder of their own: gone even when writing fails
    parts = tempfile.mkdtemp(prefix="landplan-xlsx-")
    options = {"constant_memory": not _bulk, "strings_to_numbers": False, "use_zip64": zip64,
               "strings_to_formulas": False, "strings_to_urls": False,
               "tmpdir": parts}  # fmt: skip
    wb = xlsxwriter.Workbook(tmp, options)
    try:
        styles = _Styles(wb)
        for sheet in sheets:
            if isinstance(sheet, Sheet):
                write_sheet(wb, sheet, lang=lang, styles=styles)
            else:
                sheet.write(wb, lang=lang, styles=styles)
        with _zip_level(tmp, zip_level):
            wb.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(Exception):
            wb.fileclosed = True  # nothing more to write; no complaint from its destructor
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return target


def read_sheet(path: str | Path, sheet: str | int = 0, /) -> pd.DataFrame:
    """Read a sheet written by :func:`write_workbook` back with its machine column names."""
    return pd.read_excel(path, sheet_name=sheet, header=1)

"""A sheet whose rows arrive in chunks: rendered as they come, spooled to disk, copied in at close.

:class:`SpooledSheet` writes the same sheet XML as :func:`landplan.export.xlsx.write_sheet` does
for the concatenated chunks, while holding one chunk at a time:

* each chunk's cells are converted (:func:`landplan.export.xlsx._distinct`) and rendered into
  ``<row>`` elements at once, their row numbers continuing from the chunk before, and
  appended to an anonymous temporary file (the spool);
* what the whole column decides is kept as running figures per column: the widest text line,
  the largest and smallest number per number format (the column width comes from these at
  close), and the cell styles (number format, wrap) in the order they first occur;
* a cell's wrap and line count do not depend on the final column width: the width is at least
  as wide as every line of the column unless it is capped at ``MAX_WIDTH``, so a text wraps
  exactly where one of its lines is wider than ``MAX_WIDTH`` or it has several lines, and it
  takes ``sum(max(1, ceil(width_of_line / MAX_WIDTH)))`` lines.  Row heights are per row.
* XlsxWriter numbers its cell styles in the order they are first written, which for the last
  sheet depends on the sheets before it (known only at close).  The spooled rows therefore
  carry a placeholder per style: two control characters of its own (such characters never
  reach the XML of a cell, they are escaped as ``_x0001_``), replaced by the style index
  while the spool is copied into the sheet, 16 MB at a time, in one ``bytes.translate``:
  a one-digit index deletes the first character and maps the second to the digit, a
  two-digit index maps both.  Styles past the 13th, or an index past 99, have a placeholder
  ``\\x1e<k>\\x1f`` (or keep their pair) replaced by ``bytes.replace`` first.

Byte-identical to the one-shot writer as long as each column keeps its dtype from chunk to
chunk in the way :func:`pandas.concat` would keep it; one exception: an integer column that
is float in another chunk (pandas does that to a chunk with a missing value) keeps its whole
numbers written as integers (``5``, where the concatenated column writes ``5.0``) -- the same
number in every reader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from landplan.export.labels import Lang, header, number_format
from landplan.export.xlsx import (
    HEADER_MAX_WIDTH,
    LINE_HEIGHT,
    MAX_ROW_HEIGHT,
    MAX_WIDTH,
    MIN_WIDTH,
    Sheet,
    _cells_xml,
    _Column,
    _distinct,
    _finish_sheet,
    _prepared,
    _shown_width,
    _start_sheet,
    assign_styles,
    display_width,
    line_widths,
)

_ROWS_AT_ONCE = 2048  # rows of a chunk converted and rendered at a time
_COPY_BYTES = 16 << 20  # spool bytes read at a time at close (whole rendered batches)
#: the control characters of the style placeholders (not tab, LF, CR; \x1e and \x1f mark
#: the longer placeholders); ``_x0001_``-escaped wherever a cell's text has one
_PAIR_CHARS = [chr(b) for b in range(1, 0x1E) if b not in (0x09, 0x0A, 0x0D)]
_PAIRS = len(_PAIR_CHARS) // 2  # styles with a two-character placeholder


class _Running:
    """What one column's rows so far decide about the whole column."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.format = number_format(name)
        self.numeric = True  # every chunk so far converted by its numeric dtype
        self.any_number = False  # a numeric chunk had a value
        self.keys: dict[tuple, None] = {}  # cell styles, in the order they first occur
        self.extremes: dict[str, list] = {}  # number format -> [largest, smallest]
        self.text_width = 0  # the widest text line

    def add(self, col: _Column) -> None:
        self.numeric = self.numeric and col.numeric
        if col.numeric:  # one format: the largest and the smallest value (as _number_width)
            if col.values:
                self.any_number = True
                self._extend(col.formats[0], max(col.values), min(col.values))
        else:
            for v, f in zip(col.values, col.formats, strict=True):
                if f is not None:
                    self._extend(f, v, v)
        for key in col.styles:
            self.keys.setdefault(key, None)

    def _extend(self, fmt: str, high, low) -> None:
        e = self.extremes.setdefault(fmt, [high, low])
        e[0], e[1] = max(e[0], high), min(e[1], low)

    def width(self, lang: Lang) -> int:
        """The column width of all rows, as :func:`landplan.export.xlsx._measure` sets it."""
        numbers = max((_shown_width(v, f) for f, e in self.extremes.items() for v in e), default=0)
        content = max(numbers, self.text_width)
        head = display_width(header(self.name, lang))
        return min(MAX_WIDTH, max(MIN_WIDTH, content, min(head, HEADER_MAX_WIDTH)))

    def styles(self) -> list[tuple]:
        """The column's cell styles in the order the one-shot writer asks XlsxWriter for them."""
        if self.numeric:  # a numeric column has one style, asked for even with no value
            return [(self.format if self.any_number else None, False)]
        return list(self.keys)


def _measure_chunk(col: _Column, run: _Running, wrap_column: bool) -> None:
    """Each value's line count and style, independent of the final column width (see above)."""
    col.lines = np.ones(len(col.values) + 1, np.int64)
    if col.numeric:
        col.styles = [(col.formats[0], False)] if col.values else []
        col.style = np.zeros(len(col.values), np.intp)
        return
    texts = [i for i, f in enumerate(col.formats) if f is None]
    wrap = np.zeros(len(col.values), bool)
    if texts:
        widths, owner = line_widths([col.values[i] for i in texts])
        run.text_width = max(run.text_width, int(widths.max()))
        per_line = np.maximum(1, -(-widths // MAX_WIDTH))
        lines = np.bincount(owner, weights=per_line, minlength=len(texts)).astype(np.int64)
        col.lines[texts] = lines
        wrap[texts] = (lines > 1) | wrap_column
    assign_styles(col, wrap)


class SpooledSheet:
    """One sheet (``Sheet(name_zh, name_en, <chunks>, wrap=wrap)``) written chunk by chunk.

    :meth:`add` renders a chunk's rows to a temporary file (in ``spool_dir``, unnamed, so it
    disappears with the process); :func:`landplan.export.xlsx.write_workbook` calls
    :meth:`write` to lay the sheet out and copy the rows in.  :meth:`discard` frees the spool.
    """

    def __init__(
        self,
        name_zh: str,
        name_en: str,
        /,
        *,
        wrap: tuple[str, ...] = (),
        lang: Lang = "zh",
        spool_dir: str | Path | None = None,
    ) -> None:
        if lang not in ("zh", "en"):
            raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
        self.name_zh, self.name_en, self.wrap, self.lang = name_zh, name_en, tuple(wrap), lang
        self.columns: list[str] | None = None  # set by the first chunk
        self.rows = 0
        self._running: list[_Running] = []
        self._tokens: dict[tuple, int] = {}  # cell style -> its placeholder number
        self._batches: list[int] = []  # bytes of each rendered batch in the spool
        # open until written or discarded: unnamed, it goes with the process
        self._spool = tempfile.TemporaryFile(  # noqa: SIM115
            prefix=".landplan-rows.", suffix=".xml", dir=spool_dir
        )

    @property
    def spooled_bytes(self) -> int:
        """Bytes of rendered rows so far (about the size of the sheet's XML part)."""
        return 0 if self._spool is None else self._spool.tell()

    def title(self, lang: Lang, /) -> str:
        return Sheet(self.name_zh, self.name_en, pd.DataFrame()).title(lang)

    def add(self, frame: pd.DataFrame, /) -> None:
        """Append the rows of ``frame`` (the same columns every time), in order."""
        if self._spool is None:
            raise ValueError("this sheet was discarded or written")
        sheet = Sheet(self.name_zh, self.name_en, frame, wrap=self.wrap)
        frame, _ = _prepared(sheet, self.lang)
        columns = list(frame.columns)
        if self.columns is None:
            self.columns = columns
            self._running = [_Running(name) for name in columns]
        elif columns != self.columns:
            raise ValueError(
                f"chunk columns differ from the first chunk's / 分块的列与第一块不同: "
                f"{columns} != {self.columns}"
            )
        if not len(frame):
            return  # nothing to render; its dtypes do not count (pandas.concat ignores them too)
        for start in range(0, len(frame), _ROWS_AT_ONCE):  # the working set: a few thousand rows
            self._render(frame.iloc[start : start + _ROWS_AT_ONCE], columns)

    def _render(self, frame: pd.DataFrame, columns: list[str]) -> None:
        n = len(frame)
        cols = []
        lines = np.ones(n, np.int64)
        for j, (name, run) in enumerate(zip(columns, self._running, strict=True)):
            col = _distinct(name, frame.iloc[:, j], self.lang, None, None)
            _measure_chunk(col, run, name in self.wrap)
            run.add(col)
            if len(col.values) and col.lines.max() > 1:
                np.maximum(lines, col.lines[col.codes], out=lines)
            cols.append(col)
        heights = np.where(lines > 1, np.minimum(LINE_HEIGHT * lines, MAX_ROW_HEIGHT), 0)
        xfs = [[self._token(key) for key in col.styles] for col in cols]
        for text in _cells_xml(cols, xfs, heights, self.rows + 3):
            data = text.encode("utf-8")
            self._spool.write(data)
            self._batches.append(len(data))
        self.rows += n

    def _token(self, key: tuple) -> str:
        k = self._tokens.setdefault(key, len(self._tokens))
        return _PAIR_CHARS[2 * k] + _PAIR_CHARS[2 * k + 1] if k < _PAIRS else f"\x1e{k}\x1f"

    def write(self, wb, /, *, lang: Lang, styles) -> None:
        """Lay the sheet out in ``wb`` (an XlsxWriter workbook) and copy the spooled rows in."""
        if lang != self.lang:
            raise ValueError(f"rows were rendered in {self.lang!r}, the workbook is {lang!r}")
        if self._spool is None:
            raise ValueError("this sheet was discarded or written")
        columns = self.columns or []
        styles_of = [run.styles() for run in self._running]
        cell_styles = [[styles.cell(f, w) for f, w in keys] for keys in styles_of]
        widths = [run.width(lang) for run in self._running]
        ws = _start_sheet(wb, self.title(lang), columns, widths, -1, styles, lang)
        if self.rows and columns:
            ws.body = self._body(styles_of, cell_styles)
            ws.last_row = self.rows + 1
            ws.dim_rowmax = self.rows + 1
        _finish_sheet(ws, columns, self.rows, -1)

    def _body(self, styles_of: list[list[tuple]], cell_styles: list[list]):
        """The spooled rows with each placeholder replaced by its XlsxWriter style index."""
        # asked for in the order _rows_xml asks, when the sheet's rows are being written
        xf = [[str(f._get_xf_index()) for f in fmts] for fmts in cell_styles]
        index: dict[tuple, str] = {}
        for keys, texts in zip(styles_of, xf, strict=True):
            index.update(zip(keys, texts, strict=True))
        swaps = _swaps([(self._token(key), index[key]) for key in self._tokens])
        spool = self._spool
        spool.seek(0)
        pending = 0  # bytes of whole batches not yet read
        for size in self._batches:
            if pending and pending + size > _COPY_BYTES:
                yield _swapped(spool.read(pending), swaps)
                pending = 0
            pending += size
        if pending:
            yield _swapped(spool.read(pending), swaps)
        self.discard()

    def discard(self) -> None:
        """Close and so delete the spool (idempotent)."""
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()


def _swaps(pairs: list[tuple[str, str]], /) -> list[tuple[bytes, bytes]]:
    """What :func:`_swapped` needs to replace each placeholder by its text (``pairs``)."""
    table, delete, swaps = bytearray(range(256)), bytearray(), []
    for token_text, index_text in pairs:
        token, text = token_text.encode(), index_text.encode()
        if len(token) == 2 and len(text) == 2:
            table[token[0]], table[token[1]] = text
        elif len(token) == 2 and len(text) == 1:
            delete.append(token[0])
            table[token[1]] = text[0]
        else:
            swaps.append((token, text))
    swaps.append((bytes(table), bytes(delete)))  # last: the one translate
    return swaps


def _swapped(data: bytes, swaps: list[tuple[bytes, bytes]]) -> bytes:
    """``data`` with each placeholder replaced: ``swaps`` are (old, new) pairs for
    ``bytes.replace`` and, last, the ``(table, delete)`` of one ``bytes.translate``."""
    *replaces, (table, delete) = swaps
    for old, new in replaces:
        data = data.replace(old, new)
    return data.translate(table, delete)

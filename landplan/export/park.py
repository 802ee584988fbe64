"""``park_summary.xlsx``: totals, reason counts, data findings and one row per parcel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import TracebackType

import pandas as pd

from landplan.export.labels import Lang
from landplan.export.xlsx import Sheet, write_workbook
from landplan.export.xlsx_stream import SpooledSheet

_PARCEL_PATTERNS = (
    r"parcel_id",
    r"area_m2",
    r"area_mu",
    r"area_ellipsoidal_mu",
    r"excluded_(?!m2$|mu$)\w+_mu",
    r"excluded_mu",
    r"net_available_mu",
    r"net_\w+_status",
    r"dev_cost_wan",
    r"verdict",
    r"reasons",
)


def parcel_table(parcels: pd.DataFrame, /) -> pd.DataFrame:
    """The per-parcel columns people read: id, areas, exclusions, network status, verdict, reasons."""
    cols: list[str] = []
    names = [str(c) for c in parcels.columns]
    for pattern in _PARCEL_PATTERNS:
        cols += [c for c in names if re.fullmatch(pattern, c) and c not in cols]
    return pd.DataFrame(parcels[cols])


def _not_computable(summary: pd.DataFrame, /) -> pd.DataFrame:
    """One row per (group, figure) the summary could not compute, with why (from its JSON column)."""
    rows = []
    if "not_computable" in summary.columns:
        for group, text in zip(
            summary.get("group", summary.index), summary["not_computable"], strict=True
        ):
            if isinstance(text, str) and text.strip().startswith("{"):
                rows += [
                    {"group": group, "figure": k, "message": v} for k, v in json.loads(text).items()
                ]
    return pd.DataFrame(rows, columns=["group", "figure", "message"])


def park_sheets(
    summary: pd.DataFrame,
    reasons: pd.DataFrame,
    validation: pd.DataFrame,
    parcels: pd.DataFrame | None = None,
    /,
) -> list[Sheet]:
    """The sheets of ``park_summary.xlsx``."""
    notes = _not_computable(summary)
    summary = summary.drop(columns=["not_computable"], errors="ignore")
    figures = summary.set_index("group").T if "group" in summary.columns else summary.T
    figures.index.name = "figure"
    figures.columns.name = None
    sheets = [
        Sheet(
            "汇总", "summary", figures, row_formats="figure", wrap=tuple(map(str, figures.columns))
        ),
        Sheet("原因统计", "reasons", reasons),
        Sheet("数据检查", "validation", validation, wrap=("message",)),
    ]
    if len(notes):
        sheets.append(
            Sheet("无法计算", "not computable", notes, row_formats="figure", wrap=("message",))
        )
    if parcels is not None:
        sheets.append(Sheet(*_PARCEL_SHEET, parcel_table(parcels), wrap=_PARCEL_WRAP))
    return sheets


_PARCEL_SHEET = ("地块", "parcels")
_PARCEL_WRAP = ("reasons",)
#: zlib level of park_summary.xlsx.  On its parcel sheet XML levels 1-3 (zlib's fast
#: deflate) take about half the CPU of the default 6; 3 makes the smallest file of the three
#: (about 30 % larger than at 6; 1: about 50 %).  None: XlsxWriter's own (6).
ZIP_LEVEL = 3


def write_park_summary(
    path: str | Path,
    summary: pd.DataFrame,
    reasons: pd.DataFrame,
    validation: pd.DataFrame,
    parcels: pd.DataFrame | None = None,
    /,
    *,
    lang: Lang = "zh",
) -> Path:
    """Write ``park_summary.xlsx`` (see :mod:`landplan.export.xlsx` for the layout)."""
    sheets = park_sheets(summary, reasons, validation, parcels)
    return write_workbook(path, sheets, lang=lang, zip_level=ZIP_LEVEL)


#: Excel's rows per sheet (1 048 576) less the two header rows
MAX_PARCEL_ROWS = 1_048_576 - 2
#: a part this large needs ZIP64 (zipfile refuses members over 2 GiB without it); below it the
#: plain zip that every Excel opens without a word
ZIP64_FROM_BYTES = 1_500_000_000


def _row_limit_finding(written: int, omitted: int) -> pd.DataFrame:
    """The findings-sheet row saying the parcel sheet stops at Excel's limit."""
    total = written + omitted
    return pd.DataFrame(
        [
            {
                "layer": "park_summary.xlsx",
                "role": "output",
                "code": "SHEET_ROW_LIMIT",
                "severity": "warn",
                "count": omitted,
                "message": f"地块表只列出前 {written:,} 宗（Excel 每表上限 1,048,576 行），共 "
                f"{total:,} 宗，全部见 results.gpkg / the parcel sheet lists the first {written:,} "
                f"of {total:,} parcels (Excel's limit of 1,048,576 rows a sheet); every parcel "
                "is in results.gpkg",
            }
        ]
    )


class ParkWorkbookWriter:
    """``park_summary.xlsx`` written while the parcels arrive in chunks, in memory bounded by a chunk.

    The file equals ``write_park_summary(path, summary, reasons, validation, pd.concat(chunks))``
    (every sheet, cell, format, width and height; see :mod:`landplan.export.xlsx_stream`)::

        with ParkWorkbookWriter(out / "park_summary.xlsx", lang="zh") as book:
            for chunk in chunks:
                book.add_parcels(chunk)
            book.close(summary, reasons, validation)

    Each chunk's rows are rendered at once into an unnamed temporary file in the target's
    folder (the system's temporary folder if that does not exist yet); nothing is written at
    ``path`` before :meth:`close`, which writes the workbook atomically.  No chunk at all gives
    the workbook without a parcel sheet (``parcels=None``); chunks with no rows give the sheet
    with its headers only.  A failure in :meth:`add_parcels` or :meth:`close` discards
    everything (the writer cannot be used again) and leaves any earlier file at ``path`` as it
    was; so does leaving the ``with`` block by an exception or without :meth:`close`.
    """

    def __init__(self, path: str | Path, /, *, lang: Lang = "zh") -> None:
        self.path = Path(path)
        folder = self.path.parent
        self._sheet: SpooledSheet | None = SpooledSheet(
            *_PARCEL_SHEET,
            wrap=_PARCEL_WRAP,
            lang=lang,
            spool_dir=folder if folder.is_dir() else None,
        )
        self.lang: Lang = lang
        self._chunks = 0
        self.omitted = 0  # parcels past Excel's row limit, not in the sheet

    @property
    def rows(self) -> int:
        """Parcels added so far."""
        return 0 if self._sheet is None else self._sheet.rows

    def add_parcels(self, parcels: pd.DataFrame, /) -> None:
        """One chunk of result parcels (the result_parcels columns; parcel_table() is applied inside), in order.

        Rows past Excel's sheet limit (:data:`MAX_PARCEL_ROWS`) are counted, not written; the
        workbook's findings sheet then says how many (every parcel is in ``results.gpkg``).
        """
        sheet = self._open()
        room = max(0, MAX_PARCEL_ROWS - sheet.rows)
        if len(parcels) > room:
            self.omitted += len(parcels) - room
            parcels = parcels.iloc[:room]
        try:
            sheet.add(parcel_table(parcels))
        except BaseException:
            self.abort()
            raise
        self._chunks += 1

    def close(
        self, summary: pd.DataFrame, reasons: pd.DataFrame, validation: pd.DataFrame, /
    ) -> Path:
        """Write the workbook atomically (temp file + os.replace, as write_workbook does)."""
        sheet = self._open()
        try:
            if self.omitted:
                validation = pd.concat(
                    [validation, _row_limit_finding(sheet.rows, self.omitted)], ignore_index=True
                )
            sheets: list = park_sheets(summary, reasons, validation)
            if self._chunks:
                sheets.append(sheet)
            return write_workbook(
                self.path,
                sheets,
                lang=self.lang,
                zip_level=ZIP_LEVEL,
                zip64=sheet.spooled_bytes > ZIP64_FROM_BYTES,
            )
        finally:
            self.abort()

    def abort(self) -> None:
        """Discard the rows added so far; nothing is written (idempotent)."""
        sheet, self._sheet = self._sheet, None
        if sheet is not None:
            sheet.discard()

    def _open(self) -> SpooledSheet:
        if self._sheet is None:
            raise ValueError(
                f"{self.path.name}: the writer was closed or aborted / 写入器已关闭或已放弃"
            )
        return self._sheet

    def __enter__(self) -> ParkWorkbookWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

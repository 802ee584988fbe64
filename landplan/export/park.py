"""``park_summary.xlsx``: totals, reason counts, data findings and one row per parcel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from landplan.export.labels import Lang
from landplan.export.xlsx import Sheet, write_workbook

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
        sheets.append(Sheet("地块", "parcels", parcel_table(parcels), wrap=("reasons",)))
    return sheets


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
    return write_workbook(path, park_sheets(summary, reasons, validation, parcels), lang=lang)

"""What colours the parcels: the verdict, the lifecycle state, or any result column.

:func:`parcel_classes` turns a column into classes (label + colour) and one class index per
parcel, which the map layer embeds (``cls``) and the legend lists:

- ``verdict`` — the verdict palette of :mod:`maps.styles`;
- ``state`` — the lifecycle register's states (规划储备 … 已收回) with a fixed palette;
  parcels not in the register are "未登记 Not registered";
- any other column — *categorical* when it holds text/booleans or at most ``max_categories``
  distinct values, else *graduated*: ``k`` quantile classes (the breaks shown in the legend,
  with the unit taken from the column name's suffix, e.g. ``_mu`` → 亩) on a sequential palette.
  Missing values get their own grey "无数据 No data" class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from landplan.maps.styles import UNKNOWN_VERDICT, VERDICTS, Label

STATE_COLORS = {
    "planned": "#9e9e9e",
    "ready": "#43a047",
    "listed": "#1e88e5",
    "transferred": "#8e24aa",
    "started": "#fb8c00",
    "completed": "#6d4c41",
    "output_verified": "#00897b",
    "idle": "#e53935",
    "reclaimed": "#546e7a",
}
NO_DATA = ("#cfd8dc", Label("无数据", "No data"))
NOT_REGISTERED = ("#eceff1", Label("未登记", "Not registered"))
CATEGORY_COLORS = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
)  # fmt: skip
#: ColorBrewer YlOrRd (5 classes) — low to high
GRADUATED = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
UNITS = {
    "_mu": "亩",
    "_m2": "m²",
    "_ha": "ha",
    "_m": "m",
    "_wan": "万元",
    "_deg": "°",
    "_share": "",
}
TITLES = {
    "verdict": Label("出让结论", "Verdict"),
    "state": Label("生命周期状态", "Lifecycle state"),
}


@dataclass(frozen=True)
class ParcelClasses:
    """Legend title, one (colour, label) per class, and the class index of every parcel."""

    title: Label
    classes: tuple[tuple[str, Label], ...]
    index: np.ndarray  # int, one per parcel

    def color(self, i: int) -> str:
        return self.classes[i][0]


def _unit(column: str) -> str:
    for suffix, unit in UNITS.items():
        if column.endswith(suffix):
            return unit
    return ""


def parcel_classes(
    parcels: pd.DataFrame, by: str = "verdict", /, *, k: int = 5, max_categories: int = 8
) -> ParcelClasses:
    """Classes of ``parcels[by]`` (see the module docstring); ``KeyError`` names the columns."""
    if by not in parcels.columns:
        raise KeyError(
            f"parcels have no column {by!r}; columns: {', '.join(map(str, parcels.columns))}"
        )
    values = parcels[by]
    if by == "verdict":
        return _fixed(
            values,
            TITLES["verdict"],
            {k2: (v.color, v.label) for k2, v in VERDICTS.items()},
            (UNKNOWN_VERDICT.color, UNKNOWN_VERDICT.label),
        )
    if by == "state":
        from landplan.store.register import STATE_ZH

        palette = {
            s: (STATE_COLORS[s], Label(STATE_ZH[s], s.replace("_", " ").capitalize()))
            for s in STATE_COLORS
        }
        return _fixed(values, TITLES["state"], palette, NOT_REGISTERED)
    title = Label(by, by)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique(dropna=True) > max_categories:
        return _graduated(values.astype(float), title, k, _unit(by))
    return _categorical(values, title, max_categories)


def _fixed(
    values: pd.Series, title: Label, palette: dict, missing: tuple[str, Label]
) -> ParcelClasses:
    keys = list(palette)
    codes = pd.Index(keys).get_indexer(_as_text(values))
    index = np.where(codes < 0, len(keys), codes)  # not a key, or missing: the last class
    return ParcelClasses(title, (*palette.values(), missing), index)


def _as_text(values: pd.Series) -> np.ndarray:
    """``str(v)`` of every value (``None`` → "None", NaN → "nan"), one call per distinct value."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return np.array([str(v) for v in distinct], dtype=object)[codes]


def _categorical(values: pd.Series, title: Label, max_categories: int) -> ParcelClasses:
    text = values.astype("string")
    counts = text.value_counts(dropna=True)
    top = (
        list(counts.index[: max_categories - 1])
        if len(counts) > max_categories
        else list(counts.index)
    )
    classes = [
        (CATEGORY_COLORS[i % len(CATEGORY_COLORS)], Label(str(v), str(v)))
        for i, v in enumerate(top)
    ]
    lookup = {v: i for i, v in enumerate(top)}
    other = len(classes) if len(counts) > len(top) else None
    if other is not None:
        classes.append((CATEGORY_COLORS[-1], Label("其他", "Other")))
    index = np.array(
        [
            len(classes)
            if pd.isna(v)
            else lookup.get(v, other if other is not None else len(classes))
            for v in text
        ],
        dtype=int,
    )
    return ParcelClasses(title, (*classes, NO_DATA), index)


def _graduated(values: pd.Series, title: Label, k: int, unit: str) -> ParcelClasses:
    finite = values[np.isfinite(values)]
    breaks = np.unique(np.quantile(finite, np.linspace(0, 1, k + 1)))
    n = max(len(breaks) - 1, 1)
    colors = [GRADUATED[round(i * (len(GRADUATED) - 1) / max(n - 1, 1))] for i in range(n)]
    suffix = f" {unit}" if unit else ""
    classes = [
        (
            colors[i],
            Label(
                f"{_fmt(breaks[i])} – {_fmt(breaks[i + 1])}{suffix}",
                f"{_fmt(breaks[i])} – {_fmt(breaks[i + 1])}{suffix}",
            ),
        )
        for i in range(n)
    ]
    arr = values.to_numpy(dtype=float)
    index = np.clip(np.searchsorted(breaks, arr, side="right") - 1, 0, n - 1)
    index[~np.isfinite(arr)] = n
    return ParcelClasses(title, (*classes, NO_DATA), index.astype(int))


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"

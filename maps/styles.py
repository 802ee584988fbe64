"""Colours, hatches and bilingual labels shared by the map layers, legend and popups.

Pure data and string helpers: nothing here imports folium, so the palette can be
read (e.g. by a static exporter or the API) without the map extra installed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from landplan.core import palette

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True)
class Label:
    """A label in Chinese and English."""

    zh: str
    en: str

    def text(self, lang: Lang, /) -> str:
        """Both languages, ``lang`` first, e.g. ``"可出让 Transferable"`` (not escaped)."""
        if self.zh == self.en:  # custom kinds: the user's own name, shown once
            return self.zh
        return f"{self.zh} {self.en}" if lang == "zh" else f"{self.en} {self.zh}"

    def html(self, lang: Lang, /) -> str:
        """:meth:`text`, HTML-escaped."""
        return html.escape(self.text(lang))


@dataclass(frozen=True)
class VerdictStyle:
    """Fill colour and label of one transfer verdict."""

    color: str
    label: Label


@dataclass(frozen=True)
class ConstraintStyle:
    """How one constraint kind is drawn.

    ``hatch`` is ``(stripe colour, space colour, angle in degrees)``, or ``None``
    for a plain fill (``fill_color``) or no fill at all (``fill_color=None``).
    """

    label: Label
    outline: str
    hatch: tuple[str, str, float] | None = None
    fill_color: str | None = None
    fill_opacity: float = 0.0
    dash_array: str | None = None
    weight: float = 1.5


VERDICTS: dict[str, VerdictStyle] = {
    v: VerdictStyle(c, Label(zh, en)) for v, (c, zh, en) in palette.VERDICTS.items()
}
UNKNOWN_VERDICT = VerdictStyle(palette.UNKNOWN_VERDICT[0], Label(*palette.UNKNOWN_VERDICT[1:]))
URBAN_BOUNDARY_COLOR = palette.URBAN_BOUNDARY_COLOR

CONSTRAINTS: dict[str, ConstraintStyle] = {
    "red_line": ConstraintStyle(
        Label("生态保护红线", "Ecological red line"), "#b71c1c", hatch=("#b71c1c", "#1b5e20", 45.0)
    ),
    "basic_farmland": ConstraintStyle(
        Label("永久基本农田", "Basic farmland"), "#8d6e63", hatch=("#f9a825", "#6d4c41", -45.0)
    ),
    # a heavy near-black dash-dot line: no network is black, dash-dotted or this heavy
    "urban_boundary": ConstraintStyle(
        Label("城镇开发边界", "Urban development boundary"),
        URBAN_BOUNDARY_COLOR,
        dash_array="14 5 3 5",
        weight=2.8,
    ),
    "inundation": ConstraintStyle(
        Label("水库淹没区", "Reservoir inundation zone"),
        "#0288d1",
        fill_color="#81d4fa",
        fill_opacity=0.45,
    ),
}


def constraint_style(kind: str, /) -> ConstraintStyle:
    """Style of a constraint kind; unknown (custom) kinds get a grey hatch."""
    if kind in CONSTRAINTS:
        return CONSTRAINTS[kind]
    return ConstraintStyle(Label(kind, kind), "#616161", hatch=("#757575", "#ffffff", 45.0))


NETWORKS: dict[str, tuple[str, Label]] = {
    k: (c, Label(zh, en)) for k, (c, zh, en) in palette.NETWORKS.items()
}
PLANNED_DASH = "6 6"
STATUS = {"built": Label("现状", "built"), "planned": Label("规划", "planned")}


def network_style(kind: str, /) -> tuple[str, Label]:
    """Colour and label of a network kind; unknown kinds are grey."""
    return NETWORKS.get(kind, ("#757575", Label(kind, kind)))


def lighten(color: str, /, amount: float = 0.4) -> str:
    """Blend a ``#rrggbb`` colour towards white by ``amount`` (0..1)."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (255 - c) * amount) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


# Popup and legend vocabulary.
TEXT: Mapping[str, Label] = {
    "parcels": Label("地块", "Parcels"),
    "parcel": Label("地块编号", "Parcel"),
    "verdict": Label("出让结论", "Verdict"),
    "gross_area": Label("毛面积", "Gross area"),
    "ellipsoidal_area": Label("椭球面积", "Ellipsoidal area"),
    "excluded": Label("扣除面积", "Excluded"),
    "net_available": Label("净可用面积", "Net available"),
    "distances": Label("管网距离", "Network distances"),
    "reasons": Label("原因", "Reasons"),
    "no_reasons": Label("无否决或警示原因", "No blocking or warning reasons"),
    "value": Label("实测值", "value"),
    "threshold": Label("阈值", "threshold"),
    "basis": Label("依据", "basis"),
    "block": Label("否决", "block"),
    "warn": Label("警示", "warning"),
    "constraints": Label("管控要素", "Constraints"),
    "networks": Label("基础设施管网", "Networks"),
    "legend": Label("图例", "Legend"),
    "out_of_range": Label("范围内无", "none in range"),
}

MU = Label("亩", "mu")


def fmt_number(value: object, /, digits: int = 2) -> str:
    """Format a number with thousands separators, or an em dash for missing values."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(number):
        return "—"
    return f"{number:,.{digits}f}"

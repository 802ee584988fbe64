"""Precomputed, HTML-escaped popup and tooltip content for parcel features.

The HTML is built in Python (not by folium's ``GeoJsonPopup``, which inserts raw
property values into ``innerHTML``), so every user-supplied string passes through
:func:`html.escape` exactly once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from landplan.maps.styles import (
    MU,
    TEXT,
    UNKNOWN_VERDICT,
    VERDICTS,
    Label,
    Lang,
    fmt_number,
    network_style,
)

POPUP_CSS = """
.lp-popup{font:12px/1.4 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;min-width:260px}
.lp-popup h4{margin:0 0 4px;font-size:14px}
.lp-popup .lp-badge{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff}
.lp-popup table{border-collapse:collapse;margin:4px 0;width:100%}
.lp-popup th{text-align:left;font-weight:600;padding:1px 6px 1px 0;white-space:nowrap;vertical-align:top}
.lp-popup td{padding:1px 0;text-align:right}
.lp-popup ol{margin:2px 0;padding-left:18px}
.lp-popup li{margin-bottom:4px}
.lp-popup li.block{color:#b71c1c}
.lp-popup li.warn{color:#8d5c00}
.lp-popup .lp-second{color:#555}
.lp-popup .lp-meta{color:#666;font-size:11px}
"""


def parse_reasons(raw: Any, /, *, parcel_id: str = "?") -> list[dict[str, Any]]:
    """Parse the ``reasons`` column (a JSON list of objects) of one parcel.

    Missing values and empty strings give ``[]``; an already-parsed list is returned
    as is.

    Raises
    ------
    ValueError
        If the text is not JSON or not a list, naming the parcel.
    """
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"parcel {parcel_id!r}: 'reasons' is not valid JSON ({exc.msg} at {exc.pos}); "
                "expected a JSON list of reason objects"
            ) from exc
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValueError(
            f"parcel {parcel_id!r}: 'reasons' must be a list, got {type(raw).__name__}"
        )
    return [r for r in raw if isinstance(r, Mapping)]


def _pair(zh: Any, en: Any, lang: Lang) -> str:
    """Both escaped messages, ``lang`` first, the other one greyed."""
    first, second = (zh, en) if lang == "zh" else (en, zh)
    return (
        f'<div class="lp-first">{escape(str(first or ""))}</div>'
        f'<div class="lp-second">{escape(str(second or ""))}</div>'
    )


def _row(label: Label, value_html: str, lang: Lang) -> str:
    return f"<tr><th>{label.html(lang)}</th><td>{value_html}</td></tr>"


def _measured(value: Any, unit: str) -> str:
    text = fmt_number(value)
    return text if text == "—" else f"{text} {escape(unit)}"


def reason_html(reason: Mapping[str, Any], lang: Lang) -> str:
    """One ``<li>``: code and severity, both messages, value/threshold/unit and basis."""
    severity = "block" if reason.get("severity") == "block" else "warn"
    unit = str(reason.get("unit") or "")
    meta = [
        f"{TEXT['value'].html(lang)}: {_measured(reason.get('value'), unit)}",
        f"{TEXT['threshold'].html(lang)}: {_measured(reason.get('threshold'), unit)}",
    ]
    if reason.get("basis"):
        meta.append(f"{TEXT['basis'].html(lang)}: {escape(str(reason['basis']))}")
    return (
        f'<li class="{severity}"><b>[{TEXT[severity].html(lang)}] '
        f"{escape(str(reason.get('code', '')))}</b>"
        f"{_pair(reason.get('message_zh'), reason.get('message_en'), lang)}"
        f'<div class="lp-meta">{" · ".join(meta)}</div></li>'
    )


def _area(m2: Any, mu: Any, lang: Lang) -> str:
    return f"{fmt_number(m2)} m² · {fmt_number(mu)} {MU.html(lang)}"


def popup_html(row: Mapping[str, Any], reasons: list[dict[str, Any]], lang: Lang) -> str:
    """Popup HTML for one parcel row (a mapping of column name to value)."""
    verdict = VERDICTS.get(str(row.get("verdict")), UNKNOWN_VERDICT)
    mu = MU.html(lang)
    rows = [
        _row(TEXT["gross_area"], _area(row.get("area_m2"), row.get("area_mu"), lang), lang),
        _row(
            TEXT["ellipsoidal_area"],
            _area(row.get("area_ellipsoidal_m2"), row.get("area_ellipsoidal_mu"), lang),
            lang,
        ),
        _row(TEXT["excluded"], f"{fmt_number(row.get('excluded_mu'))} {mu}", lang),
        _row(TEXT["net_available"], f"<b>{fmt_number(row.get('net_available_mu'))} {mu}</b>", lang),
    ]
    distances = [
        _row(_distance_label(kind), _measured(value, "m"), lang)
        for kind, value in _distances(row).items()
    ]
    if distances:
        rows.append(f'<tr><th colspan="2">{TEXT["distances"].html(lang)}</th></tr>')
        rows.extend(distances)
    items = (
        "".join(reason_html(r, lang) for r in reasons)
        or f"<li>{TEXT['no_reasons'].html(lang)}</li>"
    )
    return (
        '<div class="lp-popup">'
        f"<h4>{TEXT['parcel'].html(lang)}: {escape(str(row.get('parcel_id', '')))}</h4>"
        f'<span class="lp-badge" style="background:{verdict.color}">'
        f"{verdict.label.html(lang)}</span>"
        f"<table>{''.join(rows)}</table>"
        f"<b>{TEXT['reasons'].html(lang)}</b><ol>{items}</ol></div>"
    )


def tooltip_html(row: Mapping[str, Any], lang: Lang) -> str:
    """Short hover text: parcel id, verdict and net available area."""
    verdict = VERDICTS.get(str(row.get("verdict")), UNKNOWN_VERDICT)
    return (
        f"<b>{escape(str(row.get('parcel_id', '')))}</b><br>{verdict.label.html(lang)}<br>"
        f"{TEXT['net_available'].html(lang)}: {fmt_number(row.get('net_available_mu'))} "
        f"{MU.html(lang)}"
    )


def _distance_label(kind: str) -> Label:
    """``road`` → 道路 Road; ``planned_road`` → 规划道路 Planned road."""
    if kind.startswith("planned_"):
        base = network_style(kind.removeprefix("planned_"))[1]
        return Label(f"规划{base.zh}", f"Planned {base.en.lower()}")
    return network_style(kind)[1]


def _distances(row: Mapping[str, Any]) -> dict[str, Any]:
    """``{kind: value}`` for every ``dist_<kind>_m`` column, in column order."""
    return {
        key[len("dist_") : -len("_m")]: value
        for key, value in row.items()
        if isinstance(key, str) and key.startswith("dist_") and key.endswith("_m")
    }

"""Fixed-position HTML elements: the categorical legend, the title box and popup CSS.

Each is a branca ``MacroElement`` whose ``header`` macro adds CSS and whose ``html``
macro adds a ``<div>`` to the page. All text is escaped before it reaches the
template (the Jinja environment does not autoescape).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from landplan.maps.styles import (
    PLANNED_DASH,
    STATUS,
    TEXT,
    VERDICTS,
    ConstraintStyle,
    Lang,
    constraint_style,
    lighten,
    network_style,
)

LEGEND_CSS = """
.lp-legend{position:fixed;left:10px;bottom:44px;z-index:1000;max-height:65vh;overflow:auto;
  background:rgba(255,255,255,.95);border:1px solid #999;border-radius:4px;padding:6px 10px;
  font:12px/1.5 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.lp-legend summary{font-weight:700;cursor:pointer}
.lp-legend h5{margin:6px 0 2px;font-size:12px}
.lp-legend .lp-item{display:flex;align-items:center;gap:6px;white-space:nowrap}
.lp-legend .lp-swatch{display:inline-block;width:22px;height:14px;border:1px solid #555;flex:none}
.lp-legend svg{flex:none}
.lp-title{position:fixed;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
  background:rgba(255,255,255,.95);border:1px solid #999;border-radius:4px;padding:4px 14px;
  font:600 16px/1.4 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)}
"""


def _macro(header: str, body: str) -> Any:
    """A branca MacroElement adding ``header`` to <head> and ``body`` to <body>.

    The strings are passed as attributes, never spliced into the template source,
    so text such as ``{{ ... }}`` in a title is not evaluated by Jinja.
    """
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = "LandplanHtml"
    element.header_html = header
    element.body_html = body
    element._template = Template(
        "{% macro header(this, kwargs) %}{{ this.header_html }}{% endmacro %}"
        "{% macro html(this, kwargs) %}{{ this.body_html }}{% endmacro %}"
    )
    return element


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _constraint_swatch(cs: ConstraintStyle) -> str:
    if cs.hatch is not None:
        stripe, space, angle = cs.hatch
        fill = (
            f"background:repeating-linear-gradient({angle:g}deg,{stripe} 0 3px,"
            f"{_rgba(space, 0.25)} 3px 8px);border-color:{cs.outline}"
        )
    elif cs.fill_color is not None:
        fill = f"background:{_rgba(cs.fill_color, cs.fill_opacity)};border-color:{cs.outline}"
    else:  # an outline only (the urban boundary): the same dash pattern as on the map
        dash = f' stroke-dasharray="{cs.dash_array}"' if cs.dash_array else ""
        return (
            f'<svg width="24" height="16"><rect x="1.5" y="1.5" width="21" height="13" '
            f'fill="none" stroke="{cs.outline}" stroke-width="{cs.weight:g}"{dash}/></svg>'
        )
    return f'<span class="lp-swatch" style="{fill}"></span>'


def _line_sample(color: str, dash: str | None) -> str:
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<svg width="28" height="10"><line x1="1" y1="5" x2="27" y2="5" stroke="{color}"'
        f' stroke-width="2"{dash_attr}/></svg>'
    )


def _item(sample: str, label_html: str) -> str:
    return f'<div class="lp-item">{sample}<span>{label_html}</span></div>'


def legend_html(
    *,
    constraint_kinds: Iterable[str] = (),
    network_kinds: Iterable[str] = (),
    lang: Lang = "zh",
    classes=None,
) -> str:
    """The legend's inner HTML: the parcel classes (default: verdicts), then the given
    constraint and network kinds."""
    if classes is None:
        parts = [f"<h5>{TEXT['verdict'].html(lang)}</h5>"]
        items = [(style.color, style.label) for style in VERDICTS.values()]
    else:
        parts = [f"<h5>{classes.title.html(lang)}</h5>"]
        used = set(classes.index.tolist())
        items = [
            c for i, c in enumerate(classes.classes) if i in used or i < len(classes.classes) - 1
        ]
    for color, label in items:
        swatch = f'<span class="lp-swatch" style="background:{color};opacity:.8"></span>'
        parts.append(_item(swatch, label.html(lang)))
    constraint_kinds = list(constraint_kinds)
    if constraint_kinds:
        parts.append(f"<h5>{TEXT['constraints'].html(lang)}</h5>")
        for kind in constraint_kinds:
            cs = constraint_style(kind)
            parts.append(_item(_constraint_swatch(cs), cs.label.html(lang)))
    network_kinds = list(network_kinds)
    if network_kinds:
        built, planned = STATUS["built"].html(lang), STATUS["planned"].html(lang)
        parts.append(f"<h5>{TEXT['networks'].html(lang)} ({built} / {planned})</h5>")
        for kind in network_kinds:
            color, label = network_style(kind)
            samples = _line_sample(color, None) + _line_sample(lighten(color), PLANNED_DASH)
            parts.append(_item(samples, label.html(lang)))
    return (
        f'<details class="lp-legend" open><summary>{TEXT["legend"].html(lang)}</summary>'
        + "".join(parts)
        + "</details>"
    )


def legend_element(
    *,
    constraint_kinds: Iterable[str] = (),
    network_kinds: Iterable[str] = (),
    lang: Lang = "zh",
    classes=None,
) -> Any:
    """A MacroElement drawing the legend fixed at the bottom-left of the page."""
    body = legend_html(
        constraint_kinds=constraint_kinds, network_kinds=network_kinds, lang=lang, classes=classes
    )
    return _macro(f"<style>{LEGEND_CSS}</style>", body)


def title_element(title: str) -> Any:
    """A MacroElement drawing ``title`` (escaped) in a box at the top centre."""
    return _macro("", f'<div class="lp-title">{escape(title)}</div>')


def css_element(css: str) -> Any:
    """A MacroElement adding a ``<style>`` block to the page head."""
    return _macro(f"<style>{css}</style>", "")

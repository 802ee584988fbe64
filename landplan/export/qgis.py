"""QGIS styles stored in a GeoPackage's ``layer_styles`` table, so layers open styled.

QGIS (3.x) reads the default style of a GeoPackage layer from the ``layer_styles``
table (the table QGIS itself writes with *Save as default → Datasource database*).
This module builds QML (and SLD) for the layers landplan writes:

- parcels with a verdict: categorised by ``verdict``, Chinese legend labels with English beside them;
- input parcels: one outline style;
- constraints (``constraint_<kind>``): hatched fills; the urban boundary a dashed outline;
- networks: rule-based by ``kind`` and ``status``: built solid, planned dashed.

The palette mirrors ``landplan.maps.styles`` (the web map), which landplan may not import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd

from landplan.core import palette
from landplan.core.types import GPKG_DATASET_OPTIONS

STYLE_TABLE = "layer_styles"
QGIS_VERSION = "3.22.0-Białowieża"

VERDICTS: tuple[tuple[str, str, str, str], ...] = tuple(
    (v, *palette.VERDICTS[v]) for v in palette.VERDICTS
)
#: QGIS fill brush (hatch) and hatch colour per constraint kind; colours and labels from the palette
_BRUSH = {
    "red_line": ("b_diagonal", "#b71c1c"),
    "basic_farmland": ("f_diagonal", "#6d4c41"),
    "inundation": ("horizontal", "#0288d1"),
    "flood": ("cross", "#01579b"),
    "geohazard": ("diagonal_x", "#4e342e"),
}
#: kind → (outline colour, hatch colour or None, fill brush, label zh, label en)
CONSTRAINTS: dict[str, tuple[str, str | None, str, str, str]] = {
    kind: (color, _BRUSH.get(kind, ("no", None))[1], _BRUSH.get(kind, ("no", None))[0], zh, en)
    for kind, (color, zh, en) in palette.CONSTRAINTS.items()
}
NETWORKS: dict[str, tuple[str, str, str]] = dict(palette.NETWORKS)
STATUSES = (("built", "现状", "built", "solid"), ("planned", "规划", "planned", "dash"))


@dataclass(frozen=True)
class LayerStyle:
    """One row of ``layer_styles``: the default style of one layer."""

    table: str
    name: str
    qml: str
    sld: str
    description: str
    geometry_column: str = "geom"


def _rgba(color: str, alpha: int = 255) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"{r},{g},{b},{alpha}"


def _options(props: dict[str, str]) -> str:
    items = "".join(
        f'<Option name={quoteattr(k)} type="QString" value={quoteattr(str(v))}/>'
        for k, v in props.items()
    )
    return f'<Option type="Map">{items}</Option>'


def _fill_symbol(
    name: str,
    *,
    fill: str,
    brush: str,
    outline: str,
    width: float = 0.26,
    outline_style: str = "solid",
    alpha: int = 255,
) -> str:
    props = {
        "color": _rgba(fill, alpha),
        "style": brush,
        "outline_color": _rgba(outline),
        "outline_style": outline_style,
        "outline_width": str(width),
        "outline_width_unit": "MM",
        "joinstyle": "bevel",
    }
    return (
        f'<symbol type="fill" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="SimpleFill" enabled="1" locked="0" pass="0">{_options(props)}</layer>'
        "</symbol>"
    )


def _line_symbol(name: str, *, color: str, width: float, style: str) -> str:
    props = {
        "line_color": _rgba(color),
        "line_style": style,
        "line_width": str(width),
        "line_width_unit": "MM",
        "capstyle": "round",
        "joinstyle": "round",
    }
    return (
        f'<symbol type="line" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="SimpleLine" enabled="1" locked="0" pass="0">{_options(props)}</layer>'
        "</symbol>"
    )


def _qml(renderer: str, *, opacity: float = 1.0) -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">'
        f"{renderer}<layerOpacity>{opacity}</layerOpacity><blendMode>0</blendMode>"
        "<featureBlendMode>0</featureBlendMode></qgis>"
    )


def _sld(layer: str, rules: Iterable[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:ogc="http://www.opengis.net/ogc" xmlns:se="http://www.opengis.net/se" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.opengis.net/sld '
        'http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
        f"<NamedLayer><se:Name>{_esc(layer)}</se:Name><UserStyle><se:Name>{_esc(layer)}</se:Name>"
        f"<se:FeatureTypeStyle>{''.join(rules)}</se:FeatureTypeStyle></UserStyle></NamedLayer>"
        "</StyledLayerDescriptor>"
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sld_filter(pairs: Sequence[tuple[str, str]]) -> str:
    tests = "".join(
        f"<ogc:PropertyIsEqualTo><ogc:PropertyName>{_esc(f)}</ogc:PropertyName>"
        f"<ogc:Literal>{_esc(v)}</ogc:Literal></ogc:PropertyIsEqualTo>"
        for f, v in pairs
    )
    if len(pairs) > 1:
        tests = f"<ogc:And>{tests}</ogc:And>"
    return f"<ogc:Filter>{tests}</ogc:Filter>" if pairs else ""


def _sld_polygon_rule(
    label: str, pairs, *, fill: str | None, stroke: str, opacity: float, dash: str | None = None
) -> str:
    fill_xml = (
        f'<se:Fill><se:SvgParameter name="fill">{fill}</se:SvgParameter>'
        f'<se:SvgParameter name="fill-opacity">{opacity}</se:SvgParameter></se:Fill>'
        if fill
        else ""
    )
    dash_xml = f'<se:SvgParameter name="stroke-dasharray">{dash}</se:SvgParameter>' if dash else ""
    return (
        f"<se:Rule><se:Name>{_esc(label)}</se:Name>{_sld_filter(pairs)}<se:PolygonSymbolizer>"
        f'{fill_xml}<se:Stroke><se:SvgParameter name="stroke">{stroke}</se:SvgParameter>'
        f'<se:SvgParameter name="stroke-width">1</se:SvgParameter>{dash_xml}</se:Stroke>'
        "</se:PolygonSymbolizer></se:Rule>"
    )


def _sld_line_rule(label: str, pairs, *, stroke: str, dash: str | None) -> str:
    dash_xml = f'<se:SvgParameter name="stroke-dasharray">{dash}</se:SvgParameter>' if dash else ""
    return (
        f"<se:Rule><se:Name>{_esc(label)}</se:Name>{_sld_filter(pairs)}<se:LineSymbolizer>"
        f'<se:Stroke><se:SvgParameter name="stroke">{stroke}</se:SvgParameter>'
        f'<se:SvgParameter name="stroke-width">2</se:SvgParameter>{dash_xml}</se:Stroke>'
        "</se:LineSymbolizer></se:Rule>"
    )


def verdict_style(table: str, /) -> LayerStyle:
    """Parcels categorised by ``verdict`` (可出让 / 有条件可出让 / 不可出让)."""
    categories, symbols, rules = [], [], []
    for i, (value, color, zh, en) in enumerate(VERDICTS):
        label = f"{zh} {en}"
        categories.append(
            f'<category render="true" symbol="{i}" value={quoteattr(value)} label={quoteattr(label)}/>'
        )
        symbols.append(
            _fill_symbol(str(i), fill=color, brush="solid", outline="#ffffff", alpha=210)
        )
        rules.append(
            _sld_polygon_rule(
                label, [("verdict", value)], fill=color, stroke="#ffffff", opacity=0.82
            )
        )
    renderer = (
        '<renderer-v2 type="categorizedSymbol" attr="verdict" symbollevels="0" '
        'enableorderby="0" forceraster="0">'
        f"<categories>{''.join(categories)}</categories><symbols>{''.join(symbols)}</symbols>"
        "</renderer-v2>"
    )
    return LayerStyle(
        table,
        f"{table} 按结论 by verdict",
        _qml(renderer),
        _sld(table, rules),
        "地块按出让结论分类 parcels by transfer verdict",
    )


def outline_style(table: str, /, *, color: str = "#37474f") -> LayerStyle:
    """A plain outline (input parcels)."""
    renderer = (
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
        f"<symbols>{_fill_symbol('0', fill='#eceff1', brush='solid', outline=color, alpha=90)}</symbols>"
        "</renderer-v2>"
    )
    rule = _sld_polygon_rule(table, [], fill="#eceff1", stroke=color, opacity=0.35)
    return LayerStyle(
        table,
        f"{table} 轮廓 outline",
        _qml(renderer),
        _sld(table, [rule]),
        "地块轮廓 parcel outlines",
    )


def constraint_style(table: str, kind: str, /) -> LayerStyle:
    """A constraint layer: hatched fill (the urban boundary: dashed outline, no fill)."""
    outline, hatch, brush, zh, en = CONSTRAINTS.get(
        kind, ("#616161", "#757575", "b_diagonal", kind, kind)
    )
    dashed = kind in ("urban_boundary", "park_boundary")
    symbol = _fill_symbol(
        "0",
        fill=hatch or outline,
        brush=brush,
        outline=outline,
        width=0.5 if dashed else 0.3,
        outline_style="dash" if dashed else "solid",
    )
    renderer = (
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
        f"<symbols>{symbol}</symbols></renderer-v2>"
    )
    label = f"{zh} {en}" if zh != en else zh
    rule = _sld_polygon_rule(
        label,
        [],
        fill=None if dashed else hatch,
        stroke=outline,
        opacity=0.3,
        dash="8 6" if dashed else None,
    )
    return LayerStyle(table, f"{table} {label}", _qml(renderer), _sld(table, [rule]), label)


def network_style(table: str, kinds: Iterable[str], /) -> LayerStyle:
    """Networks by ``kind`` and ``status``: built solid, planned dashed."""
    rules, symbols, sld_rules = [], [], []
    n = 0
    for kind in kinds:
        color, zh, en = NETWORKS.get(kind, ("#757575", kind, kind))
        for status, s_zh, s_en, line in STATUSES:
            label = f"{zh}（{s_zh}）{en} ({s_en})" if zh != en else f"{zh}（{s_zh}）"
            expr = f"\"kind\" = '{kind}' AND \"status\" = '{status}'"
            rules.append(
                f'<rule key="r{n}" symbol="{n}" filter={quoteattr(expr)} label={quoteattr(label)}/>'
            )
            width = 0.6 if status == "built" else 0.45
            symbols.append(_line_symbol(str(n), color=color, width=width, style=line))
            sld_rules.append(
                _sld_line_rule(
                    label,
                    [("kind", kind), ("status", status)],
                    stroke=color,
                    dash=None if line == "solid" else "6 6",
                )
            )
            n += 1
    renderer = (
        '<renderer-v2 type="RuleRenderer" symbollevels="0" enableorderby="0" forceraster="0">'
        f'<rules key="root">{"".join(rules)}</rules><symbols>{"".join(symbols)}</symbols>'
        "</renderer-v2>"
    )
    return LayerStyle(
        table,
        f"{table} 现状实线 规划虚线",
        _qml(renderer),
        _sld(table, sld_rules),
        "管网：现状实线，规划虚线 networks: built solid, planned dashed",
    )


def styles_for_layers(layers: dict[str, pd.DataFrame], /) -> list[LayerStyle]:
    """The default style of every layer landplan knows how to style (others are left alone)."""
    out = []
    for name, frame in layers.items():
        columns = set(map(str, frame.columns))
        if "verdict" in columns:
            out.append(verdict_style(name))
        elif name.startswith("constraint_"):
            out.append(constraint_style(name, name.removeprefix("constraint_")))
        elif name == "networks" and {"kind", "status"} <= columns:
            kinds = [str(k) for k in pd.unique(frame["kind"].astype(str))]
            out.append(network_style(name, sorted(kinds, key=lambda k: (k not in NETWORKS, k))))
        elif name == "parcels":
            out.append(outline_style(name))
    return out


def write_layer_styles(gpkg: str | Path, styles: Sequence[LayerStyle], /, *, written_at) -> None:
    """Write ``styles`` as the default styles in ``gpkg``'s ``layer_styles`` table (replacing it)."""
    import pyogrio

    if not styles:
        return
    table = pd.DataFrame(
        {
            "f_table_catalog": "",
            "f_table_schema": "",
            "f_table_name": [s.table for s in styles],
            "f_geometry_column": [s.geometry_column for s in styles],
            "styleName": [s.name for s in styles],
            "styleQML": [s.qml for s in styles],
            "styleSLD": [s.sld for s in styles],
            "useAsDefault": True,
            "description": [s.description for s in styles],
            "owner": "landplan",
            "ui": "",
            "update_time": pd.Timestamp(written_at).tz_localize(None),
        }
    )
    pyogrio.write_dataframe(
        table, gpkg, layer=STYLE_TABLE, driver="GPKG", dataset_options=GPKG_DATASET_OPTIONS
    )

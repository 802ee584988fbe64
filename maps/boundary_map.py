"""The scenario map: park-boundary scenarios as coloured outlines over the parcels by verdict.

Takes plain GeoDataFrames (``result_parcels`` and the ``scenarios`` layer, or suggested
regions with the same key-figure columns); never imports ``api``.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from landplan.maps.assets import AssetMode, apply_assets
from landplan.maps.basemaps import Basemap, to_display
from landplan.maps.layers import add_parcels, base_map, require_folium, to_wgs84
from landplan.maps.legend import _macro, css_element, legend_html, title_element
from landplan.maps.popups import POPUP_CSS
from landplan.maps.styles import LANGS, Label, Lang, fmt_number

if TYPE_CHECKING:
    import folium
    from geopandas import GeoDataFrame

#: outline colours of scenarios, in order (colour-blind-safe Okabe-Ito, then extras)
SCENARIO_COLORS = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#000000",
    "#f0e442",
    "#6a3d9a",
    "#8c564b",
)
#: (column, label, unit label or None, digits) shown in a scenario's popup
FIGURES: tuple[tuple[str, Label, Label | None, int], ...] = (
    ("gross_mu", Label("毛面积", "Gross area"), Label("亩", "mu"), 2),
    ("gross_ellipsoidal_mu", Label("椭球面积", "Ellipsoidal area"), Label("亩", "mu"), 2),
    ("excluded_mu", Label("扣除面积", "Excluded"), Label("亩", "mu"), 2),
    ("net_available_mu", Label("净可用面积", "Net available"), Label("亩", "mu"), 2),
    ("urban_boundary_share", Label("开发边界内占比", "Inside urban boundary"), None, 3),
    (
        "park_overlap_mu",
        Label("与批准四至重叠", "Overlap with approved park"),
        Label("亩", "mu"),
        2,
    ),
    ("parcels_inside", Label("内含地块", "Parcels inside"), Label("宗", "parcels"), 0),
    (
        "transferable_parcels",
        Label("可出让地块", "Transferable parcels"),
        Label("宗", "parcels"),
        0,
    ),
    ("blocked_parcels", Label("不可出让地块", "Blocked parcels"), Label("宗", "parcels"), 0),
    (
        "mean_cost_weighted_suitability",
        Label("成本加权适宜性", "Cost-weighted suitability"),
        None,
        1,
    ),
    ("dev_cost_wan", Label("开发成本", "Development cost"), Label("万元", "10k yuan"), 1),
    ("leading_industries", Label("主导产业数", "Leading industries"), None, 0),
)
SCENARIOS = Label("边界方案", "Boundary scenarios")
REASONS = Label("合规问题", "Compliance issues")


def scenario_color(i: int, /) -> str:
    """Colour of the ``i``-th scenario (cycles after ten)."""
    return SCENARIO_COLORS[i % len(SCENARIO_COLORS)]


def scenario_popup_html(row: dict[str, Any], lang: Lang, /) -> str:
    """Escaped popup HTML: the scenario's name and key figures, both languages."""
    rows = []
    for col, label, unit, digits in FIGURES:
        if col not in row:
            continue
        value = fmt_number(row.get(col), digits)
        suffix = f" {unit.html(lang)}" if unit is not None and value != "—" else ""
        rows.append(f"<tr><th>{label.html(lang)}</th><td>{escape(value)}{suffix}</td></tr>")
    codes = str(row.get("reason_codes") or "")
    reasons = escape(codes.replace(";", ", ")) if codes else "—"
    return (
        f'<div class="lp-popup"><h4>{escape(str(row.get("name", "")))}</h4>'
        f"<table>{''.join(rows)}</table>"
        f"<div><b>{REASONS.html(lang)}</b>: {reasons}</div></div>"
    )


def build_boundary_map(
    parcels: GeoDataFrame | None,
    scenarios: GeoDataFrame,
    /,
    *,
    lang: Lang = "zh",
    title: str | None = None,
    tiles: str | None = "OpenStreetMap",
    basemap: Basemap | None = None,
    tk: str | None = None,
    embed_key: bool = False,
    assets: AssetMode = "cdn",
    assets_base_url: str = "/assets",
) -> folium.Map:
    """Scenario outlines in distinct colours over the parcels by verdict, with legend and popups.

    ``scenarios`` needs a ``name`` column and may hold the key-figure columns of
    ``landplan.planning.scenarios`` (``gross_mu``, ``net_available_mu``, ...); ``parcels`` are the
    workspace's ``result_parcels`` (``None`` draws the scenarios alone).  ``basemap``,
    ``tk``, ``embed_key``, ``assets`` and ``assets_base_url`` work as in
    :func:`maps.build_result_map` (Gaode shifts every outline to GCJ-02).
    """
    folium = require_folium()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if "name" not in scenarios.columns:
        raise ValueError("scenarios need a 'name' column")
    sc = to_display(to_wgs84(scenarios, simplify_m=0.0), basemap)
    drawn = [sc] + (
        [to_display(to_wgs84(parcels), basemap)] if parcels is not None and len(parcels) else []
    )
    boxes = [g.total_bounds for g in drawn if len(g)]
    bounds = (
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        if boxes
        else None
    )
    m = base_map(bounds, tiles=tiles, basemap=basemap, tk=tk, embed_key=embed_key, lang=lang)
    if len(drawn) > 1:
        add_parcels(m, drawn[1], lang=lang)
    items = []
    for i, (_, row) in enumerate(sc.iterrows()):
        color = scenario_color(i)
        record = {k: v for k, v in row.items() if k != sc.geometry.name}
        data = sc.iloc[[i]][[sc.geometry.name]].assign(
            popup=scenario_popup_html(record, lang), tip=escape(str(row["name"]))
        )
        folium.GeoJson(
            data.to_geo_dict(drop_id=True),
            name=escape(str(row["name"])),
            style_function=lambda _f, c=color: {
                "color": c,
                "weight": 3.5,
                "opacity": 0.95,
                "fill": True,
                "fillOpacity": 0.0,
            },
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=420),
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(m)
        items.append((color, str(row["name"])))
    _legend(items, lang).add_to(m)
    css_element(POPUP_CSS).add_to(m)
    if title:
        title_element(title).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return apply_assets(m, assets, base_url=assets_base_url)


def _legend(items: list[tuple[str, str]], lang: Lang) -> Any:
    from landplan.maps.legend import LEGEND_CSS

    base = legend_html(lang=lang)
    lines = "".join(
        f'<div class="lp-item"><span class="lp-swatch" style="background:none;border:3px solid '
        f'{color}"></span><span>{escape(name)}</span></div>'
        for color, name in items
    )
    body = base.replace("</details>", f"<h5>{SCENARIOS.html(lang)}</h5>{lines}</details>")
    return _macro(f"<style>{LEGEND_CSS}</style>", body)

"""The supply-plan map and the match map: segments and parcels coloured by year, project candidates.

``build_plan_map``: segments coloured by the year they are funded, parcels by the year they become
transferable (grey: not within the plan; dashed: extensions).  ``build_match_map``: each project's
candidate parcel groups, the assigned one solid, the others outlined.  Popups are bilingual and
HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from landplan.maps.layers import base_map, require_folium, to_wgs84
from landplan.maps.legend import LEGEND_CSS, _item, _line_sample, _macro, title_element
from landplan.maps.popups import POPUP_CSS
from landplan.maps.result_map import _bounds
from landplan.maps.styles import LANGS, Label, Lang, fmt_number, network_style
from landplan.maps.unlock_map import add_coloured_parcels

if TYPE_CHECKING:
    import folium
    from geopandas import GeoDataFrame

#: one colour per plan year, first year first (ColorBrewer Set1 / Dark2 mix)
YEAR_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
NONE_COLOR = "#9e9e9e"
PROJECT_COLORS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf")
TEXT = {
    "segments": Label("规划管网/道路（按投资年份）", "Segments (by funding year)"),
    "parcels": Label("地块（可出让年份）", "Parcels (year transferable)"),
    "year": Label("年份", "Year"),
    "funded": Label("投资年份", "Funded in"),
    "ready": Label("可出让年份", "Transferable from"),
    "kind": Label("类别", "Kind"),
    "cost": Label("投资", "Cost"),
    "area": Label("面积", "Area"),
    "missing": Label("缺少", "Missing"),
    "none": Label("计划期内不可出让", "not within the plan"),
    "legend": Label("图例", "Legend"),
    "project": Label("项目", "Project"),
    "rank": Label("名次", "Rank"),
    "score": Label("得分", "Score"),
    "assigned": Label("已分配", "assigned"),
}


def year_color(year: int, years: list[int], /) -> str:
    """Colour of a plan year (grey for 0 / a year outside the plan)."""
    if year not in years:
        return NONE_COLOR
    return YEAR_COLORS[years.index(year) % len(YEAR_COLORS)]


def _popup(title: str, pairs: list[tuple[Label, str]], lang: Lang) -> str:
    rows = "".join(f"<tr><th>{lab.html(lang)}</th><td>{val}</td></tr>" for lab, val in pairs)
    return f'<div class="lp-popup"><h4>{escape(title)}</h4><table>{rows}</table></div>'


def build_plan_map(
    parcels: GeoDataFrame,
    schedule: pd.DataFrame,
    atoms: GeoDataFrame,
    plan_parcels: pd.DataFrame,
    years: list[int],
    /,
    *,
    lang: Lang = "zh",
    title: str | None = None,
    tiles: str | None = "OpenStreetMap",
) -> folium.Map:
    """Segments (``schedule`` rows with ``funded_year``) and parcels (``unlocked_year``) by year."""
    folium = require_folium()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    years = [int(y) for y in years]
    a = atoms[["atom_id", atoms.geometry.name]].merge(schedule, on="atom_id")
    a = a[(a["funded_year"] > 0) & ~(a.geometry.isna() | a.geometry.is_empty)]
    pp = plan_parcels.drop_duplicates("parcel_id").set_index("parcel_id")
    p = parcels[parcels["parcel_id"].astype(str).isin(pp.index)].copy()
    p["unlocked_year"] = pp.loc[p["parcel_id"].astype(str), "unlocked_year"].to_numpy()
    ctx = to_wgs84(parcels[["parcel_id", parcels.geometry.name]])
    a84, p84 = to_wgs84(a), to_wgs84(p)
    m = base_map(_bounds(p84, a84, ctx), tiles=tiles)
    folium.GeoJson(
        ctx.to_geo_dict(drop_id=True),
        name=Label("全部地块", "All parcels").html(lang),
        style_function=lambda _f: {"color": "#90a4ae", "weight": 0.5, "fillOpacity": 0.05},
    ).add_to(m)
    colors = [year_color(int(y), years) for y in p84["unlocked_year"]]
    popups = [
        _popup(
            str(pid),
            [
                (TEXT["ready"], str(int(y)) if y > 0 else TEXT["none"].html(lang)),
                (TEXT["area"], f"{fmt_number(pp.at[str(pid), 'mu'])} 亩"),
                (TEXT["missing"], escape(str(pp.at[str(pid), "missing"]))),
            ],
            lang,
        )
        for pid, y in zip(p84["parcel_id"], p84["unlocked_year"], strict=True)
    ]
    add_coloured_parcels(m, p84, colors, popups, name=TEXT["parcels"].html(lang))
    if len(a84):
        sdata = a84[[a84.geometry.name]].copy()
        sdata["color"] = [year_color(int(y), years) for y in a84["funded_year"]]
        sdata["dash"] = np.where(a84["source"] == "extension", "4 4", "")
        sdata["popup"] = [
            _popup(
                f"{r['name']} ({r['atom_id']})",
                [
                    (TEXT["funded"], str(int(r["funded_year"]))),
                    (TEXT["ready"], str(int(r["serves_from_year"]))),
                    (TEXT["kind"], network_style(str(r["kind"]))[1].html(lang)),
                    (TEXT["cost"], f"{fmt_number(r['cost_wan'], 1)} 万元"),
                ],
                lang,
            )
            for _, r in a84.iterrows()
        ]
        folium.GeoJson(
            sdata.to_geo_dict(drop_id=True),
            name=TEXT["segments"].html(lang),
            style_function=lambda f: {"color": f["properties"]["color"], "weight": 5,
                                      "opacity": 0.9, "dashArray": f["properties"]["dash"] or None},
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
        ).add_to(m)  # fmt: skip
    parts = [f"<h5>{TEXT['year'].html(lang)}</h5>"]
    for y in years:
        parts.append(_item(_line_sample(year_color(y, years), None), str(y)))
    parts.append(_item(_line_sample(NONE_COLOR, None), TEXT["none"].html(lang)))
    legend = (f'<details class="lp-legend" open><summary>{TEXT["legend"].html(lang)}</summary>'
              f"{''.join(parts)}</details>")  # fmt: skip
    _macro(f"<style>{LEGEND_CSS}</style>", legend).add_to(m)
    _macro(f"<style>{POPUP_CSS}</style>", "").add_to(m)
    if title:
        title_element(title).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def build_match_map(
    parcels: GeoDataFrame,
    matches: pd.DataFrame,
    /,
    *,
    lang: Lang = "zh",
    title: str | None = None,
    tiles: str | None = "OpenStreetMap",
) -> folium.Map:
    """One layer per project: its candidate groups (``parcel_ids`` joined by ';'), assigned solid."""
    folium = require_folium()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    ctx = to_wgs84(parcels[["parcel_id", parcels.geometry.name]])
    m = base_map(_bounds(ctx), tiles=tiles)
    folium.GeoJson(
        ctx.to_geo_dict(drop_id=True),
        name=Label("全部地块", "All parcels").html(lang),
        style_function=lambda _f: {"color": "#90a4ae", "weight": 0.5, "fillOpacity": 0.05},
    ).add_to(m)
    geo = parcels.assign(parcel_id=parcels["parcel_id"].astype(str)).set_index("parcel_id")
    for i, (proj, g) in enumerate(matches.groupby("project_id", sort=True)):
        color = PROJECT_COLORS[i % len(PROJECT_COLORS)]
        rows = []
        for _, r in g.iterrows():
            ids = [s for s in str(r["parcel_ids"]).split(";") if s in geo.index]
            if not ids:
                continue
            rows.append({
                "geometry": geo.loc[ids].geometry.union_all(),
                "assigned": bool(r["assigned"]),
                "popup": _popup(f"{proj} #{int(r['rank'])}", [
                    (TEXT["area"], f"{fmt_number(r['area_mu'])} 亩"),
                    (TEXT["score"], fmt_number(r["score"], 3)),
                    (TEXT["assigned"], "✓" if r["assigned"] else ""),
                    (Label("地块", "Parcels"), escape(";".join(ids))),
                ], lang),
            })  # fmt: skip
        if not rows:
            continue
        import geopandas as gpd

        layer = to_wgs84(gpd.GeoDataFrame(rows, geometry="geometry", crs=parcels.crs))
        folium.GeoJson(
            layer.to_geo_dict(drop_id=True),
            name=f"{TEXT['project'].html(lang)} {escape(str(proj))}",
            style_function=lambda f, c=color: {
                "color": c, "weight": 3 if f["properties"]["assigned"] else 1.5,
                "fillColor": c, "fillOpacity": 0.55 if f["properties"]["assigned"] else 0.08,
                "dashArray": None if f["properties"]["assigned"] else "4 4",
            },
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
        ).add_to(m)  # fmt: skip
    _macro(f"<style>{POPUP_CSS}</style>", "").add_to(m)
    if title:
        title_element(title).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m

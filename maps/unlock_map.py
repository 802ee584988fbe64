"""The unlock map: segments and extensions coloured by investment rank, parcels by the rank that unlocks them.

Ranks come from :func:`landplan.planning.unlock.ranking_table`: rank 1 (built first) is darkest; a
segment that unlocks nothing is grey.  Popups are bilingual and HTML-escaped.
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

if TYPE_CHECKING:
    import folium
    from geopandas import GeoDataFrame

#: graduated palette, rank 1 first (ColorBrewer YlGnBu, reversed)
RAMP = ("#081d58", "#253494", "#225ea8", "#1d91c0", "#41b6c4", "#7fcdbb", "#c7e9b4")
NONE_COLOR = "#9e9e9e"
TEXT = {
    "title": Label("投资次序", "Investment rank"),
    "segments": Label("规划管网/道路（按次序）", "Planned segments (by rank)"),
    "parcels": Label("地块（解锁次序）", "Parcels (rank that unlocks them)"),
    "rank": Label("次序", "Rank"),
    "kind": Label("类别", "Kind"),
    "cost": Label("投资", "Cost"),
    "length": Label("长度", "Length"),
    "unlocks": Label("新增可出让", "Unlocks"),
    "missing": Label("缺少", "Missing"),
    "none": Label("不解锁", "unlocks nothing"),
    "not_unlocked": Label("未解锁", "not unlocked"),
}


def rank_color(rank: float, n_ranked: int, /) -> str:
    """Colour of a rank among ``n_ranked`` useful steps (grey for 0 / NaN / beyond them)."""
    if not np.isfinite(rank) or rank < 1 or rank > n_ranked:
        return NONE_COLOR
    if n_ranked <= 1:
        return RAMP[0]
    return RAMP[round((rank - 1) / (n_ranked - 1) * (len(RAMP) - 1))]


def _rows(pairs: list[tuple[Label, str]], lang: Lang) -> str:
    return "".join(f"<tr><th>{lab.html(lang)}</th><td>{val}</td></tr>" for lab, val in pairs)


def _popup(title: str, pairs: list[tuple[Label, str]], lang: Lang) -> str:
    return (
        f'<div class="lp-popup"><h4>{escape(title)}</h4><table>{_rows(pairs, lang)}</table></div>'
    )


def build_unlock_map(
    parcels: GeoDataFrame,
    atoms: GeoDataFrame,
    table: pd.DataFrame,
    eligible: pd.DataFrame,
    /,
    *,
    lang: Lang = "zh",
    title: str | None = None,
    tiles: str | None = "OpenStreetMap",
) -> folium.Map:
    """Build the unlock map.

    Parameters
    ----------
    parcels : GeoDataFrame
        All parcels (``parcel_id``, ``verdict``), projected; drawn faintly for context.
    atoms : GeoDataFrame
        ``Candidates.atoms`` (``atom_id, kind, source, name, length_m, cost_wan``).
    table : DataFrame
        The ranking table (``rank, segment_ids, mu_unlocked, ...``).
    eligible : DataFrame
        ``UnlockResult.parcels`` (``parcel_id, mu, missing, unlocked_at_rank``).

    Returns
    -------
    folium.Map
    """
    folium = require_folium()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    useful = table[table["mu_unlocked"] > 0]
    n_ranked = len(useful)
    rank_of: dict[str, tuple[int, float]] = {}
    for _, r in table.iterrows():
        for sid in str(r["segment_ids"]).split(";"):
            rank_of.setdefault(sid, (int(r["rank"]), float(r["mu_unlocked"])))
    a = atoms.copy()
    a["rank"] = [rank_of.get(s, (0, 0.0))[0] for s in a["atom_id"]]
    a["step_mu"] = [rank_of.get(s, (0, 0.0))[1] for s in a["atom_id"]]
    a = a[(a["rank"] > 0) & ~(a.geometry.isna() | a.geometry.is_empty)]
    e = eligible.set_index("parcel_id")
    p = parcels[parcels["parcel_id"].astype(str).isin(e.index)].copy()
    p["unlocked_at_rank"] = e.loc[p["parcel_id"].astype(str), "unlocked_at_rank"].to_numpy()
    ctx = to_wgs84(parcels[["parcel_id", parcels.geometry.name]])
    a84, p84 = to_wgs84(a), to_wgs84(p)
    m = base_map(_bounds(p84, a84, ctx), tiles=tiles)
    folium.GeoJson(
        ctx.to_geo_dict(drop_id=True),
        name=Label("全部地块", "All parcels").html(lang),
        style_function=lambda _f: {"color": "#90a4ae", "weight": 0.5, "fillOpacity": 0.05},
    ).add_to(m)

    colors = [rank_color(r, n_ranked) for r in p84["unlocked_at_rank"]]
    popups = [
        _popup(
            str(pid),
            [
                (TEXT["rank"], str(int(r)) if r > 0 else TEXT["not_unlocked"].html(lang)),
                (TEXT["unlocks"], f"{fmt_number(e.at[str(pid), 'mu'])} 亩"),
                (TEXT["missing"], escape(str(e.at[str(pid), "missing"]))),
            ],
            lang,
        )
        for pid, r in zip(p84["parcel_id"], p84["unlocked_at_rank"], strict=True)
    ]
    add_coloured_parcels(m, p84, colors, popups, name=TEXT["parcels"].html(lang))

    sdata = a84[[a84.geometry.name]].copy()
    sdata["color"] = [rank_color(r, n_ranked) for r in a84["rank"]]
    sdata["dash"] = np.where(a84["source"] == "extension", "4 4", "")
    sdata["popup"] = [
        _popup(
            f"{r['name']} ({r['atom_id']})",
            [
                (TEXT["rank"], str(int(r["rank"]))),
                (TEXT["kind"], network_style(str(r["kind"]))[1].html(lang)),
                (TEXT["length"], f"{fmt_number(r['length_m'], 0)} m"),
                (TEXT["cost"], f"{fmt_number(r['cost_wan'], 1)} 万元"),
                (
                    TEXT["unlocks"],
                    f"{fmt_number(r['step_mu'])} 亩"
                    if r["step_mu"] > 0
                    else TEXT["none"].html(lang),
                ),
            ],
            lang,
        )
        for _, r in a84.iterrows()
    ]
    folium.GeoJson(
        sdata.to_geo_dict(drop_id=True),
        name=TEXT["segments"].html(lang),
        style_function=lambda f: {
            "color": f["properties"]["color"],
            "weight": 5,
            "opacity": 0.9,
            "dashArray": f["properties"]["dash"] or None,
        },
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
    ).add_to(m)
    _macro(f"<style>{LEGEND_CSS}</style>", legend_html(n_ranked, lang=lang)).add_to(m)
    _macro(f"<style>{POPUP_CSS}</style>", "").add_to(m)
    if title:
        title_element(title).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def legend_html(n_ranked: int, /, *, lang: Lang = "zh") -> str:
    """Legend: one swatch per colour class of the ranks, grey for 'unlocks nothing'."""
    parts = [f"<h5>{TEXT['title'].html(lang)}</h5>"]
    if n_ranked:
        classes: dict[str, list[int]] = {}
        for r in range(1, n_ranked + 1):
            classes.setdefault(rank_color(r, n_ranked), []).append(r)
        for color, ranks in classes.items():
            text = str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]}–{ranks[-1]}"
            parts.append(_item(_line_sample(color, None), f"{TEXT['rank'].html(lang)} {text}"))
    parts.append(_item(_line_sample(NONE_COLOR, None), TEXT["none"].html(lang)))
    label = Label("外延（虚线）", "extension (dashed)").html(lang)
    parts.append(_item(_line_sample(RAMP[2], "4 4"), label))
    return (
        '<details class="lp-legend" open><summary>'
        f"{Label('图例', 'Legend').html(lang)}</summary>{''.join(parts)}</details>"
    )


def add_coloured_parcels(m, p84, colors: list[str], popups: list[str], /, *, name: str) -> None:
    """Parcels (CRS84) filled with one colour each, with a pre-built popup each."""
    import folium

    pdata = p84[[p84.geometry.name]].copy()
    pdata["color"] = colors
    pdata["popup"] = popups
    folium.GeoJson(
        pdata.to_geo_dict(drop_id=True),
        name=name,
        style_function=lambda f: {
            "fillColor": f["properties"]["color"],
            "color": "#263238",
            "weight": 0.8,
            "fillOpacity": 0.6,
        },
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
    ).add_to(m)

"""The map inset of a parcel condition sheet: the parcel, its neighbours, constraints, networks.

Drawn with matplotlib collections straight from shapely (clipped to the inset first, the
layers looked up through STRtrees built once per workspace), with a scale bar and a north
arrow kept off the parcel.  Used by :mod:`landplan.maps.sheets`.
"""

from __future__ import annotations

import math

import numpy as np

from landplan.core import palette

A4_PORTRAIT_IN = (8.27, 11.69)

VERDICT_COLORS = {v: c for v, (c, _, _) in palette.VERDICTS.items()}
_HATCH = {"red_line": "////", "basic_farmland": "\\\\\\\\", "inundation": "----"}
CONSTRAINT_STYLE = {  # kind → (colour, hatch, label zh, label en)
    kind: (palette.CONSTRAINTS[kind][0], _HATCH.get(kind), *palette.CONSTRAINTS[kind][1:])
    for kind in ("red_line", "basic_farmland", "urban_boundary", "inundation")
}
NETWORK_COLORS = {k: c for k, (c, _, _) in palette.NETWORKS.items()}


def _paths(geoms) -> list:
    """Matplotlib paths of (multi)polygons, holes kept."""
    import shapely
    from matplotlib.path import Path as MPath

    out = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        polys = getattr(g, "geoms", [g])
        verts, codes = [], []
        for p in polys:
            if p.geom_type != "Polygon" or p.is_empty:
                continue
            for ring in [p.exterior, *p.interiors]:
                xy = np.asarray(shapely.get_coordinates(ring))
                if len(xy) < 3:
                    continue
                verts.append(xy)
                c = np.full(len(xy), MPath.LINETO, dtype=np.uint8)
                c[0], c[-1] = MPath.MOVETO, MPath.CLOSEPOLY
                codes.append(c)
        if verts:
            out.append(MPath(np.concatenate(verts), np.concatenate(codes)))
    return out


def _lines(geoms) -> list[np.ndarray]:
    import shapely

    out = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        for part in getattr(g, "geoms", [g]):
            if part.geom_type == "LineString" and not part.is_empty:
                out.append(np.asarray(shapely.get_coordinates(part)))
    return out


def _nice_length(extent_m: float) -> float:
    target = max(extent_m / 4.0, 1.0)
    power = 10 ** math.floor(math.log10(target))
    return max(m * power for m in (1, 2, 5) if m * power <= target)


def draw_inset(ctx, ax, pid: str) -> None:
    """Draw parcel ``pid`` of a :class:`landplan.maps.sheets.SheetContext` into ``ax``."""
    import shapely
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.patches import Rectangle

    parcels = ctx.parcels
    geom = parcels.geometry.loc[pid]
    minx, miny, maxx, maxy = geom.bounds
    size = max(maxx - minx, maxy - miny) * 1.6 + 120.0
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    w_in, h_in = (
        ax.get_position().width * A4_PORTRAIT_IN[0],
        ax.get_position().height * A4_PORTRAIT_IN[1],
    )
    half_w = size / 2 * max(1.0, w_in / h_in)
    half_h = size / 2 * max(1.0, h_in / w_in)
    box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    rect = shapely.box(*box)
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[1], box[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    geoms = parcels.geometry.to_numpy()
    hits = ctx.tree("parcels", geoms).query(rect)
    hits = np.sort(hits)
    near = shapely.clip_by_rect(geoms[hits], *box)
    colors = [VERDICT_COLORS.get(str(v), "#9e9e9e") for v in parcels["verdict"].to_numpy()[hits]]
    ax.add_collection(
        PathCollection(
            _paths(near),
            facecolors=colors,
            edgecolors="white",
            linewidths=0.4,
            alpha=0.35,
            zorder=1,
        )
    )
    for kind, layer in sorted(ctx.constraints.items()):
        color, hatch, _, _ = CONSTRAINT_STYLE.get(kind, ("#616161", "xx", kind, kind))
        g = layer.geometry.to_numpy()
        idx = np.sort(ctx.tree(f"c:{kind}", g).query(rect))
        if not len(idx):
            continue
        clipped = shapely.clip_by_rect(g[idx], *box)
        ax.add_collection(
            PathCollection(
                _paths(clipped),
                facecolors="none",
                edgecolors=color,
                hatch=hatch,
                linewidths=0.8,
                linestyles="--" if hatch is None else "-",
                zorder=2,
            )
        )
    if ctx.networks is not None and len(ctx.networks):
        g = ctx.networks.geometry.to_numpy()
        idx = np.sort(ctx.tree("networks", g).query(rect))
        net = ctx.networks.iloc[idx]
        for (kind, status), group in net.groupby(["kind", "status"], sort=True):
            segs = _lines(shapely.clip_by_rect(group.geometry.to_numpy(), *box))
            if segs:
                ax.add_collection(
                    LineCollection(
                        segs,
                        colors=NETWORK_COLORS.get(str(kind), "#757575"),
                        linewidths=1.2 if status == "built" else 0.9,
                        linestyles="-" if status == "built" else (0, (4, 3)),
                        zorder=3,
                    )
                )
    ax.add_collection(
        PathCollection(
            _paths([geom]),
            facecolors=VERDICT_COLORS.get(str(parcels.at[pid, "verdict"]), "#9e9e9e"),
            edgecolors="black",
            linewidths=1.6,
            alpha=0.75,
            zorder=4,
        )
    )
    # scale bar (lower left, on a white box) and north arrow (upper right, on a white box)
    length = _nice_length(box[2] - box[0])
    x0, y0 = box[0] + 0.05 * (box[2] - box[0]), box[1] + 0.05 * (box[3] - box[1])
    bar_h = 0.012 * (box[3] - box[1])
    ax.add_patch(
        Rectangle(
            (x0 - 0.02 * (box[2] - box[0]), y0 - 0.02 * (box[3] - box[1])),
            length + 0.1 * (box[2] - box[0]),
            0.09 * (box[3] - box[1]),
            facecolor="white",
            edgecolor="none",
            alpha=0.85,
            zorder=9,
        )
    )
    for i, color in enumerate(("black", "white")):
        ax.add_patch(
            Rectangle(
                (x0 + i * length / 2, y0),
                length / 2,
                bar_h,
                facecolor=color,
                edgecolor="black",
                linewidth=0.6,
                zorder=10,
            )
        )
    ax.text(x0, y0 + 2.2 * bar_h, "0", fontsize=6.5, ha="center", va="bottom", zorder=10)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0 + length, y0 + 2.2 * bar_h, label, fontsize=6.5, ha="center", va="bottom", zorder=10)
    ax.annotate(
        "N",
        xy=(0.93, 0.95),
        xytext=(0.93, 0.83),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=8,
        zorder=10,
        arrowprops={"facecolor": "black", "width": 2.5, "headwidth": 8, "headlength": 7},
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.0},
    )


def draw_legend(ctx, fig, *, x: float, y: float, lang: str) -> None:
    """A compact legend under the inset: verdicts, the constraints present, the network kinds."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def both(zh: str, en: str) -> str:
        return f"{zh} {en}" if lang == "zh" else f"{en} {zh}"

    verdicts = (
        ("transferable", "可出让", "transferable"),
        ("transferable_with_warnings", "有条件", "with warnings"),
        ("blocked", "不可出让", "blocked"),
    )
    handles = [
        Patch(facecolor=VERDICT_COLORS[v], alpha=0.6, label=both(zh, en)) for v, zh, en in verdicts
    ]
    for kind in sorted(ctx.constraints):
        color, hatch, zh, en = CONSTRAINT_STYLE.get(kind, ("#616161", "xx", kind, kind))
        handles.append(
            Patch(
                facecolor="none",
                edgecolor=color,
                hatch=hatch,
                linestyle="--" if hatch is None else "-",
                label=zh if lang == "zh" else en,
            )
        )
    if ctx.networks is not None and len(ctx.networks):
        names = {
            "road": "道路",
            "water": "给水",
            "sewer": "排水",
            "power": "电力",
            "gas": "燃气",
            "heat": "供热",
            "telecom": "通信",
        }
        for kind in sorted(set(map(str, ctx.networks["kind"]))):
            label = names.get(kind, kind) if lang == "zh" else kind
            handles.append(
                Line2D(
                    [], [], color=NETWORK_COLORS.get(kind, "#757575"), linewidth=1.2, label=label
                )
            )
        handles.append(
            Line2D(
                [],
                [],
                color="#555555",
                linewidth=0.9,
                linestyle=(0, (4, 3)),
                label=both("规划", "planned"),
            )
        )
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(x, y),
        ncol=8,
        fontsize=5.8,
        frameon=False,
        handlelength=1.6,
        columnspacing=1.0,
        handletextpad=0.4,
    )

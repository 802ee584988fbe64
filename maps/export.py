"""Static PNG/PDF maps of a transfer analysis, drawn with matplotlib.

Why matplotlib rather than a screenshot of the Folium page: it needs no browser, runs the
same on a server and in CI, gives the same bytes for the same input (no timestamps in the
file), and writes a vector PDF whose text stays searchable.  The map is drawn in the
workspace's projected CRS (CGCS2000 Gauss-Krüger), so the scale bar is in true metres.
Basemap tiles are deliberately left out: the export works offline and carries no tile
licence; the map shows the data only.

Chinese text needs a CJK font (Noto Sans CJK SC, Noto Serif CJK SC, WenQuanYi, SimHei or
Source Han, found through ``matplotlib.font_manager``); without one, :class:`FontError`
names the Debian package to install.  PDFs embed the font as TrueType (``pdf.fonttype``
42), so they open the same everywhere.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from landplan.core.errors import LandplanError

if TYPE_CHECKING:
    from geopandas import GeoDataFrame

Format = Literal["png", "pdf"]
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
)
A4_LANDSCAPE_IN = (11.69, 8.27)
MAP_AXES = (0.03, 0.1, 0.68, 0.8)  # left, bottom, width, height (figure fraction)
NORTH_XY = (0.76, 0.905)  # the "N" of the north arrow, in the legend column (figure fraction)


class FontError(LandplanError, RuntimeError):
    """No font that can draw Chinese was found."""


@dataclass(frozen=True)
class MapInputs:
    """What a map draws: result parcels, constraint layers, networks, and provenance."""

    parcels: GeoDataFrame
    constraints: dict[str, GeoDataFrame] = field(default_factory=dict)
    networks: GeoDataFrame | None = None
    overlays: dict[str, Path] = field(default_factory=dict)
    name: str | None = None
    written_at: str | None = None
    source: str = ""


def load_results(path: str | os.PathLike[str], /) -> MapInputs:
    """Read a workspace directory (``landplan analyze --out``) or a results GeoPackage.

    A workspace gives ``result_parcels``, every ``constraint_<kind>``, ``networks`` and the
    slope/suitability rasters; a bare ``results.gpkg`` gives its ``parcels`` layer only.

    Raises
    ------
    landplan.core.errors.WorkspaceError
        If ``path`` is neither.
    """
    from landplan.core.errors import WorkspaceError
    from landplan.store.model import RESULT_PARCELS, is_dsn, open_workspace

    p = Path(path) if not is_dsn(path) else None
    if p is not None and p.is_file():  # a bare results GeoPackage: its parcels layer only
        import pyogrio

        layers = [str(n) for n in pyogrio.list_layers(p)[:, 0]]
        if "parcels" not in layers:
            raise WorkspaceError(f"{p} has no parcels layer; it has {layers}")
        return MapInputs(parcels=pyogrio.read_dataframe(p, layer="parcels"), source=str(p))
    if p is not None and not (p / "workspace.gpkg").is_file():
        raise WorkspaceError(
            f"{p} is neither a landplan workspace (no workspace.gpkg) nor a GeoPackage; "
            "pass the directory written by `landplan analyze --out` or its results.gpkg"
        )
    ws = open_workspace(path)
    if RESULT_PARCELS not in ws.layers():
        raise WorkspaceError(f"{path} has no result_parcels layer; run landplan analyze first")
    meta = ws.store.metadata()
    overlays = {k: r for k in ("slope", "suitability") if (r := ws.raster(k)) is not None}
    return MapInputs(
        parcels=ws.result_parcels(),
        constraints=ws.constraints(),
        networks=ws.networks(),
        overlays=overlays,
        name=meta.get("name"),
        written_at=meta.get("written_at"),
        source=str(path),
    )


def find_cjk_font() -> str:
    """The family name of an installed CJK font; :class:`FontError` when there is none."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    raise FontError(
        "no Chinese (CJK) font found for the static map; install one, e.g. "
        "`apt-get install fonts-noto-cjk` (Debian/Ubuntu) or `dnf install google-noto-sans-cjk-fonts`, "
        f"then delete matplotlib's font cache; looked for {', '.join(CJK_FONTS)}"
    )


def _as_inputs(source: Any) -> MapInputs:
    if isinstance(source, MapInputs):
        return source
    if isinstance(source, Mapping):
        return MapInputs(
            parcels=source["parcels"],
            constraints=dict(source.get("constraints") or {}),
            networks=source.get("networks"),
            name=source.get("name"),
            written_at=source.get("written_at"),
            source=str(source.get("source", "")),
        )
    return load_results(source)


def export_static(
    source: MapInputs | Mapping[str, Any] | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    /,
    *,
    fmt: Format | None = None,
    title: str | None = None,
    lang: str = "zh",
    dpi: int = 200,
    figsize_in: tuple[float, float] = A4_LANDSCAPE_IN,
    generated_on: date | None = None,
) -> Path:
    """Draw the result map to a PNG or PDF at ``out_path`` (written atomically).

    Parameters
    ----------
    source : MapInputs, mapping or path
        A workspace directory or results GeoPackage (see :func:`load_results`), or a mapping
        ``{"parcels": gdf, "constraints": {kind: gdf}, "networks": gdf, "name": ...}``.
    fmt : {"png", "pdf"}, optional
        Defaults to the suffix of ``out_path``.
    title, lang, dpi, figsize_in
        Title (default: the workspace name), first label language, raster resolution of
        the PNG, and page size in inches (A4 landscape).
    generated_on : date, optional
        The date printed in the note (default today); fix it for byte-identical output.

    Returns
    -------
    pathlib.Path
        The resolved output path.

    Raises
    ------
    FontError
        If no CJK font is installed.
    ValueError
        If ``fmt`` or ``lang`` is unknown.
    landplan.core.errors.CRSError
        If the parcels have no CRS.
    """
    import matplotlib

    out = Path(out_path)
    fmt = fmt or out.suffix.lstrip(".").lower()  # type: ignore[assignment]
    if fmt not in ("png", "pdf"):
        raise ValueError(f"fmt must be 'png' or 'pdf', got {fmt!r}")
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    inputs = _as_inputs(source)
    font = find_cjk_font()
    rc = {
        "font.family": [font, "DejaVu Sans"],
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "axes.unicode_minus": False,
        "svg.hashsalt": "landplan",
    }
    with matplotlib.rc_context(rc):
        fig = draw_map(
            inputs,
            title=title or inputs.name or ("出让结论图" if lang == "zh" else "Transfer verdicts"),
            lang=lang,
            figsize_in=figsize_in,
            generated_on=generated_on or date.today(),
        )
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".{fmt}", dir=out.parent or ".")
        os.close(fd)
        try:
            metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return out.resolve()


def _nice_length_m(extent_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10ⁿ m) near a fifth of ``extent_m``."""
    import math

    target = max(extent_m / 4.0, 1.0)
    power = 10 ** math.floor(math.log10(target))
    return max(m * power for m in (1, 2, 5) if m * power <= target)


def _text_width_in(text: str, fontsize: float) -> float:
    """Width of ``text`` in inches in the current font (measured, no canvas needed)."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    prop = FontProperties(family=rcParams["font.family"], size=fontsize)
    return TextPath((0, 0), text, size=fontsize, prop=prop).get_extents().width / 72.0


def _scale_bar(ax: Any, length_m: float, *, fontsize: float = 8.0) -> None:
    """A black/white bar of ``length_m`` at the bottom left, labelled ``0``, the half (only
    when there is room) and the length with its unit; labels never overlap."""
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    left, base = x0 + 0.04 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    height = 0.012 * (y1 - y0)
    half = length_m / 2
    for i, color in enumerate(("black", "white")):
        ax.add_patch(
            Rectangle(
                (left + i * half, base),
                half,
                height,
                facecolor=color,
                edgecolor="black",
                linewidth=0.8,
                zorder=10,
            )
        )
    unit, div = ("km", 1000.0) if length_m >= 1000 else ("m", 1.0)
    fig_w_in = ax.figure.get_figwidth() * ax.get_position().width
    half_in = half / (x1 - x0) * fig_w_in  # on paper (aspect equal: x decides)
    zero, mid = "0", f"{half / div:g}"
    gap_in = 0.06
    ticks = [(left, zero, "center")]
    if _text_width_in(zero, fontsize) / 2 + _text_width_in(mid, fontsize) / 2 + gap_in < half_in:
        ticks.append((left + half, mid, "center"))
    # the last label starts at the bar's end (left-aligned): it cannot reach the others
    ticks.append((left + length_m, f"{length_m / div:g} {unit}", "left"))
    for x, text, ha in ticks:
        ax.text(
            x,
            base + 1.8 * height,
            text,
            ha=ha,
            va="bottom",
            fontsize=fontsize,
            zorder=10,
            gid="lp-scale-label",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
        )


def _north_arrow(fig: Any, lang: str) -> None:
    """The north arrow in the legend column, outside the map frame: never on the data."""
    label = "N 北" if lang == "zh" else "N"
    fig.text(
        NORTH_XY[0],
        NORTH_XY[1],
        label,
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        gid="lp-north-arrow",
    )
    from matplotlib.patches import FancyArrow

    fig.add_artist(
        FancyArrow(
            NORTH_XY[0],
            NORTH_XY[1] - 0.075,
            0,
            0.05,
            width=0.006,
            head_width=0.018,
            head_length=0.02,
            length_includes_head=True,
            transform=fig.transFigure,
            color="black",
            gid="lp-north-arrow",
        )
    )


def _draw_constraints(
    ax: Any, constraints: Mapping[str, GeoDataFrame], crs: Any, lang: str
) -> list:
    from landplan.maps.styles import constraint_style
    from matplotlib.patches import Patch

    handles = []
    for kind, gdf in constraints.items():
        if not len(gdf):
            continue
        cs = constraint_style(kind)
        layer = gdf.to_crs(crs)
        if cs.hatch is not None:
            stripe, _space, angle = cs.hatch
            style = {
                "facecolor": "none",
                "edgecolor": stripe,
                "hatch": "///" if angle > 0 else "\\\\\\",
            }
        elif cs.fill_color is not None:
            style = {"facecolor": cs.fill_color, "alpha": cs.fill_opacity, "edgecolor": cs.outline}
        else:  # an outline (the urban boundary): dash-dot, heavier, as on the web map
            style = {"facecolor": "none", "edgecolor": cs.outline, "linestyle": "-."}
        width = 0.8 if cs.fill_color is not None or cs.hatch is not None else cs.weight * 0.6
        layer.plot(ax=ax, linewidth=width, zorder=2, **style)
        handles.append(Patch(label=cs.label.text(lang), linewidth=0.8, **style))
    return handles


def _draw_networks(ax: Any, networks: GeoDataFrame | None, crs: Any, lang: str) -> list:
    from landplan.maps.styles import STATUS, lighten, network_style
    from matplotlib.lines import Line2D

    if networks is None or not len(networks):
        return []
    handles = []
    layer = networks.to_crs(crs)
    for kind, group in layer.groupby("kind", sort=False):
        color, label = network_style(str(kind))
        planned = group["status"].astype(str) == "planned"
        if (~planned).any():
            group[~planned].plot(ax=ax, color=color, linewidth=0.7, alpha=0.8, zorder=4)
        if planned.any():
            group[planned].plot(
                ax=ax, color=lighten(color), linewidth=0.6, linestyle="--", alpha=0.8, zorder=4
            )
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                linewidth=1.3,
                label=f"{label.text(lang)} · {STATUS['built'].text(lang)}",
            )
        )
        if planned.any():
            handles.append(
                Line2D(
                    [],
                    [],
                    color=lighten(color),
                    linewidth=1.1,
                    linestyle="--",
                    label=f"{label.text(lang)} · {STATUS['planned'].text(lang)}",
                )
            )
    return handles


def _crs_note(crs: Any) -> str:
    code = crs.to_epsg()
    return f"{crs.name} (EPSG:{code})" if code else crs.name


def draw_map(
    inputs: MapInputs, *, title: str, lang: str, figsize_in: tuple[float, float], generated_on: date
) -> Any:
    """The matplotlib Figure of the static map (no pyplot state; safe in a server)."""
    from landplan.maps.styles import TEXT, UNKNOWN_VERDICT, VERDICTS
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from landplan.core.crs import require_projected

    parcels = inputs.parcels
    crs = require_projected(parcels, what="a static map (scale bar in metres)")
    parcels = parcels[~(parcels.geometry.is_empty | parcels.geometry.isna())]
    fig = Figure(figsize=figsize_in)
    ax = fig.add_axes(MAP_AXES)
    handles = _draw_constraints(ax, inputs.constraints, crs, lang)
    verdicts = parcels["verdict"].astype(str) if "verdict" in parcels else None
    verdict_handles = []
    for key, style in [*VERDICTS.items(), ("", UNKNOWN_VERDICT)]:
        mask = ~verdicts.isin(list(VERDICTS)) if key == "" else verdicts == key
        if mask.any():
            parcels[mask].plot(
                ax=ax,
                facecolor=style.color,
                edgecolor="#263238",
                linewidth=0.15,
                alpha=0.8,
                zorder=3,
            )
            verdict_handles.append(
                Patch(
                    facecolor=style.color,
                    edgecolor="#263238",
                    alpha=0.8,
                    label=style.label.text(lang),
                )
            )
    handles += _draw_networks(ax, inputs.networks, crs, lang)
    minx, miny, maxx, maxy = parcels.total_bounds
    pad = 0.04 * max(maxx - minx, maxy - miny, 1.0)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _scale_bar(ax, _nice_length_m(maxx - minx + 2 * pad))
    _north_arrow(fig, lang)
    fig.suptitle(title, fontsize=15, fontweight="bold", y=0.96)
    legend = fig.legend(
        handles=verdict_handles,
        title=TEXT["verdict"].text(lang),
        loc="upper left",
        bbox_to_anchor=(0.73, 0.8),
        fontsize=8,
        title_fontsize=9,
        frameon=False,
    )
    fig.add_artist(legend)
    if handles:
        fig.legend(
            handles=handles,
            title=TEXT["legend"].text(lang),
            loc="upper left",
            bbox_to_anchor=(0.73, 0.6),
            fontsize=7.5,
            title_fontsize=9,
            frameon=False,
        )
    source = inputs.name or Path(inputs.source).name or "—"
    written = f", {inputs.written_at[:10]}" if inputs.written_at else ""
    note = (
        f"坐标系 CRS: {_crs_note(crs)} · 数据来源 Source: {source}{written} · "
        f"制图 Drawn: {generated_on.isoformat()} · 无底图 No basemap · landplan"
    )
    fig.text(0.03, 0.04, note, fontsize=7, color="#333333", ha="left", va="bottom")
    return fig

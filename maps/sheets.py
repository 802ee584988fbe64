"""Parcel condition sheets (出让条件 / 标准地 indicator sheets): one A4 PDF per parcel.

A sheet holds what a bureau attaches to a transfer file: the parcel id, location and
areas (planar and ellipsoidal, m² and 亩), a map inset with constraints, networks, a
scale bar and a north arrow, the standard-land control indicators for the intended
industry (each with its source), the verdict with every reason (value, threshold,
basis), the network status per kind, terrain and development cost when a DEM was used,
and the data sources with their date.

Drawn with matplotlib: text stays real text (``pdftotext`` reads it), the CJK font is
embedded as an OpenType subset (``pdf.fonttype`` 42), and the bytes are the same on every
run (no creation date; the date printed is the workspace's, not today's).  The font is a
small cut of Noto Sans CJK made once per workspace (:mod:`landplan.maps.sheetfont`),
which keeps a sheet well under a second.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from landplan.maps.sheet_inset import (
    A4_PORTRAIT_IN,
    CONSTRAINT_STYLE,
    VERDICT_COLORS,
    draw_inset,
    draw_legend,
)

from landplan.core.errors import LandplanError, NotFoundError, WorkspaceError

Lang = Literal["zh", "en"]
#: the standard-land indicators a sheet lists, in order (keys of landplan.indicators.tables.INDICATORS)
SHEET_INDICATORS = (
    "invest_wan_per_mu_min",
    "far_min",
    "far_max",
    "coverage_min",
    "green_ratio_max",
    "admin_share_max",
    "tax_wan_per_mu_min",
)
VERDICTS = ("transferable", "transferable_with_warnings", "blocked")
WRAP = 118  # display cells per text line at the body size
BODY_PT = 7.6


class SheetError(LandplanError, ValueError):
    """A sheet request that cannot be served (unknown verdict, no parcels selected)."""


def _t(lang: Lang, zh: str, en: str) -> str:
    """Both languages, ``lang`` first."""
    return f"{zh} {en}" if lang == "zh" else f"{en} {zh}"


@dataclass
class SheetContext:
    """Everything the sheets of one workspace share (read once, then one sheet per parcel)."""

    path: Path
    name: str
    crs: Any
    written_at: str
    policy: str
    policy_sources: tuple[str, ...]
    parcels: Any  # GeoDataFrame result_parcels, indexed by parcel_id
    constraints: dict[str, Any]
    networks: Any | None
    sources: tuple[str, ...]
    user_columns: tuple[str, ...]
    table: Any | None = None  # landplan.indicators.tables.LoadedTable
    industry: str | None = None
    font: str = ""
    _trees: dict[str, Any] = field(default_factory=dict)

    def tree(self, key: str, geoms) -> Any:
        import shapely

        if key not in self._trees:
            self._trees[key] = shapely.STRtree(geoms)
        return self._trees[key]


def load_sheet_context(
    workspace: str | os.PathLike[str],
    /,
    *,
    industry: str | None = None,
    table: str | None = None,
) -> SheetContext:
    """Read a workspace for sheets; ``industry`` (GB/T 4754 code) and ``table`` pick the indicators."""
    import pyogrio
    from pyproj import CRS

    from landplan.indicators.tables import DEFAULT_TABLE, load_indicator_table
    from landplan.store.workspace import GpkgWorkspace

    ws = GpkgWorkspace(workspace)
    meta = ws.metadata()
    layers = ws.layers()
    if "result_parcels" not in layers:
        raise WorkspaceError(f"workspace {ws.path} has no result_parcels; run landplan analyze")
    crs = CRS.from_user_input(meta["crs"])
    parcels = pyogrio.read_dataframe(ws.gpkg, layer="result_parcels")
    parcels = parcels.set_crs(crs, allow_override=True)
    parcels.index = parcels["parcel_id"].astype(str)
    constraints = {
        n.removeprefix("constraint_"): pyogrio.read_dataframe(ws.gpkg, layer=n).to_crs(crs)
        for n in layers
        if n.startswith("constraint_")
    }
    networks = (
        pyogrio.read_dataframe(ws.gpkg, layer="networks").to_crs(crs)
        if "networks" in layers
        else None
    )
    input_fields = (
        pyogrio.read_info(ws.gpkg, layer="parcels")["fields"] if "parcels" in layers else []
    )
    own = {"parcel_id", "geometry_status"}
    user_columns = tuple(str(c) for c in input_fields if str(c) not in own)
    policy, sources = str(meta.get("policy", "")), ()
    policy_path = ws.path / "policy.toml"
    if policy_path.exists():
        from landplan.core.policy import load_policy

        pol = load_policy(policy_path)
        sources = tuple(pol.profile.sources)
    loaded = load_indicator_table(table or DEFAULT_TABLE)
    if industry:
        loaded.thresholds_for(industry)  # an unknown code is refused here, not on every sheet
    ctx = SheetContext(
        path=ws.path,
        name=str(meta.get("name") or ws.path.name),
        crs=crs,
        written_at=str(meta.get("written_at", ""))[:10],
        policy=policy,
        policy_sources=sources,
        parcels=parcels,
        constraints=constraints,
        networks=networks,
        sources=_data_sources(ws.path),
        user_columns=user_columns,
        table=loaded,
        industry=industry,
    )
    from landplan.maps.export import find_cjk_font
    from landplan.maps.sheetfont import sheet_font

    ctx.font = sheet_font(find_cjk_font(), _all_text(ctx))
    return ctx


def _data_sources(path: Path) -> tuple[str, ...]:
    report = path / "validation_report.json"
    if not report.exists():
        return ()
    files: dict[str, list[str]] = {}
    for r in json.loads(report.read_text(encoding="utf-8")):
        src = Path(str(r.get("path") or "")).name  # the file name only: no server paths
        if r.get("layer"):
            src += f":{r['layer']}"
        files.setdefault(src, []).append(str(r.get("name", "")).split(":")[-1])
    return tuple(f"{src} ({', '.join(names)})" for src, names in files.items())


def _all_text(ctx: SheetContext) -> str:
    """Every character a sheet of this workspace can show (for the font cut)."""
    parts = [ctx.name, ctx.policy, *ctx.policy_sources, *ctx.sources, _LABEL_TEXT]
    parts.append(Path(__file__).read_text(encoding="utf-8"))  # every label literal of this module
    frame = ctx.parcels.drop(columns=ctx.parcels.geometry.name)
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype):
            parts.append("".join(set("".join(map(str, frame[col].dropna().unique())))))
    policy = ctx.path / "policy.toml"
    if policy.exists():
        parts.append(policy.read_text(encoding="utf-8"))
    if ctx.table is not None:
        info = ctx.table.spec.table
        parts += [info.name, info.title_zh, info.title_en, *info.sources]
        parts += [r.basis for r in ctx.table.spec.indicators.values()]
        if ctx.table.base is not None:
            parts += [r.basis for r in ctx.table.base.spec.indicators.values()]
    from landplan.indicators.tables import INDICATORS

    parts += [f"{s.label_zh}{s.label_en}{s.unit}" for s in INDICATORS.values()]
    return "".join(parts)


def select_parcels(
    ctx: SheetContext,
    /,
    *,
    ids: Sequence[str] = (),
    all_parcels: bool = False,
    where: str | None = None,
) -> list[str]:
    """Parcel ids for ``--parcel ID ...``, ``--all`` or ``--where VERDICT`` (exactly one)."""
    chosen = sum([bool(ids), all_parcels, where is not None])
    if chosen != 1:
        raise SheetError(
            "choose the parcels with exactly one of --parcel ID, --all, --where VERDICT"
        )
    index = ctx.parcels.index
    if ids:
        missing = [i for i in ids if i not in index]
        if missing:
            raise NotFoundError(
                f"no parcel {', '.join(map(repr, missing[:5]))} in workspace {ctx.path}; "
                f"ids look like {index[0]!r}"
            )
        return list(dict.fromkeys(ids))
    if where is not None:
        if where not in VERDICTS:
            raise SheetError(f"--where must be one of {', '.join(VERDICTS)}, not {where!r}")
        return list(index[ctx.parcels["verdict"] == where])
    return list(index)


# ---------------------------------------------------------------------------------- text

_LABEL_TEXT = (
    "地块出让条件表地块编号位置面积平面椭球净可用扣除结论原因数值阈值依据管网状态已通可接入需外延"
    "距现状规划地形与开发成本平均最大坡度陡坡占比用地等级挖方填方土方费用管网外延费用开发费用每亩"
    "标准地控制指标投资强度容积率建筑系数绿地率行政办公及生活服务设施用地比例亩均税收未设定规范性推荐性"
    "来源数据日期坐标系政策行业代码未指定按行业取值图例比例尺北不可出让有条件可出让否决警告无道路给水排水"
    "电力燃气供热通信生态保护红线永久基本农田城镇开发边界水库淹没区万元公顷²³°≥≤·—（）：；，、。％"
)
KIND_LABELS = {
    "road": ("道路", "road"),
    "water": ("给水", "water"),
    "sewer": ("排水", "sewer"),
    "power": ("电力", "power"),
    "gas": ("燃气", "gas"),
    "heat": ("供热", "heat"),
    "telecom": ("通信", "telecom"),
}
STATUS_LABELS = {
    "connected": ("已通", "connected"),
    "connectable": ("可接入", "connectable"),
    "needs_extension": ("需外延", "needs extension"),
}
VERDICT_LABELS = {
    "transferable": ("可出让", "Transferable"),
    "transferable_with_warnings": ("有条件可出让", "Transferable with warnings"),
    "blocked": ("不可出让", "Blocked"),
}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap(text: str, width: int = WRAP, /) -> list[str]:
    """Wrap by display width (CJK counts two), breaking Latin text at spaces."""
    lines: list[str] = []
    for para in str(text).split("\n"):
        line, w = "", 0
        for token in _tokens(para):
            tw = _width(token)
            if w + tw > width and line.strip():
                lines.append(line.rstrip())
                line, w = token.lstrip(), _width(token.lstrip())
            else:
                line, w = line + token, w + tw
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> Iterable[str]:
    word = ""
    for c in text:
        if unicodedata.east_asian_width(c) in "WF":
            if word:
                yield word
                word = ""
            yield c
        elif c == " ":
            yield word + " "
            word = ""
        else:
            word += c
    if word:
        yield word


def _num(v, digits: int = 2) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(f) else f"{f:,.{digits}f}"


def _unit(u: str) -> str:
    return {"m2": "m²", "m3": "m³", "deg": "°"}.get(u, u)


# ---------------------------------------------------------------------------------- drawing


class _Page:
    """A text cursor down an A4 page (figure coordinates)."""

    def __init__(
        self, fig, top: float, left: float = 0.06, right: float = 0.95, scale: float = 1.0
    ) -> None:
        self.fig, self.y, self.left, self.right, self.scale = fig, top, left, right, scale
        self.line = BODY_PT * scale * 1.42 / 72 / A4_PORTRAIT_IN[1]

    def heading(self, text: str) -> None:
        self.y -= self.line * 0.5
        self.fig.text(self.left, self.y, text, fontsize=9.5 * self.scale, va="top", color="#0d3c61")
        self.y -= self.line * 1.45
        self.fig.add_artist(_hline(self.fig, self.left, self.right, self.y + self.line * 0.35))

    def text(self, text: str, *, indent: float = 0.0, color: str = "black", size=BODY_PT) -> None:
        span = (self.right - self.left - indent) / 0.89
        width = int(WRAP * span * BODY_PT / size / self.scale)
        lines = wrap(text, width)
        self.fig.text(
            self.left + indent,
            self.y,
            "\n".join(lines),
            fontsize=size * self.scale,
            va="top",
            color=color,
            linespacing=1.42,
        )
        self.y -= self.line * size / BODY_PT * len(lines)

    def row(self, cells: Sequence[str], xs: Sequence[float], *, bold: bool = False) -> None:
        for x, cell in zip(xs, cells, strict=True):
            self.fig.text(
                self.left + x,
                self.y,
                cell,
                fontsize=BODY_PT * self.scale,
                va="top",
                color="black" if bold else "#222222",
            )
        self.y -= self.line


def _hline(fig, x0: float, x1: float, y: float):
    from matplotlib.lines import Line2D

    return Line2D([x0, x1], [y, y], transform=fig.transFigure, color="#888888", linewidth=0.5)


def _indicator_lines(ctx: SheetContext, pid: str, lang: Lang) -> tuple[str, list[list[str]]]:
    """(heading note, rows of [indicator, requirement, kind, basis · source])."""
    from landplan.indicators.tables import INDICATORS

    table = ctx.table
    if table is None:
        return "", []
    code = ctx.industry
    row = ctx.parcels.loc[pid]
    if code is None and "industry_code" in ctx.parcels.columns and pd.notna(row["industry_code"]):
        code = str(row["industry_code"])
    try:
        thresholds = table.thresholds_for(code)
    except LandplanError as exc:
        return str(exc), []
    info = table.spec.table
    note = (
        f"{info.title_zh or info.name}（{info.name}，{info.edition}）；"
        + (
            f"行业代码 {code}（{info.code_version}）"
            if code
            else "未指定行业：按行业取值的指标未设定"
        )
        if lang == "zh"
        else f"{info.title_en or info.name} ({info.name}, {info.edition}); "
        + (
            f"industry {code} ({info.code_version})"
            if code
            else "no industry given: per-industry values not set"
        )
    )
    rows = []
    for key in SHEET_INDICATORS:
        t = thresholds.get(key)
        if t is None:
            continue
        spec = INDICATORS[key]
        sign = "≥" if spec.direction == "min" else "≤"
        if t.value is None:
            value = "未设定" if lang == "zh" else "not set"
        elif spec.ratio:
            value = f"{sign} {t.value * 100:g}%"
        else:
            value = f"{sign} {t.value:g} {spec.unit}".rstrip()
        kind = (
            ("规范性" if t.binding else "推荐性")
            if lang == "zh"
            else ("binding" if t.binding else "recommended")
        )
        label = spec.label_zh if lang == "zh" else spec.label_en
        source = t.source.replace("table:", "")
        rows.append(
            [
                label,
                value,
                kind,
                f"{t.basis}（{source}）" if lang == "zh" else f"{t.basis} ({source})",
            ]
        )
    return note, rows


FOOTER_TOP = 0.1


def draw_sheet(ctx: SheetContext, pid: str, /, *, lang: Lang = "zh"):
    """The matplotlib figure of one parcel's sheet (the body shrinks until it fits the page)."""
    if pid not in ctx.parcels.index:
        raise NotFoundError(f"no parcel {pid!r} in workspace {ctx.path}")
    for scale in (1.0, 0.9, 0.8, 0.7, 0.6):
        fig, bottom = _draw(ctx, pid, lang, scale)
        if bottom >= FOOTER_TOP:
            break
    return fig


def _draw(ctx: SheetContext, pid: str, lang: Lang, scale: float):
    from matplotlib.figure import Figure

    r = ctx.parcels.loc[pid]
    fig = Figure(figsize=A4_PORTRAIT_IN)
    verdict = str(r.get("verdict", ""))
    vz, ve = VERDICT_LABELS.get(verdict, (verdict, verdict))
    title = _t(lang, "地块出让条件表", "Parcel condition sheet")
    fig.text(0.06, 0.972, title, fontsize=14, va="top")
    fig.text(0.06, 0.948, ctx.name, fontsize=9, va="top", color="#333333")
    fig.text(0.95, 0.972, pid, fontsize=12, va="top", ha="right")
    fig.text(
        0.95,
        0.948,
        _t(lang, vz, ve),
        fontsize=10,
        va="top",
        ha="right",
        color=VERDICT_COLORS.get(verdict, "black"),
    )
    fig.add_artist(_hline(fig, 0.06, 0.95, 0.932))
    ax = fig.add_axes((0.06, 0.655, 0.44, 0.27))
    draw_inset(ctx, ax, pid)
    draw_legend(ctx, fig, x=0.055, y=0.652, lang=lang)
    # right column: id, location, areas
    right = _Page(fig, 0.925, left=0.53, right=0.95)
    right.text(f"{_t(lang, '地块编号', 'Parcel ID')}: {pid}", size=8.5)
    for col in ctx.user_columns[:5]:
        if col in r.index and pd.notna(r[col]) and str(r[col]).strip():
            right.text(f"{col}: {r[col]}")
    from pyproj import Transformer

    c = ctx.parcels.geometry.loc[pid].representative_point()
    lon, lat = Transformer.from_crs(ctx.crs, 4490, always_xy=True).transform(c.x, c.y)
    right.text(f"{_t(lang, '位置', 'Location')}: {lon:.6f}°E, {lat:.6f}°N (CGCS2000)")
    right.text(f"X {c.x:,.1f}  Y {c.y:,.1f} m ({ctx.crs.to_string()})")
    right.y -= right.line * 0.5
    xs = (0.0, 0.27, 0.355)
    right.row([_t(lang, "面积", "Area"), "m²", "亩" if lang == "zh" else "mu"], xs, bold=True)
    area_rows = [
        (_t(lang, "平面", "planar"), "area_m2", "area_mu"),
        (_t(lang, "椭球", "ellipsoidal"), "area_ellipsoidal_m2", "area_ellipsoidal_mu"),
    ]
    for kind in sorted(ctx.constraints):
        if f"excluded_{kind}_m2" in r.index:
            zh = CONSTRAINT_STYLE.get(kind, (None, None, kind, kind))
            area_rows.append(
                (
                    _t(lang, f"扣除{zh[2]}", f"excl. {zh[3]}"),
                    f"excluded_{kind}_m2",
                    f"excluded_{kind}_mu",
                )
            )
    area_rows += [
        (_t(lang, "扣除合计", "excluded"), "excluded_m2", "excluded_mu"),
        (_t(lang, "净可用", "net available"), "net_available_m2", "net_available_mu"),
    ]
    for label, m2, mu in area_rows:
        right.row(
            [label, _num(r.get(m2), 0), _num(r.get(mu), 2)], xs, bold=m2 == "net_available_m2"
        )
    page = _Page(fig, 0.618, scale=scale)
    # verdict and reasons
    page.heading(_t(lang, "结论与原因", "Verdict and reasons") + f" — {_t(lang, vz, ve)}")
    reasons = json.loads(r["reasons"]) if isinstance(r.get("reasons"), str) and r["reasons"] else []
    if not reasons:
        page.text("无" if lang == "zh" else "none")
    for i, x in enumerate(reasons, 1):
        sev = {"block": ("否决", "block"), "warn": ("警告", "warning")}.get(
            x["severity"], (x["severity"],) * 2
        )
        unit = _unit(x.get("unit") or "")
        vt = (
            f"{'数值' if lang == 'zh' else 'value'} {_num(x.get('value'))} {unit}；"
            f"{'阈值' if lang == 'zh' else 'threshold'} {_num(x.get('threshold'))} {unit}"
        )
        msg = x["message_zh"] if lang == "zh" else x["message_en"]
        page.text(f"{i}. {x['code']} [{sev[0] if lang == 'zh' else sev[1]}] {vt}")
        page.text(msg, indent=0.02)
        page.text(
            f"{'依据' if lang == 'zh' else 'basis'}: {x.get('basis', '')}",
            indent=0.02,
            color="#444444",
        )
    # networks
    kinds = [k for k in KIND_LABELS if f"net_{k}_status" in r.index]
    if kinds:
        page.heading(_t(lang, "管网状态", "Network status"))
        xs = (0.0, 0.16, 0.33, 0.55)
        page.row(
            [
                _t(lang, "管网", "network"),
                _t(lang, "状态", "status"),
                _t(lang, "距现状 m", "to built m"),
                _t(lang, "距规划 m", "to planned m"),
            ],
            xs,
            bold=True,
        )
        for k in kinds:
            st = STATUS_LABELS.get(str(r[f"net_{k}_status"]), (str(r[f"net_{k}_status"]),) * 2)
            page.row(
                [
                    _t(lang, *KIND_LABELS[k]),
                    st[0] if lang == "zh" else st[1],
                    _num(r.get(f"dist_{k}_m"), 0),
                    _num(r.get(f"dist_planned_{k}_m"), 0),
                ],
                xs,
            )
    # terrain and cost
    if "slope_mean_deg" in r.index and pd.notna(r.get("slope_mean_deg")):
        page.heading(_t(lang, "地形与开发成本", "Terrain and development cost"))
        items = [
            (_t(lang, "平均坡度", "mean slope"), _num(r.get("slope_mean_deg"), 1) + "°"),
            (_t(lang, "最大坡度", "max slope"), _num(r.get("slope_max_deg"), 1) + "°"),
            (
                _t(lang, "陡坡占比", "steep share"),
                _num(100 * float(r.get("steep_share", np.nan)), 1) + "%",
            ),
            (_t(lang, "用地等级", "land grade"), _num(r.get("land_grade_majority"), 0)),
            (_t(lang, "挖方", "cut"), _num(r.get("cut_m3"), 0) + " m³"),
            (_t(lang, "填方", "fill"), _num(r.get("fill_m3"), 0) + " m³"),
            (_t(lang, "土方费用", "earthwork"), _num(r.get("earthwork_cost_wan")) + " 万元"),
            (_t(lang, "管网外延费用", "extension"), _num(r.get("extension_cost_wan")) + " 万元"),
            (_t(lang, "开发费用", "development cost"), _num(r.get("dev_cost_wan")) + " 万元"),
            (_t(lang, "每亩开发费用", "per mu"), _num(r.get("dev_cost_wan_per_mu")) + " 万元/亩"),
        ]
        for j in range(0, len(items), 2):
            page.row([f"{a}: {b}" for a, b in items[j : j + 2]], (0.0, 0.45))
    # indicators
    note, rows = _indicator_lines(ctx, pid, lang)
    if note or rows:
        page.heading(_t(lang, "标准地控制指标", "Standard-land control indicators"))
        page.text(note, color="#444444")
        for label, value, kind, basis in rows:
            page.row([label, value, kind], (0.0, 0.3, 0.42))
            page.text(basis, indent=0.02, color="#444444", size=6.8)
    # sources and date (footer)
    foot = _Page(fig, 0.092)
    foot.fig.add_artist(_hline(fig, 0.06, 0.95, 0.097))
    date = ctx.written_at or "—"
    foot.text(
        f"{_t(lang, '数据来源', 'Data sources')}: "
        + "；".join(ctx.sources)
        + f"。{_t(lang, '规则', 'Policy')}: {ctx.policy}。{_t(lang, '分析日期', 'Analysed on')}: {date}。"
        + f"{_t(lang, '坐标系', 'CRS')}: {ctx.crs.name}",
        size=6.3,
        color="#333333",
    )
    if ctx.policy_sources:
        foot.text(
            f"{_t(lang, '依据', 'Sources')}: " + "；".join(ctx.policy_sources),
            size=6.0,
            color="#555555",
        )
    return fig, page.y


def _rc(ctx: SheetContext) -> dict:
    return {
        "font.family": [ctx.font, "DejaVu Sans"],  # the cut holds every character of the workspace
        "pdf.fonttype": 42,
        "axes.unicode_minus": False,
        "hatch.linewidth": 0.6,
        "path.simplify": True,
    }


def sheet_pdf(ctx: SheetContext, pid: str, /, *, lang: Lang = "zh") -> bytes:
    """One sheet as PDF bytes (the same bytes on every call)."""
    import matplotlib

    if lang not in ("zh", "en"):
        raise SheetError(f"lang must be 'zh' or 'en', not {lang!r}")
    with matplotlib.rc_context(_rc(ctx)):
        fig = draw_sheet(ctx, pid, lang=lang)
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf", metadata={"CreationDate": None, "Producer": "landplan"})
    return buf.getvalue()


def sheet_filename(pid: str, /) -> str:
    """A safe file name for a parcel id (path separators and odd characters replaced)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in pid).strip(".")
    return f"{safe or 'parcel'}.pdf"


def write_sheets(
    ctx: SheetContext,
    ids: Sequence[str],
    out_dir: str | os.PathLike[str],
    /,
    *,
    lang: Lang = "zh",
    on_sheet: Callable[[str, Path], None] | None = None,
) -> list[Path]:
    """Write one PDF per parcel into ``out_dir`` (each file written atomically)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise WorkspaceError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    names = [sheet_filename(p) for p in ids]
    if len(set(names)) != len(names):
        raise SheetError("two parcel ids map to the same file name; rename them in the cadastre")
    paths = []
    for pid, name in zip(ids, names, strict=True):
        data = sheet_pdf(ctx, pid, lang=lang)
        target = out / name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        paths.append(target)
        if on_sheet is not None:
            on_sheet(pid, target)
    return paths


_WORKER: dict[str, Any] = {}


def _worker_init(workspace: str, industry: str | None, table: str | None) -> None:
    _WORKER["ctx"] = load_sheet_context(workspace, industry=industry, table=table)


def _worker_run(ids: list[str], out_dir: str, lang: Lang) -> list[str]:
    return [str(p) for p in write_sheets(_WORKER["ctx"], ids, out_dir, lang=lang)]


def write_sheets_parallel(
    ctx: SheetContext,
    ids: Sequence[str],
    out_dir: str | os.PathLike[str],
    /,
    *,
    lang: Lang = "zh",
    jobs: int = 1,
    industry: str | None = None,
    table: str | None = None,
) -> list[Path]:
    """:func:`write_sheets` over ``jobs`` processes (each reads the workspace once).

    The PDFs are the same bytes as with one process; ``industry`` and ``table`` must be the
    ones ``ctx`` was loaded with.
    """
    if jobs <= 1 or len(ids) < 2 * jobs:
        return write_sheets(ctx, ids, out_dir, lang=lang)
    from concurrent.futures import ProcessPoolExecutor

    names = [sheet_filename(p) for p in ids]
    if len(set(names)) != len(names):
        raise SheetError("two parcel ids map to the same file name; rename them in the cadastre")
    chunks = [list(ids[i::jobs]) for i in range(jobs)]
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_worker_init, initargs=(str(ctx.path), industry, table)
    ) as pool:
        done = list(pool.map(_worker_run, chunks, [str(out_dir)] * jobs, [lang] * jobs))
    written = {Path(p).name: Path(p) for part in done for p in part}
    return [written[n] for n in names]

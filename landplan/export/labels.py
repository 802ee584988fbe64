"""Bilingual headers with units, and readable cell values, for tables handed to people.

Column names stay machine names (``net_available_mu``) in every file; this module
turns them into ``净可用面积（亩）`` / ``Net available area (mu)`` and picks the number
format from the unit suffix.  Values that are codes (verdicts, network statuses,
severities) and JSON text (reasons, not-computable notes) become readable text.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from itertools import repeat
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True)
class Unit:
    """A unit suffix of a column name: its labels and its spreadsheet number format."""

    zh: str
    en: str
    number_format: str


#: unit suffixes, longest first (``_wan_per_mu`` before ``_mu``)
UNITS: tuple[tuple[str, Unit], ...] = (
    ("_wan_per_net_mu", Unit("万元/亩", "10k CNY/mu", "#,##0.00")),
    ("_wan_per_mu", Unit("万元/亩", "10k CNY/mu", "#,##0.00")),
    ("_wan_per_ha", Unit("万元/公顷", "10k CNY/ha", "#,##0.00")),
    ("_mu_per_wan", Unit("亩/万元", "mu per 10k CNY", "#,##0.000")),
    ("_wan", Unit("万元", "10k CNY", "#,##0.00")),
    ("_mu", Unit("亩", "mu", "#,##0.00")),
    ("_ha", Unit("公顷", "ha", "#,##0.00")),
    ("_m2", Unit("m²", "m²", "#,##0")),
    ("_m3", Unit("m³", "m³", "#,##0")),
    ("_km", Unit("km", "km", "#,##0.00")),
    ("_pct", Unit("%", "%", '0.00"%"')),
    ("_share", Unit("占比", "share", "0.0%")),
    ("_deg", Unit("°", "°", "0.0")),
    ("_m", Unit("m", "m", "#,##0.0")),
)
COUNT = Unit("宗", "parcels", "#,##0")
FEATURES = Unit("个", "features", "#,##0")
PLAIN_NUMBER = "#,##0.####"

KINDS: dict[str, tuple[str, str]] = {
    "red_line": ("生态保护红线", "ecological red line"),
    "basic_farmland": ("永久基本农田", "basic farmland"),
    "urban_boundary": ("城镇开发边界外", "outside urban boundary"),
    "inundation": ("水库淹没区", "inundation zone"),
    "road": ("道路", "road"),
    "water": ("给水", "water supply"),
    "sewer": ("排水", "sewer"),
    "power": ("电力", "power"),
    "gas": ("燃气", "gas"),
    "heat": ("供热", "heat"),
    "telecom": ("通信", "telecom"),
}

#: header stems (the name without its unit suffix)
STEMS: dict[str, tuple[str, str]] = {
    "parcel_id": ("地块编号", "Parcel ID"),
    "project_id": ("项目编号", "Project ID"),
    "firm_id": ("企业编号", "Firm ID"),
    "area": ("面积", "Area"),
    "area_ellipsoidal": ("椭球面积", "Ellipsoidal area"),
    "planar_vs_ellipsoidal": ("平面与椭球面积差", "Planar vs ellipsoidal"),
    "excluded": ("扣除面积合计", "Excluded area"),
    "net_available": ("净可用面积", "Net available area"),
    "gross": ("毛面积", "Gross area"),
    "gross_ellipsoidal": ("椭球毛面积", "Gross ellipsoidal area"),
    "parcels": ("地块数", "Parcels"),
    "transferable_parcels": ("可出让地块数", "Transferable parcels"),
    "transferable_net": ("可出让净面积", "Transferable net area"),
    "blocked_parcels": ("不可出让地块数", "Blocked parcels"),
    "warning_parcels": ("有条件可出让地块数", "Parcels with warnings"),
    "slope_mean": ("平均坡度", "Mean slope"),
    "slope_min": ("最小坡度", "Min slope"),
    "slope_max": ("最大坡度", "Max slope"),
    "steep_share": ("陡坡占比", "Steep share"),
    "land_grade_majority": ("主要用地等级", "Main land grade"),
    "suitability_mean": ("平均适宜性", "Mean suitability"),
    "balanced_elevation": ("土方平衡标高", "Balanced elevation"),
    "cut": ("挖方量", "Cut"),
    "fill": ("填方量", "Fill"),
    "max_cut": ("最大挖深", "Max cut"),
    "max_fill": ("最大填高", "Max fill"),
    "earthwork_cost": ("土方费用", "Earthwork cost"),
    "extension_cost": ("管网外延费用", "Network extension cost"),
    "dev_cost": ("开发费用", "Development cost"),
    "cost_weighted_suitability": ("费用加权适宜性", "Cost-weighted suitability"),
    "transferable": ("可出让", "Transferable"),
    "verdict": ("结论", "Verdict"),
    "reasons": ("原因", "Reasons"),
    "reason_codes": ("原因代码", "Reason codes"),
    "reasons_zh": ("原因（中文）", "Reasons (Chinese)"),
    "reasons_en": ("原因（英文）", "Reasons (English)"),
    "group": ("片区", "Group"),
    "land_total": ("土地总面积", "Total land"),
    "land_supply_ready": ("具备供地条件土地", "Land ready for supply"),
    "land_supplied": ("已供应土地", "Land supplied"),
    "land_built": ("已建成土地", "Land built"),
    "land_built_industrial": ("已建成工业用地", "Industrial land built"),
    "land_development_rate": ("土地开发率", "Land development rate"),
    "land_supply_rate": ("土地供应率", "Land supply rate"),
    "land_built_rate": ("土地建成率", "Land built rate"),
    "industrial_land_rate": ("工业用地率", "Industrial land rate"),
    "floor_area_built": ("总建筑面积", "Floor area built"),
    "composite_far": ("综合容积率", "Composite FAR"),
    "far": ("容积率", "FAR"),
    "coverage": ("建筑系数", "Building coverage"),
    "green_ratio": ("绿地率", "Green ratio"),
    "admin_share": ("行政办公及生活服务设施用地比例", "Admin & service land share"),
    "fixed_investment": ("固定资产投资", "Fixed investment"),
    "invest": ("投资强度", "Investment intensity"),
    "industrial_fixed_invest": ("工业用地固定资产投资强度", "Industrial investment intensity"),
    "tax": ("税收", "Tax"),
    "industrial_tax": ("工业用地地均税收", "Industrial tax per land"),
    "not_computable": ("无法计算的指标", "Not computable"),
    "area_basis": ("面积口径", "Area basis"),
    "code": ("代码", "Code"),
    "severity": ("严重程度", "Severity"),
    "message": ("说明", "Message"),
    "message_zh": ("说明（中文）", "Message (Chinese)"),
    "message_en": ("说明（英文）", "Message (English)"),
    "layer": ("图层", "Layer"),
    "role": ("角色", "Role"),
    "count": ("数量", "Count"),
    "value": ("数值", "Value"),
    "threshold": ("阈值", "Threshold"),
    "unit": ("单位", "Unit"),
    "basis": ("依据", "Basis"),
    "note": ("备注", "Note"),
    "item": ("项目", "Item"),
    "figure": ("指标", "Figure"),
    "figure_label": ("指标名称", "Figure name"),
    "rank": ("序号", "Rank"),
    "segments": ("管段", "Segments"),
    "kinds": ("管网类型", "Network kinds"),
    "cost": ("费用", "Cost"),
    "mu_unlocked": ("释放面积", "Area unlocked"),
    "budget": ("预算", "Budget"),
    "created_at": ("创建时间", "Created at"),
    "compliant": ("合规", "Compliant"),
    "name": ("名称", "Name"),
    "status": ("状态", "Status"),
    "industry_code": ("行业代码", "Industry code"),
    "industry": ("行业", "Industry"),
}

VALUES: dict[str, tuple[str, str]] = {
    "transferable": ("可出让", "Transferable"),
    "transferable_with_warnings": ("有条件可出让", "Transferable with warnings"),
    "blocked": ("不可出让", "Blocked"),
    "connected": ("已通", "connected"),
    "connectable": ("可接入", "connectable"),
    "needs_extension": ("需外延", "needs extension"),
    "not_provided": ("数据未提供", "data not provided"),
    "block": ("否决", "block"),
    "warn": ("警告", "warning"),
    "warning": ("警告", "warning"),
    "error": ("错误", "error"),
    "info": ("提示", "info"),
    "built": ("现状", "built"),
    "planned": ("规划", "planned"),
}
#: columns whose values are codes from :data:`VALUES`
CODED = re.compile(r"^(verdict|severity|status|net_\w+_status)$")


def unit_of(name: str, /) -> tuple[str, Unit | None]:
    """``(stem, unit)`` of a column name: ``net_available_mu`` → ``("net_available", 亩)``."""
    for suffix, unit in UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], unit
    if name == "parcels" or name.endswith("_parcels") or name.startswith("blocked_by_"):
        return name, COUNT
    if name == "count":
        return name, FEATURES
    return name, None


def _stem_label(stem: str, lang: Lang) -> str | None:
    i = 0 if lang == "zh" else 1
    if stem in STEMS:
        return STEMS[stem][i]
    patterns = (
        (r"excluded_(\w+)", ("扣除{}", "Excluded: {}")),
        (r"dist_planned_(\w+)", ("距规划{}距离", "Distance to planned {}")),
        (r"dist_(\w+)", ("距现状{}距离", "Distance to built {}")),
        (r"net_(\w+)_status", ("{}接入状态", "{} status")),
        (r"parcels_(\w+)", ("{}地块", "{} parcels")),
    )
    for pattern, texts in patterns:
        m = re.fullmatch(pattern, stem)
        if m and m.group(1) in KINDS | VALUES:
            word = (KINDS | VALUES)[m.group(1)][i]
            return texts[i].format(word)
    m = re.fullmatch(r"blocked_by_(.+)", stem)
    if m:
        word = code_text(m.group(1), lang)
        return f"否决：{word}" if lang == "zh" else f"Blocked: {word}"
    return None


CODES: dict[str, tuple[str, str]] = {
    "RED_LINE_OVERLAP": ("占用生态保护红线", "in ecological red line"),
    "BASIC_FARMLAND_OVERLAP": ("占用永久基本农田", "in basic farmland"),
    "OUTSIDE_URBAN_BOUNDARY": ("位于城镇开发边界外", "outside urban boundary"),
    "INUNDATION_OVERLAP": ("占用水库淹没区", "in inundation zone"),
    "FLOOD_OVERLAP": ("占用洪涝风险区", "in flood hazard zone"),
    "GEOHAZARD_OVERLAP": ("占用地质灾害高危险区", "in geohazard zone"),
    "NO_AVAILABLE_LAND": ("无可用土地", "no available land"),
    "SLOPE_TOO_STEEP": ("坡度过陡", "slope too steep"),
}


def code_text(code: str, /, lang: Lang = "zh") -> str:
    """A reason code as words (``NETWORK_MISSING:water`` → ``给水未通``); unknown codes are kept."""
    i = 0 if lang == "zh" else 1
    if code in CODES:
        return CODES[code][i]
    base, _, kind = code.partition(":")
    if base == "NETWORK_MISSING" and kind:
        word = KINDS.get(kind, (kind, kind))[i]
        return f"{word}未通" if lang == "zh" else f"no {word}"
    return code


def header(name: str, /, lang: Lang = "zh") -> str:
    """The human header of a column: ``净可用面积（亩）`` or ``Net available area (mu)``.

    A column landplan does not know (a user's own field such as ``DKBH``) keeps its name.
    """
    stem, unit = unit_of(str(name))
    label = _stem_label(stem, lang)
    if label is None:
        label = _stem_label(str(name), lang) or str(name)
        unit = None if label != str(name) or unit is None else unit
    if unit is None or (unit in (COUNT, FEATURES) and lang == "en"):
        return label
    text = unit.zh if lang == "zh" else unit.en
    return f"{label}（{text}）" if lang == "zh" else f"{label} ({text})"


def number_format(name: str, /) -> str:
    """The spreadsheet number format of a numeric column, from its unit suffix."""
    _, unit = unit_of(str(name))
    return PLAIN_NUMBER if unit is None else unit.number_format


def value_text(code: str, /, lang: Lang = "zh") -> str:
    """A coded value (verdict, status, severity) as words; unknown codes are kept."""
    pair = VALUES.get(str(code))
    return str(code) if pair is None else pair[0 if lang == "zh" else 1]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".") if math.isfinite(v) else ""
    return "" if v is None else str(v)


def reasons_text(reasons, /, lang: Lang = "zh", *, sep: str = "\n") -> str:
    """Reasons (a list of dicts, or their JSON) as numbered readable lines with value, threshold, basis."""
    if isinstance(reasons, str):
        reasons = json.loads(reasons) if reasons.strip() else []
    lines = []
    for n, r in enumerate(reasons or [], 1):
        msg = r.get("message_zh" if lang == "zh" else "message_en") or r.get("code", "")
        extra = [str(r.get("code", ""))]
        if r.get("value") is not None and r.get("threshold") is not None:
            unit = r.get("unit") or ""
            if lang == "zh":
                extra.append(f"数值 {_fmt(r['value'])}{unit}，阈值 {_fmt(r['threshold'])}{unit}")
            else:
                extra.append(
                    f"value {_fmt(r['value'])}{unit}, threshold {_fmt(r['threshold'])}{unit}"
                )
        if r.get("basis"):
            extra.append(("依据：" if lang == "zh" else "basis: ") + str(r["basis"]))
        joiner = "；" if lang == "zh" else "; "
        lines.append(
            f"{n}. {msg}（{joiner.join(extra)}）"
            if lang == "zh"
            else f"{n}. {msg} ({joiner.join(extra)})"
        )
    return sep.join(lines)


def reasons_texts(texts, /, lang: Lang = "zh", *, sep: str = "\n") -> list[str]:
    """:func:`reasons_text` of each of many reasons (JSON texts or lists of dicts): the same
    strings, for a column at once.

    The same steps in one loop: each key of a reason read once (``get``; :func:`reasons_text`
    reads some twice, the same for a dict), :func:`_fmt` inlined for floats and each distinct
    float formatted once per call (thresholds repeat).  Parsing stays one ``json.loads`` per
    text, so a bad text fails as in :func:`reasons_text`; it is most of the cost.  Measured and
    left out: ``json.loads`` of the texts joined into one array (slower: every parsed object
    lives at once), and all floats formatted in one ``str.format`` call (no faster).
    """
    fast = _reasons_texts_arrow(texts, lang, sep)
    if fast is not None:
        return fast
    zh = lang == "zh"
    message = "message_zh" if zh else "message_en"
    joiner = "；" if zh else "; "
    basis_word = "依据：" if zh else "basis: "
    shown: dict[float, str] = {}  # float -> _fmt(float); 0.0 and -0.0 (equal keys) never in it
    loads = json.loads
    isfinite = math.isfinite
    out: list[str] = []
    for reasons in texts:
        if isinstance(reasons, str):
            reasons = loads(reasons) if reasons.strip() else []
        lines = []
        for n, r in enumerate(reasons or [], 1):
            get = r.get
            code = get("code", "")
            msg = get(message) or code
            extra = str(code)
            value, threshold = get("value"), get("threshold")
            if value is not None and threshold is not None:
                unit = get("unit") or ""
                pair = []
                for v in (value, threshold):
                    if v.__class__ is not float:
                        pair.append(_fmt(v))
                    elif (t := shown.get(v)) is not None:
                        pair.append(t)
                    elif not v or not isfinite(v):
                        pair.append(_fmt(v))
                    else:
                        t = shown[v] = f"{v:,.2f}".rstrip("0").rstrip(".")
                        pair.append(t)
                value, threshold = pair
                if zh:
                    extra += f"{joiner}数值 {value}{unit}，阈值 {threshold}{unit}"
                else:
                    extra += f"{joiner}value {value}{unit}, threshold {threshold}{unit}"
            basis = get("basis")
            if basis:
                extra += joiner + basis_word + str(basis)
            lines.append(f"{n}. {msg}（{extra}）" if zh else f"{n}. {msg} ({extra})")
        out.append(sep.join(lines))
    return out


def _fmts(values) -> list[str]:
    """:func:`_fmt` of floats (one ``format`` call each, from C)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    shown = map(format, values[finite].tolist(), repeat(",.2f"))
    out = [""] * len(values)
    for i, text in zip(np.flatnonzero(finite).tolist(), shown, strict=True):
        out[i] = text.rstrip("0").rstrip(".")
    return out


#: a JSON integer as a value or threshold: json.loads keeps it an int (shown without ``,.2f``),
#: Arrow reads a float; such texts take the Python path
_INT_NUMBER = r'"(?:value|threshold)"\s*:\s*-?[0-9]+\s*[,}\]]'


def _reasons_texts_arrow(texts, lang: Lang, sep: str) -> list[str] | None:
    """:func:`reasons_texts` of JSON texts, parsed by Arrow and joined column-wise; None where
    the Python path must decide (a text Arrow refuses, an integer number, a null ``code``).

    The same strings: each number as :func:`_fmt` shows the float ``json.loads`` reads (each
    distinct one formatted once), a missing or empty message replaced by the code, a missing
    or null value or threshold leaving the pair out, an empty basis leaving it out."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from landplan.core.reason_json import (
        FIELD,
        POOL,
        fill_nulls,
        format_floats,
        parse_reason_items,
    )

    if not isinstance(texts, list | tuple) or not texts:
        return None
    if not all(t.__class__ is str for t in texts):
        return None
    arr = pa.array(texts, pa.large_string())
    if pc.any(pc.match_substring_regex(arr, _INT_NUMBER)).as_py():
        return None
    parsed = parse_reason_items(arr)
    if parsed is None:
        return None
    owner, items = parsed
    large = pa.large_string()

    def field(name: str):
        return pc.cast(pc.struct_field(items, [FIELD[name]]), large, memory_pool=POOL)

    code = field("code")
    if code.null_count:
        return None  # json.loads gives None: shown as "None" (the Python path)
    zh = lang == "zh"
    joiner = "；" if zh else "; "
    msg = fill_nulls(field("message_zh" if zh else "message_en"), "")
    msg = pc.if_else(pc.equal(pc.binary_length(msg), 0), code, msg)
    unit = fill_nulls(field("unit"), "")
    basis = fill_nulls(field("basis"), "")
    numbers = {}
    for name in ("value", "threshold"):
        column = pc.struct_field(items, [FIELD[name]])
        values = column.to_numpy(zero_copy_only=False)
        numbers[name] = (format_floats(values, _fmts), column.is_null())
    (value, value_null), (threshold, threshold_null) = numbers.values()
    s = lambda text: pa.scalar(text, large)  # noqa: E731
    empty = s("")
    pair = pc.binary_join_element_wise(
        s(f"{joiner}数值 " if zh else f"{joiner}value "),
        value,
        unit,
        s("，阈值 " if zh else ", threshold "),
        threshold,
        unit,
        empty,
    )
    pair = pc.if_else(pc.or_(value_null, threshold_null), empty, pair)
    basis = pc.if_else(
        pc.equal(pc.binary_length(basis), 0),
        empty,
        pc.binary_join_element_wise(s(joiner + ("依据：" if zh else "basis: ")), basis, empty),
    )
    index = np.arange(len(owner))
    number = index - np.searchsorted(owner, owner, side="left") + 1
    lines = pc.binary_join_element_wise(
        pc.cast(pa.array(number), large),
        s(". "),
        msg,
        s("（" if zh else " ("),
        code,
        pair,
        basis,
        s("）" if zh else ")"),
        empty,
    )
    if isinstance(lines, pa.ChunkedArray):  # one chunk per JSON block
        lines = lines.combine_chunks()
    offsets = np.searchsorted(owner, np.arange(len(texts) + 1))
    rows = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), lines)
    return pc.binary_join(rows, s(sep)).to_pylist()


def json_text(value, /, lang: Lang = "zh") -> str:
    """Any JSON value as readable text: a dict as ``key: value`` lines, a list line by line."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return "\n".join(f"{header(k, lang)}: {json_text(v, lang)}" for k, v in value.items())
    if isinstance(value, list):
        if value and all(isinstance(x, dict) and "code" in x for x in value):
            return reasons_text(value, lang)
        return "; ".join(json_text(x, lang) for x in value)
    if value is None:
        return ""
    return _fmt(value) if isinstance(value, float) else str(value)

"""标准地 indicators of proposed projects, and the check against notice, table and peers.

Formulas (names carry units; 1 亩 = 2000/3 m²; money in 万元):

- 投资强度 ``invest_wan_per_mu`` = total fixed-asset investment (buildings, equipment,
  land price) ÷ land area in 亩;
- 容积率 ``far`` = (``floor_area_m2`` + ``floor_area_over_8m_m2``) ÷ ``land_area_m2``:
  ``floor_area_m2`` is the total floor area counted once and ``floor_area_over_8m_m2``
  the part on storeys taller than 8 m, which counts twice;
- 建筑系数 ``coverage`` = footprint of buildings, structures and yards ÷ land area;
- ``admin_share`` = 行政办公及生活服务设施用地 ÷ land area (when ``admin_land_m2`` is
  empty and ``admin_floor_m2`` is given, the floor-area share apportions the land,
  ``admin_share_method = "floor_share"``); ``admin_floor_share`` = admin floor ÷ floor area;
  ``green_ratio`` = green area ÷ land area;
- 亩均税收/营业收入/增加值 per 亩; value added per tce and per tonne of emissions;
  labour productivity (万元/人); ``rd_share`` = R&D ÷ revenue.

Ratios are fractions (0.30, not 30).  :func:`check_projects` returns one row per
project with ``pass`` and ``reasons`` in the verdict reason format of
:class:`landplan.analysis.transfer.Reason`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from landplan.core.errors import InputTableError, UnitsError, UnknownIndustryError
from landplan.core.reasons import Reason
from landplan.indicators.inputs import (
    coerce_numeric,
    describe_rows,
    read_input_table,
    require_columns,
    row_label,
)
from landplan.indicators.tables import (
    INDICATORS,
    LoadedTable,
    Threshold,
    load_indicator_table,
    normalize_industry_code,
)

MU_PER_M2 = 3.0 / 2000.0
__all__ = [
    "check_projects",
    "compute_indicators",
    "floor_area_ratio",
    "investment_intensity_wan_per_mu",
    "min_investment_wan",
    "peer_averages",
    "read_input_table",
    "validate_projects",
]

REQUIRED = ("project_id", "land_area_m2", "fixed_investment_wan")
NUMERIC = (
    "land_area_m2",
    "fixed_investment_wan",
    "floor_area_m2",
    "floor_area_over_8m_m2",
    "footprint_m2",
    "admin_land_m2",
    "admin_floor_m2",
    "green_area_m2",
    "annual_tax_wan",
    "revenue_wan",
    "value_added_wan",
    "energy_tce",
    "emissions_t",
    "employees",
    "rd_wan",
)
#: columns that may not be negative (tax and value added may, for loss-making firms)
NON_NEGATIVE = tuple(c for c in NUMERIC if c not in ("annual_tax_wan", "value_added_wan"))
#: the parcel's required values from its transfer notice → threshold key (notice wins)
NOTICE_COLUMNS = {
    "req_invest_wan_per_mu": "invest_wan_per_mu_min",
    "req_far_min": "far_min",
    "req_far_max": "far_max",
    "req_coverage_min": "coverage_min",
    "req_coverage_max": "coverage_max",
    "req_green_max": "green_ratio_max",
    "req_admin_share_max": "admin_share_max",
    "req_admin_floor_share_max": "admin_floor_share_max",
    "req_tax_wan_per_mu": "tax_wan_per_mu_min",
    "req_revenue_wan_per_mu": "revenue_wan_per_mu_min",
    "req_value_added_wan_per_mu": "value_added_wan_per_mu_min",
}
#: implausible magnitudes: (column, computed per-mu column, limit) → "looks like 元"
YUAN_LIMITS = (
    ("fixed_investment_wan", "invest_wan_per_mu", 100_000.0),
    ("annual_tax_wan", "tax_wan_per_mu", 10_000.0),
    ("revenue_wan", "revenue_wan_per_mu", 1_000_000.0),
    ("value_added_wan", "value_added_wan_per_mu", 200_000.0),
)
MIN_PLAUSIBLE_LAND_M2 = 100.0
PEER_BASIS = "云南省工业园区标准地行动方案（2026）：新建项目亩均投资强度、预期亩均营业收入不低于同类已建项目平均水平"


# ---------------------------------------------------------------- formulas


def investment_intensity_wan_per_mu(fixed_investment_wan, land_area_m2, /):
    """投资强度 in 万元/亩 = investment (万元) ÷ (land m² × 3/2000).

    Examples
    --------
    >>> round(investment_intensity_wan_per_mu(12985.875, 24735.0), 6)
    350.0
    """
    return _scalar(
        np.asarray(fixed_investment_wan, dtype="float64")
        / (np.asarray(land_area_m2, dtype="float64") * MU_PER_M2)
    )


def floor_area_ratio(floor_area_m2, land_area_m2, /, *, floor_area_over_8m_m2=0.0):
    """容积率: storeys taller than 8 m count twice.

    ``floor_area_m2`` is the total floor area counted once; ``floor_area_over_8m_m2``
    the part of it on storeys taller than 8 m (added once more).

    Examples
    --------
    >>> (floor_area_ratio(10000.0, 10000.0, floor_area_over_8m_m2=2000.0))
    1.2
    """
    over = np.nan_to_num(np.asarray(floor_area_over_8m_m2, dtype="float64"), nan=0.0)
    return _scalar(
        (np.asarray(floor_area_m2, dtype="float64") + over)
        / np.asarray(land_area_m2, dtype="float64")
    )


def _scalar(a: np.ndarray):
    return float(a) if np.ndim(a) == 0 else a


def min_investment_wan(land_area_m2, invest_wan_per_mu, /):
    """The least fixed investment (万元, rounded *up* to 0.01) meeting an intensity.

    Examples
    --------
    >>> min_investment_wan(24735.0, 350.0)   # 24735 × 3/2000 × 350 = 12985.875
    12985.88
    """
    exact = float(land_area_m2) * MU_PER_M2 * float(invest_wan_per_mu)
    # round away float noise first (12985.874999999998), then ceil to the cent
    return math.ceil(round(exact * 100.0, 6)) / 100.0


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.where(den > 0)
    return num / den


def compute_indicators(projects: pd.DataFrame, /) -> pd.DataFrame:
    """Every indicator column for validated projects (missing inputs give NaN)."""
    col = {
        c: (
            projects[c].astype("float64")
            if c in projects
            else pd.Series(np.nan, index=projects.index)
        )
        for c in NUMERIC
    }
    land = col["land_area_m2"]
    mu = land * MU_PER_M2
    admin_land = _ratio(col["admin_land_m2"], land)
    admin_floor = _ratio(col["admin_floor_m2"], col["floor_area_m2"])
    use_floor = admin_land.isna() & admin_floor.notna()
    out = pd.DataFrame(index=projects.index)
    out["land_area_mu"] = mu
    out["invest_wan_per_mu"] = _ratio(col["fixed_investment_wan"], mu)
    over = col["floor_area_over_8m_m2"].fillna(0.0)
    out["far"] = _ratio(col["floor_area_m2"] + over, land)
    out["coverage"] = _ratio(col["footprint_m2"], land)
    out["green_ratio"] = _ratio(col["green_area_m2"], land)
    out["admin_share"] = admin_land.where(~use_floor, admin_floor)
    out["admin_share_method"] = np.where(
        use_floor, "floor_share", np.where(admin_land.notna(), "land", "")
    )
    out["admin_floor_share"] = admin_floor
    out["tax_wan_per_mu"] = _ratio(col["annual_tax_wan"], mu)
    out["revenue_wan_per_mu"] = _ratio(col["revenue_wan"], mu)
    out["value_added_wan_per_mu"] = _ratio(col["value_added_wan"], mu)
    out["va_wan_per_tce"] = _ratio(col["value_added_wan"], col["energy_tce"])
    out["va_wan_per_t_emission"] = _ratio(col["value_added_wan"], col["emissions_t"])
    out["labour_productivity_wan_per_person"] = _ratio(col["value_added_wan"], col["employees"])
    out["rd_share"] = _ratio(col["rd_wan"], col["revenue_wan"])
    return out


# ---------------------------------------------------------------- validation


def validate_projects(df: pd.DataFrame, /) -> pd.DataFrame:
    """Check columns, ids, numbers, areas and units; return a clean copy (numbers as float).

    Raises :class:`InputTableError` / :class:`UnitsError` naming the row (project_id)
    and the column.
    """
    require_columns(df, REQUIRED, what="projects table")
    df = df.reset_index(drop=True)
    ids = df["project_id"].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        raise InputTableError(
            f"column project_id is empty in {describe_rows(df, ids.isna() | (ids == ''), 'project_id')}"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise InputTableError(
            f"column project_id repeats {sorted(set(ids[dup]))[:5]}; every project needs its own id"
        )
    df["project_id"] = ids.astype(object)
    num = coerce_numeric(
        df,
        (*NUMERIC, *NOTICE_COLUMNS),
        id_col="project_id",
        percent_ok=tuple(c for c, k in NOTICE_COLUMNS.items() if INDICATORS[k].ratio),
    )
    _check_values(num)
    return num


def _fail_rows(df, mask, column, problem, fix, *, cls=InputTableError) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        sep = " " if issubclass(cls, UnitsError) else ": "
        raise cls(f"column {column} {describe_rows(df, mask, 'project_id')}{sep}{problem}; {fix}")


def _check_values(df: pd.DataFrame) -> None:
    land = df["land_area_m2"]
    _fail_rows(df, land.isna(), "land_area_m2", "is empty", "give the parcel area in m²")
    _fail_rows(
        df, land <= 0, "land_area_m2", "must be positive", "give the parcel area in m² (> 0)"
    )
    _fail_rows(
        df,
        land < MIN_PLAUSIBLE_LAND_M2,
        "land_area_m2",
        f"is below {MIN_PLAUSIBLE_LAND_M2:g} m², which looks like 亩 or 公顷, not m²",
        "multiply 亩 by 2000/3 (公顷 by 10000)",
        cls=UnitsError,
    )
    inv = df["fixed_investment_wan"]
    _fail_rows(df, inv.isna(), "fixed_investment_wan", "is empty", "give the investment in 万元")
    for c in NON_NEGATIVE:
        if c in df:
            _fail_rows(df, df[c] < 0, c, "is negative", "check the sign and the unit")
    ind = compute_indicators(df)
    for col, per_mu, limit in YUAN_LIMITS:
        if col in df:
            _fail_rows(
                df,
                ind[per_mu] > limit,
                col,
                f"looks like 元, not 万元 ({per_mu} would exceed {limit:,.0f})",
                "divide by 10000",
                cls=UnitsError,
            )
    if "req_invest_wan_per_mu" in df:
        _fail_rows(
            df,
            df["req_invest_wan_per_mu"] > YUAN_LIMITS[0][2],
            "req_invest_wan_per_mu",
            "looks like 元/亩, not 万元/亩",
            "divide by 10000",
            cls=UnitsError,
        )
    for c, k in NOTICE_COLUMNS.items():
        if c in df and INDICATORS[k].ratio:
            _fail_rows(
                df,
                df[c] > 1,
                c,
                "is above 1, which looks like a percentage",
                "give a fraction (0.30 for 30%)",
                cls=UnitsError,
            )
    for part, whole in (
        ("floor_area_over_8m_m2", "floor_area_m2"),
        ("footprint_m2", "land_area_m2"),
        ("admin_land_m2", "land_area_m2"),
        ("green_area_m2", "land_area_m2"),
        ("admin_floor_m2", "floor_area_m2"),
    ):
        if part in df and whole in df:
            _fail_rows(
                df,
                df[part] > df[whole] * (1 + 1e-9),
                part,
                f"exceeds {whole}",
                f"{part} is a part of {whole}; check both columns and their units",
            )
    if "rd_wan" in df and "revenue_wan" in df:
        _fail_rows(
            df,
            df["rd_wan"] > df["revenue_wan"],
            "rd_wan",
            "exceeds revenue_wan",
            "one of them is probably in 元, not 万元",
            cls=UnitsError,
        )


# ---------------------------------------------------------------- peers


def peer_averages(peers_df: pd.DataFrame, /, *, by_park: bool) -> pd.DataFrame:
    """Mean investment intensity and revenue per mu of existing projects per industry (and park).

    Each project counts once (the arithmetic mean of per-project values, not total ÷
    total).  Industries match on the GB/T 4754 division (first two digits).  Needs
    ``industry_code``, ``fixed_investment_wan`` and ``land_area_m2`` or ``land_area_mu``;
    ``revenue_wan`` is optional.
    """
    id_col = "project_id" if "project_id" in peers_df else "firm_id"
    df = peers_df.reset_index(drop=True).copy()
    if id_col not in df:
        df[id_col] = [str(i + 1) for i in range(len(df))]
    area_col = "land_area_m2" if "land_area_m2" in df else "land_area_mu"
    require_columns(df, ("industry_code", area_col, "fixed_investment_wan"), what="peers table")
    num = coerce_numeric(df, (area_col, "fixed_investment_wan", "revenue_wan"), id_col=id_col)
    mu = num[area_col] * (MU_PER_M2 if area_col == "land_area_m2" else 1.0)
    bad = ~(mu > 0)
    if bad.any():
        raise InputTableError(
            f"peers table: column {area_col} {describe_rows(df, bad, id_col)} must be positive"
        )
    out = pd.DataFrame(
        {
            "division": [(normalize_industry_code(c) or "")[:2] for c in df["industry_code"]],
            "peer_invest": num["fixed_investment_wan"] / mu,
            "peer_revenue": num["revenue_wan"] / mu if "revenue_wan" in num else np.nan,
        }
    )
    big = out["peer_invest"] > YUAN_LIMITS[0][2]
    if big.any():
        raise UnitsError(
            f"peers table: column fixed_investment_wan {describe_rows(df, big, id_col)} looks like 元, "
            "not 万元; divide by 10000"
        )
    keys = ["division"]
    if by_park:
        out["park"] = df["park"].astype("string").fillna("")
        keys = ["park", "division"]
    out = out[out["division"] != ""]
    return out.groupby(keys, as_index=False).agg(
        peer_invest_wan_per_mu=("peer_invest", "mean"),
        peer_revenue_wan_per_mu=("peer_revenue", "mean"),
        peer_n=("peer_invest", "size"),
    )


# ---------------------------------------------------------------- the check


def _fmt(v: float, key: str) -> str:
    spec = INDICATORS[key]
    if spec.ratio:
        return f"{v * 100:.1f}%"
    if spec.column == "far":
        return f"{v:.2f}"
    return f"{v:,.2f} {spec.unit}"


def _fails(value: float, threshold: float, direction: str) -> bool:
    tol = 1e-9 * max(1.0, abs(threshold))
    return value < threshold - tol if direction == "min" else value > threshold + tol


def _source_text(t: Threshold) -> tuple[str, str]:
    if t.source == "notice":
        return "出让公告要求", "the transfer notice"
    return f"控制指标表 {t.source.split(':', 1)[-1]} ", f"table {t.source.split(':', 1)[-1]}"


def _threshold_reason(t: Threshold, value: float) -> Reason:
    spec = t.spec
    word_zh, word_en = ("低于", "below") if spec.direction == "min" else ("高于", "above")
    src_zh, src_en = _source_text(t)
    kind_zh = "" if t.binding else "（推荐性指标）"
    kind_en = "" if t.binding else " (recommended indicator)"
    return Reason(
        code=spec.code,
        severity=t.severity,
        value=value,
        threshold=t.value,
        unit=spec.unit or ("fraction" if spec.ratio else ""),
        basis=t.basis,
        message_zh=f"{spec.label_zh} {_fmt(value, t.key)} {word_zh}{src_zh}的"
        f"{'下限' if spec.direction == 'min' else '上限'} {_fmt(t.value, t.key)}{kind_zh}",
        message_en=f"{spec.label_en} {_fmt(value, t.key)} is {word_en} the "
        f"{'minimum' if spec.direction == 'min' else 'maximum'} {_fmt(t.value, t.key)} of {src_en}{kind_en}",
    )


def _missing_reason(t: Threshold) -> Reason:
    spec = t.spec
    return Reason(
        code=f"INDICATOR_MISSING:{spec.column}",
        severity="warn",
        value=None,
        threshold=t.value,
        unit=spec.unit or ("fraction" if spec.ratio else ""),
        basis=t.basis,
        message_zh=f"{spec.label_zh}无法计算（缺少输入数据），要求 {_fmt(t.value, t.key)}",
        message_en=f"{spec.label_en} cannot be computed (input data missing); required {_fmt(t.value, t.key)}",
    )


def _not_set_reason(unset: list[Threshold], table: LoadedTable) -> Reason:
    labels_zh = "、".join(
        t.spec.label_zh + ("下限" if t.spec.direction == "min" else "上限") for t in unset
    )
    labels_en = ", ".join(f"{t.spec.label_en} ({t.spec.direction})" for t in unset)
    bases = "；".join(dict.fromkeys(t.basis for t in unset))
    return Reason(
        code="INDICATORS_NOT_SET",
        severity="warn",
        value=float(len(unset)),
        threshold=None,
        unit="indicators",
        basis=bases,
        message_zh=f"控制值未设定（原文数值未取得，请按地方规定填写）：{labels_zh}（表 {table.name}）",
        message_en=f"control values not set (not retrieved from the source; fill in local values): "
        f"{labels_en} (table {table.name})",
    )


def _peer_reason(kind: str, value: float, avg: float, n: int, group: str, severity: str) -> Reason:
    zh, en = {
        "invest": ("亩均投资强度", "investment intensity"),
        "revenue": ("预期亩均营业收入", "expected revenue per mu"),
    }[kind]
    return Reason(
        code=f"BELOW_PEER_AVERAGE:{kind}",
        severity=severity,
        value=value,
        threshold=avg,
        unit="万元/亩",
        basis=f"{PEER_BASIS}；同类 = {group}，{n} 个已建项目算术平均",
        message_zh=f"{zh} {value:,.2f} 万元/亩 低于同类已建项目平均 {avg:,.2f} 万元/亩（{group}，{n} 个）",
        message_en=f"{en} {value:,.2f} 万元/亩 is below the average of {n} existing similar projects, "
        f"{avg:,.2f} 万元/亩 ({group})",
    )


def _resolve_all(df: pd.DataFrame, table: LoadedTable) -> list[dict[str, Threshold]]:
    resolved, errors = [], []
    for i in range(len(df)):
        code = df["industry_code"].iloc[i] if "industry_code" in df else None
        cv = df["industry_code_version"].iloc[i] if "industry_code_version" in df else None
        rc = df["region_class"].iloc[i] if "region_class" in df else None
        try:
            th = table.thresholds_for(
                code,
                code_version=None if pd.isna(cv) else str(cv).strip(),
                region_class=None if pd.isna(rc) else str(rc).strip(),
                row_label=row_label(df, i),
            )
        except UnknownIndustryError as exc:
            errors.append(str(exc))
            continue
        for col, key in NOTICE_COLUMNS.items():
            v = df[col].iloc[i] if col in df else np.nan
            if not pd.isna(v):
                th[key] = Threshold(
                    key, float(v), True, f"地块出让公告/规划条件（{col}）", "notice"
                )
        resolved.append(th)
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise UnknownIndustryError("; ".join(errors[:5]) + more)
    return resolved


def check_projects(
    projects_df: pd.DataFrame,
    /,
    *,
    table: str | Path | LoadedTable | None = None,
    peers_df: pd.DataFrame | None = None,
    peer_severity: str = "block",
) -> pd.DataFrame:
    """Check proposed projects against notice values, an indicator table and peers.

    Thresholds, per indicator: the parcel's notice column (``req_*``) if given, else
    the table's value (tightened by its national base).  An indicator the table
    declares without a value gives one ``INDICATORS_NOT_SET`` warning per project.
    With ``peers_df`` (existing projects), investment intensity and revenue per mu may
    not be below the mean of the same industry division (and park, when both tables
    have a ``park`` column).  A project passes when it has no ``block`` reason.
    ``min_investment_wan`` is the least investment (万元, rounded up to 0.01) that meets
    every investment threshold (notice, table, peers).

    Examples
    --------
    >>> df = pd.DataFrame({"project_id": ["P1"], "land_area_m2": [24735.0],
    ...                    "fixed_investment_wan": [12000.0], "req_invest_wan_per_mu": [350.0]})
    >>> r = check_projects(df, table="national-2023")
    >>> float(r.min_investment_wan[0]), bool(r["pass"][0])
    (12985.88, False)
    """
    loaded = table if isinstance(table, LoadedTable) else load_indicator_table(table)
    if peer_severity not in ("block", "warn"):
        raise InputTableError(f"peer_severity must be 'block' or 'warn', not {peer_severity!r}")
    df = validate_projects(projects_df)
    ind = compute_indicators(df)
    thresholds = _resolve_all(df, loaded)
    by_park = peers_df is not None and "park" in peers_df and "park" in df
    peers = peer_averages(peers_df, by_park=by_park) if peers_df is not None else None

    rows = []
    for i in range(len(df)):
        th = thresholds[i]
        reasons: list[Reason] = []
        for t in th.values():
            if t.value is None:
                continue
            value = ind[t.spec.column].iloc[i]
            if pd.isna(value):
                reasons.append(_missing_reason(t))
            elif _fails(float(value), t.value, t.spec.direction):
                reasons.append(_threshold_reason(t, float(value)))
        invest_mins = [
            th[k].value for k in ("invest_wan_per_mu_min",) if k in th and th[k].value is not None
        ]
        peer = _peer_row(df, i, peers, by_park)
        if peer is not None:
            group = f"行业 {peer['division']}" + (f"，园区 {peer['park']}" if by_park else "")
            inv_avg, rev_avg = peer["peer_invest_wan_per_mu"], peer["peer_revenue_wan_per_mu"]
            invest_mins.append(inv_avg)
            v = float(ind["invest_wan_per_mu"].iloc[i])
            if _fails(v, inv_avg, "min"):
                reasons.append(
                    _peer_reason("invest", v, inv_avg, int(peer["peer_n"]), group, peer_severity)
                )
            r = ind["revenue_wan_per_mu"].iloc[i]
            if not pd.isna(rev_avg) and not pd.isna(r) and _fails(float(r), rev_avg, "min"):
                reasons.append(
                    _peer_reason(
                        "revenue", float(r), rev_avg, int(peer["peer_n"]), group, peer_severity
                    )
                )
        unset = [t for t in th.values() if t.value is None]
        if unset:
            reasons.append(_not_set_reason(unset, loaded))
        blocked = any(r.severity == "block" for r in reasons)
        rows.append(
            {
                "peer_invest_wan_per_mu": np.nan
                if peer is None
                else peer["peer_invest_wan_per_mu"],
                "peer_revenue_wan_per_mu": np.nan
                if peer is None
                else peer["peer_revenue_wan_per_mu"],
                "peer_n": 0 if peer is None else int(peer["peer_n"]),
                "min_investment_wan": (
                    min_investment_wan(df["land_area_m2"].iloc[i], max(invest_mins))
                    if invest_mins
                    else np.nan
                ),
                "pass": not blocked,
                "verdict": "fail" if blocked else ("pass_with_warnings" if reasons else "pass"),
                "reasons": json.dumps([r.to_dict() for r in reasons], ensure_ascii=False),
                "reason_codes": ";".join(r.code for r in reasons),
                "reasons_zh": "；".join(r.message_zh for r in reasons),
                "reasons_en": "; ".join(r.message_en for r in reasons),
            }
        )
    head = pd.DataFrame({"project_id": df["project_id"]})
    if "industry_code" in df:
        head["industry_code"] = [normalize_industry_code(c) or "" for c in df["industry_code"]]
    head["land_area_m2"] = df["land_area_m2"]
    out = pd.concat([head, ind, pd.DataFrame(rows, index=df.index)], axis=1)
    out["table"] = loaded.name
    return out


def _peer_row(df: pd.DataFrame, i: int, peers: pd.DataFrame | None, by_park: bool):
    if peers is None or "industry_code" not in df:
        return None
    div = (normalize_industry_code(df["industry_code"].iloc[i]) or "")[:2]
    if not div:
        return None
    m = peers["division"] == div
    if by_park:
        park = df["park"].iloc[i]
        m &= peers["park"] == ("" if pd.isna(park) else str(park))
    hit = peers[m]
    return None if hit.empty else hit.iloc[0]

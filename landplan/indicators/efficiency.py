"""开发区土地集约利用评价: land-efficiency indicators per park and per group.

Formulas from ``DOMAIN.md`` §8.3 (开发区土地集约利用评价规程 as taught in [S41]; the
last rows [U] on exact wording):

============================  =============================================================
土地开发率 ``_pct``            已达到供地条件的土地 ÷ 开发区土地总面积
土地供应率 ``_pct``            已供应国有建设用地 ÷ 已达到供地条件的土地
土地建成率 ``_pct``            已建成城镇建设用地 ÷ 已供应国有建设用地
工业用地率 ``_pct``            已建成工矿仓储用地 ÷ 已建成城镇建设用地
综合容积率                     已建成城镇建设用地总建筑面积 ÷ 已建成城镇建设用地面积
工业用地固定资产投入强度         工业(物流)企业累计固定资产投资 ÷ 已建成工矿仓储用地 (万元/公顷, 万元/亩)
工业用地地均税收                工业企业税收 ÷ (已建成) 工矿仓储用地 (万元/公顷, 万元/亩)
============================  =============================================================

How each land class is decided from landplan's data:

- **meets supply conditions** (供地条件 = 征地完成 + ≥三通一平): the parcel's transfer
  verdict has no ``block`` reason (no ``NETWORK_MISSING:*`` block, no constraint block),
  and, with ``acquired_field``, 征地 is done; supplied land counts as meeting them.
- **supplied** (已供应): register state in :data:`landplan.store.register.SUPPLIED_STATES`, or,
  for parcels not in the register, ``status_field`` in ``supplied_values`` (e.g. 已出让).
- **built** (已建成): register state completed / output_verified, or ``status_field`` in
  ``built_values`` (e.g. 已建成); built land counts as supplied.
- **industrial** (工矿仓储): ``land_use_field`` (DLBM) in ``industrial_codes``.

An indicator whose input is missing (no verdicts, no status, no floor-area column, no
firm table) or whose denominator is zero is ``NaN`` and its reason is in the
``not_computable`` column (JSON object column → reason) — never 0.
"""

from __future__ import annotations

import json
from collections.abc import Collection

import numpy as np
import pandas as pd

from landplan.core.errors import EfficiencyError
from landplan.core.types import ALL_LABEL

#: 三调 工矿仓储用地 codes: 0601 工业用地, 0602 采矿用地, 0508 物流仓储用地
INDUSTRIAL_CODES: tuple[str, ...] = ("0601", "0602", "0508")
M2_PER_HA = 10_000.0
MU_PER_HA = 15.0
#: the merge key shared with ``landplan.analysis.pipeline.park_summary``
MERGE_KEY = "group"
RATES = (
    "land_development_rate_pct",
    "land_supply_rate_pct",
    "land_built_rate_pct",
    "industrial_land_rate_pct",
    "composite_far",
    "industrial_fixed_invest_wan_per_ha",
    "industrial_fixed_invest_wan_per_mu",
    "industrial_tax_wan_per_ha",
    "industrial_tax_wan_per_mu",
)


def _blocked(reasons_json: str) -> bool:
    try:
        reasons = json.loads(reasons_json) if isinstance(reasons_json, str) else []
    except json.JSONDecodeError:
        return True
    return any(r.get("severity") == "block" for r in reasons)


def _classify(
    parcels: pd.DataFrame,
    register: pd.DataFrame | None,
    status_field: str | None,
    supplied_values: Collection[str],
    built_values: Collection[str],
    acquired_field: str | None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Boolean columns ready / supplied / built per parcel, and the inputs that are missing."""
    from landplan.store.register import BUILT_STATES, SUPPLIED_STATES

    missing: dict[str, str] = {}
    n = len(parcels)
    state = pd.Series([None] * n, index=parcels.index, dtype=object)
    if register is not None:
        if not {"parcel_id", "state"} <= set(register.columns):
            raise EfficiencyError("the register table needs the columns parcel_id and state")
        lookup = dict(zip(register["parcel_id"].astype(str), register["state"], strict=True))
        state = parcels["parcel_id"].astype(str).map(lookup)
    registered = state.notna()
    status = None
    if status_field is not None:
        if status_field not in parcels.columns:
            raise EfficiencyError(
                f"status_field {status_field!r} is not a parcel column; columns: {list(parcels.columns)}"
            )
        status = parcels[status_field].astype(str).str.strip()

    def from_status(values: Collection[str], what: str) -> pd.Series | None:
        if register is None and (status is None or not values):
            missing[what] = (
                f"no source for {what} land: give the register, or status_field with {what}_values"
            )
            return None
        hit = status.isin(list(values)) if status is not None and values else False
        states = SUPPLIED_STATES if what == "supplied" else BUILT_STATES
        return (registered & state.isin(states)) | (~registered & hit)

    built = from_status(built_values, "built")
    supplied = from_status(supplied_values, "supplied")
    if supplied is not None and built is not None:
        supplied = supplied | built
    ready = None
    verdict = parcels.get("transferable")
    has_verdict = verdict is not None and pd.api.types.is_bool_dtype(verdict)
    if "reasons" not in parcels.columns and not has_verdict:
        missing["ready"] = (
            "parcels carry no transfer verdict (reasons column): use result_parcels "
            "from `landplan analyze`"
        )
    else:
        # analyze's verdict is "no block reason", the same as the JSON says
        ready = verdict.copy() if has_verdict else ~parcels["reasons"].map(_blocked).astype(bool)
        if acquired_field is not None:
            if acquired_field not in parcels.columns:
                raise EfficiencyError(f"acquired_field {acquired_field!r} is not a parcel column")
            ready &= parcels[acquired_field].fillna(False).astype(bool)
        if supplied is not None:
            ready |= supplied
    out = pd.DataFrame(index=parcels.index)
    for name, col in (("ready", ready), ("supplied", supplied), ("built", built)):
        out[name] = col if col is not None else np.nan
    return out, missing


def park_efficiency(
    parcels: pd.DataFrame,
    /,
    *,
    register: pd.DataFrame | None = None,
    group_field: str | None = None,
    status_field: str | None = None,
    supplied_values: Collection[str] = (),
    built_values: Collection[str] = (),
    land_use_field: str | None = "DLBM",
    industrial_codes: Collection[str] = INDUSTRIAL_CODES,
    floor_area_field: str | None = None,
    firms: pd.DataFrame | None = None,
    area_field: str | None = None,
    acquired_field: str | None = None,
) -> pd.DataFrame:
    """开发区土地集约利用评价 indicators (DOMAIN.md §8.3) for the whole park and each group.

    Parameters
    ----------
    parcels
        One row per parcel with ``parcel_id``, an area in hectares and, for 土地开发率,
        the transfer verdict's ``reasons`` (the ``result_parcels`` layer).
    register
        Register rows (``parcel_id``, ``state``), e.g. ``Register(ws).entries()``; it
        decides supplied / built for the parcels it holds.
    group_field
        Per-group rows as in ``park_summary`` (same labels; the whole park is
        ``landplan.core.types.ALL_LABEL``).  Merge with ``park_summary`` on ``"group"``.
    status_field, supplied_values, built_values
        A status attribute for parcels not in the register, e.g. ``"ZT"``,
        ``("已出让", "在建")``, ``("已建成",)``.
    land_use_field, industrial_codes
        The 地类编码 column and the codes counted as 工矿仓储用地 (default
        :data:`INDUSTRIAL_CODES`).
    floor_area_field
        Total floor area in m² (综合容积率); without it the ratio is not computable.
    firms
        One row per firm: ``parcel_id``, ``fixed_investment_wan`` (累计固定资产投资) and/or
        ``tax_wan``; summed over built industrial parcels.
    area_field
        Area in ha; default ``area_ellipsoidal_ha`` (the survey's figure) else ``area_ha``.
    acquired_field
        Optional boolean column: 征地 done.  Without it 征地 is taken as done.

    Returns
    -------
    DataFrame
        One row per group: ``group``, the land totals (``*_ha``, ``floor_area_built_m2``,
        ``fixed_investment_wan``, ``tax_wan``), the indicators (:data:`RATES`),
        ``area_basis`` and ``not_computable`` (JSON: indicator → reason).
    """
    if "parcel_id" not in parcels.columns:
        raise EfficiencyError("parcels need a parcel_id column")
    if area_field is None:
        area_field = next(
            (c for c in ("area_ellipsoidal_ha", "area_ha") if c in parcels.columns), None
        )
    if area_field is None or area_field not in parcels.columns:
        raise EfficiencyError(
            f"no area column {area_field or 'area_ellipsoidal_ha / area_ha'} in the parcels; "
            "pass area_field= (hectares)"
        )
    cls, missing = _classify(
        parcels, register, status_field, supplied_values, built_values, acquired_field
    )
    frame = pd.DataFrame(
        {"area_ha": pd.to_numeric(parcels[area_field], errors="coerce").fillna(0.0)},
        index=parcels.index,
    ).join(cls)
    if land_use_field is not None and land_use_field in parcels.columns:
        codes = {str(c).strip() for c in industrial_codes}
        frame["industrial"] = parcels[land_use_field].astype(str).str.strip().isin(codes)
    else:
        missing["industrial"] = (
            f"no land-use column {land_use_field!r} (地类编码)"
            if land_use_field is not None
            else "no land-use column given (地类编码): set land_use_field"
        )
        frame["industrial"] = np.nan
    if floor_area_field is not None and floor_area_field in parcels.columns:
        frame["floor_m2"] = pd.to_numeric(parcels[floor_area_field], errors="coerce")
    else:
        missing["floor"] = (
            f"no floor-area column {floor_area_field!r} (总建筑面积, m²)"
            if floor_area_field is not None
            else "no floor-area column given (总建筑面积, m²): set floor_area_field"
        )
        frame["floor_m2"] = np.nan
    for col in ("fixed_investment_wan", "tax_wan"):
        frame[col] = _firm_totals(firms, parcels, col, missing)
    groups = [(ALL_LABEL, frame)]
    if group_field is not None:
        if group_field not in parcels.columns:
            raise EfficiencyError(f"group_field {group_field!r} is not a parcel column")
        keys = parcels[group_field]
        groups += [(str(k), g) for k, g in frame.groupby(keys, sort=True, dropna=False)]
    rows = [_group_row(label, g, missing) for label, g in groups]
    out = pd.DataFrame(rows)
    out["area_basis"] = area_field
    return out


def _firm_totals(
    firms: pd.DataFrame | None, parcels: pd.DataFrame, col: str, missing: dict[str, str]
) -> pd.Series:
    if firms is None:
        missing[col] = f"no firm table ({col} per parcel_id)"
        return pd.Series(np.nan, index=parcels.index)
    if "parcel_id" not in firms.columns or col not in firms.columns:
        missing[col] = f"the firm table has no {col} column (or no parcel_id)"
        return pd.Series(np.nan, index=parcels.index)
    values = pd.to_numeric(firms[col], errors="coerce")
    if values.isna().any():
        bad = firms.loc[values.isna(), "parcel_id"].astype(str).head(5).tolist()
        missing[col] = f"{int(values.isna().sum())} firm rows have no numeric {col} (e.g. {bad})"
        return pd.Series(np.nan, index=parcels.index)
    per_parcel = values.groupby(firms["parcel_id"].astype(str)).sum()
    return parcels["parcel_id"].astype(str).map(per_parcel).fillna(0.0)


def _ratio(num: float, den: float, scale: float, name: str, why: dict, den_label: str):
    if den <= 0:
        why[name] = f"{den_label} is 0 ha"
        return np.nan
    return num / den * scale


def _group_row(label: str, g: pd.DataFrame, missing: dict[str, str]) -> dict:
    why: dict[str, str] = {}
    area = g["area_ha"]
    row: dict = {MERGE_KEY: label, "land_total_ha": float(area.sum())}

    def land(mask_col: str) -> float:
        return float(area[g[mask_col].astype(bool)].sum()) if mask_col not in missing else np.nan

    ready, supplied, built = land("ready"), land("supplied"), land("built")
    industrial_ok = "industrial" not in missing and "built" not in missing
    built_ind = (
        float(area[g["built"].astype(bool) & g["industrial"].astype(bool)].sum())
        if industrial_ok
        else np.nan
    )
    row.update(
        land_supply_ready_ha=ready,
        land_supplied_ha=supplied,
        land_built_ha=built,
        land_built_industrial_ha=built_ind,
    )
    specs = (
        ("land_development_rate_pct", ready, row["land_total_ha"], 100.0, ("ready",), "park land"),
        (
            "land_supply_rate_pct",
            supplied,
            ready,
            100.0,
            ("ready", "supplied"),
            "land meeting supply conditions",
        ),
        ("land_built_rate_pct", built, supplied, 100.0, ("supplied", "built"), "supplied land"),
        (
            "industrial_land_rate_pct",
            built_ind,
            built,
            100.0,
            ("built", "industrial"),
            "built land",
        ),
    )
    for name, num, den, scale, needs, den_label in specs:
        gaps = [missing[k] for k in needs if k in missing]
        if gaps:
            why[name] = "; ".join(gaps)
            row[name] = np.nan
        else:
            row[name] = _ratio(num, den, scale, name, why, den_label)
    # 综合容积率: floor area of built parcels ÷ built land
    if "floor" in missing or "built" in missing:
        why["composite_far"] = "; ".join(missing[k] for k in ("floor", "built") if k in missing)
        row["floor_area_built_m2"] = row["composite_far"] = np.nan
    else:
        floors = g.loc[g["built"].astype(bool), "floor_m2"]
        if floors.isna().any():
            why["composite_far"] = f"{int(floors.isna().sum())} built parcels have no floor area"
            row["floor_area_built_m2"] = row["composite_far"] = np.nan
        else:
            row["floor_area_built_m2"] = float(floors.sum())
            row["composite_far"] = _ratio(
                row["floor_area_built_m2"],
                built * M2_PER_HA,
                1.0,
                "composite_far",
                why,
                "built land",
            )
    # 固定资产投入强度 and 地均税收: firms on built industrial parcels ÷ built industrial land
    mask = (
        g["built"].astype(bool) & g["industrial"].astype(bool)
        if industrial_ok
        else pd.Series(False, index=g.index)
    )
    for col, stem in (("fixed_investment_wan", "fixed_invest"), ("tax_wan", "tax")):
        names = (f"industrial_{stem}_wan_per_ha", f"industrial_{stem}_wan_per_mu")
        gaps = [missing[k] for k in (col, "built", "industrial") if k in missing]
        if gaps:
            row[col] = np.nan
            for name in names:
                why[name] = "; ".join(gaps)
                row[name] = np.nan
            continue
        row[col] = float(g.loc[mask, col].sum())
        per_ha = _ratio(row[col], built_ind, 1.0, names[0], why, "built industrial land")
        row[names[0]] = per_ha
        row[names[1]] = per_ha / MU_PER_HA if not np.isnan(per_ha) else np.nan
        if names[0] in why:
            why[names[1]] = why[names[0]]
    row["not_computable"] = json.dumps(why, ensure_ascii=False, sort_keys=True)
    return row

"""Transfer verdicts: is each parcel transferable (可出让) now, and if not, every reason why.

Each reason carries a stable ``code``, a ``severity`` (``block`` or ``warn``), the
measured ``value`` with its ``unit``, the ``threshold`` it was held against, the
legal ``basis``, and a message in Chinese and English.  A parcel is transferable
when it has no ``block`` reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from landplan.core.policy import Policy
from landplan.core.reasons import Reason
from landplan.core.units import m2_to_mu

_REASONS: dict[tuple, Reason] = {}  # identical reasons (e.g. an absent network) are built once
_MAX_CACHED = 50_000


def _reason(
    policy: Policy,
    template: str,
    *,
    code: str,
    severity: str,
    value,
    threshold,
    unit: str,
    basis: str,
    **fields,
) -> Reason:
    key = (
        id(policy),
        template,
        code,
        severity,
        value,
        threshold,
        unit,
        basis,
        tuple(sorted(fields.items())),
    )
    cached = _REASONS.get(key)
    if cached is not None:
        return cached
    msg = policy.messages[template]
    ctx = {"value": value if value is not None else float("nan"), "threshold": threshold, **fields}
    reason = Reason(
        code, severity, value, threshold, unit, basis, msg.zh.format(**ctx), msg.en.format(**ctx)
    )
    if len(_REASONS) > _MAX_CACHED:
        _REASONS.clear()
    _REASONS[key] = reason
    return reason


def _share_pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def _constraint_reasons(
    i: int, table: Mapping[str, np.ndarray], kinds: Sequence[str], policy: Policy
) -> list[Reason]:
    out: list[Reason] = []
    gross = float(table["area_m2"][i])
    tol = policy.tolerances.sliver_m2
    for kind in kinds:
        rule = policy.rule_for(kind)
        value = float(table[f"excluded_{kind}_m2"][i])
        if value <= policy.tolerances.ignore_below_m2:
            continue
        fields = {
            "label_zh": rule.label_zh,
            "label_en": rule.label_en,
            "value_mu": m2_to_mu(value),
            "share_pct": _share_pct(value, gross),
        }
        common = {
            "code": rule.code,
            "value": value,
            "threshold": tol,
            "unit": "m2",
            "basis": rule.basis,
        }
        if rule.action == "warn":
            out.append(_reason(policy, "WARN_OVERLAP", severity="warn", **common, **fields))
        elif value <= tol:
            out.append(_reason(policy, "OVERLAP_SLIVER", severity="warn", **common, **fields))
        elif rule.action == "require_inside":
            out.append(_reason(policy, "OUTSIDE", severity="block", **common, **fields))
        else:
            out.append(_reason(policy, "OVERLAP", severity="block", **common, **fields))
    return out


def _planned_text(dist_planned: float, rule) -> tuple[str, str]:
    if math.isnan(dist_planned):
        return "；亦无规划线路", "; none is planned either"
    return (
        f"；规划{rule.label_zh}距 {dist_planned:.0f} m",
        f"; a planned {rule.label_en} runs {dist_planned:.0f} m away",
    )


def _network_reasons(
    i: int, table: Mapping[str, np.ndarray], kinds: Sequence[str], policy: Policy
) -> list[Reason]:
    out: list[Reason] = []
    for kind in kinds:
        rule = policy.networks.get(kind)
        if rule is None or rule.requirement == "ignore":
            continue
        dist = float(table[f"dist_{kind}_m"][i])
        if not math.isnan(dist) and dist <= rule.connectable_m:
            continue
        planned_zh, planned_en = _planned_text(float(table[f"dist_planned_{kind}_m"][i]), rule)
        template = "NETWORK_ABSENT" if math.isnan(dist) else "NETWORK_MISSING"
        out.append(
            _reason(
                policy,
                template,
                code=f"NETWORK_MISSING:{kind}",
                severity=rule.requirement,
                value=None if math.isnan(dist) else dist,
                threshold=rule.connectable_m,
                unit="m",
                basis=rule.basis,
                label_zh=rule.label_zh,
                label_en=rule.label_en,
                planned_zh=planned_zh,
                planned_en=planned_en,
            )
        )
    return out


def parcel_reasons(
    i: int,
    table: Mapping[str, np.ndarray],
    *,
    constraint_kinds: Sequence[str],
    network_kinds: Sequence[str],
    policy: Policy,
) -> list[Reason]:
    """Every reason for row ``i`` of columns (name → array) holding areas, exclusions and distances."""
    if bool(table["geometry_empty"][i]):
        msg = policy.messages["GEOMETRY_EMPTY"]
        return [
            Reason(
                "GEOMETRY_EMPTY", "block", None, None, "", "数据质量 / data quality", msg.zh, msg.en
            )
        ]
    reasons = _constraint_reasons(i, table, constraint_kinds, policy)
    net = float(table["net_available_m2"][i])
    floor = policy.tolerances.min_net_available_m2
    if net < floor:
        reasons.append(
            _reason(
                policy,
                "NO_AVAILABLE_LAND",
                code="NO_AVAILABLE_LAND",
                severity="block",
                value=net,
                threshold=floor,
                unit="m2",
                basis="扣除三区三线等限制后无可用土地",
            )
        )
    reasons.extend(_network_reasons(i, table, network_kinds, policy))
    reasons.extend(_slope_reasons(i, table, policy))
    return reasons


def _slope_reasons(i: int, table: Mapping[str, np.ndarray], policy: Policy) -> list[Reason]:
    rule = policy.terrain
    if "steep_share" not in table or rule.requirement == "ignore":
        return []
    share = float(table["steep_share"][i])
    if math.isnan(share) or share <= rule.max_steep_share:
        return []
    return [
        _reason(
            policy,
            "SLOPE_TOO_STEEP",
            code="SLOPE_TOO_STEEP",
            severity=rule.requirement,
            value=share,
            threshold=rule.max_steep_share,
            unit="share",
            basis=rule.basis,
            value_pct=100 * share,
            threshold_pct=100 * rule.max_steep_share,
            limit_deg=rule.max_slope_deg,
            mean_deg=float(table["slope_mean_deg"][i]),
        )
    ]


def _may_have_reasons(cols: dict, policy: Policy, constraint_kinds, network_kinds) -> np.ndarray:
    """Rows that can have any reason at all (a vectorised pre-filter; the rest are clean)."""
    n = len(cols["area_m2"])
    maybe = np.asarray(cols["geometry_empty"], dtype=bool).copy()
    maybe |= (
        np.asarray(cols["net_available_m2"], dtype=float) < policy.tolerances.min_net_available_m2
    )
    for kind in constraint_kinds:
        maybe |= (
            np.asarray(cols[f"excluded_{kind}_m2"], dtype=float) > policy.tolerances.ignore_below_m2
        )
    for kind in network_kinds:
        rule = policy.networks.get(kind)
        if rule is None or rule.requirement == "ignore":
            continue
        dist = np.asarray(cols[f"dist_{kind}_m"], dtype=float)
        maybe |= np.isnan(dist) | (dist > rule.connectable_m)
    if "steep_share" in cols and policy.terrain.requirement != "ignore":
        maybe |= (
            np.nan_to_num(np.asarray(cols["steep_share"], dtype=float))
            > policy.terrain.max_steep_share
        )
    return maybe if len(maybe) == n else np.ones(n, bool)


def _as_json(reason: Reason, cache: dict[Reason, str]) -> str:
    text = cache.get(reason)
    if text is None:
        text = cache[reason] = json.dumps(reason.to_dict(), ensure_ascii=False)
    return text


def decide(
    table: pd.DataFrame,
    policy: Policy,
    /,
    *,
    constraint_kinds: Sequence[str],
    network_kinds: Sequence[str],
) -> pd.DataFrame:
    """Verdict columns for every parcel row of ``table``.

    Returns ``transferable`` (bool), ``verdict`` (``transferable`` /
    ``transferable_with_warnings`` / ``blocked``), ``reasons`` (JSON array of
    reason objects), ``reason_codes`` (``;``-joined), ``reasons_zh`` and ``reasons_en``.
    """
    n = len(table)
    cols = {
        c: table[c].to_numpy() for c in table.columns
    }  # numpy row access: 100× faster than .iat
    maybe = _may_have_reasons(cols, policy, constraint_kinds, network_kinds)
    verdict = np.full(n, "transferable", dtype=object)
    reasons_json, codes, text_zh, text_en = ["[]"] * n, [""] * n, [""] * n, [""] * n
    fragments: dict[Reason, str] = {}
    for i in np.flatnonzero(maybe):
        rs = parcel_reasons(
            i, cols, constraint_kinds=constraint_kinds, network_kinds=network_kinds, policy=policy
        )
        if not rs:
            continue
        blocked = any(r.severity == "block" for r in rs)
        verdict[i] = (
            "blocked" if blocked else ("transferable_with_warnings" if rs else "transferable")
        )
        reasons_json[i] = "[" + ", ".join(_as_json(r, fragments) for r in rs) + "]"
        codes[i] = ";".join(r.code for r in rs)
        text_zh[i] = "；".join(r.message_zh for r in rs)
        text_en[i] = "; ".join(r.message_en for r in rs)
    return pd.DataFrame(
        {
            "transferable": verdict != "blocked",
            "verdict": verdict,
            "reasons": reasons_json,
            "reason_codes": codes,
            "reasons_zh": text_zh,
            "reasons_en": text_en,
        },
        index=table.index,
    )


def reason_counts(reasons_json: Sequence[str], net_mu: Sequence[float], /) -> pd.DataFrame:
    """Parcels and gross 亩 affected per reason code and severity."""
    rows = []
    for text, mu in zip(reasons_json, net_mu, strict=True):
        for r in json.loads(text):
            rows.append((r["code"], r["severity"], mu))
    df = pd.DataFrame(rows, columns=["code", "severity", "area_mu"])
    if df.empty:
        return pd.DataFrame(columns=["code", "severity", "parcels", "area_mu"])
    out = df.groupby(["code", "severity"], as_index=False).agg(
        parcels=("area_mu", "size"), area_mu=("area_mu", "sum")
    )
    return out.sort_values(["severity", "parcels"], ascending=[True, False]).reset_index(drop=True)

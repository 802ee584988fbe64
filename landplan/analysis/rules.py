"""The transfer rule table: every rule once, with its vectorised pre-filter and its reason builder.

A rule looks at the per-parcel columns (name → array) and gives at most one
:class:`~landplan.core.reasons.Reason` per parcel.  It has two halves:

* ``may_apply(cols)`` — a vectorised test over whole arrays: the rows the rule *may* flag.
  It must never leave out a row the builder would flag (a test checks this on random frames);
  rows it leaves out are never looked at again, which is what makes verdicts fast.
* ``build(cols, rows)`` — the reason for each of ``rows`` (or ``None`` where the exact test
  fails), computed column-wise over those rows, with one :class:`Reason` object per distinct
  message.

:func:`rule_table` lists the rules in the order reasons are reported:
geometry (exclusive: an unusable geometry gets that reason only), one rule per constraint kind,
no available land, one rule per network kind, slope.  Adding a reason code means adding one
rule here (and its message template, which profiles inherit through ``extends``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from landplan.core.policy import Policy
from landplan.core.reasons import Reason
from landplan.core.units import m2_to_mu

Columns = Mapping[str, np.ndarray]

_REASONS: dict[tuple, Reason] = {}  # identical reasons (e.g. an absent network) are built once
_MAX_CACHED = 50_000


def make_reason(
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
    """A reason with its message filled from the policy's bilingual ``template``."""
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


@dataclass(frozen=True)
class Rule:
    """One transfer rule (see the module docstring)."""

    name: str
    may_apply: Callable[[Columns], np.ndarray]
    build: Callable[[Columns, np.ndarray], list[Reason | None]]
    exclusive: bool = False  # rows it flags get no other reason


def _floats(cols: Columns, name: str, rows: np.ndarray) -> np.ndarray:
    return np.asarray(cols[name], dtype=float)[rows]


# --------------------------------------------------------------------------- the rules


def geometry_rule(policy: Policy) -> Rule:
    """``GEOMETRY_EMPTY`` / ``GEOMETRY_INVALID``: no usable geometry, so no area (blocks)."""

    def may_apply(cols: Columns) -> np.ndarray:
        return np.asarray(cols["geometry_empty"], dtype=bool)

    def build(cols: Columns, rows: np.ndarray) -> list[Reason | None]:
        empty = np.asarray(cols["geometry_empty"], dtype=bool)[rows]
        invalid = (
            np.asarray(cols["geometry_invalid"], dtype=bool)[rows]
            if "geometry_invalid" in cols
            else np.zeros(len(rows), bool)
        )
        out: list[Reason | None] = []
        for e, bad in zip(empty.tolist(), invalid.tolist(), strict=True):
            if not e:
                out.append(None)
                continue
            code = "GEOMETRY_INVALID" if bad else "GEOMETRY_EMPTY"
            msg = policy.messages[code]
            out.append(
                Reason(code, "block", None, None, "", "数据质量 / data quality", msg.zh, msg.en)
            )
        return out

    return Rule("geometry", may_apply, build, exclusive=True)


def constraint_rule(policy: Policy, kind: str) -> Rule:
    """An overlap with (or, for ``require_inside``, land outside) one constraint kind."""
    rule = policy.rule_for(kind)
    column = f"excluded_{kind}_m2"
    ignore, tol = policy.tolerances.ignore_below_m2, policy.tolerances.sliver_m2

    def may_apply(cols: Columns) -> np.ndarray:
        return np.asarray(cols[column], dtype=float) > ignore

    def build(cols: Columns, rows: np.ndarray) -> list[Reason | None]:
        value = _floats(cols, column, rows)
        gross = _floats(cols, "area_m2", rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(gross > 0, 100.0 * value / gross, 0.0)
        if rule.action == "warn":
            template = np.full(len(rows), "WARN_OVERLAP", dtype=object)
        else:
            hard = "OUTSIDE" if rule.action == "require_inside" else "OVERLAP"
            template = np.where(value <= tol, "OVERLAP_SLIVER", hard).astype(object)
        severity = np.where(
            (template == "WARN_OVERLAP") | (template == "OVERLAP_SLIVER"), "warn", "block"
        )
        out: list[Reason | None] = []
        for v, t, s, mu, pct in zip(
            value.tolist(),
            template.tolist(),
            severity.tolist(),
            m2_to_mu(value).tolist(),
            share.tolist(),
            strict=True,
        ):
            if not v > ignore:
                out.append(None)
                continue
            out.append(
                make_reason(
                    policy,
                    t,
                    code=rule.code,
                    severity=s,
                    value=v,
                    threshold=tol,
                    unit="m2",
                    basis=rule.basis,
                    label_zh=rule.label_zh,
                    label_en=rule.label_en,
                    value_mu=mu,
                    share_pct=pct,
                )
            )
        return out

    return Rule(f"constraint:{kind}", may_apply, build)


def no_land_rule(policy: Policy) -> Rule:
    """``NO_AVAILABLE_LAND``: less than the minimum net area remains (blocks)."""
    floor = policy.tolerances.min_net_available_m2

    def may_apply(cols: Columns) -> np.ndarray:
        return np.asarray(cols["net_available_m2"], dtype=float) < floor

    def build(cols: Columns, rows: np.ndarray) -> list[Reason | None]:
        return [
            make_reason(
                policy,
                "NO_AVAILABLE_LAND",
                code="NO_AVAILABLE_LAND",
                severity="block",
                value=net,
                threshold=floor,
                unit="m2",
                basis="扣除三区三线等限制后无可用土地",
            )
            if net < floor
            else None
            for net in _floats(cols, "net_available_m2", rows).tolist()
        ]

    return Rule("no_available_land", may_apply, build)


def _planned_text(dist_planned: float, rule) -> tuple[str, str]:
    if np.isnan(dist_planned):
        return "；亦无规划线路", "; none is planned either"
    return (
        f"；规划{rule.label_zh}距 {dist_planned:.0f} m",
        f"; a planned {rule.label_en} runs {dist_planned:.0f} m away",
    )


def network_rule(policy: Policy, kind: str) -> Rule | None:
    """``NETWORK_MISSING:<kind>`` (none within ``connectable_m``) or ``NETWORK_DATA_NOT_PROVIDED:<kind>``."""
    rule = policy.networks.get(kind)
    if rule is None or rule.requirement == "ignore":
        return None
    column, status_column = f"dist_{kind}_m", f"net_{kind}_status"

    def may_apply(cols: Columns) -> np.ndarray:
        dist = np.asarray(cols[column], dtype=float)
        return np.isnan(dist) | (dist > rule.connectable_m)

    def build(cols: Columns, rows: np.ndarray) -> list[Reason | None]:
        dist = _floats(cols, column, rows)
        planned = _floats(cols, f"dist_planned_{kind}_m", rows)
        status = (
            np.asarray(cols[status_column], dtype=object)[rows]
            if status_column in cols
            else np.full(len(rows), "", dtype=object)
        )
        out: list[Reason | None] = []
        for d, p, st in zip(dist.tolist(), planned.tolist(), status.tolist(), strict=True):
            if not (np.isnan(d) or d > rule.connectable_m):
                out.append(None)
            elif st == "not_provided":
                out.append(
                    make_reason(
                        policy,
                        "NETWORK_NOT_PROVIDED",
                        code=f"NETWORK_DATA_NOT_PROVIDED:{kind}",
                        severity=rule.requirement,
                        value=None,
                        threshold=rule.connectable_m,
                        unit="m",
                        basis=rule.basis,
                        label_zh=rule.label_zh,
                        label_en=rule.label_en,
                    )
                )
            else:
                planned_zh, planned_en = _planned_text(p, rule)
                out.append(
                    make_reason(
                        policy,
                        "NETWORK_ABSENT" if np.isnan(d) else "NETWORK_MISSING",
                        code=f"NETWORK_MISSING:{kind}",
                        severity=rule.requirement,
                        value=None if np.isnan(d) else d,
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

    return Rule(f"network:{kind}", may_apply, build)


def slope_rule(policy: Policy) -> Rule | None:
    """``SLOPE_TOO_STEEP``: more than ``max_steep_share`` of the parcel is too steep (with a DEM)."""
    rule = policy.terrain
    if rule.requirement == "ignore":
        return None

    def may_apply(cols: Columns) -> np.ndarray:
        if "steep_share" not in cols:
            return np.zeros(len(cols["area_m2"]), bool)
        return np.nan_to_num(np.asarray(cols["steep_share"], dtype=float)) > rule.max_steep_share

    def build(cols: Columns, rows: np.ndarray) -> list[Reason | None]:
        if "steep_share" not in cols:
            return [None] * len(rows)
        share = _floats(cols, "steep_share", rows)
        mean = _floats(cols, "slope_mean_deg", rows)
        return [
            None
            if np.isnan(s) or s <= rule.max_steep_share
            else make_reason(
                policy,
                "SLOPE_TOO_STEEP",
                code="SLOPE_TOO_STEEP",
                severity=rule.requirement,
                value=s,
                threshold=rule.max_steep_share,
                unit="share",
                basis=rule.basis,
                value_pct=pct,
                threshold_pct=100 * rule.max_steep_share,
                limit_deg=rule.max_slope_deg,
                mean_deg=m,
            )
            for s, pct, m in zip(share.tolist(), (100 * share).tolist(), mean.tolist(), strict=True)
        ]

    return Rule("slope", may_apply, build)


def rule_table(
    policy: Policy, /, *, constraint_kinds: Sequence[str], network_kinds: Sequence[str]
) -> list[Rule]:
    """Every rule that applies under ``policy``, in the order reasons are reported."""
    rules = [geometry_rule(policy)]
    rules += [constraint_rule(policy, k) for k in constraint_kinds]
    rules.append(no_land_rule(policy))
    rules += [network_rule(policy, k) for k in network_kinds]
    rules.append(slope_rule(policy))
    return [r for r in rules if r is not None]


@dataclass(frozen=True)
class Flagged:
    """Every reason of every row, long form: ``rows[j]`` has ``reasons[j]``; grouped by row, in rule order."""

    n: int
    rows: np.ndarray
    reasons: list[Reason]


def apply_rules(cols: Columns, rules: Sequence[Rule], /) -> Flagged:
    """Run the rule table over whole columns: each rule's pre-filter, then its builder on those rows."""
    n = len(next(iter(cols.values()))) if cols else 0
    open_rows = np.ones(n, bool)
    rows_parts: list[np.ndarray] = []
    reasons: list[Reason] = []
    for rule in rules:
        rows = np.flatnonzero(np.asarray(rule.may_apply(cols), dtype=bool) & open_rows)
        if len(rows) == 0:
            continue
        built = rule.build(cols, rows)
        hit = np.fromiter((r is not None for r in built), dtype=bool, count=len(built))
        rows_parts.append(rows[hit])
        reasons.extend(r for r in built if r is not None)
        if rule.exclusive:
            open_rows[rows[hit]] = False
    if not rows_parts:
        return Flagged(n, np.zeros(0, dtype=np.int64), [])
    rows_all = np.concatenate(rows_parts)
    order = np.argsort(rows_all, kind="stable")  # by row; rule order kept within a row
    return Flagged(n, rows_all[order], [reasons[j] for j in order.tolist()])

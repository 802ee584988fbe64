"""The transfer rule table: every rule once, with its vectorised pre-filter and its reason builder.

A rule looks at the per-parcel columns (name → array) and gives at most one
:class:`~landplan.core.reasons.Reason` per parcel.  It has two halves:

* ``may_apply(cols)`` — a vectorised test over whole arrays: the rows the rule *may* flag.
  It must never leave out a row the builder would flag (a test checks this on random frames);
  rows it leaves out are never looked at again, which is what makes verdicts fast.
* ``build(cols, rows)`` — a :class:`Built`: which of ``rows`` the exact test flags and, for
  those, the reason fields as arrays (code, severity, value, messages …), computed column-wise.
  :class:`Flagged` gathers them for the whole table; :class:`Reason` objects are made only on
  request (``Flagged.reasons``, ``Built.reasons()``).

:func:`rule_table` lists the rules in the order reasons are reported:
geometry (exclusive: an unusable geometry gets that reason only), one rule per constraint kind,
no available land, one rule per network kind, slope.  Adding a reason code means adding one
rule here (and its message template, which profiles inherit through ``extends``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import repeat
from string import Formatter

import numpy as np

from landplan.core.policy import Policy
from landplan.core.reasons import Reason
from landplan.core.units import m2_to_mu

Columns = Mapping[str, np.ndarray]


def _nan(v) -> float:
    return float("nan") if v is None else float(v)


@dataclass(frozen=True)
class Built:
    """What one rule gives the ``rows`` it was asked about, column-wise.

    ``hit[i]`` says whether ``rows[i]`` gets a reason; the other arrays hold one entry per hit,
    in order.  ``value`` and ``threshold`` are NaN where a reason has none (JSON ``null``).
    """

    hit: np.ndarray
    code: np.ndarray
    severity: np.ndarray
    value: np.ndarray
    threshold: float
    unit: str
    basis: str
    message_zh: np.ndarray
    message_en: np.ndarray

    def reasons(self) -> list[Reason | None]:
        """One :class:`Reason` (or ``None``) per asked row: the object form, for tests and tools."""
        out: list[Reason | None] = [None] * len(self.hit)
        for j, i in enumerate(np.flatnonzero(self.hit).tolist()):
            out[i] = Reason(
                str(self.code[j]),
                str(self.severity[j]),
                _none(self.value[j]),
                _none(self.threshold),
                self.unit,
                self.basis,
                self.message_zh[j],
                self.message_en[j],
            )
        return out


def _none(v) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v


def _built(
    hit: np.ndarray,
    *,
    code,
    severity,
    value,
    threshold,
    unit: str,
    basis: str,
    messages: tuple[list[str], list[str]],
) -> Built:
    k = int(np.count_nonzero(hit))
    return Built(
        hit=np.asarray(hit, dtype=bool),
        code=_column(code, k),
        severity=_column(severity, k),
        value=np.asarray(value, dtype=float) if np.ndim(value) else np.full(k, _nan(value)),
        threshold=_nan(threshold),
        unit=unit,
        basis=basis,
        message_zh=_column(messages[0], k),
        message_en=_column(messages[1], k),
    )


def _column(v, k: int) -> np.ndarray:
    if isinstance(v, str):
        return np.full(k, v, dtype=object)
    out = np.empty(k, dtype=object)
    out[:] = list(v)
    return out


_CONVERSIONS = {"r": repr, "s": str, "a": ascii}


@lru_cache(maxsize=512)
def _pieces(template: str) -> tuple[tuple[str, str | None, str, str | None], ...] | None:
    """``template`` as (literal, field, spec, conversion) pieces, or None where a field is not a
    plain name or its spec is nested (those are filled one by one with ``format_map``)."""
    out = []
    for literal, field, spec, conversion in Formatter().parse(template):
        if field is not None and (not field.isidentifier() or "{" in (spec or "")):
            return None
        out.append((literal, field, spec or "", conversion))
    return tuple(out)


def _format_column(template: str, consts: Mapping[str, object], varying: dict, k: int) -> list:
    """``template.format_map`` of ``k`` rows (``varying``: name → one value per row), field by field:
    each field is formatted over its whole column, then the rows are joined."""
    pieces = _pieces(template)
    if pieces is None:
        keys = list(varying)
        return [
            template.format_map({**consts, **dict(zip(keys, vals, strict=True))})
            for vals in zip(*varying.values(), strict=True)
        ]
    parts: list = []
    for literal, field, spec, conversion in pieces:
        if literal:
            parts.append(literal)
        if field is None:
            continue
        convert = _CONVERSIONS[conversion] if conversion else None
        if field in varying:
            values = varying[field] if convert is None else map(convert, varying[field])
            parts.append(list(map(format, values, repeat(spec))))
        else:
            value = consts[field]  # KeyError as format_map's
            parts.append(format(value if convert is None else convert(value), spec))
    if all(isinstance(p, str) for p in parts):
        return ["".join(parts)] * k
    merged: list = []  # neighbouring constant pieces joined once
    for p in parts:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    columns = (repeat(p) if isinstance(p, str) else p for p in merged)  # every list has k rows
    return list(map("".join, zip(*columns, strict=False)))


def _fill(policy: Policy, templates, ctx: Mapping[str, object], k: int) -> tuple[list, list]:
    """The bilingual messages of ``k`` reasons: ``templates`` (one name or one per reason) filled
    from ``ctx`` (name → a constant or a list with one value per reason), column by column."""
    if not k:
        return [], []
    consts = {n: v for n, v in ctx.items() if not isinstance(v, list)}
    varying = {n: v for n, v in ctx.items() if isinstance(v, list)}
    if isinstance(templates, str) or len(set(templates)) == 1:
        msg = policy.messages[templates if isinstance(templates, str) else templates[0]]
        return (
            _format_column(msg.zh, consts, varying, k),
            _format_column(msg.en, consts, varying, k),
        )
    names = np.asarray(templates, dtype=object)
    columns = {n: np.asarray(v, dtype=object) for n, v in varying.items()}
    zh = np.empty(k, dtype=object)
    en = np.empty(k, dtype=object)
    for name in dict.fromkeys(templates):
        rows = np.flatnonzero(names == name)
        sub = {n: v[rows].tolist() for n, v in columns.items()}
        msg = policy.messages[name]
        zh[rows] = _format_column(msg.zh, consts, sub, len(rows))
        en[rows] = _format_column(msg.en, consts, sub, len(rows))
    return zh.tolist(), en.tolist()


@dataclass(frozen=True)
class Rule:
    """One transfer rule (see the module docstring)."""

    name: str
    may_apply: Callable[[Columns], np.ndarray]
    build: Callable[[Columns, np.ndarray], Built]
    exclusive: bool = False  # rows it flags get no other reason


def _floats(cols: Columns, name: str, rows: np.ndarray) -> np.ndarray:
    return np.asarray(cols[name], dtype=float)[rows]


# --------------------------------------------------------------------------- the rules


def geometry_rule(policy: Policy) -> Rule:
    """``GEOMETRY_EMPTY`` / ``GEOMETRY_INVALID``: no usable geometry, so no area (blocks)."""

    def may_apply(cols: Columns) -> np.ndarray:
        return np.asarray(cols["geometry_empty"], dtype=bool)

    def build(cols: Columns, rows: np.ndarray) -> Built:
        hit = np.asarray(cols["geometry_empty"], dtype=bool)[rows]
        invalid = (
            np.asarray(cols["geometry_invalid"], dtype=bool)[rows][hit]
            if "geometry_invalid" in cols
            else np.zeros(int(hit.sum()), bool)
        )
        code = np.where(invalid, "GEOMETRY_INVALID", "GEOMETRY_EMPTY").tolist()
        return _built(
            hit,
            code=code,
            severity="block",
            value=None,
            threshold=None,
            unit="",
            basis="数据质量 / data quality",
            messages=(
                [policy.messages[c].zh for c in code],
                [policy.messages[c].en for c in code],
            ),
        )

    return Rule("geometry", may_apply, build, exclusive=True)


def constraint_rule(policy: Policy, kind: str) -> Rule:
    """An overlap with (or, for ``require_inside``, land outside) one constraint kind."""
    rule = policy.rule_for(kind)
    column = f"excluded_{kind}_m2"
    ignore, tol = policy.tolerances.ignore_below_m2, policy.tolerances.sliver_m2

    def may_apply(cols: Columns) -> np.ndarray:
        return np.asarray(cols[column], dtype=float) > ignore

    def build(cols: Columns, rows: np.ndarray) -> Built:
        value = _floats(cols, column, rows)
        hit = value > ignore
        value = value[hit]
        gross = _floats(cols, "area_m2", rows)[hit]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(gross > 0, 100.0 * value / gross, 0.0)
        if rule.action == "warn":
            template = np.full(len(value), "WARN_OVERLAP", dtype=object)
        else:
            hard = "OUTSIDE" if rule.action == "require_inside" else "OVERLAP"
            template = np.where(value <= tol, "OVERLAP_SLIVER", hard).astype(object)
        severity = np.where(
            (template == "WARN_OVERLAP") | (template == "OVERLAP_SLIVER"), "warn", "block"
        )
        ctx = {
            "value": value.tolist(),
            "threshold": tol,
            "label_zh": rule.label_zh,
            "label_en": rule.label_en,
            "value_mu": m2_to_mu(value).tolist(),
            "share_pct": share.tolist(),
        }
        return _built(
            hit,
            code=rule.code,
            severity=severity.tolist(),
            value=value,
            threshold=tol,
            unit="m2",
            basis=rule.basis,
            messages=_fill(policy, template.tolist(), ctx, len(value)),
        )

    return Rule(f"constraint:{kind}", may_apply, build)


def no_land_rule(policy: Policy) -> Rule:
    """``NO_AVAILABLE_LAND``: less than the minimum net area remains (blocks)."""
    floor = policy.tolerances.min_net_available_m2

    def may_apply(cols: Columns) -> np.ndarray:
        return np.asarray(cols["net_available_m2"], dtype=float) < floor

    def build(cols: Columns, rows: np.ndarray) -> Built:
        net = _floats(cols, "net_available_m2", rows)
        hit = net < floor
        value = net[hit]
        ctx = {"value": value.tolist(), "threshold": floor}
        return _built(
            hit,
            code="NO_AVAILABLE_LAND",
            severity="block",
            value=value,
            threshold=floor,
            unit="m2",
            basis="扣除三区三线等限制后无可用土地",
            messages=_fill(policy, "NO_AVAILABLE_LAND", ctx, len(value)),
        )

    return Rule("no_available_land", may_apply, build)


def _planned_texts(dist_planned: np.ndarray, rule) -> tuple[list[str], list[str]]:
    """Per reason, the clause naming the nearest planned line (or saying none is planned)."""
    none = np.isnan(dist_planned).tolist()
    metres = list(map(format, dist_planned.tolist(), repeat(".0f")))
    zh, en = f"；规划{rule.label_zh}距 ", f"; a planned {rule.label_en} runs "
    return (
        ["；亦无规划线路" if n else f"{zh}{m} m" for n, m in zip(none, metres, strict=True)],
        [
            "; none is planned either" if n else f"{en}{m} m away"
            for n, m in zip(none, metres, strict=True)
        ],
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

    def build(cols: Columns, rows: np.ndarray) -> Built:
        dist = _floats(cols, column, rows)
        hit = np.isnan(dist) | (dist > rule.connectable_m)
        dist = dist[hit]
        planned = _floats(cols, f"dist_planned_{kind}_m", rows)[hit]
        status = (
            np.asarray(cols[status_column], dtype=object)[rows][hit]
            if status_column in cols
            else np.full(len(dist), "", dtype=object)
        )
        absent = status == "not_provided"
        labels = {"label_zh": rule.label_zh, "label_en": rule.label_en}
        value = np.where(absent, np.nan, dist)
        zh = np.empty(len(dist), dtype=object)
        en = np.empty(len(dist), dtype=object)
        if absent.any():  # no layer at all: one message, shared by every such parcel
            ctx = {"value": float("nan"), "threshold": rule.connectable_m, **labels}
            one = _fill(policy, "NETWORK_NOT_PROVIDED", ctx, 1)
            zh[absent], en[absent] = one[0][0], one[1][0]
        far = ~absent
        if far.any():
            planned_zh, planned_en = _planned_texts(planned[far], rule)
            zh[far], en[far] = _fill(
                policy,
                np.where(np.isnan(dist[far]), "NETWORK_ABSENT", "NETWORK_MISSING").tolist(),
                {
                    "value": value[far].tolist(),
                    "threshold": rule.connectable_m,
                    **labels,
                    "planned_zh": planned_zh,
                    "planned_en": planned_en,
                },
                int(far.sum()),
            )
        return _built(
            hit,
            code=np.where(
                absent, f"NETWORK_DATA_NOT_PROVIDED:{kind}", f"NETWORK_MISSING:{kind}"
            ).tolist(),
            severity=rule.requirement,
            value=value,
            threshold=rule.connectable_m,
            unit="m",
            basis=rule.basis,
            messages=(zh, en),
        )

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

    def build(cols: Columns, rows: np.ndarray) -> Built:
        if "steep_share" not in cols:
            share = np.full(len(rows), np.nan)
            mean = share
        else:
            share = _floats(cols, "steep_share", rows)
            mean = _floats(cols, "slope_mean_deg", rows)
        hit = ~np.isnan(share) & (share > rule.max_steep_share)
        share, mean = share[hit], mean[hit]
        ctx = {
            "value": share.tolist(),
            "threshold": rule.max_steep_share,
            "value_pct": (100 * share).tolist(),
            "threshold_pct": 100 * rule.max_steep_share,
            "limit_deg": rule.max_slope_deg,
            "mean_deg": mean.tolist(),
        }
        return _built(
            hit,
            code="SLOPE_TOO_STEEP",
            severity=rule.requirement,
            value=share,
            threshold=rule.max_steep_share,
            unit="share",
            basis=rule.basis,
            messages=_fill(policy, "SLOPE_TOO_STEEP", ctx, len(share)),
        )

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


_FIELDS = ("code", "severity", "value", "threshold", "unit", "basis", "message_zh", "message_en")


@dataclass(frozen=True)
class Flagged:
    """Every reason of every row, long form and column-wise: ``rows[j]`` has the ``j``-th entry
    of each field; grouped by row, in rule order.  ``value``/``threshold`` are NaN for none."""

    n: int
    rows: np.ndarray
    code: np.ndarray
    severity: np.ndarray
    value: np.ndarray
    threshold: np.ndarray
    unit: np.ndarray
    basis: np.ndarray
    message_zh: np.ndarray
    message_en: np.ndarray

    @classmethod
    def empty(cls, n: int = 0) -> Flagged:
        none = np.zeros(0, dtype=object)
        floats = np.zeros(0, dtype=float)
        return cls(n, np.zeros(0, np.int64), none, none, floats, floats, none, none, none, none)

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def reasons(self) -> list[Reason]:
        """The reasons as :class:`Reason` objects (built on first use; the columns are the data)."""
        return [
            Reason(str(c), str(s), _none(v), _none(t), u, b, z, e)
            for c, s, v, t, u, b, z, e in zip(*(getattr(self, f) for f in _FIELDS), strict=True)
        ]


def apply_rules(cols: Columns, rules: Sequence[Rule], /) -> Flagged:
    """Run the rule table over whole columns: each rule's pre-filter, then its builder on those rows."""
    n = len(next(iter(cols.values()))) if cols else 0
    open_rows = np.ones(n, bool)
    rows_parts: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {f: [] for f in _FIELDS}
    for rule in rules:
        rows = np.flatnonzero(np.asarray(rule.may_apply(cols), dtype=bool) & open_rows)
        if len(rows) == 0:
            continue
        built = rule.build(cols, rows)
        hit_rows = rows[built.hit]
        if len(hit_rows) == 0:
            continue
        rows_parts.append(hit_rows)
        k = len(hit_rows)
        for f in _FIELDS:
            v = getattr(built, f)
            parts[f].append(v if isinstance(v, np.ndarray) else np.full(k, v, dtype=_dtype(f)))
        if rule.exclusive:
            open_rows[hit_rows] = False
    if not rows_parts:
        return Flagged.empty(n)
    rows_all = np.concatenate(rows_parts)
    order = np.argsort(rows_all, kind="stable")  # by row; rule order kept within a row
    columns = {f: np.concatenate(parts[f])[order] for f in _FIELDS}
    return Flagged(n, rows_all[order], **columns)


def _dtype(field: str):
    return float if field in ("value", "threshold") else object

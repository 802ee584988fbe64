"""Transfer verdicts: is each parcel transferable (可出让) now, and if not, every reason why.

Each reason carries a stable ``code``, a ``severity`` (``block`` or ``warn``), the
measured ``value`` with its ``unit``, the ``threshold`` it was held against, the
legal ``basis``, and a message in Chinese and English.  A parcel is transferable
when it has no ``block`` reason.

The rules themselves live once in :mod:`landplan.analysis.rules` (a vectorised pre-filter and
a reason builder each).  :func:`assess` runs them over whole columns and keeps the reasons as
:class:`~landplan.core.reasons.Reason` objects; :func:`decide` gives the verdict columns, with
the JSON text of each parcel's reasons that the stores write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from landplan.analysis.rules import Flagged, apply_rules, rule_table
from landplan.core.policy import Policy
from landplan.core.reasons import Reason

VERDICT_COLUMNS = ("transferable", "verdict", "reasons", "reason_codes", "reasons_zh", "reasons_en")


@dataclass(frozen=True)
class Verdicts:
    """Verdict columns plus every reason as an object (long form, see :class:`~landplan.analysis.rules.Flagged`)."""

    frame: pd.DataFrame
    flagged: Flagged

    def reason_table(self) -> pd.DataFrame:
        """One row per (parcel row, reason): ``row`` (position), ``code``, ``severity``, ``value``, …"""
        return reason_table(self.flagged)


def reason_table(flagged: Flagged, /) -> pd.DataFrame:
    """The long table of :class:`Flagged`: ``row`` plus the fields of :class:`Reason`."""
    cols = ("code", "severity", "value", "threshold", "unit", "basis", "message_zh", "message_en")
    data = {"row": flagged.rows}
    for c in cols:
        data[c] = [getattr(r, c) for r in flagged.reasons]
    return pd.DataFrame(data, columns=["row", *cols])


def _json(reason: Reason, cache: dict[int, str]) -> str:
    text = cache.get(id(reason))
    if text is None:
        text = cache[id(reason)] = json.dumps(reason.to_dict(), ensure_ascii=False)
    return text


def assess(
    table: pd.DataFrame,
    policy: Policy,
    /,
    *,
    constraint_kinds: Sequence[str],
    network_kinds: Sequence[str],
) -> Verdicts:
    """Run the rule table over every parcel row of ``table``: verdict columns and reason objects."""
    cols = {c: table[c].to_numpy() for c in table.columns}
    rules = rule_table(policy, constraint_kinds=constraint_kinds, network_kinds=network_kinds)
    flagged = apply_rules(cols, rules) if len(table) else Flagged(0, np.zeros(0, np.int64), [])
    n = len(table)
    verdict = np.full(n, "transferable", dtype=object)
    reasons_json = np.full(n, "[]", dtype=object)
    codes = np.full(n, "", dtype=object)
    text_zh = np.full(n, "", dtype=object)
    text_en = np.full(n, "", dtype=object)
    rows = flagged.rows
    if len(rows):
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        fragments: dict[int, str] = {}
        combos: dict[tuple[int, ...], tuple] = {}  # parcels with the same reasons share one text
        objs = flagged.reasons
        keys = [id(r) for r in objs]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            key = tuple(keys[s:e])
            done = combos.get(key)
            if done is None:
                rs = objs[s:e]
                blocked = any(r.severity == "block" for r in rs)
                done = combos[key] = (
                    "blocked" if blocked else "transferable_with_warnings",
                    "[" + ", ".join(_json(r, fragments) for r in rs) + "]",
                    ";".join(r.code for r in rs),
                    "；".join(r.message_zh for r in rs),
                    "; ".join(r.message_en for r in rs),
                )
            i = rows[s]
            verdict[i], reasons_json[i], codes[i], text_zh[i], text_en[i] = done
    frame = pd.DataFrame(
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
    return Verdicts(frame, flagged)


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
    return assess(
        table, policy, constraint_kinds=constraint_kinds, network_kinds=network_kinds
    ).frame


def _counts(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=["code", "severity", "parcels", "area_mu"])
    out = df.groupby(["code", "severity"], as_index=False).agg(
        parcels=("area_mu", "size"), area_mu=("area_mu", "sum")
    )
    return out.sort_values(["severity", "parcels"], ascending=[True, False]).reset_index(drop=True)


def reason_counts_of(flagged: Flagged, area_mu, /) -> pd.DataFrame:
    """Parcels and gross 亩 affected per reason code and severity, from the reason objects."""
    area = np.asarray(area_mu, dtype=float)
    return _counts(
        pd.DataFrame(
            {
                "code": [r.code for r in flagged.reasons],
                "severity": [r.severity for r in flagged.reasons],
                "area_mu": area[flagged.rows],
            }
        )
    )


def blocking_codes_of(flagged: Flagged, /) -> list[set[str]]:
    """The set of ``block`` codes of every row (empty sets for clean rows)."""
    out: list[set[str]] = [set() for _ in range(flagged.n)]
    for i, r in zip(flagged.rows.tolist(), flagged.reasons, strict=True):
        if r.severity == "block":
            out[i].add(r.code)
    return out


def reason_counts(reasons_json: Sequence[str], net_mu: Sequence[float], /) -> pd.DataFrame:
    """Parcels and gross 亩 affected per reason code and severity, from written JSON reasons."""
    rows = []
    for text, mu in zip(reasons_json, net_mu, strict=True):
        for r in json.loads(text):
            rows.append((r["code"], r["severity"], mu))
    return _counts(pd.DataFrame(rows, columns=["code", "severity", "area_mu"]))

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
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from json.encoder import encode_basestring

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from landplan.analysis.rules import Flagged, apply_rules, rule_table
from landplan.core.policy import Policy
from landplan.core.reason_json import REASON_FIELDS, format_floats

VERDICT_COLUMNS = ("transferable", "verdict", "reasons", "reason_codes", "reasons_zh", "reasons_en")


@dataclass(frozen=True)
class Verdicts:
    """Verdict columns plus every reason, long form (see :class:`~landplan.analysis.rules.Flagged`)."""

    frame: pd.DataFrame
    flagged: Flagged

    def reason_table(self) -> pd.DataFrame:
        """One row per (parcel row, reason): ``row`` (position), ``code``, ``severity``, ``value``, …"""
        return reason_table(self.flagged)


def reason_table(flagged: Flagged, /) -> pd.DataFrame:
    """The long table of :class:`Flagged`: ``row`` plus the fields of :class:`Reason`."""
    cols = ("code", "severity", "value", "threshold", "unit", "basis", "message_zh", "message_en")
    data = {"row": flagged.rows} | {c: getattr(flagged, c) for c in cols}
    return pd.DataFrame(data, columns=["row", *cols])


_CHUNK = 8192  # parcels whose texts are assembled at a time (bounds the transient strings)
_OPEN, _CLOSE, _EMPTY, _QUOTE = (pa.scalar(t, pa.large_string()) for t in ("[", "]", "", '"'))
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'  # what json.dumps escapes in a str (ensure_ascii=False)
_KEYS = [  # the text before each field of a reason object, in Reason.to_dict's order
    pa.scalar(('{"' if i == 0 else ', "') + name + '": ', pa.large_string())
    for i, (name, _) in enumerate(REASON_FIELDS)
]
_END = pa.scalar("}", pa.large_string())


def _json_number(v: float) -> str:
    """A number as ``json.dumps`` writes :meth:`Reason.to_dict`'s (4 decimals, NaN → null)."""
    if v != v:
        return "null"
    if v in (math.inf, -math.inf):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(round(v, 4))


def _json_number_texts(values: np.ndarray) -> list[str]:
    """:func:`_json_number` of every value (C-level loops; the rare NaN and inf fixed after)."""
    out = list(map(repr, map(round, values.tolist(), repeat(4))))
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = _json_number(float(values[i]))
    return out


def _json_numbers(values: np.ndarray) -> pa.Array:
    """:func:`_json_number` of every value, each distinct value formatted once."""
    return format_floats(values, _json_number_texts)


def _distinct(values: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """``values`` (strings, few distinct) as Arrow and as JSON literals, each distinct one once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    plain = [str(u) for u in uniques]
    take = pa.array(codes)
    return (
        pa.array(plain, pa.large_string()).take(take),
        pa.array(list(map(encode_basestring, plain)), pa.large_string()).take(take),
    )


def _texts_json(values: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """``values`` (strings, mostly distinct) as Arrow and as JSON literals; quoted in Arrow, and
    escaped in Python only when some text has a character JSON escapes."""
    arr = pa.array(values, pa.large_string())
    if pc.any(pc.match_substring_regex(arr, _NEEDS_ESCAPE)).as_py():
        return arr, pa.array(list(map(encode_basestring, values.tolist())), pa.large_string())
    return arr, pc.binary_join_element_wise(_QUOTE, arr, _QUOTE, _EMPTY)


def _joined(items: pa.Array, offsets: np.ndarray, sep: str) -> pa.Array:
    """Per parcel, its reasons' ``items`` joined by ``sep`` (``offsets`` bound each parcel's)."""
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), items)
    return pc.binary_join(lists, pa.scalar(sep, pa.large_string()))


def _texts(f: Flagged) -> dict[str, pa.ChunkedArray]:
    """``reasons`` (JSON), ``reason_codes``, ``reasons_zh`` and ``reasons_en`` of every row.

    Each reason's JSON object is joined in Arrow from its fields' JSON texts, exactly as
    ``json.dumps(reason.to_dict(), ensure_ascii=False)`` writes it (tested against that)."""
    bounds = np.searchsorted(f.rows, np.arange(f.n + 1))  # reasons of row i: bounds[i]:bounds[i+1]
    out: dict[str, list[pa.Array]] = {k: [] for k in ("reasons", "codes", "zh", "en")}
    for start in range(0, max(f.n, 1), _CHUNK):
        stop = min(start + _CHUNK, f.n)
        lo, hi = int(bounds[start]), int(bounds[stop])
        offsets = bounds[start : stop + 1] - lo
        code, code_json = _distinct(f.code[lo:hi])
        zh, zh_json = _texts_json(f.message_zh[lo:hi])
        en, en_json = _texts_json(f.message_en[lo:hi])
        fields = [
            code_json,
            _distinct(f.severity[lo:hi])[1],
            _json_numbers(f.value[lo:hi]),
            _json_numbers(f.threshold[lo:hi]),
            _distinct(f.unit[lo:hi])[1],
            _distinct(f.basis[lo:hi])[1],
            zh_json,
            en_json,
        ]
        parts = [p for key, field in zip(_KEYS, fields, strict=True) for p in (key, field)]
        objects = pc.binary_join_element_wise(*parts, _END, _EMPTY)
        body = _joined(objects, offsets, ", ")
        out["reasons"].append(pc.binary_join_element_wise(_OPEN, body, _CLOSE, _EMPTY))
        out["codes"].append(_joined(code, offsets, ";"))
        out["zh"].append(_joined(zh, offsets, "；"))
        out["en"].append(_joined(en, offsets, "; "))
    return {k: pa.chunked_array(v, type=pa.large_string()) for k, v in out.items()}


def _strings(values: pa.ChunkedArray, index) -> pd.Series:
    return pd.Series(values.cast(pa.string()).to_pandas().array, index=index)


def assess(
    table: pd.DataFrame,
    policy: Policy,
    /,
    *,
    constraint_kinds: Sequence[str],
    network_kinds: Sequence[str],
) -> Verdicts:
    """Run the rule table over every parcel row of ``table``: verdict columns and the reasons.

    The reasons stay column-wise (:class:`Flagged`); the per-parcel texts are assembled from
    them in chunks, straight into Arrow strings, so no parcel's reasons become Python objects.
    """
    cols = {c: table[c].to_numpy() for c in table.columns}
    rules = rule_table(policy, constraint_kinds=constraint_kinds, network_kinds=network_kinds)
    n = len(table)
    flagged = apply_rules(cols, rules) if n else Flagged.empty(0)
    flagged_any = np.bincount(flagged.rows, minlength=n) > 0
    blocked = np.bincount(flagged.rows[flagged.severity == "block"], minlength=n) > 0
    verdict = np.where(
        blocked, "blocked", np.where(flagged_any, "transferable_with_warnings", "transferable")
    )
    texts = _texts(flagged)
    frame = pd.DataFrame(
        {
            "transferable": ~blocked,
            "verdict": pd.array(verdict, dtype="str"),
            "reasons": _strings(texts["reasons"], table.index),
            "reason_codes": _strings(texts["codes"], table.index),
            "reasons_zh": _strings(texts["zh"], table.index),
            "reasons_en": _strings(texts["en"], table.index),
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
    """Parcels and gross 亩 affected per reason code and severity, from the reason columns."""
    area = np.asarray(area_mu, dtype=float)
    return _counts(
        pd.DataFrame(
            {
                "code": flagged.code.astype(str),
                "severity": flagged.severity.astype(str),
                "area_mu": area[flagged.rows],
            }
        )
    )


def blocking_codes_of(flagged: Flagged, /) -> pd.DataFrame:
    """One boolean column per ``block`` code: which rows that code blocks (no columns if none)."""
    block = flagged.severity == "block"
    codes = flagged.code[block].astype(str)
    rows = flagged.rows[block]
    out = {}
    for code in sorted(set(codes.tolist())):
        hit = np.zeros(flagged.n, dtype=bool)
        hit[rows[codes == code]] = True
        out[code] = hit
    return pd.DataFrame(out, index=pd.RangeIndex(flagged.n))


def reason_counts(reasons_json: Sequence[str], net_mu: Sequence[float], /) -> pd.DataFrame:
    """Parcels and gross 亩 affected per reason code and severity, from written JSON reasons."""
    rows = []
    for text, mu in zip(reasons_json, net_mu, strict=True):
        for r in json.loads(text):
            rows.append((r["code"], r["severity"], mu))
    return _counts(pd.DataFrame(rows, columns=["code", "severity", "area_mu"]))

"""Compact, columnar parcel data for the HTML maps; the popups are built from it in the browser.

A page used to carry one pre-rendered popup per parcel (10 MB for 2,912 parcels, 331 MB
for 49,049).  :func:`compact_parcels` writes instead one JSON object of flat columns that the
page's single popup template (:data:`landplan.maps.popups.PARCEL_JS`) reads:

``ids``, ``cls``, ``v``
    parcel id, class index (colour of the legend class) and verdict index per parcel;
``num``
    ``{column: [value, ...]}`` for the area columns, rounded (m² to 0 decimals, 亩 to 2);
``dist``
    ``{kind: [metres, ...]}`` from the ``dist_<kind>_m`` columns (0 decimals); a column
    without any value is ``null`` (the popup shows "—" for every parcel);
``rn`` / ``r``
    the number of reasons of every parcel, and all parcels' reasons one after the other
    (in their order), each an index into ``R``;
``R``
    the table of distinct reasons (in order of first appearance), one column per field: ``c`` code, ``u`` unit and ``s``
    basis (indexes into the string table ``S``), ``b`` 1 for "block" else 0, ``v`` value and
    ``t`` threshold (4 decimals; ``null`` when missing), ``z`` / ``e`` the Chinese / English
    message (indexes into ``T``), ``q`` 1 when the English message takes the same numbers as
    the Chinese one, and ``a`` the numbers of all messages, row by row (the Chinese
    message's, then the English message's unless ``q``);
``T``
    message templates: ``s`` the template (index into ``S``), ``k`` how many numbers it takes.
    A template is the message with each number replaced by ``{}``, so that messages that
    differ only in their figures share one string; a number is kept as a JSON number only
    where JavaScript prints it back identically (else as its text), so decoding restores
    every message exactly.  A message holding ``{``, ``}`` or NUL is kept whole (``k`` 0);
``g``
    geometry: ``c`` the vertices of all rings, quantised to 1e-6 degree and delta-encoded
    within each ring (the closing vertex dropped), ``r`` vertices per ring, ``p`` rings per
    polygon, ``f`` polygons per parcel.

In Python the numeric columns are NumPy arrays (NaN for ``null``); :func:`to_script_json`
writes them through Arrow, without a Python object per number.

Everything is vectorised over the parcels.  The ``reasons`` column (JSON text) is parsed in
one pass by Arrow's JSON reader into columns (the pipeline's texts rarely repeat, as they hold
the measured figures, so they are not hashed first); where that reader refuses a text (not a
list of objects, a figure given as text, ...) the distinct texts go through
:func:`parse_reasons` one by one instead, with the same result and the same errors.  Reasons
are then deduplicated on integer codes, and messages templated once per distinct message
(Arrow's RE2 applies :data:`NUMBER` as Python's ``re`` does), into :class:`ReasonRows`, which
the chunks of a streamed write merge (:mod:`maps.streamed`) before :func:`lay_out_reasons`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from landplan.core.reason_json import POOL, fill_nulls, parse_reason_items

if TYPE_CHECKING:
    from geopandas import GeoDataFrame

SCALE = 1_000_000  # 1e-6 degree ≈ 0.1 m
#: area columns shown in the popup and their decimals
NUMBERS = {
    "area_m2": 0,
    "area_mu": 2,
    "area_ellipsoidal_m2": 0,
    "area_ellipsoidal_mu": 2,
    "excluded_mu": 2,
    "net_available_mu": 2,
}
VERDICT_KEYS = ("transferable", "transferable_with_warnings", "blocked")
#: a number inside a message (ASCII digits; the same rule in Python and in Arrow's RE2)
NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_NUMBER = re.compile(NUMBER)
_WHOLE = r"[{}\x00]"  # messages holding these are not templated
_POOL = POOL


def parse_reasons(raw: Any, /, *, parcel_id: str = "?") -> list[dict[str, Any]]:
    """Parse the ``reasons`` column (a JSON list of objects) of one parcel.

    Missing values and empty strings give ``[]``; an already-parsed list is returned
    as is.

    Raises
    ------
    ValueError
        If the text is not JSON or not a list, naming the parcel.
    """
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"parcel {parcel_id!r}: 'reasons' is not valid JSON ({exc.msg} at {exc.pos}); "
                "expected a JSON list of reason objects"
            ) from exc
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValueError(
            f"parcel {parcel_id!r}: 'reasons' must be a list, got {type(raw).__name__}"
        )
    return [r for r in raw if isinstance(r, Mapping)]


def _arg(text: str) -> int | float | str:
    """A number of a message as JSON: a number when JavaScript prints it back identically.

    ``355`` → 355, ``77.2`` → 77.2; ``007``, ``0.50`` and ``100.0`` (JavaScript prints 100)
    stay text.
    """
    if "." not in text:
        return int(text) if (text == "0" or not text.startswith("0")) and len(text) < 16 else text
    value = float(text)
    return value if repr(value) == text and not value.is_integer() else text


def template(message: str, /) -> tuple[str, list[int | float | str]]:
    """``"距 355 m，超过 200 m"`` → ``("距 {} m，超过 {} m", [355, 200])`` (lossless)."""
    if re.search(_WHOLE, message):
        return message, []
    return _NUMBER.sub("{}", message), [_arg(m) for m in _NUMBER.findall(message)]


def fill(tpl: str, args: Sequence[Any], /) -> str:
    """The inverse of :func:`template` (what the page does in JavaScript)."""
    if not args:
        return tpl
    parts = tpl.split("{}")
    out = [parts[0]]
    for arg, part in zip(args, parts[1:], strict=True):
        out.append((repr(arg) if isinstance(arg, float) else str(arg)) + part)
    return "".join(out)


# --- reasons: JSON text → flat columns ------------------------------------------------------


@dataclass
class _Reasons:
    """Every reason of the parsed ``reasons`` values, in order, one array per field."""

    owner: np.ndarray  # int64, non-decreasing: which parsed value the reason comes from
    code: pa.Array | pa.ChunkedArray  # strings without nulls
    unit: pa.Array | pa.ChunkedArray
    basis: pa.Array | pa.ChunkedArray
    zh: pa.Array | pa.ChunkedArray
    en: pa.Array | pa.ChunkedArray
    block: np.ndarray  # bool
    value: np.ndarray  # float64, NaN where missing or not finite
    threshold: np.ndarray


def _as_text(values: Any) -> pa.Array | None:
    """The column as one Arrow large-string array ('' for missing), or ``None`` if not text."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return _fill(pc.cast(arr, pa.large_string(), memory_pool=_POOL), "")


def _parse_arrow(texts: pa.Array) -> _Reasons | None:
    """Parse JSON texts ('' for none) with Arrow's JSON reader; ``None`` if it refuses
    (:func:`~landplan.core.reason_json.parse_reason_items`)."""
    parsed = parse_reason_items(texts)
    if parsed is None:
        return None
    owner, items = parsed

    def text(i: int) -> pa.Array:
        return _fill(pc.struct_field(items, [i], memory_pool=_POOL), "")

    def number(i: int) -> np.ndarray:
        out = pc.struct_field(items, [i], memory_pool=_POOL).to_numpy(zero_copy_only=False)
        out = out.astype(float)
        out[~np.isfinite(out)] = np.nan
        return out

    return _Reasons(
        owner=owner,
        code=text(0),
        unit=text(4),
        basis=text(5),
        zh=text(6),
        en=text(7),
        block=_is_block(pc.struct_field(items, [1], memory_pool=_POOL)),
        value=number(2),
        threshold=number(3),
    )


_fill = fill_nulls


def _is_block(severity: pa.Array) -> np.ndarray:
    block = _fill(pc.equal(severity, "block", memory_pool=_POOL), False)
    return block.to_numpy(zero_copy_only=False)


def _finite(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _parse_python(raws: Sequence[Any], ids: Sequence[str]) -> _Reasons:
    """:func:`parse_reasons` on each value (``ids`` name the parcels in errors)."""
    cols: dict[str, list[Any]] = {k: [] for k in _Reasons.__dataclass_fields__}
    for k, (raw, pid) in enumerate(zip(raws, ids, strict=True)):
        for r in parse_reasons(raw, parcel_id=pid):
            code = r.get("code", "")
            cols["owner"].append(k)
            cols["code"].append("" if code is None else str(code))
            cols["block"].append(r.get("severity") == "block")
            cols["value"].append(_finite(r.get("value")))
            cols["threshold"].append(_finite(r.get("threshold")))
            cols["unit"].append(str(r.get("unit") or ""))
            cols["basis"].append(str(r.get("basis") or ""))
            cols["zh"].append(str(r.get("message_zh") or ""))
            cols["en"].append(str(r.get("message_en") or ""))
    text = ("code", "unit", "basis", "zh", "en")
    return _Reasons(
        **{k: pa.array(cols[k], pa.large_string()) for k in text},
        owner=np.asarray(cols["owner"], dtype=np.int64),
        block=np.asarray(cols["block"], dtype=bool),
        value=np.asarray(cols["value"], dtype=float),
        threshold=np.asarray(cols["threshold"], dtype=float),
    )


def _parcel_reasons(values: Any, ids: Sequence[str]) -> tuple[np.ndarray, _Reasons]:
    """The ``reasons`` of every parcel, parsed: per parcel the index of its parsed value, and
    every reason of those values.

    Arrow parses all texts at once: hashing 100 MB of text to find the repeated ones would
    cost a good part of parsing it, and the pipeline's texts rarely repeat (they hold the
    measured figures; 49,268 distinct in 50,000).  Only where Arrow refuses are the distinct
    values parsed, one by one.
    """
    text = _as_text(values)
    if text is None:  # e.g. already-parsed lists: one value per parcel
        return np.arange(len(ids)), _parse_python(list(values), ids)
    parsed = _parse_arrow(text) if len(text) else None
    if parsed is not None:
        return np.arange(len(text)), parsed
    which, distinct = pd.factorize(np.asarray(text.to_pylist(), dtype=object))
    first = np.empty(len(distinct), dtype=np.int64)
    first[which[::-1]] = np.arange(len(which) - 1, -1, -1)
    raws = [t or "[]" for t in distinct.tolist()]
    return which.astype(np.int64), _parse_python(raws, [ids[i] for i in first.tolist()])


# --- flat columns → the R / T / S tables ----------------------------------------------------


def _ragged(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``starts[i] + j`` for ``j < lengths[i]``, segment after segment."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - before, lengths) + np.arange(total)


def _codes(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (in order of first appearance) and the distinct values."""
    encoded = pc.dictionary_encode(arr, memory_pool=_POOL)
    if isinstance(encoded, pa.Array):
        return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary
    chunks = encoded.chunks  # Arrow gives every chunk the same, whole dictionary
    if not chunks:
        return np.zeros(0, dtype=np.int64), pa.array([], arr.type)
    if len({len(c.dictionary) for c in chunks}) > 1:
        return _codes(arr.combine_chunks())
    indices = np.concatenate([c.indices.to_numpy() for c in chunks]).astype(np.int64)
    return indices, chunks[-1].dictionary


def _round4(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values rounded to 4 decimals as Python's ``round`` does, and an integer code per value."""
    distinct, inverse = np.unique(values, return_inverse=True)  # NaN once, at the end
    rounded = np.round(distinct, 4)
    # a value already on 4 decimals is its own round(); the others go through Python's
    other = np.flatnonzero((rounded != distinct) & np.isfinite(distinct))
    rounded[other] = [round(v, 4) for v in distinct[other].tolist()]
    return rounded[inverse.ravel()], inverse.ravel()


def _factorize_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row id per row of the integer columns (in order of first appearance), first row per id.

    Columns are combined as digits of one integer key, factorized only when the next digit
    would overflow it (one hash table instead of one per column).
    """
    n = len(columns[0])
    key, size = np.zeros(n, dtype=np.int64), 1
    for col in columns:
        base = int(col.max(initial=0)) + 1
        if size * base >= 2**62:
            key = pd.factorize(key)[0].astype(np.int64)
            size = int(key.max(initial=0)) + 1
        key, size = key * base + col, size * base
    key = pd.factorize(key)[0].astype(np.int64)
    first = np.empty(int(key.max(initial=-1)) + 1, dtype=np.int64)
    first[key[::-1]] = np.arange(n - 1, -1, -1)
    return key, first


def _templates(messages: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray, pa.Array]:
    """:func:`template` of every message at once (Arrow's RE2 reads :data:`NUMBER` alike).

    Returns the templates, whether each message is templated, the start of its numbers in
    the flat array of numbers (one more than messages) and that array (as text).
    """
    pool = {"memory_pool": _POOL}
    data = messages.buffers()[2]
    if data is None or not any(c in data.to_pybytes() for c in (b"{", b"}", b"\x00")):
        plain = pa.array(np.ones(len(messages), dtype=bool))  # the usual case, found by memchr
    else:
        plain = pc.invert(pc.match_substring_regex(messages, _WHOLE, **pool), **pool)
    whole = plain.false_count > 0  # some messages are kept whole
    if whole:
        messages_in = pc.if_else(plain, messages, pa.scalar("", messages.type), **pool)
    else:
        messages_in = messages
    marked = pc.replace_substring_regex(messages_in, f"({NUMBER})", "\x00\\1\x00", **pool)
    parts = pc.split_pattern(marked, "\x00", **pool)  # text, number, text, number, ..., text
    lengths = pc.list_value_length(parts).to_numpy().astype(np.int64)
    counts = (lengths - 1) // 2
    flat = pc.list_flatten(parts, **pool)
    odd = (np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)) % 2 == 1
    numbers = pc.filter(flat, pa.array(odd), **pool)
    texts = pa.ListArray.from_arrays(
        pa.array(np.concatenate(([0], np.cumsum(counts + 1))), pa.int32()),
        pc.filter(flat, pa.array(~odd), **pool),
    )
    templates = pc.binary_join(texts, pa.scalar("{}", messages.type), **pool)
    if whole:
        templates = pc.if_else(plain, templates, messages, **pool)
    starts = np.concatenate(([0], np.cumsum(counts)))
    return templates, plain.to_numpy(zero_copy_only=False), starts, numbers


@dataclass
class ReasonRows:
    """The reasons of some parcels as distinct rows, before the page's tables are laid out.

    Rows of several calls merge (:func:`maps.streamed.merge_reason_rows`) into the rows of all
    their parcels; :func:`lay_out_reasons` then writes ``rn``, ``r``, ``R``, ``T`` and ``S``.
    Rows are in order of first appearance; values stay unrounded, so that rows are told apart
    as the whole column would tell them apart.
    """

    rn: np.ndarray  # reasons per parcel
    r: np.ndarray  # the row of every reason, parcel after parcel
    code: np.ndarray  # per row: index into codes
    unit: np.ndarray  # index into units
    basis: np.ndarray  # index into bases
    block: np.ndarray  # int8
    value: np.ndarray  # float64, NaN where missing
    threshold: np.ndarray
    zh: np.ndarray  # index into templates
    en: np.ndarray
    q: np.ndarray  # int8: the English message takes the Chinese one's numbers
    args: np.ndarray  # indexes into numbers: the Chinese message's, then the English one's unless q
    codes: pa.Array  # distinct texts
    units: pa.Array
    bases: pa.Array
    templates: pa.Array  # template texts; a template is (text, k)
    template_k: np.ndarray  # how many numbers each template takes
    numbers: pa.Array  # number texts


def _reason_rows(reasons: _Reasons, which: np.ndarray) -> ReasonRows:
    """The distinct rows of ``reasons`` and, per parcel (``which`` parsed value), its rows."""
    code, code_table = _codes(reasons.code)
    unit, unit_table = _codes(reasons.unit)
    basis, basis_table = _codes(reasons.basis)
    zh, zh_table = _codes(reasons.zh)
    en, en_table = _codes(reasons.en)
    value_code = np.unique(reasons.value, return_inverse=True)[1].ravel()  # NaN once
    threshold_code = np.unique(reasons.threshold, return_inverse=True)[1].ravel()
    row, first = _factorize_rows(
        code, reasons.block.astype(np.int64), value_code, threshold_code, unit, basis, zh, en
    )

    # templates of the distinct messages (Chinese first, then English)
    messages = pa.concat_arrays([zh_table, en_table], memory_pool=_POOL)
    tpl, plain, arg_start, numbers = _templates(messages)
    tpl_code, tpl_table = _codes(tpl)
    t_of_msg, t_first = _factorize_rows(tpl_code, plain.astype(np.int64))
    arg_count = np.diff(arg_start)
    number_code, number_table = _codes(numbers)

    # one row per distinct reason
    mz, me = zh[first], en[first] + len(zh_table)
    kz, ke = arg_count[mz], arg_count[me]
    same = kz == ke
    rows = np.flatnonzero(same & (kz > 0))
    pz, pe = _ragged(arg_start[mz[rows]], kz[rows]), _ragged(arg_start[me[rows]], ke[rows])
    differs = np.bincount(
        np.repeat(np.arange(len(rows)), kz[rows]),
        weights=number_code[pz] != number_code[pe],
        minlength=len(rows),
    )
    same[rows[differs > 0]] = False
    ke_kept = np.where(same, 0, ke)
    out_len = kz + ke_kept
    out_start = np.cumsum(out_len) - out_len
    args = np.empty(int(out_len.sum()), dtype=np.int64)
    args[_ragged(out_start, kz)] = _ragged(arg_start[mz], kz)
    args[_ragged(out_start + kz, ke_kept)] = _ragged(arg_start[me], ke_kept)

    # per parcel: its reasons' rows, in order
    per_string = np.bincount(reasons.owner, minlength=int(which.max(initial=-1)) + 1)
    string_start = np.cumsum(per_string) - per_string
    counts = per_string[which]
    return ReasonRows(
        rn=counts,
        r=row[_ragged(string_start[which], counts)],
        code=code[first],
        unit=unit[first],
        basis=basis[first],
        block=reasons.block[first].astype(np.int8),
        value=reasons.value[first],
        threshold=reasons.threshold[first],
        zh=t_of_msg[mz],
        en=t_of_msg[me],
        q=same.astype(np.int8),
        args=number_code[args],
        codes=code_table,
        units=unit_table,
        bases=basis_table,
        templates=tpl_table.take(pa.array(tpl_code[t_first], pa.int64())),
        template_k=arg_count[t_first],
        numbers=number_table,
    )


def lay_out_reasons(rows: ReasonRows, /) -> dict[str, Any]:
    """``rn``, ``r``, ``R``, ``T`` and ``S`` of the module docstring from the rows.

    Every table is ordered by first appearance over the rows (codes, units, bases; the
    templates of the Chinese messages, then of the English ones), as over the reasons.
    """
    strings: dict[str, int] = {}

    def to_s(table: pa.Array, used: np.ndarray) -> np.ndarray:
        lookup = np.zeros(len(table), dtype=np.int64)
        texts = table.take(pa.array(used, pa.int64())).to_pylist()
        lookup[used] = [strings.setdefault(s, len(strings)) for s in texts]
        return lookup

    def used(*indexes: np.ndarray) -> np.ndarray:
        return pd.unique(np.concatenate([np.asarray(i, dtype=np.int64) for i in indexes]))

    # S: codes first, then units, bases and templates
    code_s = to_s(rows.codes, used(rows.code))
    unit_s = to_s(rows.units, used(rows.unit))
    basis_s = to_s(rows.bases, used(rows.basis))
    t_order = used(rows.zh, rows.en)
    t_index = np.zeros(len(rows.template_k), dtype=np.int64)
    t_index[t_order] = np.arange(len(t_order))
    template_s = to_s(rows.templates, t_order)
    number_values = np.empty(len(rows.numbers), dtype=object)
    number_values[:] = [_arg(t) for t in rows.numbers.to_pylist()]
    return {
        "rn": rows.rn,
        "r": rows.r,
        "R": {
            "c": code_s[rows.code],
            "b": rows.block.astype(np.int8),
            "v": _round4(rows.value)[0],
            "t": _round4(rows.threshold)[0],
            "u": unit_s[rows.unit],
            "s": basis_s[rows.basis],
            "z": t_index[rows.zh],
            "e": t_index[rows.en],
            "q": rows.q.astype(np.int8),
            "a": number_values[rows.args].tolist(),  # numbers and text
        },
        "T": {"s": template_s[t_order], "k": np.asarray(rows.template_k)[t_order]},
        "S": list(strings),
    }


def decode_reasons(data: Mapping[str, Any], /) -> list[list[dict[str, Any]]]:
    """The reasons of every parcel from :func:`compact_parcels` (what the page shows; tests)."""
    R, T, S = data["R"], data["T"], data["S"]  # noqa: N806 - the names of the payload
    k = [int(x) for x in T["k"]]
    arg_start = [0]
    for j in range(len(R["c"])):
        arg_start.append(arg_start[-1] + k[R["z"][j]] + (0 if R["q"][j] else k[R["e"][j]]))

    def message(t: int, at: int) -> str:
        return fill(S[T["s"][t]], R["a"][at : at + k[t]])

    def number(x: Any) -> float | None:
        return None if x is None or not math.isfinite(x) else float(x)

    rows = []
    for j in range(len(R["c"])):
        at = arg_start[j]
        rows.append(
            {
                "code": S[R["c"][j]],
                "severity": "block" if R["b"][j] else "warn",
                "value": number(R["v"][j]),
                "threshold": number(R["t"][j]),
                "unit": S[R["u"][j]],
                "basis": S[R["s"][j]],
                "message_zh": message(R["z"][j], at),
                "message_en": message(R["e"][j], at if R["q"][j] else at + k[R["z"][j]]),
            }
        )
    out, i = [], 0
    for n in data["rn"]:
        out.append([dict(rows[j]) for j in data["r"][i : i + n]])
        i += n
    return out


# --- numbers and geometry ------------------------------------------------------------------


def _column(values: Any, digits: int, /) -> np.ndarray:
    """A numeric column rounded to ``digits``, NaN where missing or not finite (``null``)."""
    arr = pd.Series(values).to_numpy(dtype=float, na_value=np.nan).round(digits)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def _geometry_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices of all rings, vertices per ring, rings per polygon, polygons per geometry."""
    types = shapely.get_type_id(geoms)
    if len(geoms) and np.isin(types, (3, 6)).all() and not shapely.is_empty(geoms).any():
        kind, coords, offsets = shapely.to_ragged_array(geoms)  # one pass in GEOS
        sizes = [np.diff(o) for o in offsets]
        if kind == shapely.GeometryType.POLYGON:
            sizes.append(np.ones(len(geoms), dtype=np.int64))
        return coords, sizes[0], sizes[1], sizes[2]
    polys, poly_owner = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(polys) == 3  # polygons only (a stray line or point is skipped)
    polys, poly_owner = polys[keep], poly_owner[keep]
    rings, ring_owner = shapely.get_rings(polys, return_index=True)
    coords, vertex_owner = shapely.get_coordinates(rings, return_index=True)
    return (
        coords,
        np.bincount(vertex_owner, minlength=len(rings)),
        np.bincount(ring_owner, minlength=len(polys)),
        np.bincount(poly_owner, minlength=len(geoms)),
    )


def encode_geometries(geoms: Any, /) -> dict[str, list[int]]:
    """Polygons/multipolygons (EPSG:4326) → the ``g`` object of the module docstring."""
    coords, per_ring, per_poly, per_geom = _geometry_parts(np.asarray(geoms, dtype=object))
    last = np.cumsum(per_ring) - 1
    keep_vertex = np.ones(len(coords), dtype=bool)
    keep_vertex[last[per_ring > 0]] = False  # the closing vertex repeats the first
    q = np.round(coords[keep_vertex, :2] * SCALE).astype(np.int64)
    counts = np.maximum(per_ring - 1, 0)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    delta[starts[counts > 0]] = q[starts[counts > 0]]  # ring starts absolute
    return {
        "c": delta.ravel(),
        "r": counts,
        "p": per_poly,
        "f": per_geom,
    }


def decode_geometries(g: Mapping[str, list[int]], /) -> list[list[list[list[tuple[float, float]]]]]:
    """The inverse of :func:`encode_geometries` (for tests): parcels → polygons → rings."""
    c = np.asarray(g["c"], dtype=np.int64).reshape(-1, 2)
    out, v, ring_i, poly_i = [], 0, 0, 0
    for n_polys in g["f"]:
        polys = []
        for _ in range(n_polys):
            rings = []
            for _ in range(g["p"][poly_i]):
                n = g["r"][ring_i]
                ring = np.cumsum(c[v : v + n], axis=0) / SCALE
                rings.append([tuple(xy) for xy in ring.tolist()])
                v += n
                ring_i += 1
            polys.append(rings)
            poly_i += 1
        out.append(polys)
    return out


def reason_tables(reasons: Any, ids: Sequence[str], /) -> dict[str, Any]:
    """``rn``, ``r``, ``R``, ``T`` and ``S`` of the module docstring for a ``reasons`` column.

    ``ids`` name the parcels in errors.

    Raises
    ------
    ValueError
        If a value is not a JSON list, naming its parcel (see :func:`parse_reasons`).
    """
    return lay_out_reasons(reason_rows(reasons, ids))


def reason_rows(reasons: Any, ids: Sequence[str], /) -> ReasonRows:
    """The :class:`ReasonRows` of a ``reasons`` column (errors as :func:`reason_tables`)."""
    which, parsed = _parcel_reasons(reasons, ids)
    return _reason_rows(parsed, which)


def parcel_columns(parcels_wgs84: GeoDataFrame, /) -> dict[str, Any]:
    """``ids``, ``v``, ``num`` and ``dist`` of the parcels (``dist`` columns as arrays, NaN
    where missing: :func:`payload` writes a column without any value as ``null``)."""
    dist_cols = [
        c for c in parcels_wgs84.columns if str(c).startswith("dist_") and str(c).endswith("_m")
    ]
    verdicts = pd.Index(VERDICT_KEYS).get_indexer(parcels_wgs84["verdict"].astype(str))
    return {
        "ids": parcels_wgs84["parcel_id"].astype(str).tolist(),
        "v": verdicts.astype(np.int64),  # -1: not a known verdict
        "num": {
            col: _column(parcels_wgs84[col], digits)
            for col, digits in NUMBERS.items()
            if col in parcels_wgs84.columns
        },
        "dist": {c[len("dist_") : -len("_m")]: _column(parcels_wgs84[c], 0) for c in dist_cols},
    }


def payload(
    columns: Mapping[str, Any],
    cls: np.ndarray,
    reasons: Mapping[str, Any],
    geometry: Mapping[str, Any],
    /,
) -> dict[str, Any]:
    """The page's parcel data from its parts (:func:`parcel_columns`, the class index per
    parcel, :func:`reason_tables` and :func:`encode_geometries`), keys in the page's order."""
    ids = columns["ids"]
    if len(reasons["rn"]) != len(ids):
        raise ValueError(f"reasons are for {len(reasons['rn'])} parcels, not {len(ids)}")
    return {
        "n": len(ids),
        "ids": ids,
        "cls": np.asarray(cls, dtype=np.int64),
        "v": columns["v"],
        "num": columns["num"],
        "dist": {k: None if np.isnan(a).all() else a for k, a in columns["dist"].items()},
        **reasons,
        "g": geometry,
    }


def compact_parcels(
    parcels_wgs84: GeoDataFrame,
    classes: Any,
    /,
    *,
    reasons: Mapping[str, Any] | Future | None = None,
) -> dict[str, Any]:
    """The page's parcel data (see the module docstring) from parcels in EPSG:4326.

    ``reasons``: the :func:`reason_tables` of these parcels' ``reasons`` when already made,
    or being made (a future, e.g. of a thread started before the geometries were reprojected;
    it is waited for last).
    """
    columns = parcel_columns(parcels_wgs84)
    geometry = encode_geometries(parcels_wgs84.geometry.to_numpy())
    if reasons is None:
        reasons = reason_tables(parcels_wgs84["reasons"], columns["ids"])
    elif isinstance(reasons, Future):
        reasons = reasons.result()
    return payload(columns, classes.index, reasons, geometry)


def to_script_json(data: Any, /) -> str:
    """JSON safe inside a ``<script>`` element (``<`` escaped), UTF-8 kept as is.

    NumPy arrays of numbers are written by Arrow (NaN as ``null``; integral floats without
    ``.0``, which is the same JSON number): no Python object per number.
    """
    text = _dumps(data)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _dumps(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return _numbers_json(value)
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(
                f"{json.dumps(str(k), ensure_ascii=False)}:{_dumps(v)}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _numbers_json(arr: np.ndarray) -> str:
    if len(arr) == 0:
        return "[]"
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int8)
    elif arr.dtype.kind == "f" and not np.isfinite(arr).all():
        arr = np.where(np.isfinite(arr), arr, np.nan)
    values = pa.array(arr.ravel(), from_pandas=True)  # NaN → null
    text = pc.cast(values, pa.string(), memory_pool=_POOL)
    text = _fill(text, "null")
    whole = pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text)
    return "[" + pc.binary_join(whole, ",", memory_pool=_POOL)[0].as_py() + "]"

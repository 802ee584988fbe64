"""A checked CQL2 filter (:mod:`landplan.store.cql2`) as a vectorised mask over a data frame.

SQL's three-valued logic is kept so that the GeoPackage store selects exactly what PostGIS
selects: every predicate yields a pair of masks (*true*, *false*); a row where a compared value
is null is neither, ``NOT`` swaps the two, and only rows that are *true* are kept.
Text orders by code point (PostGIS compares with ``COLLATE "C"``).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from landplan.core.features import _transformer

Masks = tuple[np.ndarray, np.ndarray]  # (true, false)

_OPS = {
    "=": np.equal,
    "<>": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def filter_mask(tree, frame: pd.DataFrame, layer_crs: CRS | None = None) -> np.ndarray:
    """Rows of ``frame`` the filter selects (``frame.geometry`` in ``layer_crs`` if spatial)."""
    true, _ = _pred(tree, frame, layer_crs)
    return true


def _pred(node, frame, crs) -> Masks:
    n = len(frame)
    kind = node[0]
    if kind == "and":
        true, false = np.ones(n, bool), np.zeros(n, bool)
        for sub in node[1:]:
            t, f = _pred(sub, frame, crs)
            true &= t
            false |= f
        return true, false
    if kind == "or":
        true, false = np.zeros(n, bool), np.ones(n, bool)
        for sub in node[1:]:
            t, f = _pred(sub, frame, crs)
            true |= t
            false &= f
        return true, false
    if kind == "not":
        t, f = _pred(node[1], frame, crs)
        return f, t
    if kind == "cmp":
        _, op, lhs, rhs = node
        a, ka = _value(lhs, frame)
        b, kb = _value(rhs, frame)
        known = ka & kb
        with np.errstate(invalid="ignore"):
            result = _compare(op, a, b, known)
        return known & result, known & ~result
    if kind == "like":
        _, expr, pattern = node
        values, known = _value(expr, frame)
        pat, _ = _value(pattern, frame)
        regex = re.compile(like_regex(str(pat[0] if len(pat) else "")), re.DOTALL)
        hit = np.array([bool(k and regex.fullmatch(v)) for v, k in zip(values, known, strict=True)])
        return known & hit, known & ~hit
    if kind == "between":
        _, expr, low, high = node
        v, k = _value(expr, frame)
        lo, klo = _value(low, frame)
        hi, khi = _value(high, frame)
        known = k & klo & khi
        with np.errstate(invalid="ignore"):
            hit = _compare(">=", v, lo, known) & _compare("<=", v, hi, known)
        return known & hit, known & ~hit
    if kind == "in":
        _, expr, items = node
        v, k = _value(expr, frame)
        hit = np.zeros(n, bool)
        for item in items:
            lit, _ = _value(("lit", item), frame)
            hit |= _compare("=", v, lit, k)
        return k & hit, k & ~hit
    if kind == "isnull":
        _, known = _value(node[1], frame)
        return ~known, known.copy()
    if kind == "spatial":
        _, op, geom, epsg = node
        geoms = np.asarray(frame.geometry.values, dtype=object)
        local = to_layer_crs(geom, epsg, crs)
        present = ~shapely.is_missing(geoms)
        hit = np.zeros(n, bool)
        if present.any():
            shapely.prepare(local)
            hit[present] = _spatial(op, geoms[present], local)
        return present & hit, present & ~hit
    if kind == "time":
        _, column, lo, hi = node
        stamps = pd.to_datetime(frame[column], utc=True, errors="coerce", format="mixed")
        known = stamps.notna().to_numpy()
        hit = known.copy()
        if lo is not None:
            hit &= (stamps >= pd.Timestamp(lo)).to_numpy()
        if hi is not None:
            hit &= (stamps <= pd.Timestamp(hi)).to_numpy()
        return known & hit, known & ~hit
    raise ValueError(f"unknown filter node {kind!r}")


def _spatial(op: str, geoms: np.ndarray, g) -> np.ndarray:
    # the feature geometry is the first argument (cql2 normalised S_WITHIN(g, geometry))
    func = {
        "intersects": shapely.intersects,
        "disjoint": shapely.disjoint,
        "contains": shapely.contains,
        "within": shapely.within,
        "touches": shapely.touches,
        "crosses": shapely.crosses,
        "overlaps": shapely.overlaps,
        "equals": shapely.equals,
    }[op]
    return np.asarray(func(geoms, g), dtype=bool)


def to_layer_crs(geom, epsg: int | None, layer_crs: CRS | None):
    """A filter geometry in ``epsg`` (x/y order; None = CRS84) → the layer's CRS."""
    src = CRS.from_user_input("OGC:CRS84") if epsg is None else CRS.from_epsg(epsg)
    if layer_crs is None or src.equals(layer_crs):
        return geom
    t = _transformer(src.to_wkt(), layer_crs.to_wkt())
    return shapely.transform(geom, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))


def _compare(op: str, a: np.ndarray, b: np.ndarray, known: np.ndarray) -> np.ndarray:
    out = np.zeros(len(known), bool)
    if not known.any():
        return out
    a = np.broadcast_to(a, known.shape)[known]
    b = np.broadcast_to(b, known.shape)[known]
    out[known] = np.asarray(_OPS[op](a, b), dtype=bool)
    return out


def _value(expr, frame) -> tuple[np.ndarray, np.ndarray]:
    """(values, known) arrays of an expression over ``frame`` (literals broadcast)."""
    n = len(frame)
    kind = expr[0]
    if kind == "lit":
        value = expr[1]
        arr = np.empty(n, dtype=object if isinstance(value, str) else type(value))
        arr[:] = value
        if isinstance(value, bool):
            arr = arr.astype(bool)
        elif isinstance(value, int | float):
            arr = arr.astype(float)
        return arr, np.ones(n, bool)
    if kind == "prop":
        _, name, col_kind = expr
        col = frame[name]
        known = col.notna().to_numpy()
        if col_kind in ("number", "integer"):
            return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float), known
        if col_kind == "boolean":
            return col.fillna(False).astype(bool).to_numpy(), known
        text = col.astype(object).where(known, "").astype(str).to_numpy(dtype=object)
        return text, known
    if kind == "lower":
        values, known = _value(expr[1], frame)
        return np.array([str(v).lower() for v in values], dtype=object), known
    raise ValueError(f"unknown expression {kind!r}")


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> str:
    """CQL2 LIKE pattern (``%`` any run, ``_`` one character, ``\\`` escapes) → a regex."""
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    if escaped:
        out.append(re.escape("\\"))
    return "".join(out)

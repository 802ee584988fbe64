"""A checked CQL2 filter (:mod:`landplan.store.cql2`) as a parameterised PostGIS ``WHERE`` term.

Property names become quoted identifiers (they were checked against the table's columns) and
every value a bound ``%s`` parameter: no user text is pasted into SQL.  Geometry literals are
transformed to the layer's CRS in Python (the GeoPackage store uses the same transformation)
and sent as WKB.  Text compares with ``COLLATE "C"`` (code-point order, as Python does).
"""

from __future__ import annotations

import shapely
from psycopg import sql
from pyproj import CRS

from landplan.store.cql2_frame import to_layer_crs

_SPATIAL = {
    "intersects": "ST_Intersects",
    "disjoint": "ST_Disjoint",
    "contains": "ST_Contains",
    "within": "ST_Within",
    "touches": "ST_Touches",
    "crosses": "ST_Crosses",
    "overlaps": "ST_Overlaps",
    "equals": "ST_Equals",
}
_CMP = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def where_sql(
    tree, *, srid: int | None, alias: str = "t", geometry_column: str = "geom"
) -> tuple[sql.Composable, list]:
    """``(term, params)`` for the filter ``tree`` on a table aliased ``alias``."""
    params: list = []
    term = _pred(tree, params, srid, alias, geometry_column)
    return term, params


def _pred(node, params, srid, alias, gcol) -> sql.Composable:
    kind = node[0]
    if kind in ("and", "or"):
        if len(node) == 1:
            return sql.SQL("TRUE" if kind == "and" else "FALSE")
        joiner = sql.SQL(" AND " if kind == "and" else " OR ")
        parts = [_pred(sub, params, srid, alias, gcol) for sub in node[1:]]
        return sql.SQL("({})").format(joiner.join(parts))
    if kind == "not":
        return sql.SQL("(NOT {})").format(_pred(node[1], params, srid, alias, gcol))
    if kind == "cmp":
        _, op, lhs, rhs = node
        text = _is_text(lhs) or _is_text(rhs)
        a = _expr(lhs, params, alias, collate=text and op not in ("=", "<>"))
        b = _expr(rhs, params, alias, collate=text and op not in ("=", "<>"))
        return sql.SQL("({} {} {})").format(a, sql.SQL(_CMP[op]), b)
    if kind == "like":
        _, expr, pattern = node
        a = _expr(expr, params, alias)
        b = _expr(pattern, params, alias)
        return sql.SQL("({} LIKE {})").format(a, b)
    if kind == "between":
        _, expr, low, high = node
        a = _expr(expr, params, alias)
        lo = _expr(low, params, alias)
        hi = _expr(high, params, alias)
        return sql.SQL("({} BETWEEN {} AND {})").format(a, lo, hi)
    if kind == "in":
        _, expr, items = node
        text = _is_text(expr)
        a = _expr(expr, params, alias)
        for item in items:
            params.append(_param(item, text))
        holes = sql.SQL(", ").join(sql.Placeholder() for _ in items)
        return sql.SQL("({} IN ({}))").format(a, holes)
    if kind == "isnull":
        return sql.SQL("({} IS NULL)").format(_expr(node[1], params, alias))
    if kind == "spatial":
        _, op, geom, epsg = node
        local = to_layer_crs(geom, epsg, CRS.from_epsg(srid) if srid else None)
        params.append(shapely.to_wkb(local))
        col = sql.Identifier(alias, gcol)
        lit = sql.SQL("ST_GeomFromWKB({}, {})").format(sql.Placeholder(), sql.Literal(srid or 4326))
        return sql.SQL("{}({}, {})").format(sql.SQL(_SPATIAL[op]), col, lit)
    if kind == "time":
        _, column, lo, hi = node
        col = sql.SQL("({}::text)::timestamptz").format(sql.Identifier(alias, column))
        terms = []
        if lo is not None:
            params.append(lo)
            terms.append(sql.SQL("{} >= {}").format(col, sql.Placeholder()))
        if hi is not None:
            params.append(hi)
            terms.append(sql.SQL("{} <= {}").format(col, sql.Placeholder()))
        return sql.SQL("({})").format(sql.SQL(" AND ").join(terms))
    raise ValueError(f"unknown filter node {kind!r}")


def _is_text(expr) -> bool:
    if expr[0] == "prop":
        return expr[2] == "string"
    if expr[0] == "lower":
        return True
    return isinstance(expr[1], str)


def _param(value, text: bool):
    if isinstance(value, bool) or text:
        return value
    return float(value) if isinstance(value, float) else value


def _expr(expr, params, alias, *, collate: bool = False) -> sql.Composable:
    kind = expr[0]
    if kind == "prop":
        out = sql.Identifier(alias, expr[1])
        if expr[2] == "string":
            out = sql.SQL("{}::text").format(out)
    elif kind == "lit":
        params.append(expr[1])
        out = sql.Placeholder()
        if isinstance(expr[1], str):
            out = sql.SQL("{}::text").format(out)
        elif isinstance(expr[1], bool):
            out = sql.SQL("{}::boolean").format(out)
        elif isinstance(expr[1], int | float):
            out = sql.SQL("{}::double precision").format(out)
    elif kind == "lower":
        out = sql.SQL("lower({})").format(_expr(expr[1], params, alias))
    else:
        raise ValueError(f"unknown expression {kind!r}")
    if collate:
        out = sql.SQL('({} COLLATE "C")').format(out)
    return out

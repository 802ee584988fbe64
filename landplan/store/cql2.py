"""CQL2 filters (OGC API Features Part 3) parsed with pygeofilter and checked into one small tree.

Both stores translate the same checked tree: :mod:`landplan.store.cql2_sql` into parameterised
PostGIS SQL (user text is only ever a bound parameter), :mod:`landplan.store.cql2_frame` into
vectorised pandas / shapely masks with SQL's three-valued logic, so both select the same rows.

The tree (tuples, first item the kind):

- ``("and", a, b, ...)``, ``("or", a, b, ...)``, ``("not", a)``
- ``("cmp", op, lhs, rhs)`` with ``op`` one of ``= <> < <= > >=``
- ``("like", expr, pattern)``: CQL2 ``%`` / ``_`` wildcards, ``\\`` escapes
- ``("between", expr, low, high)``, ``("in", expr, [values])``, ``("isnull", expr)``
- ``("spatial", op, geometry, epsg)``: ``geometry`` (shapely) in ``epsg``'s x/y order
  (``None`` = CRS84), tested against the feature geometry; ``op`` one of :data:`SPATIAL`
- ``("time", column, start, end)``: the ``datetime`` parameter on a temporal column
  (``start``/``end`` timezone-aware datetimes or None for an open end)

Expressions are ``("prop", name, kind)``, ``("lit", value)`` and ``("lower", expr)`` (CASEI).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time

import shapely

from landplan.core.errors import LandplanError
from landplan.core.features import north_first

#: the feature geometry's queryable name
GEOMETRY = "geometry"
#: CQL2 spatial operator → predicate with the feature geometry first (``S_WITHIN(geometry, g)``)
SPATIAL = {
    "intersects": "intersects",
    "disjoint": "disjoint",
    "contains": "contains",
    "within": "within",
    "touches": "touches",
    "crosses": "crosses",
    "overlaps": "overlaps",
    "equals": "equals",
}
#: the same predicate with the literal first (``S_WITHIN(g, geometry)`` = ``contains``)
SWAPPED = {"within": "contains", "contains": "within"}
COMPARISONS = {"=", "<>", "<", "<=", ">", ">="}
MAX_FILTER_CHARS = 100_000
#: conformance classes of OGC API Features Part 3 and CQL2 that the translators implement
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
]


class FilterError(LandplanError, ValueError):
    """A filter that cannot be parsed or names something the collection does not have.

    ``where`` says where: a column in the filter text, a JSON path, or a property name.
    """

    def __init__(self, message: str, /, *, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


# --------------------------------------------------------------------------- parsing


def _normalise_json(node):
    """CQL2-JSON as the standard writes it → the forms pygeofilter 0.4 reads.

    ``{"bbox": [minx, miny, maxx, maxy]}`` becomes a GeoJSON polygon (pygeofilter swaps its
    axes) and ``between`` with three arguments gets its bounds as one pair.
    """
    if isinstance(node, list):
        return [_normalise_json(n) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"bbox"}:
        b = node["bbox"]
        if not isinstance(b, list) or len(b) not in (4, 6):
            raise FilterError("a bbox literal needs 4 (or 6) numbers", where="bbox")
        x0, y0, x1, y1 = (b[0], b[1], b[2], b[3]) if len(b) == 4 else (b[0], b[1], b[3], b[4])
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        return {"type": "Polygon", "coordinates": [ring]}
    out = {k: _normalise_json(v) for k, v in node.items()}
    if out.get("op") == "between" and isinstance(out.get("args"), list):
        args = out["args"]
        if len(args) == 3:
            out["args"] = [args[0], [args[1], args[2]]]
    if out.get("op") == "in" and isinstance(out.get("args"), list) and len(out["args"]) != 2:
        raise FilterError("'in' takes a value and a list", where="in")
    return out


def parse_ast(text: str, lang: str | None):
    """pygeofilter's AST of ``text``; :class:`FilterError` saying where the text is wrong."""
    import lark
    from pygeofilter.parsers.cql2_json import parse as parse_json

    from landplan.store.cql2_text import parse as parse_text

    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"the filter is longer than {MAX_FILTER_CHARS} characters")
    lang = (lang or "cql2-text").lower()
    # "cql-text" is the draft name GDAL's OAPIF driver sends; its comparisons, AND/OR/NOT,
    # LIKE, IN, BETWEEN and IS NULL read the same as CQL2 text
    lang = {"cql-text": "cql2-text", "cql-json": "cql2-json"}.get(lang, lang)
    if lang == "cql2-json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise FilterError(
                f"filter is not valid JSON: {exc.msg} at character {exc.pos}",
                where=f"character {exc.pos}",
            ) from None
        try:
            return parse_json(_normalise_json(doc))
        except FilterError:
            raise
        except Exception as exc:
            raise FilterError(
                f"not a CQL2-JSON expression: {_short(exc)}", where=_json_where(doc)
            ) from None
    if lang != "cql2-text":
        raise FilterError(
            f"filter-lang must be cql2-text or cql2-json, not {lang!r}", where="filter-lang"
        )
    try:
        return parse_text(text)
    except lark.exceptions.UnexpectedInput as exc:
        col = getattr(exc, "column", None)
        token = getattr(exc, "token", None)
        if getattr(token, "type", None) == "$END":
            col = None
        where = f"column {col}" if col not in (None, -1) else "end of the filter"
        near = text[max(0, (col or 1) - 1) :][:20] if col not in (None, -1) else ""
        msg = f"CQL2 text cannot be parsed at {where}"
        raise FilterError(msg + (f" near {near!r}" if near else ""), where=where) from None
    except Exception as exc:
        raise FilterError(f"CQL2 text cannot be parsed: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _json_where(doc) -> str | None:
    if isinstance(doc, dict) and "op" in doc:
        return f"op {doc['op']!r}"
    return None


# --------------------------------------------------------------------------- checking


class _Checker:
    def __init__(self, columns: Mapping[str, str], geometry: bool, filter_epsg: int | None):
        self.columns = dict(columns)
        self.geometry = geometry
        self.epsg = filter_epsg
        self.used: set[str] = set()
        self.spatial = False

    # expressions -------------------------------------------------------
    def expr(self, node):
        from pygeofilter import ast, values

        if isinstance(node, ast.Attribute):
            name = str(node.name)
            if name == GEOMETRY and self.geometry:
                raise FilterError(
                    "the geometry can only be used in a spatial predicate (S_INTERSECTS, ...)",
                    where=name,
                )
            if name not in self.columns:
                raise FilterError(
                    f"unknown property {name!r}; see the collection's queryables",
                    where=name,
                )
            self.used.add(name)
            return ("prop", name, self.columns[name])
        if isinstance(node, ast.Function):
            if node.name.lower() == "lower" and len(node.arguments) == 1:
                inner = self.expr(node.arguments[0])
                if _kind(inner) != "string":
                    raise FilterError("CASEI applies to text only", where="CASEI")
                return ("lower", inner)
            raise FilterError(f"function {node.name!r} is not supported", where=node.name)
        if isinstance(node, bool | int | float | str):
            return ("lit", node)
        if isinstance(node, datetime | date):
            raise FilterError(
                "temporal literals (DATE, TIMESTAMP) are not supported in filters; "
                "use the datetime parameter",
                where=str(node),
            )
        if isinstance(node, ast.Arithmetic):
            raise FilterError("arithmetic (+ - * /) is not supported in filters", where="arith")
        if isinstance(node, values.Geometry | values.Envelope):
            raise FilterError("a geometry literal is only allowed in a spatial predicate")
        raise FilterError(f"unsupported expression {node!r}")

    # predicates --------------------------------------------------------
    def pred(self, node):
        from pygeofilter import ast

        if isinstance(node, ast.And | ast.Or):
            kind = "and" if isinstance(node, ast.And) else "or"
            return (kind, self.pred(node.lhs), self.pred(node.rhs))
        if isinstance(node, ast.Not):
            return ("not", self.pred(node.sub_node))
        if isinstance(node, ast.Comparison):
            lhs, rhs = self.expr(node.lhs), self.expr(node.rhs)
            _compatible(lhs, rhs, node.op.value)
            if lhs[0] == "lit" and rhs[0] == "lit":
                raise FilterError("a comparison needs at least one property", where=node.op.value)
            op = {"!=": "<>"}.get(node.op.value, node.op.value)
            return ("cmp", op, lhs, rhs)
        if isinstance(node, ast.Like):
            lhs = self.expr(node.lhs)
            pattern = self.expr(node.pattern)
            if _kind(lhs) != "string" or _kind(pattern) != "string" or pattern[0] == "prop":
                raise FilterError("LIKE compares a text property with a text pattern", where="LIKE")
            text = pattern[1] if pattern[0] == "lit" else pattern[1][1]
            if (len(text) - len(text.rstrip("\\"))) % 2:
                raise FilterError("a LIKE pattern cannot end with a lone escape '\\'", where="LIKE")
            out = ("like", lhs, pattern)
            return ("not", out) if node.not_ else out
        if isinstance(node, ast.Between):
            lhs, low, high = self.expr(node.lhs), self.expr(node.low), self.expr(node.high)
            for bound in (low, high):
                _compatible(lhs, bound, "BETWEEN")
                if _kind(bound) not in ("number", "integer"):
                    raise FilterError("BETWEEN takes numbers", where="BETWEEN")
            out = ("between", lhs, low, high)
            return ("not", out) if node.not_ else out
        if isinstance(node, ast.In):
            lhs = self.expr(node.lhs)
            items = [self.expr(v) for v in node.sub_nodes]
            if not items:
                raise FilterError("IN needs at least one value", where="IN")
            for item in items:
                if item[0] != "lit":
                    raise FilterError("IN takes a list of literal values", where="IN")
                _compatible(lhs, item, "IN")
            out = ("in", lhs, [i[1] for i in items])
            return ("not", out) if node.not_ else out
        if isinstance(node, ast.IsNull):
            out = ("isnull", self.expr(node.lhs))
            return ("not", out) if node.not_ else out
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self.spatial_pred(node)
        if isinstance(node, ast.Include):
            return ("not", ("and",)) if node.not_ else ("and",)
        if isinstance(node, ast.TemporalPredicate):
            raise FilterError(
                "temporal operators are not supported; use the datetime parameter",
                where=node.op.value,
            )
        if isinstance(node, bool):
            return ("and",) if node else ("not", ("and",))
        name = type(node).__name__
        raise FilterError(f"the operator {name} is not supported", where=name)

    def spatial_pred(self, node):
        from pygeofilter import ast

        op = node.op.value.lower().removeprefix("s_")
        if op not in SPATIAL:
            raise FilterError(f"spatial operator {op!r} is not supported", where=op)
        lhs, rhs = node.lhs, node.rhs
        lhs_geom = isinstance(lhs, ast.Attribute) and lhs.name == GEOMETRY
        rhs_geom = isinstance(rhs, ast.Attribute) and rhs.name == GEOMETRY
        if not self.geometry:
            raise FilterError("this collection has no geometry", where=f"S_{op.upper()}")
        if lhs_geom == rhs_geom:
            raise FilterError(
                f"S_{op.upper()} compares the property 'geometry' with a geometry literal",
                where=f"S_{op.upper()}",
            )
        literal = rhs if lhs_geom else lhs
        if not lhs_geom:
            op = SWAPPED.get(op, op)
        self.spatial = True
        return ("spatial", op, self.geometry_literal(literal, op), self.epsg)

    def geometry_literal(self, node, op: str):
        from pygeofilter import ast, values

        if isinstance(node, ast.Function) and node.name.lower() == "bbox":
            args = node.arguments
            if len(args) == 6:
                args = [args[0], args[1], args[3], args[4]]
            if len(args) != 4 or not all(isinstance(a, int | float) for a in args):
                raise FilterError("BBOX takes 4 numbers", where="BBOX")
            x0, y0, x1, y1 = (float(a) for a in args)
            geom = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            return self._axes(geom)  # BBOX corners follow the CRS axis order too
        if isinstance(node, values.Geometry | values.Envelope):
            try:
                geom = shapely.geometry.shape(_plain(node.__geo_interface__))
            except Exception as exc:
                raise FilterError(f"invalid geometry literal: {_short(exc)}", where=op) from None
            if geom.is_empty or not shapely.is_valid(geom):
                why = shapely.is_valid_reason(geom) if not geom.is_empty else "empty"
                raise FilterError(f"invalid geometry literal ({why})", where=f"S_{op.upper()}")
            bounds = geom.bounds
            if self.epsg is None and not (
                -180 <= bounds[0] <= 180 and -90 <= bounds[1] <= 90
                and -180 <= bounds[2] <= 180 and -90 <= bounds[3] <= 90
            ):  # fmt: skip
                raise FilterError(
                    "geometry coordinates lie outside lon/lat range: give filter-crs for "
                    "projected coordinates",
                    where=f"S_{op.upper()}",
                )
            return self._axes(geom)
        raise FilterError(
            "the second argument of a spatial predicate must be a geometry literal",
            where=f"S_{op.upper()}",
        )

    def _axes(self, geom):
        """Literal coordinates in the filter CRS's axis order → x/y (east/north) order."""
        if north_first(self.epsg):
            return shapely.transform(geom, lambda c: c[:, ::-1])
        return geom


def _plain(obj):
    """Tuples (pygeofilter) → lists (shapely.geometry.shape takes either; this normalises)."""
    if isinstance(obj, tuple | list):
        return [_plain(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _kind(expr) -> str:
    if expr[0] == "prop":
        return expr[2]
    if expr[0] == "lower":
        return "string"
    value = expr[1]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _compatible(lhs, rhs, op: str) -> None:
    a, b = _kind(lhs), _kind(rhs)
    numeric = {"number", "integer"}
    if (a in numeric and b in numeric) or a == b:
        if a == "boolean" and op not in ("=", "<>", "IN"):
            raise FilterError(f"booleans can only be compared with = or <>, not {op}", where=op)
        return
    names = [e[1] for e in (lhs, rhs) if e[0] == "prop"]
    where = names[0] if names else op
    raise FilterError(
        f"type mismatch in {op}: {a} compared with {b}"
        + (f" (property {where!r} is {a if lhs[0] == 'prop' else b})" if names else ""),
        where=where,
    )


# --------------------------------------------------------------------------- public


class Filter:
    """A checked filter: ``tree`` (see the module doc), the columns it reads, whether spatial."""

    def __init__(self, tree, used: set[str], spatial: bool) -> None:
        self.tree = tree
        self.used = used
        self.spatial = spatial

    def __and__(self, other: Filter | None) -> Filter:
        if other is None:
            return self
        return Filter(
            ("and", self.tree, other.tree), self.used | other.used, self.spatial or other.spatial
        )

    def __repr__(self) -> str:
        return f"Filter({self.tree!r})"


def parse_filter(
    text: str,
    /,
    *,
    lang: str | None = None,
    columns: Mapping[str, str],
    geometry: bool,
    filter_epsg: int | None = None,
) -> Filter:
    """Parse and check a CQL2 filter against a collection's columns (name → JSON type)."""
    if not text or not text.strip():
        raise FilterError("the filter is empty")
    checker = _Checker(columns, geometry, filter_epsg)
    try:
        tree = checker.pred(parse_ast(text, lang))
    except RecursionError:
        raise FilterError("the filter is nested too deeply", where="nesting") from None
    if _depth(tree) > MAX_DEPTH:
        raise FilterError(f"the filter nests more than {MAX_DEPTH} levels", where="nesting")
    return Filter(tree, checker.used, checker.spatial)


#: deepest nesting of AND/OR/NOT a filter may have (the translators recurse)
MAX_DEPTH = 200


def _depth(node) -> int:
    stack, deepest = [(node, 1)], 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if item[0] in ("and", "or", "not"):
            stack.extend((sub, d + 1) for sub in item[1:])
    return deepest


# --------------------------------------------------------------------------- datetime

_OPEN = ("", "..")


def parse_instant(text: str, *, end: bool = False) -> datetime:
    """An RFC 3339 date-time or a date (the whole day) → an aware UTC datetime."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        stamp = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"datetime {text!r} is not an RFC 3339 date-time (2024-05-01T00:00:00Z) or a date",
            where="datetime",
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """The ``datetime`` parameter: an instant, ``start/end``, ``../end`` or ``start/..``."""
    parts = text.split("/")
    if len(parts) == 1:
        if parts[0].strip() in _OPEN:
            raise FilterError("datetime needs an instant or an interval", where="datetime")
        lo = parse_instant(parts[0])
        hi = parse_instant(parts[0], end=True) if len(parts[0].strip()) == 10 else lo
        return lo, hi
    if len(parts) != 2:
        raise FilterError("datetime is an instant or start/end", where="datetime")
    lo = None if parts[0].strip() in _OPEN else parse_instant(parts[0])
    hi = None if parts[1].strip() in _OPEN else parse_instant(parts[1], end=True)
    if lo is None and hi is None:
        raise FilterError("datetime '../..' has no bound; omit it instead", where="datetime")
    if lo is not None and hi is not None and lo > hi:
        raise FilterError("datetime interval ends before it starts", where="datetime")
    return lo, hi


#: columns read as the temporal property of a collection, first found wins
TEMPORAL_COLUMNS = ("datetime", "created_at", "updated_at", "transferred_on", "recorded_at")


def temporal_column(columns: Mapping[str, str]) -> str | None:
    for name in TEMPORAL_COLUMNS:
        if name in columns:
            return name
    return None


def datetime_filter(text: str, columns: Mapping[str, str]) -> Filter | None:
    """The ``datetime`` parameter as a filter on the collection's temporal column; None when
    the collection has none (the parameter is then accepted and selects every feature)."""
    lo, hi = parse_datetime(text)
    column = temporal_column(columns)
    if column is None:
        return None
    return Filter(("time", column, lo, hi), {column}, False)

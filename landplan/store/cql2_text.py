"""A CQL2-text parser with the standard's operator precedence, built on pygeofilter's pieces.

pygeofilter 0.4's CQL2-text grammar gives ``AND`` and ``OR`` the same precedence (``a OR b AND
c`` parses as ``(a OR b) AND c``), refuses ``NOT (a OR b)`` and reads ``''`` inside a string as
two strings.  This grammar follows the CQL2 BNF (``OR`` < ``AND`` < ``NOT``), and reuses
pygeofilter's transformer (its AST), WKT grammar and number/boolean terminals.
"""

from __future__ import annotations

import os
from functools import lru_cache

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr "OR"i and_expr                                   -> or_
?and_expr: not_expr
         | and_expr "AND"i not_expr                                -> and_
?not_expr: primary
         | "NOT"i not_expr                                         -> not_
?primary: predicate
        | "(" or_expr ")"

?predicate: expression "=" expression                              -> eq
          | expression "<>" expression                             -> ne
          | expression "!=" expression                             -> ne
          | expression "<" expression                              -> lt
          | expression "<=" expression                             -> lte
          | expression ">" expression                              -> gt
          | expression ">=" expression                             -> gte
          | expression "BETWEEN"i expression "AND"i expression     -> between
          | expression "NOT"i "BETWEEN"i expression "AND"i expression -> not_between
          | expression "LIKE"i expression                          -> like
          | expression "NOT"i "LIKE"i expression                   -> not_like
          | expression "IN"i "(" expression ( "," expression )* ")"    -> in_
          | expression "NOT"i "IN"i "(" expression ( "," expression )* ")" -> not_in
          | expression "IS"i "NULL"i                               -> null
          | expression "IS"i "NOT"i "NULL"i                        -> not_null
          | "INCLUDE"i                                             -> include
          | "EXCLUDE"i                                             -> exclude
          | BOOLEAN                                                -> boolean_predicate
          | SPATIAL_OP "(" expression "," expression ")"           -> binary_spatial_predicate
          | TEMPORAL_OP "(" expression "," expression ")"          -> temporal_predicate

SPATIAL_OP.3: /S_(INTERSECTS|DISJOINT|CONTAINS|WITHIN|TOUCHES|CROSSES|OVERLAPS|EQUALS)(?![A-Za-z0-9_])/i
TEMPORAL_OP.3: /T_[A-Z]+(?![A-Za-z0-9_])/i

?expression: sum
?sum: product
    | sum "+" product                                              -> add
    | sum "-" product                                              -> sub
?product: atom
        | product "*" atom                                         -> mul
        | product "/" atom                                         -> div
?atom: func
     | attribute
     | literal
     | "-" atom                                                    -> neg

func.2: attribute "(" [expression ("," expression)*] ")"           -> function

?literal: number
        | BOOLEAN
        | SINGLE_QUOTED
        | ewkt_geometry                                            -> geometry

?number: FLOAT | INT

BOOLEAN.2: /(TRUE|FALSE)(?![A-Za-z0-9_])/i
DOUBLE_QUOTED: /"(?:[^"]|"")*"/
SINGLE_QUOTED: /'(?:[^']|'')*'/

attribute: NAME
         | DOUBLE_QUOTED
NAME: /[A-Za-z_\u00C0-\uFFFF][A-Za-z_0-9:.\u00C0-\uFFFF]*/

%import wkt.ewkt_geometry
%import common.INT
%import common.FLOAT
%import common.WS
%ignore WS
"""


@lru_cache(maxsize=1)
def _parser():
    import pygeofilter.parsers
    from lark import Lark, v_args
    from pygeofilter import ast
    from pygeofilter.parsers.cql2_text.parser import CQLTransformer

    @v_args(inline=True)
    class Transformer(CQLTransformer):
        def SINGLE_QUOTED(self, token):  # noqa: N802 - lark terminal name
            return str(token)[1:-1].replace("''", "'")

        def DOUBLE_QUOTED(self, token):  # noqa: N802
            return str(token)[1:-1].replace('""', '"')

        def NAME(self, token):  # noqa: N802
            return str(token)

        def attribute(self, name):
            return ast.Attribute(str(name))

        def function(self, func_name, *expressions):
            name = func_name.name.lower()
            args = [e for e in expressions if e is not None]
            return ast.Function("lower" if name == "casei" else name, args)

        def boolean_predicate(self, value):
            return ast.Include(not value)

        def binary_spatial_predicate(self, op, lhs, rhs):
            from pygeofilter.cql2 import SPATIAL_PREDICATES_MAP

            return SPATIAL_PREDICATES_MAP[str(op).lower()](lhs, rhs)

        def temporal_predicate(self, op, lhs, rhs):
            raise ValueError(f"temporal operator {op} is not supported")

    import_dir = os.path.dirname(pygeofilter.parsers.__file__)
    return Lark(
        GRAMMAR,
        parser="lalr",
        maybe_placeholders=False,
        transformer=Transformer(),
        import_paths=[import_dir],
    )


def parse(text: str):
    """pygeofilter AST of CQL2 text (lark errors propagate with line and column)."""
    return _parser().parse(text)

"""Compact, columnar parcel data for the HTML maps; the popups are built from it in the browser.

A page used to carry one pre-rendered popup per parcel (10 MB for 2,912 parcels, 331 MB
for 49,049).  :func:`compact_parcels` writes instead one JSON object that the page's single
popup template (:data:`landplan.maps.popups.PARCEL_JS`) reads:

``ids``, ``cls``, ``v``
    parcel id, class index (colour of the legend class) and verdict index per parcel;
``num``
    ``{column: [value, ...]}`` for the area columns, rounded (m² to 0 decimals, 亩 to 2);
``dist``
    ``{kind: [metres, ...]}`` from the ``dist_<kind>_m`` columns (0 decimals);
``r`` / ``R`` / ``S``
    per parcel a list of indexes into ``R``, the table of distinct reasons; a reason is
    ``[code, severity, value, threshold, unit, basis, zh, zh_args, en, en_args]`` where the
    text fields are indexes into the string table ``S`` and each message is a template
    (numbers replaced by ``{}``) plus its numbers, so that messages that differ only in
    their figures share one string.  Decoding restores every message exactly;
``g``
    geometry: ``c`` the vertices of all rings, quantised to 1e-6 degree and delta-encoded
    within each ring (the closing vertex dropped), ``r`` vertices per ring, ``p`` rings per
    polygon, ``f`` polygons per parcel.

Everything here is vectorised over the parcels except the reasons, which are parsed once
per parcel from their JSON column.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

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
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")


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
    """A number of a message as JSON: a number when JavaScript prints it back identically."""
    if "." not in text:
        return int(text) if (text == "0" or not text.startswith("0")) and len(text) < 16 else text
    value = float(text)
    return value if repr(value) == text else text


def template(message: str, /) -> tuple[str, list[int | float | str]]:
    """``"距 355 m，超过 200 m"`` → ``("距 {} m，超过 {} m", [355, 200])`` (lossless)."""
    if "{" in message or "}" in message:
        return message, []
    args = [_arg(m.group(0)) for m in _NUMBER.finditer(message)]
    return _NUMBER.sub("{}", message), args


def fill(tpl: str, args: Sequence[Any], /) -> str:
    """The inverse of :func:`template` (what the page does in JavaScript)."""
    parts = tpl.split("{}")
    out = [parts[0]]
    for arg, part in zip(args, parts[1:], strict=True):
        out.append((repr(arg) if isinstance(arg, float) else str(arg)) + part)
    return "".join(out)


class _Strings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, text: Any) -> int:
        text = "" if text is None else str(text)
        return self.index.setdefault(text, len(self.index))

    def table(self) -> list[str]:
        return list(self.index)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 4) if math.isfinite(number) else None


def _reason_table(
    reasons: Sequence[Any], ids: Sequence[str]
) -> tuple[list[list[int]], list[list[Any]], list[str]]:
    strings = _Strings()
    table: dict[str, int] = {}
    rows: list[list[Any]] = []
    per_parcel: list[list[int]] = []
    for raw, pid in zip(reasons, ids, strict=True):
        refs = []
        for r in parse_reasons(raw, parcel_id=pid):
            zh, zh_args = template(str(r.get("message_zh") or ""))
            en, en_args = template(str(r.get("message_en") or ""))
            row = [
                strings(r.get("code", "")),
                1 if r.get("severity") == "block" else 0,
                _finite(r.get("value")),
                _finite(r.get("threshold")),
                strings(r.get("unit") or ""),
                strings(r.get("basis") or ""),
                strings(zh),
                zh_args,
                strings(en),
                en_args,
            ]
            key = json.dumps(row, ensure_ascii=False)
            if key not in table:
                table[key] = len(rows)
                rows.append(row)
            refs.append(table[key])
        per_parcel.append(refs)
    return per_parcel, rows, strings.table()


def _column(values: Any, digits: int) -> list[float | None]:
    arr = np.asarray(values, dtype=float).round(digits)
    out: list[Any] = arr.tolist()
    if digits == 0:
        out = [int(v) if math.isfinite(v) else None for v in out]
    else:
        out = [v if math.isfinite(v) else None for v in out]
    return out


def encode_geometries(geoms: Any, /) -> dict[str, list[int]]:
    """Polygons/multipolygons (EPSG:4326) → the ``g`` object of the module docstring."""
    geoms = np.asarray(geoms, dtype=object)
    polys, poly_owner = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(polys) == 3  # polygons only (a stray line or point is skipped)
    polys, poly_owner = polys[keep], poly_owner[keep]
    rings, ring_owner = shapely.get_rings(polys, return_index=True)
    coords, vertex_owner = shapely.get_coordinates(rings, return_index=True)
    per_ring = np.bincount(vertex_owner, minlength=len(rings))
    last = np.cumsum(per_ring) - 1
    keep_vertex = np.ones(len(coords), dtype=bool)
    keep_vertex[last[per_ring > 0]] = False  # the closing vertex repeats the first
    q = np.round(coords[keep_vertex] * SCALE).astype(np.int64)
    counts = np.maximum(per_ring - 1, 0)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    delta[starts[counts > 0]] = q[starts[counts > 0]]  # ring starts absolute
    return {
        "c": delta.ravel().tolist(),
        "r": counts.tolist(),
        "p": np.bincount(ring_owner, minlength=len(polys)).tolist(),
        "f": np.bincount(poly_owner, minlength=len(geoms)).tolist(),
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


def compact_parcels(parcels_wgs84: GeoDataFrame, classes: Any, /) -> dict[str, Any]:
    """The page's parcel data (see the module docstring) from parcels in EPSG:4326."""
    ids = parcels_wgs84["parcel_id"].astype(str).tolist()
    verdicts = parcels_wgs84["verdict"].astype(str)
    lookup = {k: i for i, k in enumerate(VERDICT_KEYS)}
    per_parcel, rows, strings = _reason_table(parcels_wgs84["reasons"].tolist(), ids)
    dist_cols = [
        c for c in parcels_wgs84.columns if str(c).startswith("dist_") and str(c).endswith("_m")
    ]
    return {
        "n": len(ids),
        "ids": ids,
        "cls": np.asarray(classes.index, dtype=int).tolist(),
        "v": [lookup.get(v, -1) for v in verdicts],
        "num": {
            col: _column(parcels_wgs84[col], digits)
            for col, digits in NUMBERS.items()
            if col in parcels_wgs84.columns
        },
        "dist": {c[len("dist_") : -len("_m")]: _column(parcels_wgs84[c], 0) for c in dist_cols},
        "r": per_parcel,
        "R": rows,
        "S": strings,
        "g": encode_geometries(parcels_wgs84.geometry.to_numpy()),
    }


def to_script_json(data: Any, /) -> str:
    """JSON safe inside a ``<script>`` element (``<`` escaped), UTF-8 kept as is."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")

"""Available land: area of each parcel excluded by each constraint kind, and the net remainder.

The method, for ``n`` parcels and a constraint layer of any size:

1. dissolve the layer (``shapely.union_all``) so that overlapping features of one
   kind are never counted twice, and cut the result into pieces of at most
   ``MAX_PIECE_VERTICES`` vertices (a quad split, like PostGIS ``ST_Subdivide``),
   which keeps every intersection small;
2. find candidate (parcel, piece) pairs with an STRtree;
3. pairs where the piece contains the parcel take the parcel's area; the rest get
   a vectorised ``shapely.intersection``; areas are summed per parcel with ``bincount``.

Pieces of a dissolved layer are disjoint, so the sum is exact.  The union over
kinds (what is excluded at all) uses the same method on ``inside − exclusions``,
so land covered by two layers is excluded once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries

from landplan.core.crs import require_projected
from landplan.core.errors import CRSError
from landplan.core.parallel import pool_map
from landplan.core.policy import Policy

MAX_PIECE_VERTICES = 256
_MAX_SPLIT_DEPTH = 24


def subdivide(geoms: np.ndarray, /, *, max_vertices: int = MAX_PIECE_VERTICES) -> np.ndarray:
    """Cut polygons into polygon pieces of at most ``max_vertices`` vertices.

    Each round halves every too-large piece across its longer side; the pieces
    cover exactly the input and do not overlap.

    Examples
    --------
    >>> import shapely
    >>> circle = shapely.Point(0, 0).buffer(100, quad_segs=256)
    >>> pieces = subdivide(np.array([circle]), max_vertices=64)
    >>> bool((shapely.get_num_coordinates(pieces) <= 64).all())
    True
    >>> round(float(shapely.area(pieces).sum() - circle.area), 6)
    0.0
    """
    todo = _polygons_only(np.asarray(geoms, dtype=object))
    done = []
    for _ in range(_MAX_SPLIT_DEPTH):
        small = shapely.get_num_coordinates(todo) <= max_vertices
        done.append(todo[small])
        todo = todo[~small]
        if len(todo) == 0:
            break
        b = shapely.bounds(todo)
        split_x = (b[:, 2] - b[:, 0]) >= (b[:, 3] - b[:, 1])
        mid_x = (b[:, 0] + b[:, 2]) / 2.0
        mid_y = (b[:, 1] + b[:, 3]) / 2.0
        # boxes slightly larger than the bounds so no edge is lost to rounding
        pad = 1.0 + np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        lo = shapely.box(
            b[:, 0] - pad,
            b[:, 1] - pad,
            np.where(split_x, mid_x, b[:, 2] + pad),
            np.where(split_x, b[:, 3] + pad, mid_y),
        )
        hi = shapely.box(
            np.where(split_x, mid_x, b[:, 0] - pad),
            np.where(split_x, b[:, 1] - pad, mid_y),
            b[:, 2] + pad,
            b[:, 3] + pad,
        )
        halves = np.concatenate([shapely.intersection(todo, lo), shapely.intersection(todo, hi)])
        todo = _polygons_only(halves)
    done.append(todo)  # pieces that could not be split further are kept as they are
    return np.concatenate(done)


def _polygons_only(geoms: np.ndarray) -> np.ndarray:
    parts = shapely.get_parts(shapely.get_parts(geoms))
    parts = parts[(shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)]
    return parts[shapely.area(parts) > 0]


def dissolve(geoms, /) -> shapely.Geometry:
    """Union of a layer's polygons (empty polygon when there are none)."""
    arr = np.asarray(geoms, dtype=object)
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    return shapely.union_all(arr) if len(arr) else shapely.Polygon()


def covered_area_m2(parcels: np.ndarray, pieces: np.ndarray, /) -> np.ndarray:
    """Area of each parcel covered by a set of *disjoint* polygon pieces (m²)."""
    n = len(parcels)
    if len(pieces) == 0 or n == 0:
        return np.zeros(n)
    tree = shapely.STRtree(pieces)
    pi, pj = tree.query(parcels, predicate="intersects")
    if len(pi) == 0:
        return np.zeros(n)
    shapely.prepare(pieces)
    whole = shapely.contains_properly(pieces[pj], parcels[pi])
    areas = np.empty(len(pi))
    areas[whole] = shapely.area(parcels[pi[whole]])
    part = ~whole
    areas[part] = shapely.area(shapely.intersection(parcels[pi[part]], pieces[pj[part]]))
    return np.bincount(pi, weights=areas, minlength=n)


@dataclass(frozen=True)
class Exclusions:
    """Per-parcel exclusion areas (m²), aligned with the parcels' order."""

    gross_m2: np.ndarray
    by_kind_m2: dict[str, np.ndarray]  # for require_inside kinds: the area *outside*
    excluded_m2: np.ndarray
    net_available_m2: np.ndarray

    def frame(self) -> pd.DataFrame:
        """Columns ``excluded_<kind>_m2``, ``excluded_m2`` and ``net_available_m2``."""
        cols = {f"excluded_{k}_m2": v for k, v in self.by_kind_m2.items()}
        cols["excluded_m2"] = self.excluded_m2
        cols["net_available_m2"] = self.net_available_m2
        return pd.DataFrame(cols)


@dataclass(frozen=True)
class PreparedExclusions:
    """Constraint layers dissolved and subdivided once, ready to be applied to any set of parcels.

    Built by :func:`prepare_exclusions`; small enough to send to every Dask worker.
    ``net_mode`` says how the net available area is taken: ``gross`` (nothing excludes),
    ``minus`` (gross minus the cover of ``net_pieces``) or ``covered`` (the cover of
    ``net_pieces``, the land inside every require_inside layer and outside every exclusion).
    """

    kinds: tuple[str, ...]  # non-info kinds, in the constraints' order
    actions: dict[str, str]
    layer_crs: dict[str, object]  # kind → the layer's CRS (None when unknown)
    pieces: dict[str, np.ndarray]  # kind → subdivided pieces of the dissolved layer
    net_mode: str
    net_pieces: np.ndarray


def _check_crs(crs, layer_crs: Mapping[str, object]) -> None:
    for kind, lcrs in layer_crs.items():
        if lcrs is not None and not lcrs.equals(crs):
            raise CRSError(
                f"constraint layer {kind!r} is in {lcrs}, parcels in {crs}; reproject it first"
            )


def prepare_exclusions(
    constraints: Mapping[str, GeoDataFrame | GeoSeries], policy: Policy, /
) -> PreparedExclusions:
    """Dissolve and subdivide every non-info constraint layer, and the net-available mask, once."""
    constraints = {k: v for k, v in constraints.items() if policy.rule_for(k).action != "info"}

    def one_kind(layer):
        union = dissolve(layer.geometry.values)
        return union, subdivide(np.array([union]))

    passes = pool_map(one_kind, list(constraints.values()))
    actions = {k: policy.rule_for(k).action for k in constraints}
    exclude, inside = [], []
    for kind, (union, _) in zip(constraints, passes, strict=True):
        if actions[kind] == "require_inside":
            inside.append(union)
        elif actions[kind] == "exclude":
            exclude.append(union)
    excluded = shapely.union_all(exclude) if exclude else None
    if not inside:
        if excluded is None:
            mode, mask = "gross", None
        else:
            mode, mask = "minus", excluded
    else:
        allowed = inside[0]
        for union in inside[1:]:
            allowed = shapely.intersection(allowed, union)
        if excluded is not None:
            allowed = shapely.difference(allowed, excluded)
        mode, mask = "covered", allowed
    net_pieces = subdivide(np.array([mask])) if mask is not None else np.array([], dtype=object)
    return PreparedExclusions(
        tuple(constraints),
        actions,
        {k: v.crs for k, v in constraints.items()},
        {k: pieces for k, (_, pieces) in zip(constraints, passes, strict=True)},
        mode,
        net_pieces,
    )


def exclusions_for(
    parcels: GeoDataFrame | GeoSeries, prepared: PreparedExclusions, /
) -> Exclusions:
    """Apply prepared constraint layers to parcels (see :func:`compute_exclusions`)."""
    crs = require_projected(parcels, what="available-land overlay")
    _check_crs(crs, prepared.layer_crs)
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    geoms = np.where(shapely.is_missing(geoms), shapely.Polygon(), geoms)
    gross = shapely.area(geoms)
    covers = pool_map(
        lambda k: np.minimum(covered_area_m2(geoms, prepared.pieces[k]), gross),
        list(prepared.kinds),
    )
    by_kind: dict[str, np.ndarray] = {}
    for kind, covered in zip(prepared.kinds, covers, strict=True):
        if prepared.actions[kind] == "require_inside":
            by_kind[kind] = np.maximum(gross - covered, 0.0)
        else:
            by_kind[kind] = covered
    if prepared.net_mode == "gross":
        net = gross.copy()
    elif prepared.net_mode == "minus":
        net = gross - covered_area_m2(geoms, prepared.net_pieces)
    else:
        net = covered_area_m2(geoms, prepared.net_pieces)
    net = np.clip(net, 0.0, gross)
    return Exclusions(gross, by_kind, gross - net, net)


def compute_exclusions(
    parcels: GeoDataFrame | GeoSeries,
    constraints: Mapping[str, GeoDataFrame | GeoSeries],
    policy: Policy,
    /,
) -> Exclusions:
    """Area of every parcel excluded by each constraint kind, their union, and the net available area.

    ``constraints`` maps a kind (``red_line``, ``urban_boundary``, ...) to its layer,
    in the parcels' projected CRS.  The policy decides whether a kind excludes land
    (``exclude``), must contain it (``require_inside``) or only warns (``warn``; its
    overlap is reported but not excluded).  The same as
    ``exclusions_for(parcels, prepare_exclusions(constraints, policy))``.
    """
    crs = require_projected(parcels, what="available-land overlay")
    _check_crs(
        crs,
        {k: v.crs for k, v in constraints.items() if policy.rule_for(k).action != "info"},
    )
    return exclusions_for(parcels, prepare_exclusions(constraints, policy))

"""Network readiness: distance from each parcel to the nearest built (and planned) segment of each kind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries

from landplan.core.crs import require_projected
from landplan.core.parallel import pool_map
from landplan.core.policy import Policy


def segments(features: np.ndarray, /) -> np.ndarray:
    """Lines cut into their two-point segments; points and polygons kept whole.

    The nearest-feature search on an STRtree only narrows down when the indexed boxes are
    small: a few 40 km power lines give a handful of boxes that each cover the whole area.
    The distance to a line is the least distance to its segments, so the answer is unchanged.

    Examples
    --------
    >>> segs = segments(np.array([shapely.LineString([(0, 0), (1, 0), (1, 1)])]))
    >>> [s.wkt for s in segs]
    ['LINESTRING (0 0, 1 0)', 'LINESTRING (1 0, 1 1)']
    """
    parts = shapely.get_parts(shapely.get_parts(np.asarray(features, dtype=object)))
    parts = parts[~(shapely.is_missing(parts) | shapely.is_empty(parts))]
    is_line = np.isin(shapely.get_type_id(parts), (1, 2))  # LineString, LinearRing
    coords, owner = shapely.get_coordinates(parts[is_line], return_index=True)
    same = owner[1:] == owner[:-1]
    pairs = np.stack([coords[:-1][same], coords[1:][same]], axis=1)
    return np.concatenate([parts[~is_line], shapely.linestrings(pairs)])


def nearest_distance_m(parcels: np.ndarray, features: np.ndarray, /) -> np.ndarray:
    """Distance (m) from each parcel to the nearest feature; NaN for empty parcels or no features.

    Lines are searched by their two-point segments (:func:`segments`): the same distances,
    about ten times faster on long lines.  No ``max_distance`` bound is used: a parcel beyond
    the policy's ``connectable_m`` still reports how far the network is (需外延 … m), and a
    bounded first pass measured no faster.
    """
    features = segments(features)
    return _nearest(np.asarray(parcels, dtype=object), _tree(features))


#: children per node of the segment trees: the nearest-feature search visits fewer boxes in a
#: deeper tree of small boxes (measured on 50k parcels and 800–3,600 segments per network:
#: 2.15 s at 2 against 4.6 s at GEOS's default of 10, the same distances)
NODE_CAPACITY = 2


def _tree(segs: np.ndarray, /) -> shapely.STRtree | None:
    return shapely.STRtree(segs, node_capacity=NODE_CAPACITY) if len(segs) else None


@dataclass(frozen=True)
class PreparedNetworks:
    """The networks cut into segments and indexed once, for any number of parcel chunks."""

    trees: dict[str, shapely.STRtree | None]  # column (``dist_road_m``, ...) → index, or None
    provided: frozenset[str]  # the kinds that have a layer


def prepare_networks(networks: GeoDataFrame | None, /, *, kinds: Sequence[str]) -> PreparedNetworks:
    """Segments (:func:`segments`) and an STRtree per kind and status (built / planned)."""
    jobs: dict[str, np.ndarray] = {}
    for kind in kinds:
        for status, name in (("built", f"dist_{kind}_m"), ("planned", f"dist_planned_{kind}_m")):
            if networks is None or len(networks) == 0:
                jobs[name] = np.array([], dtype=object)
            else:
                sel = (networks["kind"] == kind).to_numpy() & (
                    networks["status"] == status
                ).to_numpy()
                jobs[name] = np.asarray(networks.geometry.values[sel], dtype=object)
    parts = pool_map(segments, list(jobs.values()))
    trees = {k: _tree(p) for k, p in zip(jobs, parts, strict=True)}
    provided = set(networks["kind"].unique()) if networks is not None and len(networks) else set()
    return PreparedNetworks(trees, frozenset(map(str, provided)))


def distances_to(parcels: GeoDataFrame | GeoSeries, prepared: PreparedNetworks, /) -> pd.DataFrame:
    """Columns ``dist_<kind>_m`` and ``dist_planned_<kind>_m`` from prepared networks."""
    require_projected(parcels, what="network distances")
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    # GEOS releases the GIL: the searches of the kinds run on all cores
    found = pool_map(lambda tree: _nearest(geoms, tree), list(prepared.trees.values()))
    return pd.DataFrame(dict(zip(prepared.trees, found, strict=True)))


def _nearest(parcels: np.ndarray, tree: shapely.STRtree | None) -> np.ndarray:
    out = np.full(len(parcels), np.nan)
    if tree is None or len(parcels) == 0:
        return out
    (idx, _), dist = tree.query_nearest(parcels, return_distance=True, all_matches=False)
    out[idx] = dist
    return out


def network_distances(
    parcels: GeoDataFrame | GeoSeries,
    networks: GeoDataFrame | None,
    /,
    *,
    kinds: Sequence[str],
) -> pd.DataFrame:
    """Columns ``dist_<kind>_m`` (built) and ``dist_planned_<kind>_m`` for every kind.

    ``networks`` needs columns ``kind`` and ``status`` (``built``/``planned``).
    """
    require_projected(parcels, what="network distances")
    return distances_to(parcels, prepare_networks(networks, kinds=kinds))


def network_status(
    dist_m: np.ndarray, /, *, connected_m: float, connectable_m: float
) -> np.ndarray:
    """``connected`` (至红线), ``connectable`` (可接), ``needs_extension`` (需外延) or ``absent``.

    Examples
    --------
    >>> network_status(np.array([0.0, 150.0, 900.0, np.nan]), connected_m=30, connectable_m=200).tolist()
    ['connected', 'connectable', 'needs_extension', 'absent']
    """
    return np.select(
        [np.isnan(dist_m), dist_m <= connected_m, dist_m <= connectable_m],
        ["absent", "connected", "connectable"],
        default="needs_extension",
    )


def readiness_frame(
    distances: pd.DataFrame, policy: Policy, /, *, kinds: Sequence[str]
) -> pd.DataFrame:
    """Columns ``net_<kind>_status`` for every kind the policy knows."""
    cols = {}
    for kind in kinds:
        rule = policy.networks.get(kind)
        if rule is None:
            continue
        cols[f"net_{kind}_status"] = network_status(
            distances[f"dist_{kind}_m"].to_numpy(),
            connected_m=rule.connected_m,
            connectable_m=rule.connectable_m,
        )
    return pd.DataFrame(cols, index=distances.index)

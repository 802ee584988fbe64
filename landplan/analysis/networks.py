"""Network readiness: distance from each parcel to the nearest built (and planned) segment of each kind."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries

from landplan.core.crs import require_projected
from landplan.core.policy import Policy


def nearest_distance_m(parcels: np.ndarray, features: np.ndarray, /) -> np.ndarray:
    """Distance (m) from each parcel to the nearest feature; NaN for empty parcels or no features."""
    out = np.full(len(parcels), np.nan)
    features = features[~(shapely.is_missing(features) | shapely.is_empty(features))]
    if len(features) == 0 or len(parcels) == 0:
        return out
    tree = shapely.STRtree(features)
    (idx, _), dist = tree.query_nearest(parcels, return_distance=True, all_matches=False)
    out[idx] = dist
    return out


def network_distances(
    parcels: GeoDataFrame | GeoSeries, networks: GeoDataFrame | None, /, *, kinds: Sequence[str]
) -> pd.DataFrame:
    """Columns ``dist_<kind>_m`` (built) and ``dist_planned_<kind>_m`` for every kind.

    ``networks`` needs columns ``kind`` and ``status`` (``built``/``planned``).
    """
    require_projected(parcels, what="network distances")
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    cols: dict[str, np.ndarray] = {}
    for kind in kinds:
        for status, name in (("built", f"dist_{kind}_m"), ("planned", f"dist_planned_{kind}_m")):
            if networks is None or len(networks) == 0:
                feats = np.array([], dtype=object)
            else:
                sel = (networks["kind"] == kind).to_numpy() & (
                    networks["status"] == status
                ).to_numpy()
                feats = np.asarray(networks.geometry.values[sel], dtype=object)
            cols[name] = nearest_distance_m(geoms, feats)
    return pd.DataFrame(cols)


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

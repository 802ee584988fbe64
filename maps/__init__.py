"""Folium maps of landplan results.

Folium is imported lazily, inside the builders, so ``import landplan.maps`` works without it.

>>> from landplan.maps import build_result_map, save_map  # doctest: +SKIP
>>> save_map(build_result_map(parcels, title="某园区出让结论"), "map.html")  # doctest: +SKIP
"""

from __future__ import annotations

from landplan.maps.layers import add_constraints, add_networks, add_parcels, base_map, to_wgs84
from landplan.maps.result_map import build_result_map, save_map

__all__ = [
    "add_constraints",
    "add_networks",
    "add_parcels",
    "base_map",
    "build_result_map",
    "save_map",
    "to_wgs84",
]

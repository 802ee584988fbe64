"""GCJ-02 (火星坐标) ↔ WGS84/CGCS2000, for drawing overlays on Gaode (高德) tiles only.

GCJ-02 is the obfuscated datum of Chinese web maps (Gaode/AMap, Tencent, Google China).
Tiles from those services are drawn in GCJ-02, so a WGS84 or CGCS2000 overlay lands a few
hundred metres off unless it is shifted the same way.  **GCJ-02 is display-only in landplan:**
it is applied when a map is rendered, never stored and never measured (DOMAIN.md §6.4).
CGCS2000 and WGS84 are treated as equal here (they differ by centimetres).

The forward transform is the standard published algorithm (Krasovsky 1940 ellipsoid,
``a = 6378245.0``, ``ee = 0.00669342162296594323``, offset polynomials centred at 105°E,
35°N); outside a rough China box there is no shift.  The inverse has no closed form and is
solved by fixed-point iteration to better than ``1e-7``° (about 1 cm).

>>> lon, lat = wgs84_to_gcj02(121.5272106, 31.1774276)
>>> round(float(lon), 9), round(float(lat), 9)
(121.531541859, 31.175303984)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

__all__ = ["gcj02_to_wgs84", "in_china", "shift_geometries", "wgs84_to_gcj02"]

A_KRASOVSKY_M = 6378245.0
EE_KRASOVSKY = 0.00669342162296594323
#: the rough box outside which GCJ-02 equals WGS84 (lon_min, lat_min, lon_max, lat_max)
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
INVERSE_TOL_DEG = 1e-7
INVERSE_MAX_ITER = 30


def in_china(lon: Any, lat: Any, /) -> np.ndarray:
    """True where ``(lon, lat)`` is inside the rough China box (vectorised)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (
        (lon >= CHINA_BOX[0])
        & (lon <= CHINA_BOX[2])
        & (lat >= CHINA_BOX[1])
        & (lat <= CHINA_BOX[3])
    )


def _delta_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (dlon, dlat) in degrees at WGS84 ``(lon, lat)``."""
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + common
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + common
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - EE_KRASOVSKY * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((A_KRASOVSKY_M * (1.0 - EE_KRASOVSKY)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (A_KRASOVSKY_M / sqrt_magic * np.cos(rad_lat) * pi)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon: Any, lat: Any, /) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84/CGCS2000 ``(lon, lat)`` in degrees to GCJ-02 (scalars or arrays).

    Points outside :data:`CHINA_BOX` are returned unchanged.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta_deg(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: Any, lat: Any, /) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (to < 1e-7°, about 1 cm)."""
    g_lon, g_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(INVERSE_MAX_ITER):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        err_lon, err_lat = f_lon - g_lon, f_lat - g_lat
        w_lon, w_lat = w_lon - err_lon, w_lat - err_lat
        if np.all(np.abs(err_lon) < INVERSE_TOL_DEG) and np.all(np.abs(err_lat) < INVERSE_TOL_DEG):
            break
    return w_lon, w_lat


def _forward_xy(xy: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def shift_geometries(geoms: Any, /) -> Any:
    """Shift lon/lat geometries (EPSG:4326/4490) to GCJ-02 for display on Gaode tiles.

    ``geoms`` is a GeoSeries (returned as a GeoSeries with the same index and CRS label,
    whose coordinates are then GCJ-02: use it for drawing only) or an array of shapely
    geometries (returned as an array).

    Raises
    ------
    landplan.core.errors.CRSError
        If a GeoSeries is in a projected CRS (the shift is defined on degrees).
    """
    from landplan.core.errors import CRSError

    crs = getattr(geoms, "crs", None)
    if crs is not None and not crs.is_geographic:
        raise CRSError(
            f"GCJ-02 shifts lon/lat degrees, got projected {crs.to_string()}; "
            "reproject first, e.g. `gdf.to_crs(4326)`"
        )
    from geopandas import GeoSeries

    if isinstance(geoms, GeoSeries):
        shifted = shapely.transform(np.asarray(geoms.values, dtype=object), _forward_xy)
        return GeoSeries(shifted, index=geoms.index, crs=crs)
    return shapely.transform(np.asarray(geoms, dtype=object), _forward_xy)

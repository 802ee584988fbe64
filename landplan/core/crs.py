"""CRS guards and the CGCS2000 3° Gauss-Krüger zone arithmetic.

EPSG codes of the CGCS2000 3° zones (zone = round(L / 3), CM = 3·zone):

* "CM" form, no zone prefix in the easting: ``4534 + (zone − 25)`` (zones 25–45,
  EPSG:4534–4554), e.g. Lijiang at 100.2°E → zone 33, CM 99°E → EPSG:4542;
* zone-prefixed form (easting = zone·10⁶ + 500 000 + x): ``4513 + (zone − 25)``
  (EPSG:4513–4533).
"""

from __future__ import annotations

import math

import numpy as np
from pyproj import CRS, Transformer

from landplan.core.errors import CRSError

GK3_MIN_ZONE, GK3_MAX_ZONE = 25, 45
CGCS2000_EPSG = 4490


def gk3_zone(lon: float) -> int:
    """The CGCS2000 3° Gauss-Krüger zone number of a longitude.

    Examples
    --------
    >>> gk3_zone(100.2)
    33
    >>> gk3_zone(116.4)
    39
    """
    if not (isinstance(lon, int | float) and math.isfinite(lon)):
        raise CRSError(
            f"longitude {lon!r} is not a finite number: the layer's coordinates are NaN, infinite or "
            'do not fit its CRS; check the CRS or state the workspace CRS (crs = "EPSG:...")'
        )
    zone = math.floor(lon / 3.0 + 0.5)
    if not GK3_MIN_ZONE <= zone <= GK3_MAX_ZONE:
        raise CRSError(
            f"longitude {lon:.4f}° is outside China's CGCS2000 3° zones 25–45 (73.5°E–136.5°E); "
            'state the workspace CRS explicitly (crs = "EPSG:...")'
        )
    return zone


def gk_zone_crs(lon: float, *, prefixed: bool = False) -> CRS:
    """The CGCS2000 3° GK CRS for a longitude (CM form unless ``prefixed``).

    Examples
    --------
    >>> gk_zone_crs(100.2).to_epsg()
    4542
    >>> gk_zone_crs(100.2, prefixed=True).to_epsg()
    4521
    """
    zone = gk3_zone(lon)
    return CRS.from_epsg((4513 if prefixed else 4534) + zone - GK3_MIN_ZONE)


def gk3_zone_of_crs(crs: CRS) -> tuple[int, bool] | None:
    """Return ``(zone, prefixed)`` when ``crs`` is a CGCS2000 3° GK CRS, else ``None``."""
    epsg = crs.to_epsg()
    if epsg is None:
        return None
    if 4513 <= epsg <= 4533:
        return epsg - 4513 + GK3_MIN_ZONE, True
    if 4534 <= epsg <= 4554:
        return epsg - 4534 + GK3_MIN_ZONE, False
    return None


def parse_crs(value: str | int | CRS, /) -> CRS:
    """Parse a user-given CRS (``"EPSG:4542"``, ``4542``, WKT, PROJ), with a clear error."""
    try:
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises its own CRSError with internal text
        raise CRSError(
            f'cannot understand the CRS {value!r}; give it as "EPSG:4542" or as WKT'
        ) from exc


def require_projected(obj, /, *, what: str = "this operation") -> CRS:
    """Raise :class:`CRSError` unless ``obj`` (a GeoDataFrame/GeoSeries) has a projected CRS."""
    crs = getattr(obj, "crs", None)
    if crs is None:
        raise CRSError(
            f"{what} needs a projected CRS, but the layer has none; set it with "
            "gdf.set_crs(...) or reproject to the workspace zone, e.g. landplan.core.crs.gk_zone_crs(lon)"
        )
    if not crs.is_projected:
        raise CRSError(
            f"{what} needs a projected CRS in metres, but the layer is in {crs.to_string()}; "
            "reproject it, e.g. gdf.to_crs(landplan.core.crs.gk_zone_crs(lon))"
        )
    return crs


def lonlat_of_bounds(bounds: tuple[float, float, float, float], crs: CRS) -> tuple[float, float]:
    """Centre of ``bounds`` (in ``crs``) as CGCS2000 longitude/latitude."""
    x = (bounds[0] + bounds[2]) / 2.0
    y = (bounds[1] + bounds[3]) / 2.0
    if crs.is_geographic:
        return float(x), float(y)
    to_geo = Transformer.from_crs(crs, CRS.from_epsg(CGCS2000_EPSG), always_xy=True)
    lon, lat = to_geo.transform(x, y)
    return float(lon), float(lat)


def looks_like_degrees(bounds: tuple[float, float, float, float]) -> bool:
    """Coordinates that fit in ±180/±90 are degrees, not metres of a projected CRS."""
    minx, miny, maxx, maxy = bounds
    return -180.0 <= minx <= maxx <= 180.0 and -90.0 <= miny <= maxy <= 90.0


def prefixed_zone_of_easting(easting: float) -> int | None:
    """Zone number hidden in an 8-digit zone-prefixed GK easting (e.g. 33 619 000 → 33)."""
    if 1.0e7 <= easting < 1.0e8:
        zone = int(easting // 1.0e6)
        if GK3_MIN_ZONE <= zone <= GK3_MAX_ZONE or 13 <= zone <= 23:
            return zone
    return None


def outside_area_of_use(
    bounds: tuple[float, float, float, float], crs: CRS, *, margin_deg: float = 1.0
) -> bool:
    """True when the layer's extent lies outside its CRS's area of use (plus a margin)."""
    aou = crs.area_of_use
    if aou is None:
        return False
    if crs.is_geographic:
        minx, miny, maxx, maxy = bounds
    else:
        to_geo = Transformer.from_crs(crs, CRS.from_epsg(CGCS2000_EPSG), always_xy=True)
        xs = np.array([bounds[0], bounds[2], bounds[0], bounds[2]])
        ys = np.array([bounds[1], bounds[1], bounds[3], bounds[3]])
        lon, lat = to_geo.transform(xs, ys)
        if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
            return True
        minx, maxx, miny, maxy = lon.min(), lon.max(), lat.min(), lat.max()
    return bool(
        minx < aou.west - margin_deg
        or maxx > aou.east + margin_deg
        or miny < aou.south - margin_deg
        or maxy > aou.north + margin_deg
    )

"""GeoJSON features, CRS URIs and tile maths shared by the stores and the API.

CRS handling follows OGC API Features Part 2: CRS84 (lon/lat) is the default; EPSG:4490
(CGCS2000 geographic, *lat/lon*) and the CGCS2000 3° Gauss-Krüger zones EPSG:4513–4554
(*northing/easting*) are served in their authority axis order.  Axis order is read from
pyproj (the first axis' direction), never hard-coded per code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: served output CRSs besides CRS84: WGS 84, CGCS2000 geographic and the 3° GK zones (both forms)
SERVED_EPSG: tuple[int, ...] = (4326, 4490, *range(4513, 4555))
#: properties put into vector tiles when present (tiles stay light; popups fetch the item)
TILE_COLUMNS = (
    "parcel_id",
    "verdict",
    "transferable",
    "state",
    "kind",
    "status",
    "net_available_mu",
    "gross_mu",
    "area_mu",
    "name",
)
WEB_MERCATOR_HALF = 20037508.342789244
#: a vector tile holding more features than this is thinned to every k-th feature (by fid), as
#: tippecanoe drops features at low zooms: a z12 tile over a dense park would otherwise carry
#: tens of thousands of 1-pixel parcels (tens of MB, seconds to encode) for a texture
MAX_TILE_FEATURES = 6_000


def thinning_step(count: int, /, *, cap: int | None = None) -> int:
    """Keep every ``k``-th feature so that at most ``cap`` (default :data:`MAX_TILE_FEATURES`)
    remain, roughly; 1 = keep all."""
    return max(1, math.ceil(count / (cap or MAX_TILE_FEATURES)))


#: densify a CRS84 bbox's edges every 0.0005° (≈ 50 m) before transforming it
BBOX_STEP_DEG = 0.0005


def crs_uri(epsg: int | None) -> str:
    return CRS84_URI if epsg is None else EPSG_URI.format(epsg)


def served_crs_uris() -> list[str]:
    return [CRS84_URI, *(EPSG_URI.format(c) for c in SERVED_EPSG)]


def parse_crs_uri(uri: str | None) -> int | None:
    """``None`` for CRS84 (or no value); the EPSG code for a served EPSG URI; ValueError else."""
    if uri is None or uri in ("", CRS84_URI, "[OGC:CRS84]", "OGC:CRS84", "CRS84"):
        return None
    text = uri.strip().strip("[]")
    for prefix in ("http://www.opengis.net/def/crs/EPSG/0/", "EPSG:"):
        if text.upper().startswith(prefix.upper()):
            code = text[len(prefix) :]
            if code.isdigit() and int(code) in SERVED_EPSG:
                return int(code)
    raise ValueError(
        f"unsupported CRS {uri!r}; use {CRS84_URI}, EPSG:4490 or a CGCS2000 Gauss-Krüger zone "
        "(EPSG:4513–4554) as an http://www.opengis.net/def/crs/EPSG/0/<code> URI"
    )


@lru_cache(maxsize=64)
def north_first(epsg: int | None) -> bool:
    """True when the CRS's first authority axis points north (lat/lon, northing/easting)."""
    if epsg is None:
        return False
    return CRS.from_epsg(epsg).axis_info[0].direction.lower() in ("north", "south")


@lru_cache(maxsize=128)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


@lru_cache(maxsize=128)
def _points(src: str, dst: str) -> Transformer:
    """The same transformation as :func:`_transformer`, built from its PROJ pipeline, for
    transforming coordinates (not bounds: a pipeline does not know its CRSs).

    pyproj builds a transformer again in every thread that uses it; one made ``from_crs``
    repeats PROJ's operation search there (about 2 s), one made from the chosen pipeline
    only parses it (milliseconds), with identical coordinates.  Service worker threads would
    otherwise each pay seconds on their first feature or tile.
    """
    return Transformer.from_pipeline(_transformer(src, dst).definition)


def reproject(geoms, src: CRS, dst: CRS) -> np.ndarray:
    """Shapely geometries from ``src`` to ``dst`` (x/y order) through the cached pipeline
    transformer (cheap in every thread, unlike ``GeoSeries.to_crs``)."""
    arr = np.asarray(geoms, dtype=object)
    if src.equals(dst):
        return arr
    t = _points(src.to_wkt(), dst.to_wkt())
    return shapely.transform(arr, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))


def to_crs84_bbox(bounds: tuple[float, ...], crs: CRS) -> tuple[float, float, float, float]:
    """Bounds in ``crs`` (x/y order) → lon/lat bounds (densified edges)."""
    t = _transformer(crs.to_wkt(), "OGC:CRS84")
    return tuple(float(v) for v in t.transform_bounds(*bounds, densify_pts=21))


def from_crs84_bbox(
    bbox: tuple[float, ...], crs: CRS, /, *, src: CRS | None = None
) -> tuple[float, float, float, float]:
    """Lon/lat (or ``src`` x/y) bounds → bounds in ``crs`` x/y order (densified edges)."""
    source = (src or CRS.from_user_input("OGC:CRS84")).to_wkt()
    t = _transformer(source, crs.to_wkt())
    return tuple(float(v) for v in t.transform_bounds(*bbox, densify_pts=21))


def bbox_polygon(
    bbox: tuple[float, ...], crs: CRS, /, *, step_deg: float = BBOX_STEP_DEG
) -> shapely.Polygon:
    """The CRS84 rectangle ``bbox`` as a polygon in ``crs``: edges densified every ``step_deg``
    before transforming, so the selection matches the rectangle on the ground (PostGIS
    stores do the same with ``ST_Segmentize``)."""
    ring = shapely.segmentize(shapely.box(*bbox), step_deg)
    t = _points("OGC:CRS84", crs.to_wkt())
    return shapely.transform(ring, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))


def bbox_to_crs84(bbox: tuple[float, ...], epsg: int | None) -> tuple[float, float, float, float]:
    """A request ``bbox`` given in ``bbox-crs`` (authority axis order) → CRS84 bounds."""
    if epsg is None:
        return tuple(float(v) for v in bbox[:4])
    a, b, c, d = (float(v) for v in bbox[:4])
    xy = (b, a, d, c) if north_first(epsg) else (a, b, c, d)
    return to_crs84_bbox(xy, CRS.from_epsg(epsg))


def tile_bounds_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator bounds of XYZ tile ``z/x/y`` (y counted from the north)."""
    size = 2 * WEB_MERCATOR_HALF / (2**z)
    minx = -WEB_MERCATOR_HALF + x * size
    maxy = WEB_MERCATOR_HALF - y * size
    return (minx, maxy - size, minx + size, maxy)


def tile_in_range(z: int, x: int, y: int) -> bool:
    return 0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z


def filter_mask(
    frame: pd.DataFrame, filters: Mapping[str, str], columns: Mapping[str, str]
) -> np.ndarray:
    """Exact-match mask: numbers compare numerically, booleans as true/false/1/0, text as text."""
    mask = np.ones(len(frame), dtype=bool)
    for name, raw in filters.items():
        kind = columns.get(name, "string")
        col = frame[name]
        if kind in ("number", "integer"):
            try:
                value = float(raw)
            except ValueError:
                return np.zeros(len(frame), dtype=bool)
            mask &= pd.to_numeric(col, errors="coerce").to_numpy() == value
        elif kind == "boolean":
            value = str(raw).lower() in ("true", "1", "t", "yes")
            mask &= col.fillna(not value).astype(bool).to_numpy() == value
        else:
            mask &= col.astype("string").fillna("\x00").to_numpy() == str(raw)
    return mask


def _round(coords: np.ndarray, digits: int, flip: bool) -> np.ndarray:
    out = np.round(coords, digits)
    return out[:, ::-1] if flip else out


def geometries_json(
    geoms, src: CRS, out_epsg: int | None, authority_axes: bool
) -> list[str | None]:
    """GeoJSON geometry text in the output CRS (7 decimals in degrees, 3 in metres)."""
    arr = np.asarray(geoms, dtype=object)
    dst = "OGC:CRS84" if out_epsg is None else f"EPSG:{out_epsg}"
    if not CRS.from_user_input(dst).equals(src):
        t = _points(src.to_wkt(), CRS.from_user_input(dst).to_wkt())
        arr = shapely.transform(arr, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))
    geographic = out_epsg is None or CRS.from_epsg(out_epsg).is_geographic
    flip = authority_axes and north_first(out_epsg)
    digits = 7 if geographic else 3
    arr = shapely.transform(arr, lambda c: _round(c, digits, flip))
    texts = shapely.to_geojson(arr)
    return [None if t is None or t == "null" else t for t in texts]


def _props(frame: pd.DataFrame) -> list[str]:
    if len(frame.columns) == 0:  # a layer with no attributes: one empty object per feature
        return ["{}"] * len(frame)
    return [
        json.dumps(r, ensure_ascii=False)
        for r in json.loads(frame.to_json(orient="records", date_format="iso", double_precision=15))
    ]


def features_json(
    rows: pd.DataFrame, info, src: CRS | None, out_epsg: int | None, authority_axes: bool
) -> list[str]:
    """GeoJSON Feature texts for ``rows`` (indexed by fid) of collection ``info``."""
    if len(rows) == 0:
        return []
    has_geom = "geometry" in rows and src is not None
    attrs = pd.DataFrame(rows.drop(columns="geometry", errors="ignore"))
    ids = (
        attrs[info.id_column].astype(str).tolist()
        if info.id_column in attrs
        else [int(i) for i in rows.index]
    )
    props = _props(attrs)
    geoms = (
        geometries_json(rows.geometry.values, src, out_epsg, authority_axes)
        if has_geom
        else [None] * len(rows)
    )
    return [
        f'{{"type":"Feature","id":{json.dumps(i, ensure_ascii=False)},"geometry":{g or "null"},"properties":{p}}}'
        for i, g, p in zip(ids, geoms, props, strict=True)
    ]


def feature_json(rows, info, src, out_epsg, authority_axes) -> str:
    return features_json(rows.iloc[:1], info, src, out_epsg, authority_axes)[0]

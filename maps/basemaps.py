"""Basemaps: OpenStreetMap, Tianditu (天地图, needs a ``tk`` key), Gaode (高德, GCJ-02) or none.

Tianditu
    The Web Mercator (``_w``) WMTS services: vector ``vec_w`` and imagery ``img_w`` as base
    layers, their labels ``cva_w`` / ``cia_w`` as overlays.  Coordinates are CGCS2000, drawn
    without a shift.  The developer key ``tk`` comes from the ``tk`` argument or
    ``$LANDPLAN_TIANDITU_TK``; without one, :class:`BasemapError`.  **The key is not
    written into the page** unless ``embed_key=True``: the tile URL then carries a ``{tk}``
    placeholder that Leaflet fills from a small script, which reads the key from the page's
    ``?tk=KEY`` URL parameter or from ``window.LANDPLAN_TIANDITU_TK`` (set it in a script
    before the map's, e.g. by the server that serves the page).  So an exported HTML file can
    be shared without leaking the key: open it as ``map.html?tk=KEY``.
Gaode
    Tiles are in GCJ-02; every overlay must be shifted with :mod:`landplan.core.gcj02` when the
    map is built (``needs_gcj02``).  The shift is for display only.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from landplan.core.errors import LandplanError

Basemap = Literal["osm", "tianditu", "gaode", "none"]
BASEMAPS: tuple[str, ...] = ("osm", "tianditu", "gaode", "none")
ENV_TIANDITU_TK = "LANDPLAN_TIANDITU_TK"
TK_PLACEHOLDER_JS = "landplanTiandituKey()"

TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={tk}"
)
TIANDITU_SUBDOMAINS = "01234567"
TIANDITU_ATTRIBUTION = (
    '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a> 国家地理信息公共服务平台'
    " · 审图号以天地图网站公布为准 (map review number: see tianditu.gov.cn)"
)
#: (layer, zh name, en name, is a base layer)
TIANDITU_LAYERS = (
    ("vec", "天地图矢量", "Tianditu vector", True),
    ("img", "天地图影像", "Tianditu imagery", True),
    ("cva", "天地图矢量注记", "Tianditu labels", False),
    ("cia", "天地图影像注记", "Tianditu imagery labels", False),
)
GAODE_URL = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
GAODE_ATTRIBUTION = "&copy; 高德地图 AutoNavi (GCJ-02)"

TK_HOOK_JS = """
window.landplanTiandituKey = function () {
  var fromUrl = new URLSearchParams(window.location.search).get("tk");
  var key = fromUrl || window.LANDPLAN_TIANDITU_TK || "";
  if (!key) {
    console.warn("天地图密钥缺失 Tianditu key missing: open the page as ...?tk=KEY " +
                 "or set window.LANDPLAN_TIANDITU_TK");
  }
  return key;
};
"""


class BasemapError(LandplanError, ValueError):
    """Unknown basemap, or Tianditu without a ``tk`` key."""


def check_basemap(basemap: str, /) -> str:
    """Return ``basemap`` or raise :class:`BasemapError` naming the choices."""
    if basemap not in BASEMAPS:
        raise BasemapError(f"basemap must be one of {BASEMAPS}, got {basemap!r}")
    return basemap


def needs_gcj02(basemap: str | None, /) -> bool:
    """True when overlays must be shifted to GCJ-02 to match the basemap's tiles (Gaode)."""
    return basemap == "gaode"


def tianditu_key(tk: str | None = None, /) -> str:
    """``tk`` or ``$LANDPLAN_TIANDITU_TK``; :class:`BasemapError` when neither is set."""
    key = tk or os.environ.get(ENV_TIANDITU_TK, "")
    if not key.strip():
        raise BasemapError(
            "the Tianditu basemap needs a developer key (tk): pass --tk KEY or set "
            f"{ENV_TIANDITU_TK}; get one at https://console.tianditu.gov.cn/ "
            "(or use basemap 'osm' or 'none')"
        )
    return key.strip()


def tianditu_tile_url(layer: str, /) -> str:
    """The WMTS template of a Tianditu ``_w`` layer; ``{tk}`` is filled by Leaflet options."""
    return TIANDITU_URL.replace("{layer}", layer)


def _label(zh: str, en: str, lang: str) -> str:
    return f"{zh} {en}" if lang == "zh" else f"{en} {zh}"


def add_basemap(
    m: Any,
    basemap: Basemap = "osm",
    /,
    *,
    tk: str | None = None,
    embed_key: bool = False,
    lang: str = "zh",
) -> list[Any]:
    """Add the tile layers of ``basemap`` to ``m`` (a map built with ``tiles=None``).

    Returns the added ``TileLayer`` objects (none for ``"none"``).
    """
    import folium
    from folium.utilities import JsCode

    check_basemap(basemap)
    if basemap == "none":
        return []
    if basemap == "osm":
        return [folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)]
    if basemap == "gaode":
        layer = folium.TileLayer(
            GAODE_URL,
            attr=GAODE_ATTRIBUTION,
            name=_label("高德地图", "Gaode", lang),
            subdomains="1234",
            max_zoom=18,
        )
        return [layer.add_to(m)]
    key = tianditu_key(tk)
    tk_option: Any = key if embed_key else JsCode(TK_PLACEHOLDER_JS)
    if not embed_key:
        from landplan.maps.legend import _macro

        _macro(f"<script>{TK_HOOK_JS}</script>", "").add_to(m)
    layers = []
    for layer, zh, en, base in TIANDITU_LAYERS:
        layers.append(
            folium.TileLayer(
                tianditu_tile_url(layer),
                attr=TIANDITU_ATTRIBUTION,
                name=_label(zh, en, lang),
                subdomains=TIANDITU_SUBDOMAINS,
                max_zoom=18,
                overlay=not base,
                show=layer in ("vec", "cva"),
                tk=tk_option,
            ).add_to(m)
        )
    return layers


@dataclass(frozen=True)
class LocalBasemap:
    """A basemap served by the landplan service itself (see :mod:`maps.localtiles`).

    ``url`` is the tile template (``.../basemaps/NAME/tiles/{z}/{x}/{y}``); ``kind`` is
    ``"raster"`` (drawn as a tile layer) or ``"vector"`` (Mapbox Vector Tiles, drawn grey
    with Leaflet.VectorGrid: ``layers`` names the MVT layers); ``maxzoom`` is the deepest
    stored zoom (deeper zooms scale it up).
    """

    name: str
    url: str
    kind: str = "raster"
    maxzoom: int = 18
    attribution: str = ""
    layers: tuple[str, ...] = ()

    def label(self, lang: str) -> str:
        if self.name == "hillshade":
            return _label("地形晕渲（本地）", "Hillshade (local)", lang)
        return _label(f"本地底图 {self.name}", f"Local basemap {self.name}", lang)


def resolve_basemap(basemap: str | None, local: Sequence[LocalBasemap] = (), /) -> str:
    """``basemap`` checked against the online choices and the ``local`` names.

    Raises
    ------
    BasemapError
        Unknown name (the message lists the choices).
    """
    names = [b.name for b in local]
    if basemap in BASEMAPS or basemap in names:
        return basemap  # type: ignore[return-value]
    raise BasemapError(
        f"basemap must be one of {BASEMAPS + tuple(names)}, got {basemap!r}"
        + ("" if names else "; add a local one with `landplan basemap add NAME FILE`")
    )


def add_local_basemaps(
    m: Any, local: Sequence[LocalBasemap], /, *, selected: str | None = None, lang: str = "zh"
) -> list[Any]:
    """Add every local basemap as a base layer (``selected`` shown, the others switchable)."""
    import folium
    from folium.plugins import VectorGridProtobuf
    from folium.utilities import JsCode

    layers = []
    for b in local:
        show = b.name == selected
        if b.kind == "vector":
            style = {"weight": 0.7, "color": "#8d8d8d", "fill": True, "fillColor": "#ececec",
                     "fillOpacity": 0.7, "opacity": 0.9}  # fmt: skip
            styles = "{" + ",".join(f"{json.dumps(n)}: {json.dumps(style)}" for n in b.layers) + "}"
            layer = VectorGridProtobuf(
                b.url,
                name=html.escape(b.label(lang)),
                overlay=False,
                show=show,
                options={
                    "rendererFactory": JsCode("L.canvas.tile"),
                    "interactive": False,
                    "maxNativeZoom": b.maxzoom,
                    "maxZoom": 20,
                    "attribution": b.attribution,
                    # JsCode: folium would camelize the keys of a dict (the MVT layer names)
                    "vectorTileLayerStyles": JsCode(styles),
                },
            )
        else:
            layer = folium.TileLayer(
                b.url,
                attr=html.escape(b.attribution or b.name),
                name=html.escape(b.label(lang)),
                max_native_zoom=b.maxzoom,
                max_zoom=20,
                overlay=False,
                show=show,
            )
        layers.append(layer.add_to(m))
    return layers


def to_display(gdf_wgs84: Any, basemap: str | None, /) -> Any:
    """The layer as drawn on ``basemap``: shifted to GCJ-02 for Gaode, else unchanged.

    Coordinates are rounded to 6 decimals again after the shift (about 0.1 m).
    """
    if basemap is None or not needs_gcj02(basemap) or not len(gdf_wgs84):
        return gdf_wgs84
    import numpy as np
    import shapely

    from landplan.core.gcj02 import shift_geometries

    shifted = shift_geometries(gdf_wgs84.geometry)
    rounded = shapely.transform(shifted.to_numpy(), lambda xy: np.round(xy, 6))
    return gdf_wgs84.set_geometry(rounded, crs=gdf_wgs84.crs)


def shift_bounds(bounds: Any, basemap: str | None, /) -> Any:
    """``[[south, west], [north, east]]`` shifted to GCJ-02 for Gaode (corner by corner)."""
    if basemap is None or not needs_gcj02(basemap):
        return bounds
    from landplan.core.gcj02 import wgs84_to_gcj02

    (s, w), (n, e) = bounds
    lons, lats = wgs84_to_gcj02([w, e], [s, n])
    return [[float(lats[0]), float(lons[0])], [float(lats[1]), float(lons[1])]]

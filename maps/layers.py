"""Small Folium builders: the base map and the parcel, constraint and network layers.

Every ``add_*`` function takes layers in their own (projected) CRS, drops empty
and missing geometries, simplifies lightly in metres, reprojects to EPSG:4326 and
embeds only the properties the map needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from landplan.maps.popups import parse_reasons, popup_html, tooltip_html
from landplan.maps.styles import (
    PLANNED_DASH,
    STATUS,
    TEXT,
    Lang,
    constraint_style,
    lighten,
    network_style,
)

from landplan.core.errors import CRSError

if TYPE_CHECKING:
    import folium
    from geopandas import GeoDataFrame

SIMPLIFY_M = 0.5
COORD_DIGITS = 6  # ~0.1 m in latitude

BBoxWGS84 = tuple[float, float, float, float]


def require_folium() -> Any:
    """Import folium lazily, with an install hint when it is missing."""
    try:
        import folium
        import folium.plugins
    except (ImportError, ModuleNotFoundError) as exc:
        raise ImportError(
            "The landplan maps need folium; install it with `pip install folium` "
            "(or `pip install landplan`, which depends on it)."
        ) from exc
    return folium


def to_wgs84(gdf: GeoDataFrame, /, *, simplify_m: float = SIMPLIFY_M) -> GeoDataFrame:
    """Drop empty/missing geometries, simplify in metres, reproject to EPSG:4326.

    Coordinates are rounded to ``COORD_DIGITS`` decimals to keep the HTML small.

    Raises
    ------
    landplan.core.errors.CRSError
        If the layer has no CRS.
    """
    if gdf.crs is None:
        raise CRSError(
            "cannot draw a layer without a CRS; set it first, e.g. "
            "`gdf.set_crs('EPSG:4542')` for CGCS2000 3-degree Gauss-Krüger CM 99E"
        )
    geoms = gdf.geometry.to_numpy()
    out = gdf.loc[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))].copy()
    if simplify_m > 0 and out.crs.is_projected and len(out):
        out = out.set_geometry(out.geometry.simplify(simplify_m, preserve_topology=True))
    out = out.to_crs(4326)
    rounded = shapely.transform(out.geometry.to_numpy(), lambda xy: np.round(xy, COORD_DIGITS))
    return out.set_geometry(rounded, crs=out.crs)


def base_map(
    bounds_wgs84: BBoxWGS84 | None,
    /,
    *,
    tiles: str | None = "OpenStreetMap",
    basemap: str | None = None,
    tk: str | None = None,
    embed_key: bool = False,
    lang: Lang = "zh",
) -> folium.Map:
    """A map with scale bar, fullscreen and measure controls, fitted to ``bounds_wgs84``.

    ``bounds_wgs84`` is ``(minx, miny, maxx, maxy)`` in degrees; ``None`` shows China.
    ``basemap`` (``"osm"``, ``"tianditu"``, ``"gaode"``, ``"none"``; see
    :mod:`maps.basemaps`) replaces ``tiles`` when given; the bounds must then already be in
    the basemap's datum (GCJ-02 for Gaode).
    """
    folium = require_folium()
    from folium import plugins

    if basemap is not None:
        from landplan.maps.basemaps import add_basemap, check_basemap

        check_basemap(basemap)
        m = base_map(bounds_wgs84, tiles=None)
        add_basemap(m, basemap, tk=tk, embed_key=embed_key, lang=lang)
        return m

    if bounds_wgs84 is None:
        m = folium.Map(location=(35.0, 105.0), zoom_start=4, tiles=tiles, control_scale=True)
    else:
        minx, miny, maxx, maxy = bounds_wgs84
        center = ((miny + maxy) / 2, (minx + maxx) / 2)
        m = folium.Map(location=center, tiles=tiles, control_scale=True, max_zoom=19)
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    plugins.Fullscreen(position="topleft").add_to(m)
    plugins.MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="sqmeters",
        secondary_area_unit="hectares",
    ).add_to(m)
    return m


def _bind_html_js(popup_key: str, tooltip_key: str) -> Any:
    """JS that binds precomputed (already escaped) HTML properties as popup and tooltip."""
    from folium.utilities import JsCode

    return JsCode(
        "function(feature, layer) {"
        f" layer.bindPopup(feature.properties.{popup_key}, {{maxWidth: 420}});"
        f" layer.bindTooltip(feature.properties.{tooltip_key}, {{sticky: true}});"
        "}"
    )


def add_parcels(
    m: folium.Map, parcels_wgs84: GeoDataFrame, /, *, lang: Lang = "zh", classes=None
) -> Any:
    """Add the parcels coloured by ``classes`` (:func:`maps.classify.parcel_classes`; default:
    by verdict), with hover highlight, popup and tooltip.

    ``parcels_wgs84`` comes from :func:`to_wgs84`. Only ``parcel_id``, ``verdict``,
    ``area_mu`` and ``net_available_mu`` (rounded) plus the HTML are embedded.
    """
    folium = require_folium()
    from geopandas import GeoDataFrame
    from landplan.maps.classify import parcel_classes

    classes = classes if classes is not None else parcel_classes(parcels_wgs84, "verdict")
    colors = [c for c, _ in classes.classes]
    records = parcels_wgs84.drop(columns=parcels_wgs84.geometry.name).to_dict("records")
    ids = [str(r.get("parcel_id", "")) for r in records]
    data = GeoDataFrame(
        {
            "parcel_id": ids,
            "verdict": [str(r.get("verdict")) for r in records],
            "area_mu": parcels_wgs84["area_mu"].astype(float).round(2).to_numpy(),
            "net_available_mu": parcels_wgs84["net_available_mu"].astype(float).round(2).to_numpy(),
            "popup": [
                popup_html(r, parse_reasons(r.get("reasons"), parcel_id=pid), lang)
                for r, pid in zip(records, ids, strict=True)
            ],
            "tooltip": [tooltip_html(r, lang) for r in records],
            "cls": classes.index,
        },
        geometry=parcels_wgs84.geometry.to_numpy(),
        crs=parcels_wgs84.crs,
    )
    geojson = data.to_geo_dict(na="null", drop_id=True)
    for i, feature in enumerate(geojson["features"]):
        feature["id"] = i  # stable identifier for folium's style switch

    def style(feature: dict) -> dict:
        color = colors[feature["properties"]["cls"]]
        return {"fillColor": color, "color": "#263238", "weight": 0.8, "fillOpacity": 0.55}

    def highlight(feature: dict) -> dict:
        return {"weight": 3, "color": "#000000", "fillOpacity": 0.8}

    return folium.GeoJson(
        geojson,
        name=TEXT["parcels"].html(lang),
        style_function=style,
        highlight_function=highlight,
        on_each_feature=_bind_html_js("popup", "tooltip"),
        zoom_on_click=False,
    ).add_to(m)


def add_constraints(
    m: folium.Map, constraints_wgs84: dict[str, GeoDataFrame], /, *, lang: Lang = "zh"
) -> list[Any]:
    """Add one layer per constraint kind: hatched, dashed outline or light fill."""
    folium = require_folium()
    from folium.plugins.pattern import StripePattern

    layers = []
    for kind, gdf in constraints_wgs84.items():
        cs = constraint_style(kind)
        style: dict[str, Any] = {"color": cs.outline, "weight": 1.5, "opacity": 0.9}
        if cs.dash_array:
            style["dashArray"] = cs.dash_array
        if cs.hatch is not None:
            stripe, space, angle = cs.hatch
            pattern = StripePattern(
                angle=angle,
                weight=3,
                space_weight=5,
                color=stripe,
                space_color=space,
                opacity=0.85,
                space_opacity=0.25,
            ).add_to(m)
            style.update(fillOpacity=1.0, fillPattern=pattern)
        elif cs.fill_color is not None:
            style.update(fillColor=cs.fill_color, fillOpacity=cs.fill_opacity)
        else:
            style.update(fill=False, fillOpacity=0.0)
        label = cs.label.html(lang)
        data = gdf[[gdf.geometry.name]].assign(tip=label)  # escaped HTML, shown as is
        layers.append(
            folium.GeoJson(
                data.to_geo_dict(drop_id=True),
                name=label,
                style_function=lambda _f, s=style: dict(s),  # fresh dict: folium mutates it
                tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
            ).add_to(m)
        )
    return layers


def add_networks(m: folium.Map, networks_wgs84: GeoDataFrame, /, *, lang: Lang = "zh") -> list[Any]:
    """Add one layer per network kind; built lines solid, planned dashed and lighter."""
    folium = require_folium()

    layers = []
    for kind, group in networks_wgs84.groupby("kind", sort=False):
        color, label = network_style(str(kind))
        data = group[[group.geometry.name]].copy()
        data["planned"] = (group["status"].astype(str) == "planned").to_numpy()
        data["tip"] = [
            f"{label.html(lang)} · {STATUS['planned' if p else 'built'].html(lang)}"
            for p in data["planned"]
        ]

        def style(feature: dict, color: str = color) -> dict:
            if feature["properties"]["planned"]:
                return {
                    "color": lighten(color),
                    "weight": 2.5,
                    "opacity": 0.85,
                    "dashArray": PLANNED_DASH,
                }
            return {"color": color, "weight": 3, "opacity": 0.95}

        layers.append(
            folium.GeoJson(
                data.to_geo_dict(drop_id=True),
                name=label.html(lang),
                style_function=style,
                tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
            ).add_to(m)
        )
    return layers

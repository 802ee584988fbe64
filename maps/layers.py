"""Small Folium builders: the base map and the parcel, constraint and network layers.

Every ``add_*`` function takes layers in their own (projected) CRS, drops empty
and missing geometries, simplifies lightly in metres, reprojects to EPSG:4326 and
embeds only the properties the map needs.
"""

from __future__ import annotations

import contextlib
import re
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
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
NETWORK_WEIGHT = 1.6  # px; parcels are filled, networks are context
NETWORK_OPACITY = 0.7
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


def preload_folium() -> None:
    """Start importing folium in a thread (~0.5 s of imports) while a long job runs, so that
    the page built at its end does not wait for them.  A missing folium is left for
    :func:`require_folium` to report; a later import waits for this one (the import lock)."""
    import threading

    def load() -> None:
        with contextlib.suppress(ImportError):
            require_folium()

    threading.Thread(target=load, name="landplan-folium-import").start()


def to_wgs84(gdf: GeoDataFrame, /, *, simplify_m: float = SIMPLIFY_M) -> GeoDataFrame:
    """Drop empty/missing geometries, simplify in metres, reproject to EPSG:4326.

    Coordinates are rounded to ``COORD_DIGITS`` decimals to keep the HTML small.  Large
    layers are simplified in parallel threads (GEOS releases the GIL); reprojection and
    rounding are one pass over the coordinates.

    Raises
    ------
    landplan.core.errors.CRSError
        If the layer has no CRS.
    """
    from geopandas import GeoSeries

    if gdf.crs is None:
        raise CRSError(
            "cannot draw a layer without a CRS; set it first, e.g. "
            "`gdf.set_crs('EPSG:4542')` for CGCS2000 3-degree Gauss-Krüger CM 99E"
        )
    geoms = gdf.geometry.to_numpy()
    drop = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out = gdf.loc[~drop] if drop.any() else gdf
    geoms = np.asarray(out.geometry.to_numpy(), dtype=object)
    if simplify_m > 0 and out.crs.is_projected and len(out):
        geoms = _in_threads(
            lambda part: shapely.simplify(part, simplify_m, preserve_topology=True), geoms
        )
    transformer = _to_wgs84_transformer(out.crs)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([x, y]), COORD_DIGITS)

    projected = shapely.transform(geoms, project) if len(geoms) else geoms
    return out.set_geometry(GeoSeries(projected, index=out.index, crs=4326))


@cache
def _to_wgs84_transformer(crs: Any) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


_PARALLEL_MIN = 5_000  # geometries; below this, threads cost more than they save


def _in_threads(func: Any, geoms: np.ndarray, /) -> np.ndarray:
    """``func`` over chunks of ``geoms`` in a thread per CPU (for GIL-free shapely calls)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(os.cpu_count() or 1, 8)
    if len(geoms) < _PARALLEL_MIN or workers < 2:
        return func(geoms)
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(func, np.array_split(geoms, workers))))


def scale_bar() -> Any:
    """A metric-only Leaflet scale bar at the bottom left, below the legend (which keeps
    ``bottom: 44px`` clear for it)."""
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = "ScaleBar"
    element._template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({metric: true, imperial: false, position: 'bottomleft', maxWidth: 160})"
        ".addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )
    return element


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
        m = folium.Map(location=(35.0, 105.0), zoom_start=4, tiles=tiles, control_scale=False)
    else:
        minx, miny, maxx, maxy = bounds_wgs84
        center = ((miny + maxy) / 2, (minx + maxx) / 2)
        m = folium.Map(location=center, tiles=tiles, control_scale=False, max_zoom=19)
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    scale_bar().add_to(m)
    plugins.Fullscreen(position="topleft").add_to(m)
    plugins.MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="sqmeters",
        secondary_area_unit="hectares",
    ).add_to(m)
    return m


#: one canvas renderer for the dense layer (the parcels) of a page
CANVAS_JS = "(window.lpCanvas || (window.lpCanvas = L.canvas({padding: 0.1, tolerance: 3})))"


#: Leaflet's canvas renderer draws a ``fillPattern`` (leaflet.pattern's StripePattern, made
#: for SVG) as a rotated CanvasPattern, so hatched constraints go on the canvas too
CANVAS_HATCH_JS = """
(function () {
  if (!window.L || !L.Canvas || L.Canvas.prototype._lpHatch) { return; }
  var fillStroke = L.Canvas.prototype._fillStroke;
  function hatch(ctx, o) {
    var w = o.weight || 4, s = o.spaceWeight || 4, tile = document.createElement("canvas");
    tile.width = w + s; tile.height = 1;
    var t = tile.getContext("2d");
    t.globalAlpha = o.spaceOpacity == null ? 0 : o.spaceOpacity;
    t.fillStyle = o.spaceColor || "#ffffff"; t.fillRect(w, 0, s, 1);
    t.globalAlpha = o.opacity == null ? 1 : o.opacity;
    t.fillStyle = o.color || "#000000"; t.fillRect(0, 0, w, 1);
    var p = ctx.createPattern(tile, "repeat");
    if (p.setTransform && window.DOMMatrix) { p.setTransform(new DOMMatrix().rotateSelf(o.angle || 0)); }
    return p;
  }
  L.Canvas.prototype._fillStroke = function (ctx, layer) {
    var pattern = layer.options.fillPattern, o = layer.options;
    if (!(pattern && pattern.options && o.fill !== false)) { return fillStroke.call(this, ctx, layer); }
    var color = o.fillColor;
    o.fillColor = pattern._lpCanvas || (pattern._lpCanvas = hatch(ctx, pattern.options));
    try { fillStroke.call(this, ctx, layer); } finally { o.fillColor = color; }
  };
  L.Canvas.prototype._lpHatch = true;
})();
"""


def canvas_hatch_element() -> Any:
    """A script element installing :data:`CANVAS_HATCH_JS` (add it before the layers)."""
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = "CanvasHatch"
    element.js = CANVAS_HATCH_JS
    element._template = Template("{% macro script(this, kwargs) %}{{ this.js }}{% endmacro %}")
    return element


@cache
def _raw_macro_class() -> type:
    from branca.element import Figure, MacroElement
    from landplan.maps.assets import raw_html

    class RawMacro(MacroElement):
        """A MacroElement whose rendered header/html/script go into the page as text.

        ``MacroElement.render`` makes each rendered part the source of a new Jinja template:
        parsing megabytes of layer data costs a second per 50,000 parcels, and a ``{#`` in a
        parcel's text would start a Jinja comment.  Mixed in after a folium class (``class
        X(Layer, RawMacro)``), it takes ``MacroElement``'s place in the MRO.
        """

        def render(self, **kwargs: Any) -> None:
            figure = self.get_root()
            assert isinstance(figure, Figure), "cannot render an element outside a Figure"
            self._before_script()
            macros = self._template.module.__dict__
            for part in ("header", "html", "script"):
                macro = macros.get(part)
                if macro is not None:
                    getattr(figure, part).add_child(
                        raw_html(str(macro(self, kwargs))), name=self.get_name()
                    )
            for element in self._children.values():
                element.render(**kwargs)

        def _before_script(self) -> None:
            """Called before the macros are rendered."""

    return RawMacro


_JINJA_NAME = re.compile(r"\{\{'([A-Za-z_][A-Za-z0-9_]*)'\}\}")


@cache
def _geojson_class() -> type:
    folium = require_folium()

    class GeoJson(folium.GeoJson, _raw_macro_class()):
        """``folium.GeoJson`` whose script goes into the page as text (see RawMacro).

        folium writes an element in a style (the hatch pattern of a constraint) as the Jinja
        expression ``{{'stripe_pattern_…'}}`` for the second template pass; without that pass
        it is written here as what Jinja makes of it, the name itself.
        """

        def _before_script(self) -> None:
            for attr in ("style_map", "highlight_map"):
                mapping = getattr(self, attr, None)
                if mapping:
                    setattr(
                        self,
                        attr,
                        {
                            _JINJA_NAME.sub(r"\1", k): _JINJA_NAME.sub(r"\1", v)
                            if isinstance(v, str)
                            else v
                            for k, v in mapping.items()
                        },
                    )

    return GeoJson


@cache
def _parcel_layer_class() -> type:
    from folium.map import Layer
    from jinja2 import Template

    class ParcelLayer(Layer, _raw_macro_class()):
        """Parcels from compact data (:mod:`maps.compact`), drawn on the shared canvas."""

        _template = Template(
            "{% macro script(this, kwargs) -%}"
            "var {{ this.get_name() }} = {{ this.js }}({{ this.data_json }}, "
            "{{ this.vocab_json }}, {{ this.options_js }});"
            "{%- endmacro %}"
        )

    return ParcelLayer


def add_parcels(
    m: folium.Map,
    parcels_wgs84: GeoDataFrame,
    /,
    *,
    lang: Lang = "zh",
    classes=None,
    reasons: Any = None,
) -> Any:
    """Add the parcels coloured by ``classes`` (:func:`maps.classify.parcel_classes`; default:
    by verdict), with hover highlight, popup and tooltip built in the browser.

    ``parcels_wgs84`` comes from :func:`to_wgs84`.  The page carries compact columnar data
    (:func:`maps.compact.compact_parcels`), not HTML per parcel; the layer is drawn on a
    canvas renderer, so tens of thousands of parcels stay light.  ``reasons``: the parcels'
    :func:`maps.compact.reason_tables` (or a future of them), when already under way.
    """
    from landplan.maps.classify import parcel_classes
    from landplan.maps.compact import compact_parcels

    classes = classes if classes is not None else parcel_classes(parcels_wgs84, "verdict")
    data = compact_parcels(parcels_wgs84, classes, reasons=reasons)
    return add_parcel_data(m, data, classes, lang=lang)


def add_parcel_data(
    m: folium.Map, data: dict[str, Any], classes: Any, /, *, lang: Lang = "zh"
) -> Any:
    """Add the parcel layer of :func:`add_parcels` from its compact data, already made
    (:func:`maps.compact.compact_parcels`, or :class:`maps.streamed.ResultMapParts`)."""
    from landplan.maps.compact import SCALE, to_script_json
    from landplan.maps.popups import PARCEL_JS, POPUP_MAX_HEIGHT, vocabulary

    vocab = vocabulary(lang, list(data["dist"]), [c for c, _ in classes.classes])
    layer = _parcel_layer_class()(name=TEXT["parcels"].html(lang), overlay=True)
    layer._name = "ParcelLayer"  # the page variable is parcel_layer_<id>
    layer.js = PARCEL_JS.strip()
    layer.data = data
    layer.data_json = to_script_json(data)
    layer.vocab_json = to_script_json(vocab)
    layer.options_js = f"{{renderer: {CANVAS_JS}, scale: {SCALE}, maxHeight: {POPUP_MAX_HEIGHT}}}"
    return layer.add_to(m)


def add_constraints(
    m: folium.Map,
    constraints_wgs84: dict[str, GeoDataFrame],
    /,
    *,
    lang: Lang = "zh",
    canvas: bool = False,
) -> list[Any]:
    """Add one layer per constraint kind: hatched, dashed outline or light fill.

    ``canvas``: draw on the page's shared canvas renderer (hatches included, see
    :data:`CANVAS_HATCH_JS`) instead of SVG.  Headless Chromium leaves part of a large SVG
    layer with pattern fills unpainted ("tile memory limits exceeded"); a canvas does not.
    """
    folium = require_folium()
    from folium.plugins.pattern import StripePattern
    from folium.utilities import JsCode

    renderer = {"renderer": JsCode(CANVAS_JS)} if canvas else {}
    if canvas and constraints_wgs84:
        canvas_hatch_element().add_to(m)

    layers = []
    for kind, gdf in constraints_wgs84.items():
        cs = constraint_style(kind)
        style: dict[str, Any] = {"color": cs.outline, "weight": cs.weight, "opacity": 0.9}
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
            _geojson_class()(
                data.to_geo_dict(drop_id=True),
                name=label,
                style_function=lambda _f, s=style: dict(s),  # fresh dict: folium mutates it
                tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
                **renderer,
            ).add_to(m)
        )
    return layers


def add_networks(
    m: folium.Map, networks_wgs84: GeoDataFrame, /, *, lang: Lang = "zh", canvas: bool = False
) -> list[Any]:
    """Add one layer per network kind; built lines solid, planned dashed and lighter.

    Networks are drawn thin and half transparent, so that they read as context under the
    parcels; ``canvas`` as in :func:`add_constraints` (pages with vector-tile parcels keep
    SVG, so that the tiles below stay clickable).
    """
    folium = require_folium()
    from folium.utilities import JsCode

    renderer = {"renderer": JsCode(CANVAS_JS)} if canvas else {}

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
                    "weight": NETWORK_WEIGHT,
                    "opacity": NETWORK_OPACITY,
                    "dashArray": PLANNED_DASH,
                }
            return {"color": color, "weight": NETWORK_WEIGHT, "opacity": NETWORK_OPACITY}

        layers.append(
            _geojson_class()(
                data.to_geo_dict(drop_id=True),
                name=label.html(lang),
                style_function=style,
                tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
                **renderer,
            ).add_to(m)
        )
    return layers

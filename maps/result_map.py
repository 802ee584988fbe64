"""The transfer-result map: parcels by verdict over constraints and networks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from landplan.maps.assets import AssetMode, apply_assets
from landplan.maps.basemaps import (
    Basemap,
    LocalBasemap,
    add_local_basemaps,
    resolve_basemap,
    shift_bounds,
    to_display,
)
from landplan.maps.classify import parcel_classes
from landplan.maps.compact import reason_tables
from landplan.maps.layers import (
    add_constraints,
    add_networks,
    add_parcels,
    base_map,
    require_folium,
    to_wgs84,
)
from landplan.maps.legend import css_element, legend_element, title_element
from landplan.maps.popups import POPUP_CSS
from landplan.maps.rasters import SLOPE, SUITABILITY, add_colorbars, add_raster_overlay
from landplan.maps.styles import LANGS, Lang
from landplan.maps.vectortiles import DEFAULT_THRESHOLD, add_parcel_tiles, use_vector_tiles

from landplan.core.errors import CRSError

if TYPE_CHECKING:
    import folium
    from geopandas import GeoDataFrame

OVERLAY_STYLES = {"slope": SLOPE, "suitability": SUITABILITY}
#: controls keep Leaflet's 12 px type whatever the page's base font (no Bootstrap offline)
CONTROL_CSS = (
    ".leaflet-control-layers,.leaflet-control-layers label{font-size:12px;line-height:1.4}"
)
PARCEL_COLUMNS = ("parcel_id", "verdict", "area_mu", "net_available_mu", "reasons")


def build_result_map(
    parcels: GeoDataFrame,
    /,
    *,
    constraints: dict[str, GeoDataFrame] | None = None,
    networks: GeoDataFrame | None = None,
    lang: Lang = "zh",
    title: str | None = None,
    tiles: str | None = "OpenStreetMap",
    overlays: dict[str, str | os.PathLike[str]] | None = None,
    basemap: Basemap | str | None = None,
    local_basemaps: Sequence[LocalBasemap] = (),
    tk: str | None = None,
    embed_key: bool = False,
    assets: AssetMode = "cdn",
    assets_base_url: str = "/assets",
    api_base: str = "",
    vector_tile_threshold: int | None = DEFAULT_THRESHOLD,
    collapse_layers: bool = False,
    style_by: str = "verdict",
) -> folium.Map:
    """Build a self-contained Folium map of a transfer analysis.

    Parameters
    ----------
    parcels : GeoDataFrame
        Analysed parcels in a projected CRS, with ``parcel_id``, ``verdict``, the
        area columns, ``reasons`` (a JSON list) and optional ``dist_<kind>_m``.
        Empty geometries are skipped.
    constraints : dict of str to GeoDataFrame, optional
        Constraint polygons by kind (``red_line``, ``basic_farmland``,
        ``urban_boundary``, ``inundation`` or a custom kind, drawn grey-hatched).
    networks : GeoDataFrame, optional
        Lines with ``kind`` and ``status`` (``"built"`` or ``"planned"``).
    lang : {"zh", "en"}
        Which language comes first in labels; both are always shown.
    title : str, optional
        Text of a title box at the top of the map (escaped).
    tiles : str or None
        Folium basemap name; ``None`` for no basemap.
    overlays : dict, optional
        Rasters to draw under the parcels with a colour bar: ``{"slope": path,
        "suitability": path}`` (hidden until switched on in the layer control).
    basemap : {"osm", "tianditu", "gaode", "none"} or a local basemap's name, optional
        Replaces ``tiles`` (see :mod:`maps.basemaps`).  ``local_basemaps`` are the basemaps
        served by the landplan service (:class:`maps.basemaps.LocalBasemap`): each becomes a
        base layer, the one named by ``basemap`` shown.  With ``"gaode"`` every overlay is
        shifted to GCJ-02 as it is drawn (display only).  ``tk`` / ``embed_key``: the
        Tianditu key and whether it is written into the page.
    assets : {"cdn", "offline", "inline"}
        Where the page loads Leaflet from (see :mod:`maps.assets`); ``assets_base_url`` is
        the URL prefix of the ``"offline"`` asset directory.
    collapse_layers : bool
        Collapse the layer control into its button (the planner page does, to leave room).
    style_by : str
        What colours the parcels: ``"verdict"`` (default), ``"state"`` (the lifecycle state; a
        ``state`` column joined from the register) or any result column, categorical or
        graduated (see :mod:`maps.classify`); the legend lists the classes.
    api_base, vector_tile_threshold : str, int or None
        Above ``vector_tile_threshold`` parcels the map draws vector tiles from
        ``{api_base}/collections/result_parcels/tiles/{z}/{x}/{y}`` instead of embedding
        GeoJSON (see :mod:`maps.vectortiles`); ``None`` always embeds.

    Returns
    -------
    folium.Map
        Fitted to the drawn parcels (or to everything drawn when no parcel has a
        geometry), with layer control, scale bar, legend, fullscreen and measure.

    Raises
    ------
    ValueError
        If ``lang`` is unknown, a required column is missing, or a ``reasons``
        value is not a JSON list.
    landplan.core.errors.CRSError
        If a layer has no CRS.

    Examples
    --------
    >>> m = build_result_map(parcels, constraints={"red_line": red}, title="某园区")  # doctest: +SKIP
    >>> save_map(m, "result.html")  # doctest: +SKIP
    """
    check_map_arguments(lang, networks)
    missing = [c for c in PARCEL_COLUMNS if c not in parcels.columns]
    if missing:
        raise ValueError(
            f"parcels lack column(s) {missing}; pass the output of the transfer analysis"
        )
    if basemap is not None:
        basemap = resolve_basemap(basemap, local_basemaps)
    tiled = use_vector_tiles(len(parcels), threshold=vector_tile_threshold)
    if tiled:
        parcel_bounds, classes, draw = wgs84_box(parcels.crs, parcels.total_bounds), None, None
    else:
        reasons = _start_reason_tables(parcels)  # in a thread, meanwhile:
        parcels_wgs84 = to_display(to_wgs84(parcels), basemap)
        classes = parcel_classes(parcels_wgs84, style_by)
        parcel_bounds = parcels_wgs84.total_bounds if len(parcels_wgs84) else None

        def draw(m: folium.Map) -> None:
            add_parcels(m, parcels_wgs84, lang=lang, classes=classes, reasons=reasons)

    return compose_result_map(
        parcel_bounds,
        draw,
        classes,
        constraints=constraints,
        networks=networks,
        lang=lang,
        title=title,
        tiles=tiles,
        overlays=overlays,
        basemap=basemap,
        local_basemaps=local_basemaps,
        tk=tk,
        embed_key=embed_key,
        assets=assets,
        assets_base_url=assets_base_url,
        api_base=api_base,
        collapse_layers=collapse_layers,
    )


def check_map_arguments(lang: str, networks: GeoDataFrame | None) -> None:
    """The ``ValueError`` of :func:`build_result_map` for an unknown ``lang`` or bad networks."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if networks is not None and not {"kind", "status"} <= set(networks.columns):
        raise ValueError("networks need 'kind' and 'status' columns")


def compose_result_map(
    parcel_bounds: Sequence[float] | None,
    draw_parcels: Callable[[folium.Map], Any] | None,
    classes: Any,
    /,
    *,
    constraints: dict[str, GeoDataFrame] | None,
    networks: GeoDataFrame | None,
    lang: Lang,
    title: str | None,
    tiles: str | None,
    overlays: dict[str, str | os.PathLike[str]] | None,
    basemap: str | None,
    local_basemaps: Sequence[LocalBasemap],
    tk: str | None,
    embed_key: bool,
    assets: AssetMode,
    assets_base_url: str,
    api_base: str,
    collapse_layers: bool,
) -> folium.Map:
    """The result map around its parcels: ``parcel_bounds`` (EPSG:4326, ``None`` when no parcel
    is drawn), ``draw_parcels`` adding the parcel layer (``None``: vector tiles) and the
    ``classes`` of the legend; ``basemap`` already resolved (see :func:`build_result_map`)."""
    folium = require_folium()
    local_names = {b.name for b in local_basemaps}
    online = "none" if basemap in local_names else basemap  # what base_map draws
    tiled = draw_parcels is None
    constraints_wgs84 = {
        kind: to_display(to_wgs84(gdf), basemap) for kind, gdf in (constraints or {}).items()
    }
    networks_wgs84 = to_display(to_wgs84(networks), basemap) if networks is not None else None

    others = [*constraints_wgs84.values(), *([] if networks_wgs84 is None else [networks_wgs84])]
    m = base_map(
        tuple(parcel_bounds) if parcel_bounds is not None else _union_bounds(others),
        tiles=tiles,
        basemap=online,
        tk=tk,
        embed_key=embed_key,
        lang=lang,
    )
    if local_basemaps:
        add_local_basemaps(
            m, local_basemaps, selected=basemap if basemap in local_names else None, lang=lang
        )
    for name, path in (overlays or {}).items():
        add_raster_overlay(m, path, style=OVERLAY_STYLES[name], lang=lang)
    for child in m._children.values():
        if type(child).__name__ == "ImageOverlay":
            child.bounds = shift_bounds(child.bounds, basemap)
    add_colorbars(m)
    # inline parcels: every vector layer on one canvas (no large SVG layer, see add_constraints)
    add_constraints(m, constraints_wgs84, lang=lang, canvas=not tiled)
    if networks_wgs84 is not None:
        add_networks(m, networks_wgs84, lang=lang, canvas=not tiled)
    if draw_parcels is None:
        add_parcel_tiles(m, api_base=api_base, basemap=online or "osm", lang=lang)
    else:
        draw_parcels(m)  # last, so parcels are on top and clickable

    network_kinds = (
        [] if networks_wgs84 is None else list(networks_wgs84["kind"].astype(str).unique())
    )
    legend_element(
        constraint_kinds=list(constraints_wgs84),
        network_kinds=network_kinds,
        lang=lang,
        classes=classes,
    ).add_to(m)
    css_element(POPUP_CSS + CONTROL_CSS).add_to(m)
    if title:
        title_element(title).add_to(m)
    folium.LayerControl(collapsed=collapse_layers).add_to(m)
    return apply_assets(m, assets, base_url=assets_base_url)


def _start_reason_tables(parcels: GeoDataFrame) -> Future:
    """Parse the ``reasons`` of the parcels that will be drawn, in a thread of its own.

    Arrow's JSON reader and GEOS release the GIL, so on two cores the reasons are parsed
    while the geometries are simplified and reprojected.  The rows are those
    :func:`maps.layers.to_wgs84` keeps, in the same order.
    """
    geoms = parcels.geometry.to_numpy()
    drawn = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    rows = parcels if drawn.all() else parcels.loc[drawn]
    ids = rows["parcel_id"].astype(str).tolist()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landplan-reasons")
    try:
        return pool.submit(reason_tables, rows["reasons"], ids)
    finally:
        pool.shutdown(wait=False)  # the thread ends after its one task


def wgs84_box(crs: Any, total_bounds: Sequence[float], /) -> np.ndarray:
    """``(west, south, east, north)`` in EPSG:4326 spanning projected ``total_bounds`` (for
    fitting a map of vector tiles; nothing is embedded)."""
    from pyproj import Transformer

    if crs is None:
        raise CRSError(
            "cannot draw a layer without a CRS; set it first, e.g. "
            "`gdf.set_crs('EPSG:4542')` for CGCS2000 3-degree Gauss-Krüger CM 99E"
        )
    box = Transformer.from_crs(crs, 4326, always_xy=True).transform_bounds(*total_bounds)
    return np.asarray(box, dtype=float)


def _bounds(parcels: GeoDataFrame, *others: GeoDataFrame | None) -> tuple[float, ...] | None:
    """Bounds of the parcels, else of the other layers together, else ``None``."""
    for layers in ([parcels], [o for o in others if o is not None]):
        found = _union_bounds(layers)
        if found is not None:
            return found
    return None


def _union_bounds(layers: Sequence[GeoDataFrame]) -> tuple[float, ...] | None:
    """Bounds of the layers together (those with features); ``None`` if none has any."""
    drawn = [gdf for gdf in layers if len(gdf)]
    if not drawn:
        return None
    bounds = [gdf.total_bounds for gdf in drawn]
    return (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )


def save_map(m: Any, path: str | os.PathLike[str], /) -> Path:
    """Write the map's HTML to ``path`` atomically and return the resolved path.

    The HTML goes to a temporary file in the same directory, which then replaces
    ``path`` with :func:`os.replace`, so readers never see a half-written file.
    """
    target = Path(path)
    html = m.get_root().render()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; maps are served and shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.resolve()

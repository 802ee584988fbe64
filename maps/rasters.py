"""Raster overlays (slope, suitability) as images with a colour-bar legend.

The raster is warped to Web Mercator (the plane Leaflet draws in, so the image lies exactly
where it should), shrunk to at most ``max_px`` on its long side, coloured with a branca
colormap, and embedded as a PNG data URL: the map stays a single file.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maps.layers import require_folium


@dataclass(frozen=True)
class RasterStyle:
    """Colours and value range of an overlay, and its bilingual caption."""

    colors: tuple[str, ...]
    vmin: float
    vmax: float
    caption_zh: str
    caption_en: str


SLOPE = RasterStyle(
    ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"), 0.0, 25.0, "坡度（°）", "Slope (°)"
)
SUITABILITY = RasterStyle(
    ("#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837"),
    0.0,
    100.0,
    "建设适宜性（0–100）",
    "Suitability (0–100)",
)


def _warped_rgba(
    path: Path, style: RasterStyle, max_px: int
) -> tuple[np.ndarray, list[list[float]]]:
    import branca.colormap as cm
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    with (
        rasterio.open(path) as src,
        WarpedVRT(src, crs=CRS.from_epsg(3857), resampling=Resampling.bilinear) as vrt,
    ):
        scale = max(vrt.width, vrt.height) / max_px
        h, w = (
            (max(1, int(vrt.height / scale)), max(1, int(vrt.width / scale)))
            if scale > 1
            else vrt.shape
        )
        data = vrt.read(1, out_shape=(h, w), masked=True, resampling=Resampling.average)
        west, south, east, north = transform_bounds(vrt.crs, "EPSG:4326", *vrt.bounds)
    cmap = cm.LinearColormap(list(style.colors), vmin=style.vmin, vmax=style.vmax)
    values = np.clip(data.filled(np.nan), style.vmin, style.vmax)
    rgba = np.zeros((h, w, 4), dtype="uint8")
    valid = ~np.isnan(values)
    stops = np.linspace(style.vmin, style.vmax, 64)
    palette = np.array(
        [[int(c * 255) for c in cmap.rgba_floats_tuple(v)] for v in stops], dtype="uint8"
    )
    idx = np.clip(np.searchsorted(stops, values[valid]), 0, len(stops) - 1)
    rgba[valid] = palette[idx]
    rgba[valid, 3] = 255
    return rgba, [[south, west], [north, east]]


def _png_data_url(rgba: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def add_raster_overlay(
    m: Any,
    path: str | Path,
    /,
    *,
    style: RasterStyle,
    lang: str = "zh",
    opacity: float = 0.6,
    show: bool = False,
    max_px: int = 1024,
) -> Any:
    """Add a coloured raster overlay (a toggleable layer) and its colour bar to a Folium map."""
    folium = require_folium()
    import branca.colormap as cm

    rgba, bounds = _warped_rgba(Path(path), style, max_px)
    caption = (
        f"{style.caption_zh} {style.caption_en}"
        if lang == "zh"
        else f"{style.caption_en} {style.caption_zh}"
    )
    folium.raster_layers.ImageOverlay(
        image=_png_data_url(rgba),
        bounds=bounds,
        opacity=opacity,
        name=caption,
        show=show,
        interactive=False,
    ).add_to(m)
    colorbar = cm.LinearColormap(
        list(style.colors), vmin=style.vmin, vmax=style.vmax, caption=caption
    )
    colorbar.add_to(m)
    return m

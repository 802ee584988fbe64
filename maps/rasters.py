"""Raster overlays (slope, suitability) as images with a colour-bar legend.

The raster is warped to Web Mercator (the plane Leaflet draws in, so the image lies exactly
where it should), shrunk to at most ``max_px`` on its long side, coloured with a branca
colormap, and embedded as a PNG data URL: the map stays a single file.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from landplan.maps.layers import require_folium


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


def _warped(path: Path, max_px: int):
    """Band 1 warped to Web Mercator at most ``max_px`` on its long side (masked), and its bounds
    ``[[south, west], [north, east]]``.

    A raster larger than that is warped straight to the small grid, each output cell the
    average of the source cells it covers (GDAL's ``average`` warp): one pass over the source,
    instead of a full-resolution bilinear warp shrunk afterwards (the same picture within a
    few hundredths of the value range, at half the time on a 4000² raster).  A smaller one is
    warped bilinearly at its own resolution.
    """
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    mercator = CRS.from_epsg(3857)
    with rasterio.open(path) as src:
        with WarpedVRT(src, crs=mercator, resampling=Resampling.bilinear) as vrt:
            full_w, full_h, tf = vrt.width, vrt.height, vrt.transform
            west, south, east, north = transform_bounds(vrt.crs, "EPSG:4326", *vrt.bounds)
            scale = max(full_w, full_h) / max_px
            if scale <= 1:
                return vrt.read(1, masked=True), [[south, west], [north, east]]
        w, h = max(1, int(full_w / scale)), max(1, int(full_h / scale))
        small = tf * tf.scale(full_w / w, full_h / h)  # the same extent in w × h cells
        with WarpedVRT(
            src, crs=mercator, transform=small, width=w, height=h, resampling=Resampling.average
        ) as vrt:
            return vrt.read(1, masked=True), [[south, west], [north, east]]


def _warped_rgba(
    path: Path, style: RasterStyle, max_px: int
) -> tuple[np.ndarray, list[list[float]]]:
    data, bounds = _warped(path, max_px)
    h, w = data.shape
    from branca.colormap import LinearColormap  # colour interpolation only (no JS on the page)

    cmap = LinearColormap(list(style.colors), vmin=style.vmin, vmax=style.vmax)
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
    return rgba, bounds


def _png_data_url(rgba: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    # zlib's default level: ``optimize=True`` took 4× as long (0.6 s per 1024² overlay) for a
    # file 0–8 % smaller
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


COLORBAR_CSS = """
.lp-colorbars{position:fixed;right:10px;bottom:30px;z-index:1000;display:flex;flex-direction:column;gap:6px}
.lp-colorbar{background:rgba(255,255,255,.95);border:1px solid #999;border-radius:4px;padding:4px 8px;
  font:11px/1.4 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.lp-colorbar .lp-ramp{width:180px;height:10px;border:1px solid #555;margin:2px 0}
.lp-colorbar .lp-ticks{display:flex;justify-content:space-between}
"""


def colorbar_html(style: RasterStyle, caption: str, /) -> str:
    """A colour bar as plain HTML/CSS (no JavaScript), so it renders offline and in print."""
    from html import escape

    ramp = ", ".join(style.colors)
    mid = (style.vmin + style.vmax) / 2
    ticks = "".join(f"<span>{v:g}</span>" for v in (style.vmin, mid, style.vmax))
    return (
        f'<div class="lp-colorbar"><div>{escape(caption)}</div>'
        f'<div class="lp-ramp" style="background:linear-gradient(to right, {ramp})"></div>'
        f'<div class="lp-ticks">{ticks}</div></div>'
    )


_PREPARED: dict[tuple, Any] = {}  # (file identity, style, size) -> Future of (data URL, bounds)
_PREPARED_LOCK = threading.Lock()


def _key(path: str | Path, style: RasterStyle, max_px: int) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size, style, max_px)


def overlay_image(path: str | Path, style: RasterStyle, max_px: int = 1024) -> tuple[str, list]:
    """The overlay's image as a PNG data URL, and its bounds ``[[south, west], [north, east]]``."""
    rgba, bounds = _warped_rgba(Path(path), style, max_px)
    return _png_data_url(rgba), bounds


def prepare_overlay(path: str | Path, style: RasterStyle, /, *, max_px: int = 1024) -> None:
    """Start making the overlay of ``path`` in a thread (GDAL and zlib work without the GIL),
    for a map built later: :func:`add_raster_overlay` takes it if the file is unchanged.

    A long job calls this as soon as the raster is written, so that the map at its end does
    not wait for the warping (~1 s for a 4000² raster)."""
    from concurrent.futures import Future

    key = _key(path, style, max_px)
    if key is None:
        return
    future: Future = Future()
    with _PREPARED_LOCK:
        if key in _PREPARED:
            return
        _PREPARED[key] = future

    def make() -> None:
        try:
            future.set_result(overlay_image(path, style, max_px))
        except BaseException as exc:  # the map makes it again, and reports it there
            future.set_exception(exc)

    threading.Thread(target=make, name="landplan-overlay").start()


def _prepared(path: str | Path, style: RasterStyle, max_px: int) -> tuple[str, list]:
    key = _key(path, style, max_px)
    with _PREPARED_LOCK:
        future = _PREPARED.pop(key, None) if key is not None else None
    if future is not None and future.exception() is None:
        return future.result()
    return overlay_image(path, style, max_px)


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
    """Add a coloured raster overlay (a toggleable layer); :func:`add_colorbars` draws its bar."""
    folium = require_folium()
    image, bounds = _prepared(path, style, max_px)
    caption = (
        f"{style.caption_zh} {style.caption_en}"
        if lang == "zh"
        else f"{style.caption_en} {style.caption_zh}"
    )
    overlay = folium.raster_layers.ImageOverlay(
        image=image,
        bounds=bounds,
        opacity=opacity,
        name=caption,
        show=show,
        interactive=False,
    )
    overlay.colorbar_html = colorbar_html(style, caption)
    overlay.add_to(m)
    return m


def add_colorbars(m: Any, /) -> Any:
    """One fixed box holding the colour bars of every raster overlay on the map."""
    from landplan.maps.legend import _macro

    bars = [c.colorbar_html for c in m._children.values() if hasattr(c, "colorbar_html")]
    if bars:
        body = f'<div class="lp-colorbars">{"".join(bars)}</div>'
        _macro(f"<style>{COLORBAR_CSS}</style>", body).add_to(m)
    return m

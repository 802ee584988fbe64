"""PNG tiles of workspace rasters through rio-tiler, with a fixed value range per raster kind."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from landplan.api.errors import BadParameterError

#: raster name → (min, max, colormap); values outside are clipped
RASTER_STYLES: dict[str, tuple[float, float, str]] = {
    "slope": (0.0, 35.0, "ylorrd"),
    "suitability": (0.0, 100.0, "rdylgn"),
    "relief": (0.0, 60.0, "ylorbr"),
    "land_grade": (1.0, 5.0, "rdylgn_r"),
    "constraint_mask": (0.0, 1.0, "greys"),
}
NAMES = (
    "dem",
    "slope",
    "relief",
    "suitability",
    "land_grade",
    "constraint_mask",
    "dist_road",
    "dist_water",
    "dist_power",
)


@lru_cache(maxsize=1)
def _empty_png() -> bytes:
    import numpy as np
    from rio_tiler.models import ImageData

    return ImageData(np.ma.masked_all((1, 256, 256), dtype="uint8")).render(img_format="PNG")


def _cmap(name: str):
    from rio_tiler.colormap import cmap

    try:
        return cmap.get(name.lower())
    except Exception:
        raise BadParameterError(
            f"unknown colormap {name!r}; e.g. viridis, rdylgn, ylorrd", parameter="colormap"
        ) from None


def raster_tile(path: Path, name: str, z: int, x: int, y: int, *, colormap: str) -> bytes:
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    cmap = _cmap(colormap)
    with Reader(str(path)) as src:
        try:
            img = src.tile(x, y, z, tilesize=256, indexes=1)
        except TileOutsideBounds:
            return _empty_png()
        lo, hi = RASTER_STYLES.get(name, (None, None, None))[:2]
        if lo is None:
            stats = src.dataset.statistics(1, approx=True)
            lo, hi = stats.min, stats.max
        img.rescale(in_range=((lo, hi),))
        return img.render(img_format="PNG", colormap=cmap)


def rasters_list(store) -> list[dict]:
    out = []
    for n in NAMES:
        if store.raster_path(n) is not None:
            lo, hi, cm = RASTER_STYLES.get(n, (None, None, "viridis"))
            out.append(
                {
                    "name": n,
                    "tiles": f"/rasters/{n}/tiles/{{z}}/{{x}}/{{y}}.png",
                    "min": lo,
                    "max": hi,
                    "colormap": cm,
                }
            )
    return out

"""Re-run the suitability surface with new factor weights on a window of the workspace rasters.

Used by the service's background jobs: the factors and rescale functions are the policy's
``[suitability.*]``; only the weights change.  The inputs are cropped to the requested bbox
(window reads, bounded memory) before scoring, so a planner's "what if roads weigh more"
question on a district does not recompute a province.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import rasterio
from rasterio.windows import Window, from_bounds

from landplan.core.errors import RasterError
from landplan.core.features import from_crs84_bbox

MAX_CELLS = 50_000_000


def _window(path: Path, bbox_crs84) -> Window:
    with rasterio.open(path) as src:
        if bbox_crs84 is None:
            return Window(0, 0, src.width, src.height)
        local = from_crs84_bbox(tuple(bbox_crs84), src.crs)
        win = from_bounds(*local, transform=src.transform).round_offsets().round_lengths()
        full = Window(0, 0, src.width, src.height)
        try:
            win = win.intersection(full)
        except Exception:
            raise RasterError("the bbox does not overlap the workspace rasters") from None
    if win.width * win.height > MAX_CELLS:
        raise RasterError(
            f"the bbox covers {int(win.width * win.height):,} cells; the limit is {MAX_CELLS:,} — "
            "choose a smaller bbox"
        )
    if win.width < 3 or win.height < 3:
        raise RasterError("the bbox covers fewer than 3×3 raster cells; choose a larger bbox")
    return win


def _crop(src_path: Path, win: Window, dst: Path) -> Path:
    with rasterio.open(src_path) as src:
        profile = src.profile | {
            "driver": "GTiff",
            "width": int(win.width),
            "height": int(win.height),
            "transform": src.window_transform(win),
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
        }
        with rasterio.open(dst, "w", **profile) as out:
            for _, block in out.block_windows(1):
                src_win = Window(
                    win.col_off + block.col_off,
                    win.row_off + block.row_off,
                    block.width,
                    block.height,
                )
                out.write(src.read(1, window=src_win), 1, window=block)
    return dst


def rerun_suitability(
    policy,
    raster_path: Callable[[str], Path | None],
    weights: Mapping[str, float],
    out_dir: Path,
    /,
    *,
    bbox_crs84=None,
    on_progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Score suitability with ``weights`` (factor name → weight) and return summary figures."""
    from landplan.raster.suitability import SuitabilityConfig, score_suitability

    rules = dict(policy.suitability)
    unknown = sorted(set(weights) - set(rules))
    if unknown:
        raise RasterError(f"unknown suitability factors {unknown}; the policy has {sorted(rules)}")
    inputs = {}
    for name, rule in rules.items():
        path = raster_path(rule.source.replace("dist:", "dist_"))
        if path is not None:
            inputs[name] = (path, rule)
    if not inputs:
        raise RasterError("the workspace has no suitability input rasters; analyse it with a DEM")
    mask = raster_path("constraint_mask")
    first = next(iter(inputs.values()))[0]
    win = _window(first, bbox_crs84)
    out_dir.mkdir(parents=True, exist_ok=True)
    factors = []
    for i, (name, (path, rule)) in enumerate(inputs.items()):
        if on_progress:
            on_progress(0.3 * i / len(inputs), f"cropping {name}")
        cropped = _crop(path, win, out_dir / f"in_{name}.tif")
        factors.append(
            {
                "name": name,
                "raster": cropped,
                "rescale": rule.rescale,
                "weight": float(weights.get(name, rule.weight)),
            }
        )
    masks = [_crop(mask, win, out_dir / "in_mask.tif")] if mask is not None else []
    config = SuitabilityConfig(factors=factors, masks=masks)

    def progress(done: int, total: int) -> None:
        if on_progress:
            on_progress(0.3 + 0.7 * done / max(total, 1), f"scoring block {done}/{total}")

    result = score_suitability(config, out_dir / "suitability.tif", on_progress=progress)
    for f in out_dir.glob("in_*.tif"):
        f.unlink()
    return {
        "weights": result.weights,
        "cells": result.cells,
        "masked_cells": result.masked_cells,
        "mean_score": result.mean_score,
        "window": {
            "col_off": int(win.col_off),
            "row_off": int(win.row_off),
            "width": int(win.width),
            "height": int(win.height),
        },
    }

"""Euclidean distance rasters (metres) from network features, like ``gdal_proximity``.

Two ways of measuring, both from the centre of every cell of a reference grid (the
``like`` raster: its CRS, transform and shape):

* **rasterized** (default, the ``gdal_proximity`` semantics): the features are burnt
  into the grid with the ``gdal_rasterize`` defaults (``rasterio.features.rasterize``,
  ``all_touched=False``: a polygon takes the cells whose centre is inside it, a line the
  cells on its Bresenham path, a point the cell that holds it; only cells *inside the
  grid* are targets), then each cell gets the distance from its centre to the centre of
  the nearest target cell.  It is an exact Euclidean distance transform
  (the ``edt`` package, anisotropic: ``anisotropy=(cell_y, cell_x)``; the same values as
  ``scipy.ndimage.distance_transform_edt`` with ``sampling``), so it is also right for
  non-square cells.  ``gdal_proximity -distunits GEO`` gives the same target cells, but its
  two-pass propagation is not exact: on the Lijiang sample it is larger than the true
  distance on ~0.04 % of cells (by less than one cell), and with non-square cells it
  multiplies pixel distances by the x cell size only.
* **exact** (``exact=True``): the true distance from each cell centre to the vector
  geometry (``shapely.STRtree.query_nearest``), 0 inside polygons, features outside the
  grid included.  Slower (a shapely point per cell), but with no rasterization error
  (which is up to about half a cell diagonal in the default mode).

Memory is bounded by processing the grid in square tiles, each grown by a **halo** that
holds every target which can be the nearest one of a cell in the tile:

* A first pass burns the targets tile by tile and marks which blocks of
  :data:`COARSE_CELLS`² cells hold one.  For a cell in block *b*, a target in the nearest
  occupied block *b′* is at most ``d(b, b′) + diagonal of a block`` away (centre to centre,
  plus half a diagonal at each end), so the true nearest target is within that distance,
  and the tile's halo is the largest such bound over its blocks.  A dense network gives
  small halos; nothing has to be known in advance.
* ``max_distance_m`` caps the halo: a target farther away than that cannot be the nearest
  one that counts, and cells beyond it get nodata (NaN in arrays, −9999 in files, as
  ``gdal_proximity -maxdist``).

The EDT of each grown tile is exact, so tiles agree with the transform of the whole grid.
The tile size is chosen among a few (1024 to 4096 cells, or one tile when the grid is at
most :data:`WINDOW_MAX_CELLS`) to compute the fewest cells in all, and windows are kept
under :data:`WINDOW_MAX_CELLS` (about 6 bytes per cell at the peak) where a tiling allows
it.  Only a network whose nearest feature is far from a large part of the grid (a few
features in a corner) makes the windows large.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from geopandas import GeoDataFrame, GeoSeries
from rasterio.windows import Window

from landplan.core.crs import require_projected
from landplan.core.errors import EmptyLayerError, RasterError
from landplan.raster.grid import (
    NODATA_OUT,
    GridInfo,
    cog_writer,
    grid_info,
    open_raster,
    require_same_crs,
    write_band,
)

#: tile edge (cells) of the exact mode, and the smallest tile of the rasterized mode
TILE_CELLS = 1024
#: tile edges tried for the rasterized mode (and the whole grid, when it is small enough)
TILE_CHOICES = (1024, 2048, 4096)
#: edge (cells) of the blocks of the first pass (which blocks hold a target)
COARSE_CELLS = 32
#: largest grown tile (cells) the rasterized mode computes when a tiling allows it
WINDOW_MAX_CELLS = 1 << 25
STATUSES = ("built", "all")


@dataclass(frozen=True)
class DistanceResult:
    """What :func:`distance_raster` wrote."""

    path: Path
    width: int
    height: int
    max_distance_m: float | None
    exact: bool
    tiles: int
    n_features: int
    max_value_m: float  # largest distance written (NaN when every cell is nodata)


# --------------------------------------------------------------------------- inputs


def select_features(
    features: GeoDataFrame | GeoSeries,
    /,
    *,
    kind: str | None = None,
    status: str = "built",
) -> GeoSeries:
    """The features that count: by ``kind`` and ``status`` (``built`` or ``all``).

    A frame with landplan's ``kind`` / ``status`` columns (``load_inputs(...).networks``,
    the ``networks`` layer of ``workspace.gpkg``: status ``built`` / ``planned``) is
    filtered; a plain layer (any file of lines, whatever its own fields say) counts whole.
    Empty and missing geometries are dropped.  Nothing left → :class:`EmptyLayerError`.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    gdf = features if isinstance(features, GeoDataFrame) else GeoDataFrame(geometry=features)
    keep = np.ones(len(gdf), bool)
    what = "features"
    if kind is not None and "kind" in gdf.columns:
        keep &= (gdf["kind"] == kind).to_numpy()
        what = f"{kind} features"
    if status == "built" and _has_landplan_status(gdf):
        keep &= (gdf["status"] == "built").to_numpy()
        what = f"built {what}"
    geoms = gdf.geometry[keep]
    geoms = geoms[~(geoms.isna() | geoms.is_empty).to_numpy()]
    if len(geoms) == 0:
        kinds = sorted(gdf["kind"].dropna().unique().tolist()) if "kind" in gdf.columns else []
        hint = f"; the layer has kinds {kinds}" if kinds else ""
        more = " (try status='all' to count planned ones)" if status == "built" else ""
        raise EmptyLayerError(f"no {what} to measure from{hint}{more}")
    return geoms


def _has_landplan_status(gdf: GeoDataFrame) -> bool:
    if "status" not in gdf.columns:
        return False
    return set(gdf["status"].dropna().unique().tolist()) <= {"built", "planned"}


def _check_crs(features: GeoSeries, grid: GridInfo, raster: str) -> None:
    require_same_crs(grid.crs, features, raster=raster, layer="the features")
    require_projected(features, what="a distance raster")


def read_grid(like: str | os.PathLike | GridInfo, /) -> GridInfo:
    """The grid of ``like`` (a raster path, opened with the checks of :func:`open_raster`)."""
    if isinstance(like, GridInfo):
        return like
    with open_raster(like, check_data=False) as src:
        return grid_info(src)


# --------------------------------------------------------------------------- tiles


def tile_windows(grid: GridInfo, /, *, tile: int = TILE_CELLS) -> Iterator[Window]:
    """Square windows of ``tile`` cells covering the grid, row by row."""
    for r in range(0, grid.height, tile):
        for c in range(0, grid.width, tile):
            yield Window(c, r, min(tile, grid.width - c), min(tile, grid.height - r))


def _halo(grid: GridInfo, max_distance_m: float | None) -> tuple[int, int]:
    if max_distance_m is None:
        return grid.height, grid.width
    return _halo_cells(grid, max_distance_m)


def _halo_cells(grid: GridInfo, metres: float) -> tuple[int, int]:
    return (
        math.ceil(metres / grid.cellsize_y) + 1,
        math.ceil(metres / grid.cellsize_x) + 1,
    )


def _grown(win: Window, grid: GridInfo, hy: int, hx: int) -> Window:
    r0, c0 = max(0, win.row_off - hy), max(0, win.col_off - hx)
    r1 = min(grid.height, win.row_off + win.height + hy)
    c1 = min(grid.width, win.col_off + win.width + hx)
    return Window(c0, r0, c1 - c0, r1 - r0)


def burn(geoms, grid: GridInfo, window: Window | None = None, /) -> np.ndarray:
    """Boolean target mask of ``geoms`` on ``window`` of the grid (``gdal_rasterize`` defaults)."""
    from rasterio.features import rasterize
    from rasterio.windows import transform as win_transform

    window = window or Window(0, 0, grid.width, grid.height)
    shape = (int(window.height), int(window.width))
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(shape, bool)
    out = rasterize(
        ((g, 1) for g in geoms),
        out_shape=shape,
        transform=win_transform(window, grid.transform),
        fill=0,
        all_touched=False,
        dtype="uint8",
    )
    return out.view(bool)  # 0 / 1 bytes: a bool view, not a copy


def _window_bounds(win: Window, grid: GridInfo) -> tuple[float, float, float, float]:
    from rasterio.windows import bounds

    return bounds(win, grid.transform)


def edt_metres(free: np.ndarray, grid: GridInfo, /, *, threads: int = 1) -> np.ndarray:
    """Exact Euclidean distance (m, float32) from each ``True`` cell to the nearest ``False`` one.

    A window without any ``False`` cell gets ``inf``.
    """
    import edt

    if free.all():
        return np.full(free.shape, np.inf, np.float32)
    return edt.edt(
        np.ascontiguousarray(free),
        anisotropy=(grid.cellsize_y, grid.cellsize_x),
        black_border=False,
        parallel=threads,
    )


def _window_edt(tree, geoms, grid, big, threads=1) -> np.ndarray | None:
    """Distances (m) on the grown window ``big`` to its burnt targets; None without any."""
    cand = tree.query(shapely.box(*_window_bounds(big, grid)))
    if len(cand) == 0:
        return None
    target = burn(geoms[np.sort(cand)], grid, big)
    if not target.any():
        return None
    np.logical_not(target, out=target)
    return edt_metres(target, grid, threads=threads)


def _crop(d: np.ndarray | None, win: Window, big: Window, max_d) -> np.ndarray:
    """The ``win`` part of the distances ``d`` on ``big``, NaN beyond ``max_d``.

    A copy, unless ``win`` is ``big`` (no other tile can share that window): then ``d``
    itself, which the caller may overwrite.
    """
    if d is None:
        return np.full((int(win.height), int(win.width)), np.nan, np.float32)
    if win == big and d.dtype == np.float32:
        out = d
    else:
        r, c = win.row_off - big.row_off, win.col_off - big.col_off
        out = np.array(d[r : r + int(win.height), c : c + int(win.width)], np.float32)
    if max_d is not None:
        out[out > max_d] = np.nan
    return out


def _rasterized_tile(tree, geoms, grid, win, hy, hx, max_d, threads=1) -> np.ndarray:
    big = _grown(win, grid, hy, hx)
    return _crop(_window_edt(tree, geoms, grid, big, threads), win, big, max_d)


@dataclass(frozen=True)
class TilePlan:
    """Tiles of the rasterized mode and the halo (rows, cols) of each."""

    tile: int
    windows: list[Window]
    halos: list[tuple[int, int]]
    grown: list[Window]

    @property
    def cells(self) -> int:
        """Cells computed in all (the grown windows; a window equal to the one before is reused)."""
        return sum(
            int(w.width) * int(w.height)
            for i, w in enumerate(self.grown)
            if i == 0 or w != self.grown[i - 1]
        )

    @property
    def largest(self) -> int:
        return max((int(w.width) * int(w.height) for w in self.grown), default=0)


def _occupancy(tree, geoms, grid: GridInfo) -> np.ndarray:
    """Which blocks of COARSE_CELLS² cells hold a burnt target (first pass, tile by tile)."""
    b = COARSE_CELLS
    occ = np.zeros((math.ceil(grid.height / b), math.ceil(grid.width / b)), bool)
    step = max(b, (TILE_CHOICES[-1] // b) * b)
    for win in tile_windows(grid, tile=step):
        cand = tree.query(shapely.box(*_window_bounds(win, grid)))
        if len(cand) == 0:
            continue
        t = burn(geoms[np.sort(cand)], grid, win)
        h, w = t.shape
        pad = np.zeros((math.ceil(h / b) * b, math.ceil(w / b) * b), bool)
        pad[:h, :w] = t
        blocks = pad.reshape(pad.shape[0] // b, b, pad.shape[1] // b, b).any(axis=(1, 3))
        r0, c0 = win.row_off // b, win.col_off // b
        occ[r0 : r0 + blocks.shape[0], c0 : c0 + blocks.shape[1]] |= blocks
    return occ


def _block_bounds(occ: np.ndarray, grid: GridInfo) -> np.ndarray:
    """Per block, a bound (m) on the distance from any of its cells to the nearest target."""
    import edt

    b = COARSE_CELLS
    if not occ.any():
        return np.full(occ.shape, np.inf)
    d = edt.edt(
        np.ascontiguousarray(~occ),
        anisotropy=(b * grid.cellsize_y, b * grid.cellsize_x),
        black_border=False,
    ).astype(np.float64)
    return d + math.hypot(b * grid.cellsize_x, b * grid.cellsize_y) * (1 + 1e-9)


def plan_tiles(
    tree, geoms, grid: GridInfo, /, *, max_distance_m: float | None, tile: int | None = None
) -> TilePlan:
    """The tiles of the rasterized mode with their halos (see the module docstring)."""
    if tile is None and grid.width * grid.height <= WINDOW_MAX_CELLS:
        # One window, the whole grid: no tiling computes fewer cells, so the first pass
        # (it only sizes the halos) is skipped.
        whole = Window(0, 0, grid.width, grid.height)
        return TilePlan(max(grid.width, grid.height), [whole], [(grid.height, grid.width)], [whole])
    bound = None
    if max_distance_m is None or tile is None:
        bound = _block_bounds(_occupancy(tree, geoms, grid), grid)
    sizes = [tile] if tile is not None else list(TILE_CHOICES)
    if tile is None and grid.width * grid.height <= WINDOW_MAX_CELLS:
        sizes.append(max(grid.width, grid.height))
    plans = []
    for size in sizes:
        windows = list(tile_windows(grid, tile=size))
        halos, grown = [], []
        for win in windows:
            metres = max_distance_m if max_distance_m is not None else math.inf
            if bound is not None and not np.isfinite(bound).any():
                metres = 0.0  # no target cell in the grid: nothing to look for in a halo
            elif bound is not None:
                b = COARSE_CELLS
                r0, c0 = win.row_off // b, win.col_off // b
                r1 = math.ceil((win.row_off + win.height) / b)
                c1 = math.ceil((win.col_off + win.width) / b)
                metres = min(metres, float(bound[r0:r1, c0:c1].max()))
            hy, hx = (
                (grid.height, grid.width)
                if not math.isfinite(metres)
                else _halo_cells(grid, metres)
            )
            halos.append((hy, hx))
            grown.append(_grown(win, grid, hy, hx))
        plans.append(TilePlan(size, windows, halos, grown))
    fits = [p for p in plans if p.largest <= WINDOW_MAX_CELLS]
    if fits:
        return min(fits, key=lambda p: (p.cells, -p.tile))
    return min(plans, key=lambda p: (p.largest, p.cells))


def cell_centres(grid: GridInfo, win: Window, /) -> tuple[np.ndarray, np.ndarray]:
    """x, y of the cell centres of ``win`` (2-D arrays)."""
    t = grid.transform
    cols = win.col_off + np.arange(int(win.width)) + 0.5
    rows = win.row_off + np.arange(int(win.height)) + 0.5
    return np.meshgrid(t.c + cols * t.a, t.f + rows * t.e)


def _exact_tile(tree, grid, win, max_d) -> np.ndarray:
    x, y = cell_centres(grid, win)
    pts = shapely.points(x.ravel(), y.ravel())
    (idx, _), dist = tree.query_nearest(
        pts, max_distance=max_d, return_distance=True, all_matches=False
    )
    out = np.full(pts.shape, np.nan, np.float64)
    out[idx] = dist
    return out.reshape(x.shape).astype(np.float32)


def iter_distance_tiles(
    features: GeoSeries,
    grid: GridInfo,
    /,
    *,
    max_distance_m: float | None = None,
    exact: bool = False,
    tile: int | None = None,
) -> Iterator[tuple[Window, np.ndarray]]:
    """Yield ``(window, float32 distances in m)`` tile by tile; NaN beyond ``max_distance_m``.

    ``tile`` fixes the tile edge (cells); by default the rasterized mode picks it
    (:func:`plan_tiles`) and the exact mode uses :data:`TILE_CELLS` capped at 512.
    """
    if max_distance_m is not None and not max_distance_m > 0:
        raise RasterError(f"max_distance_m must be > 0, not {max_distance_m}")
    geoms = np.asarray(features.values, dtype=object)
    if not shapely.is_valid(geoms).all():
        geoms = shapely.make_valid(geoms)
    tree = shapely.STRtree(geoms)
    if exact:
        for win in tile_windows(grid, tile=min(tile or TILE_CELLS, 512)):
            yield win, _exact_tile(tree, grid, win, max_distance_m)
        return
    plan = plan_tiles(tree, geoms, grid, max_distance_m=max_distance_m, tile=tile)
    threads = min(4, os.cpu_count() or 1)
    last, d = None, None
    for win, big in zip(plan.windows, plan.grown, strict=True):
        if big != last:  # tiles far from every target share the same (clipped) window
            d = None  # free the last window first
            d, last = _window_edt(tree, geoms, grid, big, threads), big
        yield win, _crop(d, win, big, max_distance_m)
        if win == big:  # handed over uncopied (the caller may write into it): not reusable
            d, last = None, None


# --------------------------------------------------------------------------- API


def distance_array(
    features: GeoDataFrame | GeoSeries,
    like: str | os.PathLike | GridInfo,
    /,
    *,
    kind: str | None = None,
    status: str = "built",
    max_distance_m: float | None = None,
    exact: bool = False,
    tile: int | None = None,
) -> np.ndarray:
    """Distance (m, float32) from every cell centre of ``like`` to the nearest feature.

    In memory (``height × width × 4`` bytes); :func:`distance_raster` writes tile by tile.
    NaN marks cells farther than ``max_distance_m``.  See the module docstring for the
    two modes.
    """
    grid = read_grid(like)
    feats = select_features(features, kind=kind, status=status)
    _check_crs(feats, grid, str(like) if not isinstance(like, GridInfo) else "the grid")
    out = np.full((grid.height, grid.width), np.nan, np.float32)
    for win, arr in iter_distance_tiles(
        feats, grid, max_distance_m=max_distance_m, exact=exact, tile=tile
    ):
        out[win.toslices()] = arr
    return out


def distance_raster(
    features: GeoDataFrame | GeoSeries,
    like: str | os.PathLike | GridInfo,
    out: str | os.PathLike,
    /,
    *,
    kind: str | None = None,
    status: str = "built",
    max_distance_m: float | None = None,
    exact: bool = False,
    tile: int | None = None,
    cog: bool = True,
) -> DistanceResult:
    """Write the distance raster (float32, metres, nodata −9999) on the grid of ``like``.

    Parameters
    ----------
    features
        Network features (``kind`` / ``status`` columns are used when present) or any
        geometries, in the CRS of ``like`` (else :class:`~landplan.core.errors.CRSError`).
    like
        The reference raster (path) or its :class:`~landplan.raster.grid.GridInfo`.
    out
        Output path, replaced atomically.
    kind, status
        Which features count (:func:`select_features`).
    max_distance_m
        Search radius; beyond it cells are nodata.  It bounds the tile halo, hence memory.
    exact
        Distance to the vector geometry instead of to the nearest burnt cell.
    tile
        Tile edge in cells (default: chosen, see the module docstring).
    cog
        A Cloud-Optimised GeoTIFF; ``False``: a tiled GeoTIFF (faster).
    """
    grid = read_grid(like)
    feats = select_features(features, kind=kind, status=status)
    _check_crs(feats, grid, str(like) if not isinstance(like, GridInfo) else "the grid")
    tiles, top = 0, -np.inf
    with cog_writer(out, grid=grid, cog=cog) as dst:
        for win, arr in iter_distance_tiles(
            feats, grid, max_distance_m=max_distance_m, exact=exact, tile=tile
        ):
            tiles += 1
            most = float(np.fmax.reduce(arr, axis=None))  # NaN only when every cell is NaN
            if math.isfinite(most):
                top = max(top, most)
            np.copyto(arr, np.float32(NODATA_OUT), where=np.isnan(arr))
            write_band(dst, arr, win)
    return DistanceResult(
        Path(out),
        grid.width,
        grid.height,
        max_distance_m,
        exact,
        tiles,
        len(feats),
        top if np.isfinite(top) else float("nan"),
    )


def read_features(
    path: str | os.PathLike, /, *, layer: str | None = None, polygons: bool = False
) -> GeoDataFrame:
    """Read a vector file for the distance commands (checked by ``landplan.io.vector.read_vector``).

    ``polygons=True`` (barriers) refuses lines and points.  Geometries keep their source
    CRS: a CRS that differs from the raster's is refused later, never reprojected silently.
    """
    from landplan.io.vector import read_vector

    role = "constraint" if polygons else "features"  # features: lines, points or polygons
    gdf, _ = read_vector(path, role=role, workspace_crs=None, layer=layer)
    return gdf

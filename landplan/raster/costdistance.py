"""Accumulated cost distance and least-cost routes over a cost raster, matching GRASS ``r.cost``.

Cost model (GRASS ``r.cost``, ``raster/r.cost/main.c``)
-------------------------------------------------------
A cost raster holds the cost of crossing one metre of each cell (cost per metre, > 0).
Moving from cell *a* to a neighbour *b* costs the mean of the cells the move crosses
times the length of the move:

* the 8 neighbours (N, S, E, W and the diagonals): ``(c_a + c_b) / 2 · L``, with
  ``L`` = ``cell_x``, ``cell_y`` or ``hypot(cell_x, cell_y)``;
* the knight's moves (``knight=True``, ``r.cost -k``, 16 neighbours): a move of
  (±2 rows, ±1 column) averages the **four** cells it crosses, ``(c_a + c_b + c_m + c_d) / 4 · L``,
  where *m* is the orthogonal neighbour of *a* towards *b* (one row towards it) and *d*
  the diagonal neighbour of *a* towards *b*; likewise for (±1, ±2) with one column
  towards it.  ``L = hypot(2·cell_y, cell_x)`` or ``hypot(cell_y, 2·cell_x)``.  A move whose
  four cells are not all passable is not made.

The accumulated cost of a cell is the least total over all paths from any source cell
(0 there), found with Dijkstra's algorithm.  GRASS measures lengths in east-west cells
(``EW_fac = 1``), so ``r.cost`` output × ``cell_x`` equals this module's output on the
same cost raster; the tests check that against GRASS 8 (with and without ``-k``) on a
slope-derived cost raster with barriers and on non-square cells.  Implementation: an
implicit-grid Dijkstra compiled with numba (:mod:`landplan.raster._dijkstra`): no graph is
built, the moves and their costs are computed from the cost raster as cells are settled.

Impassable cells: nodata cells of the cost raster (``r.cost``'s default null handling)
and barrier cells (polygons burnt with ``all_touched=True``, or a mask raster).  Any
other cell whose cost is zero, negative, infinite or NaN is an error.  Source cells are
burnt with the ``gdal_rasterize`` defaults, as :mod:`landplan.raster.distance` does; source
cells on impassable cells are dropped.

Memory: single node, whole raster in RAM, about :data:`BYTES_PER_CELL` bytes per cell with
8 neighbours or knight's moves alike: the cost (float32 when the raster is float32 or a
16-bit or 8-bit integer type, float64 otherwise), the accumulated cost (float64), the move
that reached each cell (uint8), the source mask while seeding, and the heap of the frontier
(small next to those).  ``r.cost`` keeps ≈ 29 bytes per cell.  The default budget of
:data:`MEMORY_BUDGET_BYTES` (4 GiB) therefore allows ≈ 143 M cells (≈ 12 000²).  Above
``max_cells`` (or ``LANDPLAN_COST_MAX_CELLS``) the run is refused with
:class:`~landplan.core.errors.RasterError` before the raster is read; past that, clip the
raster, coarsen it, or use GRASS ``r.cost`` (it pages to disk).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from geopandas import GeoDataFrame, GeoSeries
from rasterio.windows import Window

from landplan.core.errors import EmptyLayerError, RasterError
from landplan.raster._dijkstra import PAD, padded_like
from landplan.raster.distance import burn, select_features
from landplan.raster.grid import (
    NODATA_OUT,
    GridInfo,
    cog_writer,
    grid_info,
    open_raster,
    require_same_crs,
)

#: peak bytes per cell, by neighbourhood (8 or 16); see the module docstring
BYTES_PER_CELL = {8: 30, 16: 30}
#: default memory budget of one cost-distance run
MEMORY_BUDGET_BYTES = 4 << 30

#: row blocks (cells) read at a time while loading the cost raster
_READ_CELLS = 1 << 22


def default_max_cells(*, knight: bool = False) -> int:
    """Cells allowed by :data:`MEMORY_BUDGET_BYTES` (or ``LANDPLAN_COST_MAX_CELLS``)."""
    env = os.environ.get("LANDPLAN_COST_MAX_CELLS")
    if env:
        return int(env)
    return MEMORY_BUDGET_BYTES // BYTES_PER_CELL[16 if knight else 8]


@dataclass(frozen=True)
class CostSurface:
    """A cost raster in memory: cost per metre (float32 or float64), NaN where impassable.

    ``cost`` is the interior of ``padded``, which carries the NaN border the Dijkstra kernel
    needs (:func:`landplan.raster._dijkstra.padded_like`); built from a plain array, the
    surface makes that padded copy itself.
    """

    cost: np.ndarray
    grid: GridInfo
    padded: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.padded is None:
            cost = np.asarray(self.cost)
            padded = padded_like(cost.shape, _cost_dtype(cost.dtype))
            padded[PAD:-PAD, PAD:-PAD] = cost
            object.__setattr__(self, "padded", padded)
            object.__setattr__(self, "cost", padded[PAD:-PAD, PAD:-PAD])

    @property
    def passable(self) -> np.ndarray:
        return ~np.isnan(self.cost)


@dataclass(frozen=True)
class CostDistance:
    """Accumulated cost from the sources, and the least-cost tree to trace routes.

    ``accumulated`` is in cost units (cost per metre × metres), NaN where unreachable or
    impassable; ``came`` holds, per cell, the index into
    :data:`landplan.raster._dijkstra.MOVES` of the move that reached it on its least-cost
    path (255 at sources and unreached cells).
    """

    accumulated: np.ndarray
    came: np.ndarray
    grid: GridInfo
    knight: bool
    n_source_cells: int

    def trace(self, row: int, col: int, /) -> np.ndarray:
        """Flat cell indices of the least-cost path from ``(row, col)`` back to a source."""
        if np.isnan(self.accumulated[row, col]):
            return np.empty(0, np.int64)
        from landplan.raster._dijkstra import MOVES, NO_MOVE

        w = self.grid.width
        path = [row * w + col]
        limit = self.came.size
        while (j := int(self.came[row, col])) != NO_MOVE:
            row, col = row - MOVES[j][0], col - MOVES[j][1]
            path.append(row * w + col)
            if len(path) > limit:  # pragma: no cover - a cycle would be a bug
                raise RuntimeError("cycle in the least-cost tree")
        return np.asarray(path, np.int64)


# --------------------------------------------------------------------------- inputs


def _mask_from_raster(path, grid: GridInfo) -> np.ndarray:
    with open_raster(path, check_data=False) as src:
        g = grid_info(src)
        if (g.width, g.height) != (grid.width, grid.height) or g.transform != grid.transform:
            raise RasterError(
                f"barrier mask {path} is not on the cost raster's grid ({g.width}×{g.height} "
                f"{tuple(g.transform)[:6]} vs {grid.width}×{grid.height} {tuple(grid.transform)[:6]}); "
                "resample it with gdalwarp -te/-tr to the cost raster"
            )
        if not g.crs.equals(grid.crs):
            from landplan.core.errors import CRSError

            raise CRSError(
                f"barrier mask {path} is in {g.crs.to_string()} but the cost raster is in "
                f"{grid.crs.to_string()}; reproject one to the other first"
            )
        m = src.read(1, masked=True)
    return np.asarray(m.filled(0) != 0)


def barrier_mask(
    barriers: GeoDataFrame | GeoSeries | np.ndarray | str | os.PathLike | None,
    grid: GridInfo,
    /,
) -> np.ndarray | None:
    """Boolean mask of barrier cells: polygons burnt ``all_touched`` (a cell a barrier
    touches is closed), a boolean array on the grid, or a mask raster (non-zero = barrier)."""
    if barriers is None:
        return None
    if isinstance(barriers, np.ndarray):
        if barriers.shape != (grid.height, grid.width):
            raise RasterError(
                f"barrier array has shape {barriers.shape}, the cost raster {(grid.height, grid.width)}"
            )
        return barriers.astype(bool)
    if isinstance(barriers, (str, os.PathLike)):
        return _mask_from_raster(barriers, grid)
    geoms = barriers.geometry if isinstance(barriers, GeoDataFrame) else barriers
    require_same_crs(grid.crs, geoms, raster="the cost raster", layer="the barriers")
    from rasterio.features import rasterize

    shapes = [(g, 1) for g in geoms.values if g is not None and not g.is_empty]
    if not shapes:
        return None
    return rasterize(
        shapes,
        out_shape=(grid.height, grid.width),
        transform=grid.transform,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)


def check_budget(grid: GridInfo, /, *, knight: bool, max_cells: int | None) -> None:
    """Refuse a grid above the cell budget, before reading it."""
    limit = default_max_cells(knight=knight) if max_cells is None else max_cells
    n = grid.width * grid.height
    if n > limit:
        per = BYTES_PER_CELL[16 if knight else 8]
        raise RasterError(
            f"the cost raster has {grid.width}×{grid.height} = {n:,} cells, above the budget of "
            f"{limit:,} cells ({'knight' if knight else '8-neighbour'} moves need ≈ {per} bytes per "
            f"cell, ≈ {n * per / 2**30:.1f} GiB here); raise max_cells (--max-cells, "
            "LANDPLAN_COST_MAX_CELLS) on a larger machine, clip the raster to the study area, "
            "or coarsen it with gdalwarp -tr"
        )


def _cost_dtype(dtype) -> np.dtype:
    """float32 when it holds every value of ``dtype`` exactly, else float64."""
    dtype = np.dtype(dtype)
    small = dtype.kind in "iu" and dtype.itemsize <= 2
    return np.dtype(np.float32 if dtype == np.float32 or small else np.float64)


class _Checker:
    """Closes nodata and barrier cells block by block and collects the invalid costs."""

    def __init__(self, name: str, closed_by_barrier: np.ndarray | None) -> None:
        self.name, self.barrier = name, closed_by_barrier
        self.n_bad, self.first = 0, None

    def block(self, data: np.ndarray, nodata: np.ndarray, r0: int) -> None:
        closed = nodata
        if self.barrier is not None:
            closed = closed | self.barrier[r0 : r0 + data.shape[0]]
        with np.errstate(invalid="ignore"):
            bad = ~closed & ~(np.isfinite(data) & (data > 0))
        if bad.any():
            self.n_bad += int(bad.sum())
            if self.first is None:
                r, c = (int(v[0]) for v in np.nonzero(bad))
                self.first = (r0 + r, c, float(data[r, c]))
        data[closed] = np.nan

    def done(self) -> None:
        if self.first is not None:
            r, c, v = self.first
            raise RasterError(
                f"{self.name}: {self.n_bad:,} passable cells have a cost that is not > 0 "
                f"(e.g. row {r}, col {c}: {v}); costs are per metre and must be positive. "
                "Give them a positive cost, set them to the raster's nodata value, or cover "
                "them with barriers"
            )


def load_cost(
    cost: str | os.PathLike | np.ndarray | CostSurface,
    /,
    *,
    grid: GridInfo | None = None,
    barriers=None,
    knight: bool = False,
    max_cells: int | None = None,
) -> CostSurface:
    """Read and check a cost raster; nodata and barrier cells become NaN (impassable).

    ``cost`` is a raster path, a :class:`CostSurface`, or a 2-D array with ``grid``
    (NaN in an array = nodata).  A passable cell with cost ≤ 0, inf or NaN (a NaN in a file
    that declares another nodata value) → :class:`~landplan.core.errors.RasterError`.
    The raster is read in row blocks into one float32 (or float64) array: memory is that
    array plus a block.
    """
    if isinstance(cost, CostSurface):
        check_budget(cost.grid, knight=knight, max_cells=max_cells)
        # without barriers the check only reads (NaN stays NaN): no copy
        padded = cost.padded if barriers is None else cost.padded.copy()
        grid, name = cost.grid, "the cost surface"
    elif isinstance(cost, np.ndarray):
        if grid is None:
            raise RasterError("a cost array needs grid= (a landplan.raster.grid.GridInfo)")
        if cost.shape != (grid.height, grid.width):
            raise RasterError(f"cost array shape {cost.shape} does not match the grid")
        check_budget(grid, knight=knight, max_cells=max_cells)
        padded, name = padded_like(cost.shape, _cost_dtype(cost.dtype)), "the cost array"
        padded[PAD:-PAD, PAD:-PAD] = cost
    else:
        return _read_cost(cost, barriers=barriers, knight=knight, max_cells=max_cells)
    arr = padded[PAD:-PAD, PAD:-PAD]
    check = _Checker(name, barrier_mask(barriers, grid))
    step = max(1, _READ_CELLS // max(grid.width, 1))
    for r0 in range(0, grid.height, step):
        block = arr[r0 : r0 + step]
        check.block(block, np.isnan(block), r0)
    check.done()
    if isinstance(cost, CostSurface) and barriers is None:
        return cost
    return CostSurface(arr, grid, padded)


def _read_cost(path, *, barriers, knight: bool, max_cells: int | None) -> CostSurface:
    from landplan.core.errors import DataSourceError

    with open_raster(path) as src:
        grid = grid_info(src)
        check_budget(grid, knight=knight, max_cells=max_cells)
        dtype = _cost_dtype(src.dtypes[0])
        nan_nodata = src.nodata is not None and np.isnan(src.nodata)
        check = _Checker(str(path), barrier_mask(barriers, grid))
        padded = padded_like((grid.height, grid.width), dtype)
        arr = padded[PAD:-PAD, PAD:-PAD]
        step = max(1, _READ_CELLS // max(grid.width, 1))
        for r0 in range(0, grid.height, step):
            win = Window(0, r0, grid.width, min(step, grid.height - r0))
            try:
                m = src.read(1, window=win, masked=True, out_dtype=dtype)
            except Exception as exc:
                raise DataSourceError(
                    f"raster {path} cannot be read ({exc}); the file is truncated or corrupt"
                ) from exc
            data = np.asarray(m.data)
            nodata = np.ma.getmaskarray(m)
            if nan_nodata:
                nodata = nodata | np.isnan(data)
            check.block(data, nodata, r0)
            arr[r0 : r0 + data.shape[0]] = data
    check.done()
    return CostSurface(arr, grid, padded)


def source_cells(sources, surface: CostSurface, /) -> np.ndarray:
    """Boolean mask of passable source cells (``gdal_rasterize`` defaults)."""
    if isinstance(sources, np.ndarray):
        mask = sources.astype(bool)
    else:
        geoms = sources.geometry if isinstance(sources, GeoDataFrame) else sources
        if len(geoms) == 0:
            raise EmptyLayerError("no source features to accumulate cost from")
        require_same_crs(surface.grid.crs, geoms, raster="the cost raster", layer="the sources")
        mask = burn(geoms.values, surface.grid)
    inside = int(mask.sum())
    mask &= surface.passable
    if not mask.any():
        why = (
            "all of them are nodata or barrier cells"
            if inside
            else "no source lies inside the cost raster"
        )
        raise EmptyLayerError(f"no source cell to start from: {why}")
    return mask


# --------------------------------------------------------------------------- solver


def _solve(surface: CostSurface, src: np.ndarray, *, knight: bool):
    from landplan.raster._dijkstra import accumulate

    g = surface.grid
    acc, came = accumulate(
        surface.padded, np.flatnonzero(src), g.cellsize_x, g.cellsize_y, knight=knight
    )
    acc[np.isinf(acc)] = np.nan
    return acc, came


# --------------------------------------------------------------------------- API


def cost_distance(
    sources: GeoDataFrame | GeoSeries | np.ndarray,
    cost: str | os.PathLike | np.ndarray | CostSurface,
    /,
    *,
    barriers=None,
    knight: bool = False,
    grid: GridInfo | None = None,
    max_cells: int | None = None,
) -> CostDistance:
    """Accumulated cost (cost units) from ``sources`` over ``cost``, as GRASS ``r.cost``.

    Parameters
    ----------
    sources
        Features in the cost raster's CRS (burnt with the ``gdal_rasterize`` defaults),
        or a boolean array on the grid.
    cost
        Cost per metre (> 0): a raster path, a :class:`CostSurface`, or an array with
        ``grid``.  Nodata cells are impassable.
    barriers
        Impassable cells: polygons (burnt ``all_touched``), a boolean array or a mask raster.
    knight
        16 neighbours (``r.cost -k``) instead of 8.
    max_cells
        Cell budget (default :func:`default_max_cells`); above it → ``RasterError``.
    """
    surface = load_cost(cost, grid=grid, barriers=barriers, knight=knight, max_cells=max_cells)
    src = source_cells(sources, surface)
    n_src = int(src.sum())
    acc, came = _solve(surface, src, knight=knight)
    return CostDistance(acc, came, surface.grid, knight, n_src)


@dataclass(frozen=True)
class WrittenCost:
    """What :func:`write_cost_distance` wrote."""

    path: Path
    cells_reached: int
    max_cost: float  # NaN when no cell is reached


def write_cost_distance(
    result: CostDistance, out: str | os.PathLike, /, *, cog: bool = True
) -> WrittenCost:
    """Write ``result.accumulated`` as float32 (nodata −9999), atomically.

    ``cog=True`` writes a Cloud-Optimised GeoTIFF, ``cog=False`` a tiled GeoTIFF (faster).
    """
    g = result.grid
    reached, top = 0, -math.inf
    with cog_writer(out, grid=g, cog=cog) as dst:
        for r in range(0, g.height, 1024):
            block = result.accumulated[r : r + 1024]
            ok = ~np.isnan(block)
            n = int(ok.sum())
            if n:
                reached += n
                top = max(top, float(block[ok].max()))
            data = np.where(ok, block, NODATA_OUT).astype(np.float32)
            dst.write(data, 1, window=Window(0, r, g.width, block.shape[0]))
    return WrittenCost(Path(out), reached, top if reached else math.nan)


def _parcel_window(grid: GridInfo, bounds) -> Window | None:
    from rasterio.windows import from_bounds

    w = from_bounds(*bounds, transform=grid.transform)
    r0, c0 = max(0, math.floor(w.row_off) - 1), max(0, math.floor(w.col_off) - 1)
    r1 = min(grid.height, math.ceil(w.row_off + w.height) + 1)
    c1 = min(grid.width, math.ceil(w.col_off + w.width) + 1)
    if r1 <= r0 or c1 <= c0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _route(cd: CostDistance, parcel) -> tuple[float, float, object]:
    from rasterio.features import rasterize
    from rasterio.windows import transform as win_transform

    g = cd.grid
    win = _parcel_window(g, parcel.bounds)
    if win is None:  # outside the raster
        return math.nan, math.nan, None
    inside = rasterize(
        [(parcel, 1)],
        out_shape=(int(win.height), int(win.width)),
        transform=win_transform(win, g.transform),
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    acc = cd.accumulated[win.toslices()]
    cand = inside & ~np.isnan(acc)
    if not cand.any():
        return math.nan, math.nan, None
    r, c = np.unravel_index(np.argmin(np.where(cand, acc, np.inf)), acc.shape)
    row, col = int(win.row_off + r), int(win.col_off + c)
    rows, cols = np.divmod(cd.trace(row, col), g.width)
    t = g.transform
    x, y = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    length = float(np.hypot(np.diff(x), np.diff(y)).sum())
    geom = shapely.linestrings(x, y) if len(x) > 1 else shapely.LineString()
    return length, float(cd.accumulated[row, col]), geom


def least_cost_routes(
    parcels: GeoDataFrame,
    networks: GeoDataFrame,
    cost: str | os.PathLike | np.ndarray | CostSurface,
    /,
    *,
    kinds: Sequence[str],
    knight: bool = False,
    status: str = "built",
    barriers=None,
    grid: GridInfo | None = None,
    max_cells: int | None = None,
) -> GeoDataFrame:
    """Least-cost route from each parcel to the nearest network of each kind.

    For each kind the accumulation is seeded at that network's cells; each parcel's route
    starts at its cheapest cell (any cell it covers or touches) and follows the least-cost
    tree to a network cell.  The route is the polyline of cell centres, in the raster CRS.

    Returns
    -------
    GeoDataFrame
        ``parcel_id, kind, route_length_m, route_cost, geometry``, one row per parcel and
        kind.  A parcel on a network cell gets length 0, cost 0 and an empty line; one that
        cannot reach the network (barriers, outside the raster) NaN and no geometry.
    """
    surface = load_cost(cost, grid=grid, barriers=barriers, knight=knight, max_cells=max_cells)
    require_same_crs(surface.grid.crs, parcels, raster="the cost raster", layer="the parcels")
    ids = parcels["parcel_id"] if "parcel_id" in parcels.columns else parcels.index.to_series()
    rows: list[dict] = []
    for kind in kinds:
        feats = select_features(networks, kind=kind, status=status)
        cd = cost_distance(feats, surface, knight=knight)
        for pid, geom in zip(ids.tolist(), parcels.geometry.values, strict=True):
            if geom is None or geom.is_empty:
                length, total, line = math.nan, math.nan, None
            else:
                length, total, line = _route(cd, geom)
            rows.append(
                {
                    "parcel_id": pid,
                    "kind": kind,
                    "route_length_m": length,
                    "route_cost": total,
                    "geometry": line,
                }
            )
    return GeoDataFrame(
        rows or None,
        columns=["parcel_id", "kind", "route_length_m", "route_cost", "geometry"],
        geometry="geometry",
        crs=surface.grid.crs,
    )

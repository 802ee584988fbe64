"""Chunked raster analysis as dask arrays: slope, relief, distance and suitability on a cluster.

Every function here builds a lazy ``dask.array`` whose chunks are computed independently, by
the dask scheduler in force (a ``distributed.Client`` from :func:`landplan.analysis.cluster.dask_client`,
or dask's threads when there is none), and gives the *same numbers* as the single-process
functions it wraps:

* :func:`read_dask` reads a GeoTIFF by windows: each chunk's task opens the file and reads its
  own window (nodata → NaN), so nothing is gathered in one process.
* :func:`slope_dask` / :func:`relief_dask` run :func:`landplan.raster.terrain.slope_array` /
  :func:`landplan.raster.terrain.relief_array` on each chunk grown by a halo
  (``dask.array.map_overlap``: 1 cell for slope, ``window // 2`` for relief) and padded with
  NaN past the raster edges.  Both kernels treat NaN exactly as the whole-array functions treat
  the cells outside the raster (slope: a 3×3 window touching NaN is nodata, so the first and
  last rows and columns are nodata as in ``gdaldem`` without ``-compute_edges``; relief: the
  window ignores NaN, i.e. it is clipped at the edge), and the arithmetic per cell is the same
  float32 sequence, so chunk borders and raster edges give identical values.
* :func:`distance_dask` computes, per chunk, the exact Euclidean distance transform over the
  chunk grown by a halo of ``max_distance_m`` (the tile function of
  :mod:`landplan.raster.distance`): a target farther than the halo cannot be the nearest one
  within ``max_distance_m``.
* :func:`suitability_dask` is the weighted sum of :func:`landplan.raster.suitability.rescale`\\ d
  factors with the hard-constraint masks, chunk by chunk, in the float64 order of
  :func:`landplan.raster.suitability.score_suitability`.
* :func:`write_cog_dask` writes each chunk from its own task to a small GeoTIFF in a staging
  directory beside the output, then turns a VRT over the tiles into the COG with
  ``rasterio.shutil.copy(..., driver="COG")`` (GDAL streams it block by block) and moves it into
  place atomically.  **Workers must share the filesystem of the output directory.**

Not chunked: accumulated cost distance (:mod:`landplan.raster.costdistance`).  Dijkstra's algorithm is
global — the cost of a cell can depend on a path through any other part of the raster, so there
is no bounded halo — and it runs on one node with the whole raster in RAM, within the budget
``landplan.raster.costdistance`` states (``MEMORY_BUDGET_BYTES``, 4 GiB by default: ≈ 143 M
cells, 8 neighbours or knight's moves); above ``max_cells`` it refuses the run before reading
the raster.

Limits: ``compute_edges`` (``gdaldem -compute_edges``) and aspect are single-process only.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from landplan.core.errors import CRSError, DataSourceError, RasterError
from landplan.raster.grid import (
    GDAL_CACHE_BYTES,
    NODATA_OUT,
    TILED_OPTIONS,
    GridInfo,
    copy_to_cog,
    grid_info,
    open_raster,
)

#: default chunk edge (cells): 2048² float32 = 16 MiB per chunk
CHUNK_CELLS = 2048


# --------------------------------------------------------------------------- reading


class _WindowReader:
    """Array-like over one band of a raster: ``reader[rows, cols]`` opens the file and reads
    that window (nodata and masked cells → NaN).  Pickles as its path, so each dask task opens
    the file itself."""

    ndim = 2

    def __init__(self, path: str, shape: tuple[int, int], dtype: np.dtype) -> None:
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)

    def __getitem__(self, key) -> np.ndarray:
        import rasterio
        from rasterio.windows import Window

        rows, cols = (k if isinstance(k, slice) else slice(k, k + 1) for k in key)
        r0, r1, _ = rows.indices(self.shape[0])
        c0, c1, _ = cols.indices(self.shape[1])
        if r1 <= r0 or c1 <= c0:
            return np.empty((max(r1 - r0, 0), max(c1 - c0, 0)), self.dtype)
        with rasterio.open(self.path) as src:
            band = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        return band.astype(self.dtype).filled(np.nan)


def _chunks(chunks: int | tuple[int, int]) -> tuple[int, int]:
    cy, cx = (chunks, chunks) if isinstance(chunks, int) else chunks
    if cy < 1 or cx < 1:
        raise ValueError(f"chunks must be positive cell counts, got {chunks!r}")
    return int(cy), int(cx)


def read_dask(
    path: str | os.PathLike,
    /,
    *,
    chunks: int | tuple[int, int] = CHUNK_CELLS,
    dtype: str = "float32",
    projected: bool = False,
    check_data: bool = False,
):
    """``(dask array, GridInfo)`` of band 1 of ``path``, read lazily window by window.

    Nodata (and cells masked by the dataset's mask) are NaN.  ``dtype`` is ``float32``
    (terrain) or ``float64`` (suitability factors).  The file is checked on opening as by
    :func:`landplan.raster.grid.open_raster` (``projected``, ``check_data``).
    """
    import dask.array as da

    if np.dtype(dtype) not in (np.dtype("float32"), np.dtype("float64")):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    with open_raster(path, projected=projected, check_data=check_data) as src:
        grid = grid_info(src)
    reader = _WindowReader(str(Path(path).resolve()), (grid.height, grid.width), dtype)
    arr = da.from_array(
        reader,
        chunks=_chunks(chunks),
        lock=False,
        asarray=False,
        fancy=False,
        meta=np.empty((0, 0), np.dtype(dtype)),
        name=f"read-{Path(path).name}-{_token(path, chunks, dtype)}",
    )
    return arr, grid


def _token(*parts) -> str:
    from dask.base import tokenize

    p = Path(parts[0])
    stat = p.stat() if p.exists() else None
    return tokenize(str(p.resolve()), stat.st_mtime_ns if stat else 0, *parts[1:])


# --------------------------------------------------------------------------- terrain


def _require_projected(grid: GridInfo, what: str) -> None:
    if grid.crs is None or not grid.crs.is_projected:
        raise CRSError(f"{what} needs a DEM in a projected CRS (metres), got {grid.crs}")


def _slope_block(z, *, cx, cy, units, algorithm):
    from landplan.raster.terrain import slope_array

    return slope_array(z, cx, cy, units=units, algorithm=algorithm)


def _relief_block(z, *, window):
    from landplan.raster.terrain import relief_array

    return relief_array(z, window=window)


def slope_dask(dem, grid: GridInfo, /, *, units: str = "degrees", algorithm: str = "horn"):
    """Slope (float32, NaN = nodata) of a chunked DEM, equal to :func:`terrain.slope_array`.

    A 1-cell halo, NaN past the raster: the raster's first and last rows and columns are
    nodata, as in the single-process function (``compute_edges`` is not offered here).
    """
    import dask.array as da

    from landplan.raster.terrain import SLOPE_UNITS, _check_algorithm

    if units not in SLOPE_UNITS:
        raise ValueError(f"units must be one of {SLOPE_UNITS}, got {units!r}")
    _check_algorithm(algorithm)
    _require_projected(grid, "slope")
    dem = _require_min(dem, 1)
    return da.map_overlap(
        _slope_block, dem.astype(np.float32), depth=1, boundary=np.nan, trim=True,
        dtype=np.float32, meta=np.empty((0, 0), np.float32),
        cx=float(grid.cellsize_x), cy=float(grid.cellsize_y), units=units, algorithm=algorithm,
    )  # fmt: skip


def relief_dask(dem, grid: GridInfo, /, *, window: int):
    """Relief (max − min in ``window``², float32) of a chunked DEM, equal to :func:`terrain.relief_array`.

    The halo is ``window // 2`` cells: an odd window spans that many cells on each side, an
    even one ``window / 2`` before the centre and one fewer after it, so ``window // 2``
    covers both.  NaN past the raster: the window is clipped at the edge, as in the
    single-process function.
    """
    import dask.array as da

    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive number of cells, got {window!r}")
    window = int(window)
    _require_projected(grid, "relief")
    depth = window // 2
    if depth == 0:
        return da.map_blocks(_relief_block, dem.astype(np.float32), window=window, dtype=np.float32)
    dem = _require_min(dem, depth)
    return da.map_overlap(
        _relief_block, dem.astype(np.float32), depth=depth, boundary=np.nan, trim=True,
        dtype=np.float32, meta=np.empty((0, 0), np.float32), window=window,
    )  # fmt: skip


def _require_min(arr, depth: int):
    """map_overlap needs every chunk at least ``depth`` cells: merge a short last chunk into its
    neighbour (a raster of 2050 rows in 2048-row chunks leaves one of 2)."""
    axes = []
    for c in arr.chunks:
        c = list(c)
        if len(c) > 1 and c[-1] < depth:
            c[-2:] = [c[-2] + c[-1]]
        axes.append(tuple(c))
    if min(min(c) for c in axes) < depth:
        raise ValueError(f"chunks of {arr.chunksize} are smaller than the halo of {depth} cells")
    return arr.rechunk(tuple(axes)) if tuple(axes) != arr.chunks else arr


# --------------------------------------------------------------------------- distance


def _distance_block(geoms, grid, win, hy, hx, max_d) -> np.ndarray:
    from landplan.raster.distance import _rasterized_tile

    if len(geoms) == 0:
        return np.full((int(win.height), int(win.width)), np.nan, np.float32)
    return _rasterized_tile(shapely_tree(geoms), geoms, grid, win, hy, hx, max_d)


def shapely_tree(geoms):
    """An STRtree over ``geoms`` (the chunk's few candidate features)."""
    import shapely

    return shapely.STRtree(geoms)


def distance_dask(
    features,
    grid: GridInfo | str | os.PathLike,
    /,
    *,
    max_distance_m: float,
    kind: str | None = None,
    status: str = "built",
    chunks: int | tuple[int, int] = CHUNK_CELLS,
):
    """Distance (m, float32; NaN beyond ``max_distance_m``) to the nearest burnt feature cell.

    Equal to ``distance.distance_array(features, grid, max_distance_m=...)`` (rasterized mode):
    each chunk's task burns, on the chunk grown by ``ceil(max_distance_m / cell) + 1`` cells,
    only the features that reach that grown window (chosen here with an STRtree, so a task
    carries its own few geometries), and runs the exact EDT there.  ``max_distance_m`` is
    required: it is what bounds the halo.
    """
    import dask
    import dask.array as da
    import shapely
    from rasterio.windows import Window

    from landplan.raster.distance import (
        _check_crs,
        _grown,
        _halo,
        _window_bounds,
        read_grid,
        select_features,
    )

    if max_distance_m is None or not max_distance_m > 0:
        raise RasterError(
            f"chunked distance needs max_distance_m > 0 (it bounds the halo), not {max_distance_m}"
        )
    label = "the grid" if isinstance(grid, GridInfo) else str(grid)
    grid = read_grid(grid)
    feats = select_features(features, kind=kind, status=status)
    _check_crs(feats, grid, label)
    geoms = np.asarray(feats.values, dtype=object)
    if not shapely.is_valid(geoms).all():
        geoms = shapely.make_valid(geoms)
    tree = shapely.STRtree(geoms)
    hy, hx = _halo(grid, max_distance_m)
    ry, rx = _chunks(chunks)
    rows = []
    for r0 in range(0, grid.height, ry):
        row = []
        for c0 in range(0, grid.width, rx):
            win = Window(c0, r0, min(rx, grid.width - c0), min(ry, grid.height - r0))
            cand = tree.query(shapely.box(*_window_bounds(_grown(win, grid, hy, hx), grid)))
            task = dask.delayed(_distance_block, pure=True)(
                geoms[np.sort(cand)], grid, win, hy, hx, float(max_distance_m)
            )
            row.append(da.from_delayed(task, (int(win.height), int(win.width)), dtype=np.float32))
        rows.append(row)
    return da.block(rows)


# --------------------------------------------------------------------------- suitability


@dataclass(frozen=True)
class ChunkedSuitability:
    """The lazy suitability surface (float32, 0–100, NaN = nodata) and what it was made of."""

    score: object  # dask array
    masked: object  # dask bool array: valid cells set to 0 by a hard-constraint mask
    grid: GridInfo
    weights: dict[str, float]


def _score_block(*blocks, weights: Sequence[float], transforms: Sequence):
    from landplan.raster.suitability import rescale

    factors = blocks[: len(weights)]
    masks = blocks[len(weights) :]
    score = np.zeros(factors[0].shape)
    for w, t, x in zip(weights, transforms, factors, strict=True):
        score += w * rescale(x, t)
    score *= 100.0
    block_mask = np.zeros(score.shape, dtype=bool)
    for m in masks:
        block_mask |= np.nan_to_num(m, nan=0.0) > 0
    valid = ~np.isnan(score)
    score[block_mask & valid] = 0.0
    return np.where(valid, score, np.nan).astype(np.float32)


def _masked_block(score, *masks):
    block_mask = np.zeros(score.shape, dtype=bool)
    for m in masks:
        block_mask |= np.nan_to_num(m, nan=0.0) > 0
    return block_mask & ~np.isnan(score)


def suitability_dask(
    config, /, *, chunks: int | tuple[int, int] = CHUNK_CELLS
) -> ChunkedSuitability:
    """The suitability surface of ``config`` as a dask array, equal to ``score_suitability``'s values.

    The rasters are checked for one grid and CRS as in the single-process function; each chunk
    sums ``weight · rescale(factor)`` in float64 in the factor order, × 100, masks to 0, and
    rounds to float32 once, exactly as :func:`landplan.raster.suitability.score_suitability` does.
    """
    import dask.array as da

    from landplan.raster.suitability import _open_aligned, factor_weights

    weights = factor_weights(config)
    paths = {f.name: f.raster for f in config.factors} | {
        f"mask{i}": p for i, p in enumerate(config.masks)
    }
    handles = _open_aligned(paths)
    try:
        grid = grid_info(handles[config.factors[0].name])
    finally:
        for ds in handles.values():
            ds.close()
    factors = [read_dask(f.raster, chunks=chunks, dtype="float64")[0] for f in config.factors]
    masks = [read_dask(p, chunks=chunks, dtype="float64")[0] for p in config.masks]
    score = da.map_blocks(
        _score_block, *factors, *masks, dtype=np.float32, meta=np.empty((0, 0), np.float32),
        weights=[weights[f.name] for f in config.factors],
        transforms=[f.rescale for f in config.factors],
    )  # fmt: skip
    masked = da.map_blocks(_masked_block, score, *masks, dtype=bool)
    return ChunkedSuitability(score, masked, grid, weights)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class ChunkedWrite:
    """What :func:`write_cog_dask` wrote, with figures gathered from the tiles."""

    path: Path
    tiles: int
    cells: int  # cells with a value
    sum: float  # sum of the values (float64)
    max: float  # largest value (NaN when there is none)


def _write_tile(block: np.ndarray, path: str, grid: GridInfo, r0: int, c0: int, nodata: float):
    import rasterio
    from rasterio.windows import Window
    from rasterio.windows import transform as win_transform

    block = np.asarray(block, dtype=np.float32)
    valid = ~np.isnan(block)
    h, w = block.shape
    profile = {
        "driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": "float32",
        "crs": grid.crs, "transform": win_transform(Window(c0, r0, w, h), grid.transform),
        "nodata": nodata, "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.where(valid, block, np.float32(nodata)), 1)
    n = int(valid.sum())
    top = float(block[valid].max()) if n else float("nan")
    return n, float(block[valid].astype(np.float64).sum()), top


def _vrt_xml(grid: GridInfo, tiles: list[tuple[str, int, int, int, int]], nodata: float) -> str:
    t = grid.transform
    srs = escape(grid.crs.to_wkt()) if grid.crs is not None else ""
    parts = [
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">',
        f"  <SRS>{srs}</SRS>",
        f"  <GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>",
        '  <VRTRasterBand dataType="Float32" band="1">',
        f"    <NoDataValue>{nodata!r}</NoDataValue>",
    ]
    for name, r0, c0, h, w in tiles:
        parts += [
            "    <SimpleSource>",
            f'      <SourceFilename relativeToVRT="1">{escape(name)}</SourceFilename>',
            "      <SourceBand>1</SourceBand>",
            f'      <SourceProperties RasterXSize="{w}" RasterYSize="{h}" DataType="Float32" '
            f'BlockXSize="{w}" BlockYSize="1" />',
            f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}" />',
            f'      <DstRect xOff="{c0}" yOff="{r0}" xSize="{w}" ySize="{h}" />',
            "    </SimpleSource>",
        ]
    parts += ["  </VRTRasterBand>", "</VRTDataset>", ""]
    return "\n".join(parts)


def write_cog_dask(
    array,
    grid: GridInfo,
    out_path: str | os.PathLike,
    /,
    *,
    nodata: float = NODATA_OUT,
    on_futures: Callable[[list], None] | None = None,
    cog: bool = True,
) -> ChunkedWrite:
    """Write a 2-D dask array (NaN = nodata) as a float32 COG without gathering it.

    ``cog=False`` writes a tiled GeoTIFF instead (:data:`landplan.raster.grid.TILED_OPTIONS`).

    Each chunk's task writes its own GeoTIFF tile into a staging directory created next to
    ``out_path``; **the dask workers must therefore share the filesystem of the output
    directory** (true for a ``LocalCluster``; on a multi-host cluster use a shared mount).
    The tiles are then joined by a VRT and converted here with
    ``rasterio.shutil.copy(vrt, ..., driver="COG")``, which GDAL streams block by block
    (bounded memory), and the COG is moved over ``out_path`` with ``os.replace``.  A
    failure leaves ``out_path`` untouched and removes the staging directory.

    With a ``distributed`` client active, ``on_futures`` receives the list of tile futures
    (e.g. ``distributed.progress``) before they are gathered.
    """
    import dask
    from rasterio.shutil import copy as rio_copy

    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise DataSourceError(
            f"cannot write {out_path}: directory {out_path.parent} does not exist"
        )
    if array.shape != (grid.height, grid.width):
        raise RasterError(
            f"array shape {array.shape} is not the grid's {(grid.height, grid.width)}"
        )
    stage = Path(
        tempfile.mkdtemp(prefix=f".{out_path.stem}.", suffix=".tiles", dir=out_path.parent)
    )
    final = stage / "out.cog.tif"
    try:
        blocks = array.to_delayed()
        tasks, tiles = [], []
        r0 = 0
        for i, h in enumerate(array.chunks[0]):
            c0 = 0
            for j, w in enumerate(array.chunks[1]):
                name = f"t{i:05d}_{j:05d}.tif"
                tasks.append(dask.delayed(_write_tile, pure=False)(
                    blocks[i, j], str(stage / name), grid, r0, c0, float(nodata)))  # fmt: skip
                tiles.append((name, r0, c0, h, w))
                c0 += w
            r0 += h
        results = _compute(tasks, on_futures)
        vrt = stage / "mosaic.vrt"
        vrt.write_text(_vrt_xml(grid, tiles, float(nodata)), encoding="utf-8")
        import rasterio

        if cog:
            copy_to_cog(vrt, final)
        else:
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
                rio_copy(vrt, final, driver="GTiff", BIGTIFF="IF_SAFER", **TILED_OPTIONS)
        os.replace(final, out_path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    cells = sum(r[0] for r in results)
    tops = [r[2] for r in results if r[0]]
    return ChunkedWrite(
        out_path, len(tasks), cells, math.fsum(r[1] for r in results),
        max(tops) if tops else float("nan"),
    )  # fmt: skip


def show_progress(futures: list, /) -> None:
    """Print ``distributed.progress`` for the futures (a text bar; blocks until they finish)."""
    from distributed import progress, wait

    progress(futures)
    wait(futures)


def _compute(tasks: list, on_futures: Callable[[list], None] | None) -> list:
    import dask

    client = None
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_client

        client = get_client()
    if client is None:
        return list(dask.compute(*tasks))
    futures = client.compute(tasks)
    if on_futures is not None:
        on_futures(futures)
    return client.gather(futures)

"""Exact zonal statistics per parcel (exactextract), not cell-centre sampling.

A cell half inside a parcel counts with weight ½: ``mean`` is coverage-weighted, ``min``
and ``max`` look at every cell the parcel touches, nodata cells are left out.
:func:`share_above` is how "the share of a parcel steeper than the slope limit" is measured.

The raster and the parcels must be in the same CRS (:class:`~landplan.core.errors.CRSError`
otherwise: landplan never reprojects inside a computation).

Several rasters on one grid (the DEM, its slope, the suitability surface, ...) take **one**
exactextract pass (:func:`grid_cells`): it reports the coverage fraction and the index of every
cell each parcel touches (of a stand-in raster whose value is the cell index), the rasters'
values at those cells are looked up afterwards, and the statistics are computed from the cells
(:class:`GridCells`) with exactextract's own arithmetic — the same cells in the same order,
float64 sums, ties of ``majority`` to the larger value — so they equal, to the bit, what one
exactextract call per raster gives.  Parcels go to exactextract as WKB, encoded once, without a
GeoJSON round trip per feature.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import rasterio
from exactextract.feature import Feature, FeatureSource
from exactextract.raster import RasterSource
from exactextract.writer import Writer

from landplan.core.errors import CRSError, ManifestError, RasterError
from landplan.raster.grid import (
    GDAL_CACHE_BYTES,
    grid_info,
    nodata_in,
    open_raster,
    require_same_crs,
)

_ROW = "_landplan_row"
DEFAULT_STATS = ("mean", "min", "max")
#: exactextract reads the raster in chunks of at most this many cells and finds the
#: parcels each chunk touches ("raster-sequential"): 2–3× faster than one read per
#: parcel for thousands of parcels, with memory bounded by the chunk
_EXACTEXTRACT = {"strategy": "raster-sequential", "max_cells_in_memory": 4_000_000}
#: statistics :class:`GridCells` computes itself (exactly as exactextract does)
CELL_STATS = ("mean", "min", "max", "sum", "count", "majority")
#: (parcel, value) pairs up to which ``majority`` tallies in one dense table
_DENSE_MAJORITY = 1 << 24
#: cells per block of parcels whose statistics are computed together (bounds the temporaries:
#: with two threads, the earthwork columns of 50 000 parcels on a 4000² DEM peak ~100 MiB above
#: the cells at this size, ~200 MiB at twice it, in the same time)
CHUNK_CELLS = 1 << 20
#: rasters up to this many cells are read whole to look up the parcels' cells (float32: 128 MiB);
#: larger ones band by band, the cells sorted by band first
WHOLE_CELLS = 1 << 25
#: about this many cells per band then
BAND_CELLS = 1 << 22
#: cells (estimated from the parcels' bounding boxes) per exactextract run
BATCH_CELLS = 1 << 22
#: cells looked up at a time (their intp indices and values: 12 MiB)
_PIECE = 1 << 20
#: parcels exactextract takes between two offers of the GIL to other threads (about 1 ms)
_YIELD_EVERY = 16
#: threads computing blocks of parcels side by side
WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class ParcelCells:
    """Every (parcel, cell) pair with data: ``row`` (parcel position), ``coverage``, ``value``.

    ``coverage`` is the fraction of the cell inside the parcel (0–1]; ``cell_area`` is
    the area of one cell in CRS units (m²).  ``row`` is ascending: a parcel's cells are
    contiguous.
    """

    row: np.ndarray
    coverage: np.ndarray
    value: np.ndarray
    n_parcels: int
    cell_area: float

    def groups(self):
        """Yield ``(row, coverage, value)`` for each parcel (empty arrays where no cell has data)."""
        bounds = np.searchsorted(self.row, np.arange(self.n_parcels + 1))
        for i in range(self.n_parcels):
            s = slice(bounds[i], bounds[i + 1])
            yield i, self.coverage[s], self.value[s]


@dataclass(frozen=True)
class GridCells:
    """Every cell each parcel touches on a grid shared by several rasters, found in one pass.

    Parcel ``i``'s cells are ``offsets[i]:offsets[i + 1]`` of ``coverage`` (float32, as
    exactextract computes it) and ``cell`` (the cell's index, ``row * width + col``);
    ``sent`` says which parcels had a geometry exactextract could take.  Each
    raster's values there are read on demand (:meth:`values`, band by band), and statistics
    are computed a block of parcels at a time (:meth:`chunks`), so memory stays a few arrays
    of one value per cell.
    """

    offsets: np.ndarray
    coverage: np.ndarray
    cell: np.ndarray
    sent: np.ndarray
    cell_area: float
    rasters: dict[str, str | os.PathLike]
    shape: tuple[int, int]
    transform: object
    crs: object
    like: str
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def on(self, rasters: Mapping[str, str | os.PathLike], /, *, projected: bool = False):
        """The same cells with ``rasters`` (name → path, all on this grid) to read values from."""
        rasters = dict(rasters)
        for path in rasters.values():  # (a raster all nodata just gives NaN statistics)
            with open_raster(path, projected=projected, check_data=False) as src:
                if src.crs != self.crs:
                    raise CRSError(
                        f"raster {path} is in {src.crs.to_string()} but raster {self.like} is in "
                        f"{self.crs.to_string()}; warp one onto the other's grid first"
                    )
                if src.shape != self.shape or not src.transform.almost_equals(self.transform):
                    raise RasterError(
                        f"raster {path} is not on the grid of {self.like} "
                        f"(shape {src.shape} vs {self.shape}); resample it to that grid first"
                    )
        return dataclasses.replace(self, rasters=rasters, _cache={})

    @property
    def n_parcels(self) -> int:
        return len(self.offsets) - 1

    def values(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Raster ``name``'s value at every cell, and which of them hold data (``None``: all)."""
        if self._cache.get("name") != name:
            if "bands" not in self._cache:
                self._cache["bands"] = _Bands.of(self.cell, self.shape)
            self._cache.pop("values", None)  # one raster's values at a time
            self._cache["values"] = _gather(self.rasters[name], self.cell, self._cache["bands"])
            self._cache["name"] = name
        return self._cache["values"]

    def _blocks(self, cells: int) -> list[tuple[int, int]]:
        """Blocks ``(first, stop)`` of consecutive parcels with about ``cells`` cells each."""
        off, n = self.offsets, self.n_parcels
        cuts = np.searchsorted(off, np.arange(1, -(-off[-1] // cells)) * cells)
        bounds = np.unique(np.r_[0, np.clip(cuts, 0, n), n])
        return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]

    def _block(self, name: str, a: int, b: int, native: bool) -> ParcelCells:
        v, ok = self.values(name)
        off = self.offsets
        s, e = off[a], off[b]
        row = np.repeat(np.arange(b - a, dtype=np.intp), np.diff(off[a : b + 1]))
        cov, val = self.coverage[s:e], v[s:e]
        if ok is not None:
            keep = ok[s:e]
            row, cov, val = row[keep], cov[keep], val[keep]
        if not native:
            cov, val = cov.astype(np.float64), val.astype(np.float64)
        return ParcelCells(row, cov, val, b - a, self.cell_area)

    def chunks(self, name: str, /, *, cells: int = CHUNK_CELLS, native: bool = False):
        """Yield ``(first, ParcelCells)`` for blocks of consecutive parcels, about ``cells`` cells each.

        Each :class:`ParcelCells` holds the cells with data of raster ``name`` for parcels
        ``first`` … ``first + n_parcels - 1`` (``row`` counts from 0 within the block),
        coverage and values as float64 (``native``: float32 coverage, the raster's dtype).
        """
        for a, b in self._blocks(cells):
            yield a, self._block(name, a, b, native)

    def map(self, name: str, fn, /, *, cells: int = CHUNK_CELLS, native: bool = False) -> list:
        """``fn(ParcelCells)`` of every block of :meth:`chunks`, in order, on :data:`WORKERS` threads.

        numpy releases the GIL in the heavy parts, so blocks of parcels run side by side.
        """
        self.values(name)  # read once, before the threads share it
        blocks = self._blocks(cells)
        if WORKERS < 2 or len(blocks) < 2:
            return [fn(self._block(name, a, b, native)) for a, b in blocks]
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="landplan-cells") as pool:
            return list(pool.map(lambda ab: fn(self._block(name, *ab, native)), blocks))

    def parcel_cells(self, name: str) -> ParcelCells:
        """The cells with data of raster ``name``, all parcels at once (float64)."""
        return self._block(name, 0, self.n_parcels, False)

    def stats(self, name: str, stats, /, *, above: float | None = None) -> dict[str, np.ndarray]:
        """exactextract's ``stats`` (any of :data:`CELL_STATS`) of raster ``name`` per parcel.

        With ``above``, also ``share_above`` (:meth:`share_above`).  Parcels without a cell
        with data get NaN (``count`` and ``sum``: 0), parcels without a usable geometry NaN
        throughout, as from :func:`zonal_stats`.
        """

        def block(c: ParcelCells) -> dict[str, np.ndarray]:
            out = cell_stats(c.row, c.coverage, c.value, c.n_parcels, stats)
            if above is not None:
                out["share_above"] = _share(c, above)
            return out

        parts = self.map(name, block, native=True)
        out = {}
        unsent = ~self.sent
        for s in [*stats, *(["share_above"] if above is not None else [])]:
            pieces = [p[s] for p in parts]
            if len({x.dtype for x in pieces}) > 1 or (unsent.any() and pieces[0].dtype.kind != "f"):
                pieces = [x.astype(np.float64) for x in pieces]  # integer majorities and NaN
            out[s] = np.concatenate(pieces) if pieces else np.empty(0)
            if unsent.any():
                out[s][unsent] = np.nan  # as zonal_stats: no geometry, no statistics
        return out

    def share_above(self, name: str, threshold: float) -> np.ndarray:
        """Coverage-weighted share (0–1) of each parcel's cells with data where value > ``threshold``."""
        return self.stats(name, (), above=threshold)["share_above"]


def _share(c: ParcelCells, threshold: float) -> np.ndarray:
    cov = c.coverage.astype(np.float64)
    total = np.bincount(c.row, weights=cov, minlength=c.n_parcels)
    above = np.bincount(c.row, weights=cov * (c.value > threshold), minlength=c.n_parcels)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, above / total, np.nan)


def cell_stats(row, coverage, value, n: int, stats) -> dict[str, np.ndarray]:
    """Per-parcel statistics of cells with data, computed the way exactextract's RasterStats does.

    ``row`` is ascending; ``coverage`` the float32 coverage fractions exactextract reports.
    ``sum`` and ``count`` are float64 sums in cell order and ``mean`` their quotient;
    ``min``/``max``/``majority`` are cell values (``majority``: the value covering most of the
    parcel, the larger on a tie).  Parcels without cells get NaN (``sum``, ``count``: 0).
    """
    unknown = sorted(set(stats) - set(CELL_STATS))
    if unknown:
        raise ValueError(f"cell statistics cannot compute {unknown}; they know {CELL_STATS}")
    cov = np.asarray(coverage).astype(np.float64)
    out: dict[str, np.ndarray] = {}
    count = np.bincount(row, weights=cov, minlength=n)
    if {"sum", "mean"} & set(stats):
        total = np.bincount(row, weights=cov * value.astype(np.float64), minlength=n)
    cells = np.bincount(row, minlength=n)
    has = cells > 0
    starts = np.cumsum(cells) - cells
    for s in stats:
        if s == "count":
            out[s] = count
        elif s == "sum":
            out[s] = total
        elif s == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                out[s] = total / count
        elif s in ("min", "max"):
            ufunc = np.minimum if s == "min" else np.maximum
            res = np.full(n, np.nan)
            if has.any():
                res[has] = ufunc.reduceat(value, starts[has])
            out[s] = res
        else:
            out[s] = _majority(row, cov, value, n, has)
    return out


def _majority(row, cov, value, n: int, has: np.ndarray) -> np.ndarray:
    codes, inverse = _codes(value)
    k = len(codes)
    res = np.full(n, np.nan)
    if k == 0:
        return res
    if n * k <= _DENSE_MAJORITY:
        table = np.bincount(row * k + inverse, weights=cov, minlength=n * k).reshape(n, k)
        best = k - 1 - np.argmax(table[:, ::-1], axis=1)  # the larger value on a tie
        res[has] = codes[best[has]]
    else:  # many distinct values: tally the (parcel, value) pairs that occur
        pairs, pair_of_cell = np.unique(row * k + inverse, return_inverse=True)
        sums = np.bincount(pair_of_cell, weights=cov)
        p_row, p_code = pairs // k, pairs % k
        order = np.lexsort((p_code, sums, p_row))  # per parcel: largest sum, then largest value
        last = np.r_[p_row[order][1:] != p_row[order][:-1], True]
        top = order[last]
        res[p_row[top]] = codes[p_code[top]]
    if np.issubdtype(value.dtype, np.integer) and has.all():
        return res.astype(np.int64)  # as exactextract's integer results come out of pandas
    return res


def _codes(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (ascending) and each cell's position among them (``np.unique``)."""
    if value.dtype.kind in "iu" and value.dtype.itemsize <= 2:  # a lookup table, no sort
        low = int(np.iinfo(value.dtype).min)
        shifted = value.astype(np.intp) - low if low else value
        codes = np.flatnonzero(np.bincount(shifted, minlength=1))
        lookup = np.zeros(len(codes) and codes[-1] + 1, np.intp)
        lookup[codes] = np.arange(len(codes))
        return (codes + low).astype(value.dtype), lookup[shifted]
    return np.unique(value, return_inverse=True)


def grid_cells(
    rasters: Mapping[str, str | os.PathLike], parcels, /, *, projected: bool = False
) -> GridCells:
    """The cells each parcel touches on the grid ``rasters`` (name → path) share, in one pass.

    exactextract computes the coverage fraction of every cell each parcel touches once, for
    all the rasters; their values are read afterwards (:meth:`GridCells.values`).  The rasters
    must share one grid (size, transform and CRS) and the parcels' CRS.  Parcels without a
    usable geometry (:func:`usable_geometries`) get no cells.
    """
    if not rasters:
        raise ValueError("grid_cells needs at least one raster")
    rasters = dict(rasters)
    first = next(iter(rasters.values()))
    return locate_cells(first, parcels, projected=projected).on(rasters, projected=projected)


def locate_cells(like: str | os.PathLike, parcels, /, *, projected: bool = False) -> GridCells:
    """The cells each parcel touches on the grid of raster ``like``, without any raster's values.

    :meth:`GridCells.on` attaches the rasters (on that grid) to read values from.
    """
    with open_raster(like, projected=projected) as ref:
        return locate_cells_on(ref, parcels, like=like)


def locate_cells_on(ref, parcels, /, *, like: str | os.PathLike) -> GridCells:
    """:func:`locate_cells` on the grid of an open dataset ``ref`` (a file, or a warped VRT
    of the raster that will be written as ``like``, which names the grid in messages)."""
    require_same_crs(ref.crs, parcels, raster=f"raster {like}")
    offsets, cov, cell, sent = _collect_cells(_CellIndex(ref), parcels)
    return GridCells(offsets, cov, cell, sent, grid_info(ref).cell_area, {}, ref.shape,
                     ref.transform, ref.crs, str(like))  # fmt: skip


def _collect_cells(index: _CellIndex, parcels):
    """``(offsets, coverage, cell, sent)``: parcel i's cells are ``offsets[i]:offsets[i + 1]``.

    The parcels go to exactextract in batches of about :data:`BATCH_CELLS` cells (by their
    bounding boxes), so what exactextract keeps until the end of a run stays small; every
    batch sees the same raster chunks, so the cells and fractions are those of a single run.
    """
    import shapely

    n = len(parcels)
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    sent = usable_geometries(geoms)
    rows = np.flatnonzero(sent)
    srs = parcels.crs.to_wkt() if parcels.crs is not None else None
    lengths = np.zeros(n, np.intp)
    covs, cells = [np.empty(0, np.float32)], [np.empty(0, index.dtype)]
    if len(rows):
        x0, y0, x1, y1 = shapely.bounds(geoms[rows]).T
        est = np.cumsum((x1 - x0 + index.res()[0]) * (y1 - y0 + index.res()[1])) / index.cell_area
        cuts = np.searchsorted(est, np.arange(1, -(-est[-1] // BATCH_CELLS)) * BATCH_CELLS)
        for batch in np.split(rows, np.unique(cuts[(cuts > 0) & (cuts < len(rows))])):
            features = _Features(shapely.to_wkb(geoms[batch]).tolist(), batch.tolist(), srs)
            cov, cell, lengths[batch] = _run_cells(index, features)
            covs.append(cov)
            cells.append(cell)
    return np.r_[0, np.cumsum(lengths)], np.concatenate(covs), np.concatenate(cells), sent


def _run_cells(index: _CellIndex, features: _Features):
    """One exactextract run: the coverage and cell index arrays, and the cells per feature."""
    from exactextract.operation import Operation
    from exactextract.processor import RasterSequentialProcessor

    ops = [Operation("coverage", "coverage", index), Operation("values", "cell", index)]
    dtypes = {"coverage": np.dtype(np.float32), "cell": index.dtype}
    writer = _Collect(dtypes)
    proc = RasterSequentialProcessor(features, writer, ops, [_ROW])
    proc.set_max_cells_in_memory(_EXACTEXTRACT["max_cells_in_memory"])
    proc.process()
    writer.finish()
    cols = writer.columns
    for name, dtype in dtypes.items():  # a parcel off the grid may come back without arrays
        none = np.empty(0, dtype)
        cols[name] = [none if a is None else a for a in cols[name]]
    if cols.pop(_ROW) != features.rows:
        raise RuntimeError("exactextract returned the parcels out of order")
    lengths = [len(a) for a in cols["coverage"]]
    cov = np.concatenate(cols.pop("coverage"))
    cell = np.concatenate(cols.pop("cell"))
    if len(cell) != len(cov):
        raise RuntimeError("exactextract returned coverage and cells of different lengths")
    return cov, cell, lengths


@dataclass(frozen=True)
class _Bands:
    """The cells grouped by band of raster rows: ``order[start[b]:start[b + 1]]`` lie in band b.

    A raster of up to :data:`WHOLE_CELLS` cells is one band (``order`` is ``None``: all cells).
    """

    rows: int
    width: int
    order: np.ndarray | None
    start: np.ndarray

    @classmethod
    def of(cls, cell: np.ndarray, shape: tuple[int, int]) -> _Bands:
        height, width = shape
        if height * width <= WHOLE_CELLS:
            return cls(max(height, 1), width, None, np.array([0, len(cell)]))
        rows = max(512, BAND_CELLS // max(width, 1) // 512 * 512)  # whole 512-row tiles
        n_bands = -(-height // rows)
        band = (cell // (rows * width)).astype(np.uint16 if n_bands < 1 << 16 else np.int64)
        order = np.argsort(band, kind="stable")  # a radix sort for uint16
        start = np.searchsorted(band[order], np.arange(n_bands + 1))
        if len(cell) < np.iinfo(np.int32).max:
            order = order.astype(np.int32)
        return cls(rows, width, order, start)


def _gather(path, cell: np.ndarray, bands: _Bands) -> tuple[np.ndarray, np.ndarray | None]:
    """Values of raster ``path`` at ``cell`` (read band by band) and which hold data.

    Cells are without data as exactextract's rasterio source would mask them: the nodata
    value, the dataset's mask, NaN.
    """
    from rasterio.enums import MaskFlags
    from rasterio.windows import Window

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), rasterio.open(path) as src:
        flags = set(src.mask_flag_enums[0])
        scale, offset = src.scales[0], src.offsets[0]
        plain = scale == 1.0 and offset == 0.0 and flags <= {MaskFlags.nodata, MaskFlags.all_valid}
        dtype = np.dtype(src.dtypes[0]) if plain else np.dtype(np.float64)
        out = np.empty(len(cell), dtype)
        for b in range(len(bands.start) - 1):
            s, e = bands.start[b], bands.start[b + 1]
            if s == e:
                continue
            top = b * bands.rows
            win = Window(0, top, src.width, min(bands.rows, src.height - top))
            if plain:
                a = src.read(1, window=win)
            else:  # as exactextract's rasterio source: masked, scaled, then NaN where masked
                m = src.read(1, window=win, masked=True)
                a = np.ma.filled(m.astype(np.float64) * scale + offset, np.nan)
            flat, first = a.ravel(), top * bands.width
            for p in range(s, e, _PIECE):  # intp indices, a piece at a time: numpy's fast path
                if bands.order is None:  # the whole raster
                    out[p : p + _PIECE] = flat[cell[p : p + _PIECE].astype(np.intp)]
                else:
                    idx = bands.order[p : min(e, p + _PIECE)].astype(np.intp)
                    out[idx] = flat[cell[idx].astype(np.intp) - first]
        bad = None
        nodata = nodata_in(dtype, src.nodata) if plain and MaskFlags.nodata in flags else None
        if nodata is not None:
            bad = np.isnan(out) if np.isnan(nodata) else out == nodata
        if dtype.kind == "f":
            bad = np.isnan(out) if bad is None else bad | np.isnan(out)
    if bad is None or not bad.any():
        return out, None
    return out, ~bad


def zonal_stats(
    raster_path: str | os.PathLike,
    parcels,
    /,
    *,
    stats: tuple[str, ...] | list[str] = DEFAULT_STATS,
    id_field: str | None = None,
) -> pd.DataFrame:
    """One row per parcel (same order) with the exactextract ``stats`` of the raster.

    Parameters
    ----------
    raster_path
        Single-band raster in the parcels' CRS.
    parcels
        GeoDataFrame of polygons.
    stats
        exactextract operation names: ``mean``, ``min``, ``max``, ``sum``, ``count``
        (covered cells, fractional), ``median``, ``stdev``, ``majority``, ...
    id_field
        Column copied into the result as the first column (else the parcels' index).
    """
    stats = [s.strip() for s in stats if s.strip()]
    if not stats:
        raise ValueError("stats must name at least one statistic, e.g. mean,min,max")
    ids = _ids(parcels, id_field)
    with open_raster(raster_path, projected=False) as src:
        require_same_crs(src.crs, parcels, raster=f"raster {raster_path}")
    try:
        res = _extract(raster_path, parcels, stats)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"exactextract refused stats {stats}: {exc}") from exc
    # parcels without a usable geometry were not sent: their row is all NaN
    res = res.set_index(_ROW).reindex(np.arange(len(parcels))).reset_index(drop=True)
    res.insert(0, ids.name, ids.to_numpy())
    return res


def parcel_cells(
    raster_path: str | os.PathLike, parcels, /, *, projected: bool = True
) -> ParcelCells:
    """The exact coverage fraction and value of every raster cell with data each parcel touches."""
    return grid_cells({"value": raster_path}, parcels, projected=projected).parcel_cells("value")


def share_above(
    raster_path: str | os.PathLike,
    parcels,
    threshold: float,
    /,
    *,
    id_field: str | None = None,
) -> pd.Series:
    """Coverage-weighted share (0–1) of each parcel's area with data where raster > ``threshold``.

    The denominator is the parcel area covered by cells with data (nodata cells and
    parts outside the raster are left out); a parcel with no data gets NaN.
    """
    ids = _ids(parcels, id_field)
    share = grid_cells({"value": raster_path}, parcels).share_above("value", threshold)
    return pd.Series(share, index=pd.Index(ids.to_numpy(), name=ids.name), name="share_above")


def _extract(raster_path, parcels, ops) -> pd.DataFrame:
    """exactextract with landplan's strategy, a bounded GDAL cache, and the row number kept."""
    from exactextract import exact_extract

    features = _Features.of(parcels)
    if features.count() == 0:
        return pd.DataFrame({_ROW: np.empty(0, dtype=np.int64), **{op: [] for op in ops}})
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        cols = exact_extract(str(raster_path), features, list(ops), include_cols=[_ROW],
                             output=_Collect(), **_EXACTEXTRACT)  # fmt: skip
    return pd.DataFrame(cols, copy=False)


def usable_geometries(geoms) -> np.ndarray:
    """Polygons exactextract can take: present, finite coordinates, valid, with area.

    exactextract raises "Failed to parse geometry" on the rest; they are never sent to it.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if ok.any():
        sub = geoms[ok]
        coords, index = shapely.get_coordinates(sub, return_index=True)
        finite = np.ones(len(sub), dtype=bool)
        np.logical_and.at(finite, index, np.isfinite(coords).all(axis=1))
        good = finite & shapely.is_valid(sub) & (shapely.area(sub) > 0)
        ok[ok] = good
    return ok


# --------------------------------------------------------------------------- exactextract I/O


class _Feature(Feature):
    """One parcel as exactextract reads it: WKB and the parcel's row number."""

    def __init__(self, wkb: bytes, row: int):
        Feature.__init__(self)
        self._wkb, self._row = wkb, row

    def geometry(self):
        return self._wkb

    def get(self, name):
        return self._row

    def fields(self):
        return [_ROW]


class _Features(FeatureSource):
    """The usable parcels, encoded to WKB once (vectorised), with their row numbers."""

    def __init__(self, wkbs, rows, srs_wkt):
        super().__init__()
        self._wkbs, self._rows, self._srs = wkbs, rows, srs_wkt

    @classmethod
    def of(cls, parcels) -> _Features:
        import shapely

        geoms = np.asarray(parcels.geometry.values, dtype=object)
        keep = usable_geometries(geoms)
        srs = parcels.crs.to_wkt() if parcels.crs is not None else None
        return cls(shapely.to_wkb(geoms[keep]).tolist(), np.flatnonzero(keep).tolist(), srs)

    @property
    def rows(self) -> list[int]:
        return self._rows

    def count(self):
        return len(self._wkbs)

    def __iter__(self):
        for i, (wkb, row) in enumerate(zip(self._wkbs, self._rows, strict=True)):
            if i % _YIELD_EVERY == 0:
                # exactextract holds the GIL while it works: let other threads have it now and
                # then (a thread waiting for the GIL would otherwise wait 5 ms each time)
                time.sleep(0)
            yield _Feature(wkb, row)

    def srs_wkt(self):
        return self._srs


class _Sink(Feature):
    """Where the writer has exactextract copy one result feature: appends to the columns."""

    def __init__(self, columns: dict, dtypes: dict):
        Feature.__init__(self)
        self._columns, self._dtypes = columns, dtypes

    def set(self, name, value):
        dtype = self._dtypes.get(name)
        self._columns[name].append(value if dtype is None else np.asarray(value, dtype))

    def set_geometry(self, geometry):
        pass

    def set_geometry_format(self):
        return "wkb"

    def fields(self):
        return list(self._columns)


class _Collect(Writer):
    """Results as lists per column (array results cast to ``dtypes`` as they arrive)."""

    def __init__(self, dtypes: dict | None = None):
        super().__init__()
        self.columns: dict[str, list] = {}
        self._sink = _Sink(self.columns, dtypes or {})
        self._written = 0

    def add_operation(self, op):
        self.columns[op.name] = []

    def add_column(self, col_name):
        self.columns[col_name] = []

    def add_geometry(self):
        pass

    def write(self, feature):
        feature.copy_to(self._sink)
        self._written += 1
        for col in self.columns.values():
            if len(col) < self._written:  # no result (e.g. ``min`` without data)
                col.append(None)

    def features(self):
        return self.columns


class _CellIndex(RasterSource):
    """A raster on the grid of ``ref`` whose value is each cell's index (``row * width + col``).

    It has no nodata, so exactextract reports every cell a parcel touches with its index.
    """

    def __init__(self, ref):
        super().__init__()
        b = ref.bounds
        # the grid exactextract's own rasterio source would give, so chunks and coverage agree
        self._res = ((b.right - b.left) / ref.width, (b.top - b.bottom) / ref.height)
        self._extent = (b.left, b.bottom, b.right, b.top)
        self._srs = ref.crs.wkt if ref.crs else None
        self._width = ref.width
        big = ref.width * ref.height >= np.iinfo(np.int32).max
        self.dtype = np.dtype(np.int64 if big else np.int32)
        self.set_name("cell")

    @property
    def cell_area(self) -> float:
        return self._res[0] * self._res[1]

    def res(self):
        return self._res

    def extent(self):
        return self._extent

    def srs_wkt(self):
        return self._srs

    def nodata_value(self):
        return None

    def read_window(self, x0, y0, nx, ny):
        rows = np.arange(y0, y0 + ny, dtype=self.dtype)[:, None] * self.dtype.type(self._width)
        return rows + np.arange(x0, x0 + nx, dtype=self.dtype)[None, :]


def _ids(parcels, id_field: str | None) -> pd.Series:
    if id_field is None:
        return pd.Series(parcels.index.to_numpy(), name=parcels.index.name or "index")
    if id_field not in parcels.columns:
        fields = [c for c in parcels.columns if c != parcels.geometry.name]
        raise ManifestError(f"parcels have no field {id_field!r}; their fields are {fields}")
    return parcels[id_field].reset_index(drop=True)

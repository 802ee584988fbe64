"""Dijkstra's algorithm on an implicit raster grid (numba), for :mod:`landplan.raster.costdistance`.

No graph is built: the neighbours of a cell and the cost of each move are computed from the
cost raster when the cell is settled.  Memory is the cost raster (4 or 8 bytes per cell), the
accumulated cost (float64, 8 bytes), the move that reached each cell (uint8, 1 byte) and a
binary heap of the frontier (16 bytes per entry, with lazy deletion: a cell is pushed again
when its cost drops and stale entries are skipped when popped).  The frontier of a grid
search is a small share of the cells, so the heap stays small next to the rasters.

The raster carries a NaN border of :data:`PAD` cells, so no move leaves it and the kernel
works on flat indices without bounds checks.  The move table is :data:`MOVES`: the 8 neighbours, then the 8 knight's moves.  A move of
index ``j`` from *a* to *b* costs ``(c_a + c_b [+ c_m + c_d]) · FACTOR[j]`` with ``FACTOR[j]``
= length / number of cells averaged, and the via cells *m*, *d* of a knight's move (the
orthogonal and the diagonal neighbour of *a* towards *b*); see the cost model in
:mod:`landplan.raster.costdistance`.  A move onto, or through, a NaN cell is not made.
"""

from __future__ import annotations

import math

import numpy as np

_ORTHO_DIAG = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))
_KNIGHT = ((-2, -1), (-2, 1), (2, 1), (2, -1), (-1, -2), (-1, 2), (1, 2), (1, -2))

#: ``(dr, dc, via)`` of every move: the 8 neighbours, then the 8 knight's moves
MOVES: tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...] = tuple(
    [(dr, dc, ()) for dr, dc in _ORTHO_DIAG]
    + [
        (dr, dc, ((dr // 2, 0), (dr // 2, dc)) if abs(dr) == 2 else ((0, dc // 2), (dr, dc // 2)))
        for dr, dc in _KNIGHT
    ]
)
#: the move code of a cell that no move reached (a source, or an unreached cell)
NO_MOVE = 255


def move_table(cellsize_x: float, cellsize_y: float, *, knight: bool):
    """Arrays ``(dr, dc, via, factor)`` of the moves (8, or 16 with ``knight``)."""
    moves = MOVES if knight else MOVES[:8]
    dr = np.array([m[0] for m in moves], np.int64)
    dc = np.array([m[1] for m in moves], np.int64)
    via = np.zeros((len(moves), 4), np.int64)
    factor = np.empty(len(moves), np.float64)
    for j, (r, c, v) in enumerate(moves):
        if v:
            via[j] = (v[0][0], v[0][1], v[1][0], v[1][1])
        factor[j] = math.hypot(r * cellsize_y, c * cellsize_x) / (2 + len(v))
    has_via = np.array([len(m[2]) > 0 for m in moves], np.bool_)
    return dr, dc, via, has_via, factor


#: NaN border (cells) around the cost raster: no move leaves the padded array, so the
#: kernel needs no bounds checks (a knight's move reaches 2 cells)
PAD = 2


def njit_cached(func, **options):
    """``numba.njit(func, cache=True, **options)``; without caching where no cache can be written.

    The compiled machine code goes next to the source (``__pycache__``), else to
    ``$NUMBA_CACHE_DIR`` or the user's cache directory, so only the first run of an
    installation compiles (about a second).  Where none of them is writable numba refuses
    ``cache=True``; the kernel is then compiled in each process instead of failing.
    """
    import numba

    try:
        return numba.njit(cache=True, **options)(func)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available ..."
        if "cannot cache" not in str(exc):
            raise
        return numba.njit(cache=False, **options)(func)


def _kernel():
    def dijkstra(cost, seeds, off, via1, via2, has_via, factor, acc, came):  # pragma: no cover
        """Flat arrays over the padded grid; ``cost`` is NaN on the border."""
        nm = off.shape[0]
        cap = max(1024, 2 * seeds.shape[0])
        keys = np.empty(cap, np.float64)
        nodes = np.empty(cap, np.int64)
        size = 0
        for s in seeds:
            acc[s] = 0.0
            # all keys are 0: appending keeps the heap property
            if size == cap:
                keys = np.concatenate((keys, keys))
                nodes = np.concatenate((nodes, nodes))
                cap *= 2
            keys[size] = 0.0
            nodes[size] = s
            size += 1
        while size > 0:
            k = keys[0]
            node = nodes[0]
            size -= 1
            if size > 0:  # move the last entry to the root and sift it down
                lk = keys[size]
                ln = nodes[size]
                i = 0
                while True:
                    child = 2 * i + 1
                    if child >= size:
                        break
                    if child + 1 < size and keys[child + 1] < keys[child]:
                        child += 1
                    if keys[child] >= lk:
                        break
                    keys[i] = keys[child]
                    nodes[i] = nodes[child]
                    i = child
                keys[i] = lk
                nodes[i] = ln
            if k > acc[node]:
                continue  # stale: the cell was settled with a smaller cost
            ca = np.float64(cost[node])
            for j in range(nm):
                nb = node + off[j]
                vb = np.float64(cost[nb])
                if math.isnan(vb):
                    continue
                total = ca + vb
                if has_via[j]:
                    vm = np.float64(cost[node + via1[j]])
                    vd = np.float64(cost[node + via2[j]])
                    if math.isnan(vm) or math.isnan(vd):
                        continue
                    total += vm
                    total += vd
                nk = k + total * factor[j]
                if nk < acc[nb]:
                    acc[nb] = nk
                    came[nb] = j
                    if size == cap:
                        keys = np.concatenate((keys, keys))
                        nodes = np.concatenate((nodes, nodes))
                        cap *= 2
                    i = size  # sift up
                    size += 1
                    while i > 0:
                        parent = (i - 1) >> 1
                        if keys[parent] <= nk:
                            break
                        keys[i] = keys[parent]
                        nodes[i] = nodes[parent]
                        i = parent
                    keys[i] = nk
                    nodes[i] = nb
        return 0

    return njit_cached(dijkstra, nogil=True)


_KERNEL = None


def padded_like(shape: tuple[int, int], dtype) -> np.ndarray:
    """A NaN array of ``shape`` plus the :data:`PAD` border (the interior is ``[PAD:-PAD, PAD:-PAD]``)."""
    return np.full((shape[0] + 2 * PAD, shape[1] + 2 * PAD), np.nan, dtype)


def accumulate(
    padded_cost: np.ndarray,
    seeds: np.ndarray,
    cellsize_x: float,
    cellsize_y: float,
    *,
    knight: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(accumulated, came)``: least total cost from ``seeds`` to every cell.

    ``padded_cost`` (float32 or float64, NaN = impassable) carries a NaN border of
    :data:`PAD` cells (:func:`padded_like`); it is read, not copied.  ``seeds`` are flat
    indices into the interior (unpadded) grid.  ``accumulated`` (float64, ``inf`` where
    unreached) and ``came`` (uint8: the index into :data:`MOVES` of the move that reached
    each cell, :data:`NO_MOVE` at sources and unreached cells) are views of the interior.
    """
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _kernel()
    hp, wp = padded_cost.shape
    w = wp - 2 * PAD
    dr, dc, via, has_via, factor = move_table(cellsize_x, cellsize_y, knight=knight)
    off = dr * wp + dc
    via1 = via[:, 0] * wp + via[:, 1]
    via2 = via[:, 2] * wp + via[:, 3]
    seeds = np.asarray(seeds, np.int64)
    rows, cols = np.divmod(seeds, w)
    padded_seeds = (rows + PAD) * wp + cols + PAD
    del rows, cols
    acc = np.full((hp, wp), np.inf, np.float64)
    came = np.full((hp, wp), NO_MOVE, np.uint8)
    _KERNEL(padded_cost.reshape(-1), padded_seeds, off, via1, via2, has_via, factor,
            acc.reshape(-1), came.reshape(-1))  # fmt: skip
    inner = (slice(PAD, hp - PAD), slice(PAD, wp - PAD))
    return acc[inner], came[inner]

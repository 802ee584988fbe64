"""Dijkstra's algorithm on an implicit raster grid (numba), for :mod:`landplan.raster.costdistance`.

No graph is built: the neighbours of a cell and the cost of each move are computed from the
cost raster when the cell is settled.  Memory is the cost raster (4 or 8 bytes per cell), the
accumulated cost (float64, 8 bytes), the move that reached each cell (uint8, 1 byte) and a
binary heap of the frontier (16 bytes per entry, with lazy deletion: a cell is pushed again
when its cost drops and stale entries are skipped when popped).  The frontier of a grid
search is a small share of the cells, so the heap stays small next to the rasters.

The move table is :data:`MOVES`: the 8 neighbours, then the 8 knight's moves.  A move of
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


def _kernel():
    import numba

    @numba.njit(cache=True, nogil=True)
    def dijkstra(cost, seeds, dr, dc, via, has_via, factor, acc, came):  # pragma: no cover
        h, w = cost.shape
        nm = dr.shape[0]
        cap = max(1024, 2 * seeds.shape[0])
        keys = np.empty(cap, np.float64)
        nodes = np.empty(cap, np.int64)
        size = 0
        for s in seeds:
            r0 = s // w
            c0 = s - r0 * w
            acc[r0, c0] = 0.0
            came[r0, c0] = 255
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
            r = node // w
            c = node - r * w
            if k > acc[r, c]:
                continue  # stale: the cell was settled with a smaller cost
            ca = np.float64(cost[r, c])
            for j in range(nm):
                rb = r + dr[j]
                cb = c + dc[j]
                if rb < 0 or rb >= h or cb < 0 or cb >= w:
                    continue
                vb = np.float64(cost[rb, cb])
                if math.isnan(vb):
                    continue
                total = ca + vb
                if has_via[j]:
                    vm = np.float64(cost[r + via[j, 0], c + via[j, 1]])
                    vd = np.float64(cost[r + via[j, 2], c + via[j, 3]])
                    if math.isnan(vm) or math.isnan(vd):
                        continue
                    total += vm
                    total += vd
                nk = k + total * factor[j]
                if nk < acc[rb, cb]:
                    acc[rb, cb] = nk
                    came[rb, cb] = j
                    if size == cap:
                        keys = np.concatenate((keys, keys))
                        nodes = np.concatenate((nodes, nodes))
                        cap *= 2
                    i = size  # sift up
                    size += 1
                    nn = rb * w + cb
                    while i > 0:
                        parent = (i - 1) >> 1
                        if keys[parent] <= nk:
                            break
                        keys[i] = keys[parent]
                        nodes[i] = nodes[parent]
                        i = parent
                    keys[i] = nk
                    nodes[i] = nn
        return 0

    return dijkstra


_KERNEL = None


def accumulate(
    cost: np.ndarray,
    seeds: np.ndarray,
    cellsize_x: float,
    cellsize_y: float,
    *,
    knight: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(accumulated, came)``: least total cost from ``seeds`` (flat indices) to every cell.

    ``cost`` (float32 or float64, NaN = impassable) is read, not copied.  ``accumulated`` is
    float64 with ``inf`` where unreached; ``came`` (uint8) holds the index into :data:`MOVES`
    of the move that reached each cell, :data:`NO_MOVE` at sources and unreached cells.
    """
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _kernel()
    dr, dc, via, has_via, factor = move_table(cellsize_x, cellsize_y, knight=knight)
    acc = np.full(cost.shape, np.inf, np.float64)
    came = np.full(cost.shape, NO_MOVE, np.uint8)
    _KERNEL(cost, np.ascontiguousarray(seeds, np.int64), dr, dc, via, has_via, factor, acc, came)
    return acc, came

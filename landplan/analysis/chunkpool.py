"""Chunks of the main job computed by worker processes while the main process writes.

:func:`landplan.analysis.job.analyze_streamed` gives each chunk's rows to the workspace
writer, which spends about as long appending them to two GeoPackages and feeding the workbook
and the map as the chunk took to compute.  A :class:`ChunkPool` runs
:func:`~landplan.analysis.job.analyze_chunk` in spawned worker processes, a few chunks ahead, so
both run at once on a machine with two cores or more.

Each worker prepares the constraint layers and the network index itself, once, from the inputs
sent at start (everything but the parcels), while the main process writes the inputs; then it
receives only the parcels of a chunk, their overlaps and DEM columns.  Chunks come back in
order.  The chunk function is the same as in one process, so the rows are identical; if the
pool cannot start, or a worker dies (killed, out of memory), the remaining chunks are computed
in this process instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Iterator

import numpy as np
import pandas as pd

from landplan.analysis.job import (
    Chunk,
    JobContext,
    Pending,
    analyze_chunk,
    chunk_args,
    chunk_table,
    job_context,
    local_chunks,
)
from landplan.analysis.pipeline import Inputs
from landplan.core.parallel import (
    children_ignore_ctrl_c,
    env_int,
    freeze_long_lived,
    start_heap_trimmer,
    trim_heap,
)
from landplan.core.policy import Policy

_CONTEXT: JobContext | None = None  # the worker's prepared layers (set by _init)
_FOLDER: str | None = None  # the pool's private folder, where results are left for the parent
#: parcels whose first halves the workers may make and keep while the DEM step runs (their
#: tables are numbers, ~0.5 KB a parcel)
PREFETCH_PARCELS = 200_000


def _init(handover: str) -> None:
    """Wait for the inputs (:meth:`ChunkPool.start`), then prepare the layers, once per worker.

    The worker is started before the inputs are read (its imports overlap the reading); they
    come as a file, ``handover``, that appears when they are ready.  ``None`` there (the pool
    closed before it started), or the parent gone, leaves the worker unprepared.
    """
    import multiprocessing
    import pickle
    import time

    global _CONTEXT, _FOLDER
    _FOLDER = os.path.dirname(handover)
    start_heap_trimmer()  # for the worker's life (a daemon thread: it ends with the process)
    parent = multiprocessing.parent_process()
    while not os.path.exists(handover):
        if parent is not None and not parent.is_alive():
            return
        time.sleep(0.01)
    with open(handover, "rb") as f:
        got = pickle.load(f)
    if got is not None:
        _CONTEXT = job_context(*got)
        freeze_long_lived()  # the imports and the prepared layers live as long as the worker


_TABLES: dict[int, pd.DataFrame] = {}  # chunk → its first half, made while the DEM step ran


def _prepare(k: int, parcels) -> None:
    assert _CONTEXT is not None, "worker not initialised"
    _TABLES[k] = chunk_table(parcels, _CONTEXT)


def _run(k: int, parcels, overlap: np.ndarray, terrain: pd.DataFrame | None) -> Chunk:
    assert _CONTEXT is not None, "worker not initialised"
    # another worker may have made the first half: then it is made again here (same rows)
    table = _TABLES.pop(k, None)
    return _spill(analyze_chunk(parcels, overlap, terrain, ctx=_CONTEXT, table=table))


def _locate(view, parcels):
    located = _spill(view.locate(parcels))
    trim_heap()  # the search's temporaries (~300 MiB at 50 000 parcels) go back before the chunks
    return located


@dataclasses.dataclass(frozen=True)
class _Spilled:
    """A worker's result left as a file in the pool's folder for the parent to load.

    Through the result pipe, a chunk's rows (~40 MB at 8,000 parcels) go in pieces that the
    parent's result thread reads one at a time between the writer's GIL turns, and the worker
    waits for it (~0.5 s a chunk); a file is written and read at once."""

    path: str


def _spill(result):
    """``result`` as a :class:`_Spilled` file (the result itself if the file cannot be written)."""
    import pickle

    if _FOLDER is None:
        return result
    path = None
    try:
        fd, path = tempfile.mkstemp(dir=_FOLDER, suffix=".pickle")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # e.g. a full disk: through the pipe after all
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return result
    return _Spilled(path)


def _unspill(result):
    """The result a worker left (see :func:`_spill`); its file removed."""
    import pickle

    if not isinstance(result, _Spilled):
        return result
    try:
        with open(result.path, "rb") as f:
            return pickle.load(f)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(result.path)


class _Located:
    """The DEM cells a worker is finding; found here instead if the worker dies."""

    def __init__(self, future, view, parcels) -> None:
        self._future, self._view, self._parcels = future, view, parcels

    def result(self):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return _unspill(self._future.result())
        except BrokenProcessPool:
            return self._view.locate(self._parcels)


def pool_workers() -> int:
    """Worker processes: ``LANDPLAN_CHUNK_WORKERS`` (0 = none), else one per core but one, 1–4."""
    return max(0, env_int("LANDPLAN_CHUNK_WORKERS", max(1, min((os.cpu_count() or 1) - 1, 4))))


class ChunkPool:
    """Worker processes computing chunks; use as ``chunks=`` of ``analyze_streamed``.

    ``ChunkPool(inputs, policy)`` starts the workers with their inputs.  ``ChunkPool()`` starts
    them before the inputs are read, so that their start-up overlaps the reading; then
    :meth:`start` hands the inputs over.
    """

    def __init__(
        self,
        inputs: Inputs | None = None,
        policy: Policy | None = None,
        /,
        *,
        workers: int | None = None,
    ) -> None:
        self.workers = pool_workers() if workers is None else workers
        self._pool = self._handover = self._folder = None
        self._retiring = None  # the pool after its last chunk, its workers ending
        self._started = False
        self._located = threading.Event()  # set once the DEM cells are asked for (or never will be)
        if self.workers > 0:
            self._spawn()
        if inputs is not None:
            self.start(inputs, policy)

    def _spawn(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        try:
            ctx = multiprocessing.get_context("spawn")
            # the inputs go to the workers as a file (no lock or queue to leak on the way out)
            self._folder = tempfile.mkdtemp(prefix="landplan-pool-")
            self._handover = os.path.join(self._folder, "inputs.pickle")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_init,
                initargs=(self._handover,),
            )
            with children_ignore_ctrl_c():  # started now: they import while the inputs load
                for _ in range(self.workers):
                    self._pool.submit(int)
        except (OSError, ValueError, NotImplementedError, RuntimeError):  # no processes here
            self._pool = None

    def start(self, inputs: Inputs, policy: Policy) -> None:
        """Hand the inputs (all but the parcels) to every worker, which prepares its layers."""
        if self._pool is None or self._started:
            return
        light = dataclasses.replace(inputs, parcels=inputs.parcels.iloc[:0].copy(), reports=[])
        light.parcels.attrs = {}
        self._hand_over((light, policy))
        self._started = True

    def locate(self, view, parcels):
        """``view.locate(parcels)`` (:meth:`~landplan.raster.development.DemView.locate`: the
        cells of ``parcels`` on the warped DEM's grid) in a worker, ahead of the chunks' first
        halves (the DEM step needs it first); a future, or None when there is no worker."""
        if self._pool is None:
            self._located.set()
            return None
        try:
            return _Located(self._pool.submit(_locate, view, parcels), view, parcels)
        finally:
            self._located.set()

    def __call__(
        self,
        inputs: Inputs,
        policy: Policy,
        bounds: list[tuple[int, int]],
        overlap: np.ndarray,
        terrain: Pending,
    ) -> Iterator[Chunk]:
        from concurrent.futures.process import BrokenProcessPool

        if self._pool is None:
            yield from local_chunks(inputs, policy, bounds, overlap, terrain)
            return
        self.start(inputs, policy)
        done = 0
        try:
            if inputs.dem_path is not None and not terrain.ready():
                while not (self._located.wait(0.05) or terrain.ready()):
                    pass  # the DEM step asks for its cells first (a fraction of a second)
                self._prefetch(inputs, bounds, terrain)
            columns = terrain.get()
            ahead = self.workers + 1  # chunks in flight: every worker busy, one result waiting
            pending: deque = deque()
            todo = deque(enumerate(bounds))
            while todo or pending:
                while todo and len(pending) < ahead:
                    k, (a, b) = todo.popleft()
                    args = chunk_args(inputs, a, b, overlap, columns)
                    pending.append(self._pool.submit(_run, k, *args))
                chunk = _unspill(pending.popleft().result())
                done += 1
                if not (todo or pending):  # the workers end while the last chunk is written
                    self._retiring, self._pool = self._pool, None
                    self._retiring.shutdown(wait=False)
                yield chunk
        except BrokenProcessPool:  # a worker died: the rest here, the same way
            self.close()
            yield from local_chunks(inputs, policy, bounds[done:], overlap, terrain)

    def _prefetch(self, inputs: Inputs, bounds: list[tuple[int, int]], terrain: Pending) -> None:
        """Let the workers make the first halves of the first chunks while the DEM step runs.

        One at a time per worker, until the DEM step's columns are ready: then the chunks
        themselves go next, not behind a queue of first halves (the writer waits for them; the
        rest of a chunk takes a fraction of its first half)."""
        from concurrent.futures import FIRST_COMPLETED, wait

        budget = PREFETCH_PARCELS
        running: set = set()
        for k, (a, b) in enumerate(bounds):
            if b - a > budget:
                break
            while len(running) >= self.workers and not terrain.ready():
                running = wait([*running, terrain.future], return_when=FIRST_COMPLETED)[1]
                running.discard(terrain.future)
            if terrain.ready():
                break
            budget -= b - a
            part, _, _ = chunk_args(inputs, a, b, np.empty(0), None)
            running.add(self._pool.submit(_prepare, k, part))

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if not self._started:  # workers waiting for inputs that will not come
                self._hand_over(None)
            pool.shutdown(wait=True, cancel_futures=True)
        if self._retiring is not None:
            self._retiring.shutdown(wait=True)
            self._retiring = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _hand_over(self, what) -> None:
        import pickle

        part = self._handover + ".part"
        with open(part, "wb") as f:
            pickle.dump(what, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(part, self._handover)  # appears whole

    def __enter__(self) -> ChunkPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def early_pool(manifest, /) -> ChunkPool | None:
    """A :class:`ChunkPool` started now, before ``manifest``'s inputs are read, when its parcel
    layer will make more than one chunk; None when it will not or the count is not known yet
    (the job then decides once the inputs are read)."""
    from landplan.analysis.job import chunk_size
    from landplan.io.manifest import FrameSource

    entry = manifest.parcels
    path = manifest.resolve(entry.path)
    if isinstance(path, FrameSource) or pool_workers() == 0:
        return None
    try:
        import pyogrio

        count = pyogrio.read_info(path, layer=entry.layer).get("features", -1)
    except Exception:  # unreadable: load_inputs says why, in the user's words
        return None
    return ChunkPool() if count > chunk_size() else None

"""Threads and processes: a map over a small thread pool (for C code that releases the GIL:
GEOS, GDAL, NumPy), whether a process still runs (for files that name their owner's pid), and
giving the memory that threads free back to the system (glibc's ``malloc_trim``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


def pool_map(func: Callable, items: Sequence, /) -> list:
    """``list(map(func, items))`` on up to one thread per core; in order, errors re-raised.

    Examples
    --------
    >>> pool_map(lambda x: x * 2, [1, 2, 3])
    [2, 4, 6]
    """
    items = list(items)
    workers = max(1, min(len(items), os.cpu_count() or 1))
    if workers == 1:
        return [func(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def process_alive(pid: int, /) -> bool:
    """Whether process ``pid`` runs (one of another user's counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_read_threads() -> int:
    """The service's reads served at once per worker process (``LANDPLAN_READ_THREADS``'s default):
    one per core, at most 4.  More reads at once than cores only lengthen the tail: on 2 cores,
    4 threads gave the PostGIS store a p99 2–3× tipg's, 2 threads below it."""
    return max(1, min(4, os.cpu_count() or 1))


@functools.cache
def _glibc():
    """glibc through ctypes (None where there is none)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc's, or AttributeError)
    except (OSError, AttributeError):
        return None
    return libc


def _heap_free_bytes(libc) -> Callable[[], int] | None:
    """A function giving the bytes free inside glibc's heaps, all arenas (``mallinfo2``'s
    ``fordblks``; glibc 2.33 and later), or None."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]  # fmt: skip

    try:
        mallinfo2 = libc.mallinfo2
    except AttributeError:
        return None
    mallinfo2.restype = MallInfo2
    return lambda: int(mallinfo2().fordblks)


def trim_heap() -> None:
    """Give the memory that freed arrays leave in the C heap back to the OS (glibc's ``malloc_trim``).

    glibc keeps what a worker thread frees in that thread's arena, and blocks under its
    (growing) mmap threshold in the heap, so without this a process's resident size stays at
    the peak of its busiest step for the rest of a run: several hundred MiB after the DEM's
    rasters at 50 000 parcels.  Costs a few milliseconds; a no-op where there is no glibc.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def freeze_long_lived() -> None:
    """Leave every object alive now out of the cyclic collector's later passes (``gc.freeze``).

    For a process once it has imported and prepared what lives for the whole job (modules,
    the inputs, a worker's prepared layers).  Python's full collections otherwise walk all of
    it again and again: ~0.7 CPU-s of full collections in the 50 000-parcel job without a DEM
    across its three processes (measured with ``gc.callbacks``).  A collection runs first, so
    garbage alive now is freed, not kept.  Frozen objects are still freed when nothing refers
    to them; only a cycle made among them before the call would stay.
    """
    import gc

    gc.collect()
    gc.freeze()


#: seconds between two looks of :func:`start_heap_trimmer` at the heap
TRIM_PERIOD_S = 0.25
#: it trims when more than this many bytes are free inside the heap
TRIM_ABOVE_BYTES = 256 << 20


def start_heap_trimmer(
    period_s: float = TRIM_PERIOD_S, above_bytes: int = TRIM_ABOVE_BYTES
) -> Callable[[], None]:
    """Watch the C heap from a daemon thread; trim it when it holds over ``above_bytes`` free.

    A job whose steps run in several threads at once (raster blocks, COG compression, chunk
    results, the writer) frees memory in every thread's arena all the time, and trimming at
    step boundaries leaves what the other threads freed meanwhile.  Trimming on every look
    costs CPU instead (what is given back is soon faulted in again: +2–3 s of system time in
    the 50 000-parcel job with a DEM, mostly in the chunk worker, which reuses ~170–240 MiB
    from chunk to chunk), so the trimmer looks every ``period_s`` seconds at the free bytes
    (``mallinfo2``) and trims only past ``above_bytes``.  At 50 000 parcels with a DEM the main
    process's peak goes from ~1.25 GiB to ~0.9 GiB.  Returns what stops it.  Where there is no
    glibc, or no ``mallinfo2`` (glibc < 2.33), nothing is started.
    """
    import threading

    libc = _glibc()
    free = None if libc is None else _heap_free_bytes(libc)
    if free is None:
        return lambda: None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(period_s):
            if free() > above_bytes:
                libc.malloc_trim(0)

    thread = threading.Thread(target=loop, name="landplan-heap-trim", daemon=True)
    thread.start()

    def end() -> None:
        stop.set()
        thread.join()

    return end


@contextmanager
def heap_trimmer(
    period_s: float = TRIM_PERIOD_S, above_bytes: int = TRIM_ABOVE_BYTES
) -> Iterator[None]:
    """:func:`start_heap_trimmer` for the duration of the block."""
    end = start_heap_trimmer(period_s, above_bytes)
    try:
        yield
    finally:
        end()


def env_int(name: str, default: int, /) -> int:
    """The whole number in environment variable ``name``; ``default`` when unset or not a number."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@contextmanager
def children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started in the block ignore Ctrl-C (SIGINT): the parent, which gets it too,
    stops them in order, so they print no traceback of their own.  Only the main thread can
    change signal handlers; elsewhere (a server's thread) the block runs unchanged."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited through spawn's exec
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

"""Threads and processes: a map over a small thread pool (for C code that releases the GIL:
GEOS, GDAL, NumPy), and whether a process still runs (for files that name their owner's pid)."""

from __future__ import annotations

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

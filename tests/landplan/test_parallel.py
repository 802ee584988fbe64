"""Processes landplan starts leave Ctrl-C to their parent (no traceback of their own)."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import threading

import pytest

from landplan.core.parallel import children_ignore_ctrl_c


def _report_sigint(conn) -> None:
    conn.send(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
    conn.close()


def _child_ignores(start_inside: bool) -> bool:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_report_sigint, args=(child,))
    if start_inside:
        with children_ignore_ctrl_c():
            proc.start()
    else:
        proc.start()
    ignored = parent.recv()
    proc.join(60)
    return ignored


def test_a_child_started_in_the_block_ignores_ctrl_c_and_the_parent_does_not():
    # from Python's own handler, whatever an earlier test in this process left behind (once in
    # a full run, under xdist, the parent already ignored SIGINT when this test began)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _check_ctrl_c_children()
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_ctrl_c_children() -> None:
    before = signal.getsignal(signal.SIGINT)
    assert _child_ignores(True) is True
    assert _child_ignores(False) is False
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_outside_the_main_thread_nothing_changes():
    seen = []

    def run():
        with children_ignore_ctrl_c():
            seen.append(signal.getsignal(signal.SIGINT))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen == [signal.getsignal(signal.SIGINT)]


# --------------------------------------------------------------------------- heap trimming

_FRAGMENTED_HEAP = r"""
import sys, threading, time
import numpy as np
from landplan.core import parallel

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

kept = []
def work():
    # 64 KiB blocks (under glibc's mmap threshold) in this thread's arena; every other one
    # freed: ~96 MiB of holes that free() cannot give back (they are not at the heap's top)
    blocks = [np.ones(8192) for _ in range(3000)]
    kept.extend(blocks[1::2])
t = threading.Thread(target=work); t.start(); t.join()
time.sleep(0.3)
before = rss_mib()
with parallel.heap_trimmer(period_s=0.05, above_bytes=ABOVE):
    time.sleep(0.5)
    during = rss_mib()
print(before, during, sum(b.nbytes for b in kept) / 2**20)
"""


def _has_glibc() -> bool:
    from landplan.core.parallel import _glibc

    return _glibc() is not None


def _run(code: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def test_the_heap_trimmer_gives_back_what_threads_freed_in_the_middle_of_the_heap_past_its_bar():
    if not _has_glibc():
        pytest.skip("malloc_trim is glibc's")  # (CI runs on glibc)
    above = _FRAGMENTED_HEAP.replace("ABOVE", str(16 << 20))
    before, during, kept = _run(above)
    assert kept == pytest.approx(3000 / 2 * 64 / 1024)  # the other half is still in use
    assert before - during > 60, (before, during)  # most of the ~94 MiB freed came back
    # the controls: with no look at the heap in time, or less free than the bar, the holes stay
    still, later, _ = _run(above.replace("period_s=0.05", "period_s=60"))
    assert abs(still - later) < 20, (still, later)
    still, later, _ = _run(_FRAGMENTED_HEAP.replace("ABOVE", str(1 << 30)))
    assert abs(still - later) < 20, (still, later)


def test_without_glibc_the_heap_trimmer_starts_nothing(monkeypatch):
    from landplan.core import parallel

    monkeypatch.setattr(parallel, "_glibc", lambda: None)
    threads = threading.active_count()
    with parallel.heap_trimmer(period_s=0.01):
        assert threading.active_count() == threads
    parallel.trim_heap()  # a no-op, no error
    assert parallel.start_heap_trimmer()() is None


def test_without_mallinfo2_no_trimmer_thread_is_started(monkeypatch):
    from landplan.core import parallel

    monkeypatch.setattr(parallel, "_heap_free_bytes", lambda libc: None)
    threads = threading.active_count()
    with parallel.heap_trimmer(period_s=0.01):
        assert threading.active_count() == threads


# --------------------------------------------------------------------------- the collector

_FREEZE = r"""
import gc, weakref
from landplan.core.parallel import freeze_long_lived

class Node:
    pass

kept = Node(); kept.me = kept  # a cycle still in use: frozen
dropped = Node(); dropped.me = dropped  # a cycle nobody uses any more: freed, not frozen
gone = weakref.ref(dropped)
del dropped
gc.disable()  # no automatic pass before the call
frozen_before = gc.get_freeze_count()
freeze_long_lived()
walked = any(o is kept for o in gc.get_objects())  # what later passes walk
print(gone() is None, walked, gc.get_freeze_count() > frozen_before, kept.me is kept)
"""


def test_freeze_long_lived_frees_garbage_first_and_leaves_the_rest_out_of_later_passes():
    out = subprocess.run(
        [sys.executable, "-c", _FREEZE], capture_output=True, text=True, check=True
    )
    freed, walked, frozen, alive = out.stdout.split()
    assert freed == "True"  # the garbage cycle was collected, not frozen with the rest
    assert walked == "False" and frozen == "True"  # the live cycle is out of the collector's passes
    assert alive == "True"

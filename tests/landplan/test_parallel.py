"""Processes landplan starts leave Ctrl-C to their parent (no traceback of their own)."""

from __future__ import annotations

import multiprocessing
import signal
import threading

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

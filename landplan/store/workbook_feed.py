"""``park_summary.xlsx`` fed chunk by chunk, written by a second process for large results.

The streamed main job (:func:`landplan.store.workspace.GpkgWorkspace.write_streamed`) hands
every chunk of result rows to a :class:`WorkbookFeed`.  For a large job the workbook is Python
work of several seconds that would otherwise wait for the rest, and the machine usually has a
second core: the rows travel to a spawned process as Arrow IPC buffers over a pipe, and that
process writes them with :class:`~landplan.export.park.ParkWorkbookWriter` as they come.  The
pipe's buffer is the only queue, so neither process ever holds more than a chunk of rows.

If the process cannot start, the workbook is written here, the same way.  An error in the
child (bad data) is raised here when the feed closes, and the stage it would have been part of
is discarded, so the previous workspace stays as it was.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from landplan.core.parallel import children_ignore_ctrl_c

#: from this many parcels on, the workbook is written by a second process
BACKGROUND_WORKBOOK_PARCELS = 20_000
#: the workbook process yields the cores to the chunk worker and the writer (it has ~2 s after
#: the last chunk, while the map is written, to catch up)
NICENESS = 10


def background_threshold() -> int:
    """``LANDPLAN_BACKGROUND_WORKBOOK_PARCELS`` (0 = never), or :data:`BACKGROUND_WORKBOOK_PARCELS`."""
    from landplan.core.parallel import env_int

    return env_int("LANDPLAN_BACKGROUND_WORKBOOK_PARCELS", BACKGROUND_WORKBOOK_PARCELS)


def _to_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_bytes(data: bytes) -> pd.DataFrame:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all().to_pandas()


def _child(conn, path: str, lang: str) -> None:
    """The second process: rows in, the workbook out; replies ``("ok",)`` or ``("error", exc)``."""
    import os

    from landplan.export.park import ParkWorkbookWriter

    with contextlib.suppress(OSError, AttributeError):  # no os.nice on Windows
        os.nice(NICENESS)
    writer = None
    try:
        writer = ParkWorkbookWriter(path, lang=lang)
        while True:
            kind, *payload = conn.recv()
            if kind == "rows":
                writer.add_parcels(_from_bytes(conn.recv_bytes()))
            elif kind == "close":
                writer.close(*payload)
                conn.send(("ok",))
                return
            else:  # "abort", or anything unexpected
                writer.abort()
                return
    except BaseException as exc:  # every failure goes back to the parent
        if writer is not None:
            writer.abort()
        with contextlib.suppress(Exception):
            conn.send(("error", exc))
    finally:
        conn.close()


class WorkbookFeed:
    """``park_summary.xlsx`` (and nothing else) in ``folder``, from chunks of result rows."""

    def __init__(self, folder: Path, /, *, lang: str, background: bool) -> None:
        from landplan.export.park import ParkWorkbookWriter, parcel_table

        self._table = parcel_table
        self._path = Path(folder) / "park_summary.xlsx"
        self._proc = self._conn = None
        if background:
            self._start(lang)
        self._local = None if self._conn is not None else ParkWorkbookWriter(self._path, lang=lang)

    def _start(self, lang: str) -> None:
        import multiprocessing

        try:
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_child, args=(child, str(self._path), lang), name="landplan-workbook"
            )
            proc.daemon = True
            with children_ignore_ctrl_c():  # this process stops it (abort) on Ctrl-C
                proc.start()
            child.close()
        except (OSError, ValueError, NotImplementedError):  # no second process here
            return
        self._proc, self._conn = proc, parent

    def add(self, parcels: pd.DataFrame, /) -> None:
        rows = self._table(parcels)
        if self._local is not None:
            self._local.add_parcels(rows)
            return
        try:
            self._conn.send(("rows",))
            self._conn.send_bytes(_to_bytes(rows))
        except (BrokenPipeError, EOFError, OSError):
            self._raise_child_error()

    def close(self, summary: pd.DataFrame, reasons: pd.DataFrame, validation, /) -> None:
        """Write the workbook (wait for the second process to finish it)."""
        self.finish(summary, reasons, validation)
        self.wait()

    def finish(self, summary: pd.DataFrame, reasons: pd.DataFrame, validation, /) -> None:
        """Hand over the last sheets: the second process writes the file while this one goes on
        (:meth:`wait` for it); without a second process, the file is written now."""
        if self._local is not None:
            self._local.close(summary, reasons, validation)
            return
        try:
            self._conn.send(("close", summary, reasons, validation))
        except (BrokenPipeError, EOFError, OSError):
            self._raise_child_error()

    def wait(self) -> None:
        """Wait until the second process has written the workbook; raise what it raised."""
        if self._local is not None:
            return
        try:
            reply = self._conn.recv()
        except (BrokenPipeError, EOFError, OSError):
            self._raise_child_error()
        self._finish()
        if reply[0] != "ok":
            raise reply[1]

    def abort(self) -> None:
        """Stop without a workbook (the stage is being discarded)."""
        if self._local is not None:
            self._local.abort()
            return
        with contextlib.suppress(BrokenPipeError, EOFError, OSError):
            self._conn.send(("abort",))
        self._finish(kill=True)

    def _raise_child_error(self):
        from landplan.core.errors import WorkspaceError

        reply = None
        with contextlib.suppress(Exception):
            if self._conn.poll(5):
                reply = self._conn.recv()
        self._finish(kill=True)
        if reply and reply[0] == "error":
            raise reply[1]
        raise WorkspaceError(
            "the process writing park_summary.xlsx stopped unexpectedly (out of memory?); "
            "nothing was written. Set LANDPLAN_BACKGROUND_WORKBOOK_PARCELS=0 to write it in "
            "the main process"
        )

    def _finish(self, *, kill: bool = False) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        proc.join(timeout=1 if kill else 60)
        if proc.is_alive():
            proc.kill()
            proc.join()
        with contextlib.suppress(Exception):
            self._conn.close()

    def __enter__(self) -> WorkbookFeed:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

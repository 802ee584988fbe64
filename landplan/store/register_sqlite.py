"""Register storage in a GeoPackage workspace: the ``register`` and ``register_audit`` tables.

Every change is one ``BEGIN IMMEDIATE`` SQLite transaction; writers wait for each other
(``busy_timeout``).  :class:`SqliteRegisterStorage` gives :class:`landplan.store.register.Register`
its storage primitives; :func:`freeze_register` and :func:`carry_register` keep the register
across a re-analysis.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from landplan.core.errors import ConflictError, DataSourceError, RegisterError, WorkspaceError
from landplan.store.register_schema import (
    BUSY_TIMEOUT_S,
    COLUMNS,
    DDL,
    NO_RESULTS,
    SCHEMA_VERSION,
    TABLES,
    utc_now,
)


def _connect(path: Path, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    return conn


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _has_table(conn: sqlite3.Connection, name: str, schema: str = "main") -> bool:
    sql = f"SELECT 1 FROM {schema}.sqlite_master WHERE type IN ('table','view') AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def ensure_schema(conn: sqlite3.Connection, /) -> None:
    """Create (or migrate) the register tables and list them in ``gpkg_contents`` as ``attributes``."""
    if not _has_table(conn, "gpkg_contents"):
        raise WorkspaceError("the file is not a GeoPackage (no gpkg_contents table)")
    if _has_table(conn, "register_meta"):
        row = conn.execute(
            "SELECT value FROM register_meta WHERE key = 'register_schema_version'"
        ).fetchone()
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise WorkspaceError(
                f"the register was written by a newer landplan (schema {found} > {SCHEMA_VERSION}); "
                "upgrade landplan"
            )
        if found == SCHEMA_VERSION:
            return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        # future migrations: ``if found < 2: ALTER TABLE ...`` here, before the version bump
        for table, description in TABLES.items():
            conn.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                "description, last_change, srs_id) VALUES (?, 'attributes', ?, ?, ?, 0)",
                (table, table, description, utc_now()),
            )
        conn.execute(
            "INSERT INTO register_meta (key, value) VALUES ('register_schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _row(conn: sqlite3.Connection, parcel_id: str) -> dict | None:
    cols = ", ".join(COLUMNS)
    r = conn.execute(f"SELECT {cols} FROM register WHERE parcel_id = ?", (parcel_id,)).fetchone()
    return dict(r) if r is not None else None


def _write_audit(
    conn: sqlite3.Connection, parcel_id: str, who: str, action: str, before, after
) -> None:
    """Insert the audit row (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO register_audit (parcel_id, at, who, action, before, after) VALUES (?,?,?,?,?,?)",
        (
            parcel_id,
            utc_now(),
            who,
            action,
            None if before is None else json.dumps(before, ensure_ascii=False),
            None if after is None else json.dumps(after, ensure_ascii=False),
        ),
    )
    conn.execute(
        "UPDATE gpkg_contents SET last_change = ? WHERE table_name IN ('register', 'register_audit')",
        (utc_now(),),
    )


@contextmanager
def freeze_register(gpkg: str | Path, /) -> Iterator[None]:
    """Hold the register's write lock on ``gpkg`` for the block (writers wait, readers read).

    Wrap the replacement of a workspace in it (see :func:`carry_register`): a register
    write that waited for the lock notices that the file was replaced and retries on
    the new one, so no change is lost between the copy and the swap.
    """
    gpkg = Path(gpkg)
    if not gpkg.exists():
        yield
        return
    conn = _connect(gpkg)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        conn.close()


@dataclass(frozen=True)
class CarryReport:
    """What :func:`carry_register` copied, and the registered parcels the new workspace lacks."""

    entries: int
    audit_rows: int
    orphans: tuple[str, ...]


def carry_register(old_gpkg: str | Path, new_gpkg: str | Path, /) -> CarryReport:
    """Copy ``register`` and ``register_audit`` from ``old_gpkg`` into ``new_gpkg``.

    Call it while a new workspace is staged, as the last step before the swap, under
    :func:`freeze_register` held until the swap is done.  In ``GpkgWorkspace.replace``::

        with ExitStack() as lock:
            with staged_directory(self.path) as stage:
                out = fill(stage)  # the analysis written into the stage
                ...  # extras
                lock.enter_context(freeze_register(self.gpkg))
                carry_register(self.gpkg, stage / "workspace.gpkg")

    Rows and audit ids are kept as they are; registered parcels missing from the new
    ``result_parcels`` are kept and reported in :attr:`CarryReport.orphans`.
    """
    old, new = Path(old_gpkg), Path(new_gpkg)
    if not old.exists():
        return CarryReport(0, 0, ())
    conn = _connect(new)
    try:
        ensure_schema(conn)
        conn.execute("ATTACH DATABASE ? AS old", (str(old),))
        if not _has_table(conn, "register", "old"):
            return CarryReport(0, 0, ())
        ver = conn.execute(
            "SELECT value FROM old.register_meta WHERE key = 'register_schema_version'"
        ).fetchone()
        if ver is None or int(ver[0]) != SCHEMA_VERSION:
            raise WorkspaceError(
                f"{old} holds register schema {ver[0] if ver else '?'}; open it once with "
                f"this landplan (Register(...)) to migrate it to {SCHEMA_VERSION} first"
            )
        cols = "fid, " + ", ".join(COLUMNS)
        audit_cols = "id, parcel_id, at, who, action, before, after"
        # a deferred transaction: IMMEDIATE would also lock the attached old file, whose
        # write lock freeze_register may hold
        conn.execute("BEGIN")
        try:
            conn.execute("DELETE FROM main.register")
            conn.execute("DELETE FROM main.register_audit")
            n = conn.execute(
                f"INSERT INTO main.register ({cols}) SELECT {cols} FROM old.register"
            ).rowcount
            m = conn.execute(
                f"INSERT INTO main.register_audit ({audit_cols}) "
                f"SELECT {audit_cols} FROM old.register_audit"
            ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        orphans: tuple[str, ...] = ()
        if _has_table(conn, "result_parcels"):
            orphans = tuple(
                r[0]
                for r in conn.execute(
                    "SELECT parcel_id FROM register WHERE parcel_id NOT IN "
                    "(SELECT parcel_id FROM result_parcels) ORDER BY parcel_id"
                )
            )
        return CarryReport(n, m, orphans)
    except sqlite3.DatabaseError as exc:
        raise DataSourceError(f"cannot copy the register from {old} to {new}: {exc}") from exc
    finally:
        conn.close()


def _store(conn: sqlite3.Connection, new: dict, current: dict | None) -> None:
    """INSERT a new row, or UPDATE guarded by the version read (0 rows → ConflictError)."""
    if current is None:
        cols = ", ".join(COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        try:
            conn.execute(
                f"INSERT INTO register ({cols}) VALUES ({marks})", [new[c] for c in COLUMNS]
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"parcel {new['parcel_id']} was registered by someone else first",
                current=_row(conn, new["parcel_id"]),
            ) from exc
        return
    cols = [c for c in COLUMNS if c != "parcel_id"]
    sets = ", ".join(f"{c} = ?" for c in cols)
    n = conn.execute(
        f"UPDATE register SET {sets} WHERE parcel_id = ? AND version = ?",
        [*(new[c] for c in cols), new["parcel_id"], current["version"]],
    ).rowcount
    if n != 1:
        now = _row(conn, new["parcel_id"])
        raise ConflictError(
            f"parcel {new['parcel_id']} changed under this write (now version "
            f"{now['version'] if now else '?'}); re-read and retry",
            current=now,
        )


class SqliteRegisterStorage:
    """The register's storage primitives over ``workspace.gpkg`` (one connection per call)."""

    def __init__(self, workspace: str | Path, /, *, timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(workspace)
        self.timeout_s = timeout_s
        if not self.gpkg.exists():
            raise WorkspaceError(
                f"{self.path} has no workspace.gpkg; run `landplan analyze ... --out {self.path}` first"
            )
        conn = self._connect()
        try:
            ensure_schema(conn)
        except sqlite3.DatabaseError as exc:
            raise DataSourceError(f"cannot open the register in {self.gpkg}: {exc}") from exc
        finally:
            conn.close()

    @property
    def gpkg(self) -> Path:
        return self.path / "workspace.gpkg"

    def _connect(self) -> sqlite3.Connection:
        return _connect(self.gpkg, self.timeout_s)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; commit on success, roll back on any error."""
        for _ in range(5):
            before = _file_id(self.gpkg)
            conn = self._connect()
            try:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    raise WorkspaceError(
                        f"the register in {self.gpkg} stayed locked for {self.timeout_s:.0f} s "
                        f"({exc}); try again"
                    ) from exc
                if _file_id(self.gpkg) != before:  # the workspace was replaced while we waited
                    conn.execute("ROLLBACK")
                    continue
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return
            finally:
                conn.close()
        raise WorkspaceError(f"{self.gpkg} kept being replaced during a register write; try again")

    def row(self, conn: sqlite3.Connection, parcel_id: str) -> dict | None:
        return _row(conn, parcel_id)

    def store(self, conn: sqlite3.Connection, new: dict, current: dict | None) -> None:
        _store(conn, new, current)

    def write_audit(self, conn, parcel_id: str, who: str, action: str, before, after) -> None:
        _write_audit(conn, parcel_id, who, action, before, after)

    def read_row(self, parcel_id: str) -> dict | None:
        conn = self._connect()
        try:
            return _row(conn, parcel_id)
        finally:
            conn.close()

    def entries(self, state: str | None) -> pd.DataFrame:
        sql = f"SELECT {', '.join(COLUMNS)} FROM register"
        params: tuple = ()
        if state is not None:
            sql, params = sql + " WHERE state = ?", (state,)
        conn = self._connect()
        try:
            return pd.read_sql_query(sql + " ORDER BY parcel_id", conn, params=params)
        finally:
            conn.close()

    def audit(self, parcel_id: str | None) -> pd.DataFrame:
        sql = "SELECT id, parcel_id, at, who, action, before, after FROM register_audit"
        params: tuple = ()
        if parcel_id is not None:
            sql, params = sql + " WHERE parcel_id = ?", (str(parcel_id),)
        conn = self._connect()
        try:
            return pd.read_sql_query(sql + " ORDER BY id", conn, params=params)
        finally:
            conn.close()

    def require_parcel(self, conn: sqlite3.Connection, parcel_id: str) -> None:
        for layer in ("result_parcels", "parcels"):
            if _has_table(conn, layer):
                sql = f"SELECT 1 FROM {layer} WHERE parcel_id = ? LIMIT 1"
                if conn.execute(sql, (parcel_id,)).fetchone():
                    return
                raise RegisterError(
                    f"parcel {parcel_id!r} is not in the workspace layer {layer!r}; "
                    "register only parcels of the analysed workspace (check the id)"
                )
        raise RegisterError(f"{self.gpkg} has no result_parcels or parcels layer")

    def verdict(self, conn: sqlite3.Connection, parcel_id: str):
        """``(transferable, reason_codes, reasons)`` of the parcel, None, or :data:`NO_RESULTS`."""
        if not _has_table(conn, "result_parcels"):
            return NO_RESULTS
        r = conn.execute(
            "SELECT transferable, reason_codes, reasons FROM result_parcels WHERE parcel_id = ?",
            (parcel_id,),
        ).fetchone()
        return None if r is None else tuple(r)

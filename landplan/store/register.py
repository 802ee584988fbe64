"""The parcel lifecycle register: 规划 → 具备供地条件 → 挂牌 → 出让 → 动工 → 竣工 → 达产, or 闲置 / 收回.

The register lives in the workspace's ``workspace.gpkg`` (an SQLite file) as two
GeoPackage attribute tables, so QGIS lists them beside the layers:

``register``        one row per parcel: ``state``, ``version``, the contract (约定动工/竣工日期,
                    ``land_price_wan``, ``committed`` indicators as JSON) and the progress
                    (``developed_area_share``, ``invested_share``, ``halted_since``).
``register_audit``  one row per change: ``at`` (UTC), ``who``, ``action``, ``before`` and
                    ``after`` (JSON of the whole row).

Every change is one ``BEGIN IMMEDIATE`` transaction that checks the row's
``version`` (optimistic concurrency) and writes the audit row; nothing is left
half-written.  Writers wait for each other (SQLite ``busy_timeout``); only a stale
``expected_version`` makes a write fail, with :class:`~landplan.core.errors.ConflictError`.

Idle land (闲置土地) follows 《闲置土地处置办法》 (国土资源部令第53号, 2012), see
DOMAIN.md §1.5 and §11; periods are counted as 《民法典》 第二百零一、二百零二条 say.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from landplan.core.errors import (
    ConflictError,
    DataSourceError,
    RegisterError,
    StateError,
    WorkspaceError,
)
from landplan.store.lifecycle_rules import (
    DEFAULT_LOWER_IS_BETTER,
    OutputCheck,
    detect_idle,
    parse_date,
    verify_output,
)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

STATES: tuple[str, ...] = (
    "planned",  # 规划储备
    "ready",  # 具备供地条件 (净地, 三通一平)
    "listed",  # 挂牌 / 招拍挂公告
    "transferred",  # 已出让 (合同签订)
    "started",  # 已动工
    "completed",  # 已竣工
    "output_verified",  # 达产复核通过
    "idle",  # 闲置 (认定)
    "reclaimed",  # 已收回
)
STATE_ZH = dict(
    zip(
        STATES,
        (
            "规划储备",
            "具备供地条件",
            "已挂牌",
            "已出让",
            "已动工",
            "已竣工",
            "已达产",
            "闲置",
            "已收回",
        ),
        strict=True,
    )
)
#: the only transitions ``record`` accepts: current state → allowed next states
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("ready",),
    "ready": ("listed", "planned"),  # back to planned when a prerequisite lapses
    "listed": ("transferred", "ready"),  # 流拍: back to ready
    "transferred": ("started", "idle"),
    "started": ("completed", "idle"),
    "completed": ("output_verified",),
    "output_verified": (),
    "idle": ("started", "reclaimed"),  # 动工 after 处置, or 无偿收回
    "reclaimed": ("planned",),  # back into the land reserve; contract and progress cleared
}
SUPPLIED_STATES = ("transferred", "started", "completed", "output_verified", "idle")
BUILT_STATES = ("completed", "output_verified")

DATE_FIELDS = (
    "transferred_on",
    "agreed_start_date",
    "agreed_completion_date",
    "started_on",
    "completed_on",
    "halted_since",
)
SHARE_FIELDS = ("developed_area_share", "invested_share")
SETTABLE = (
    "contract_no",
    *DATE_FIELDS,
    "land_price_wan",
    "committed",
    *SHARE_FIELDS,
    "note",
)
#: fields a row must hold once it reaches the state
REQUIRED = {"transferred": ("agreed_start_date", "agreed_completion_date", "land_price_wan")}
#: the date field an event sets (from ``on``) unless the caller gives it
EVENT_FIELD = {
    "transferred": "transferred_on",
    "started": "started_on",
    "completed": "completed_on",
}
CONTRACT_FIELDS = tuple(f for f in SETTABLE if f != "note")

_STATE_LIST = ", ".join(f"'{s}'" for s in STATES)
DDL = f"""
CREATE TABLE IF NOT EXISTS register_meta (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register (
  fid INTEGER PRIMARY KEY AUTOINCREMENT,
  parcel_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL CHECK (state IN ({_STATE_LIST})),
  version INTEGER NOT NULL CHECK (version >= 1),
  state_since DATE,
  contract_no TEXT,
  transferred_on DATE,
  agreed_start_date DATE,
  agreed_completion_date DATE,
  land_price_wan REAL CHECK (land_price_wan >= 0),
  committed TEXT NOT NULL DEFAULT '{{}}',
  started_on DATE,
  completed_on DATE,
  developed_area_share REAL CHECK (developed_area_share BETWEEN 0 AND 1),
  invested_share REAL CHECK (invested_share BETWEEN 0 AND 1),
  halted_since DATE,
  note TEXT,
  updated_at DATETIME NOT NULL,
  updated_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  parcel_id TEXT NOT NULL,
  at DATETIME NOT NULL,
  who TEXT NOT NULL,
  action TEXT NOT NULL,
  before TEXT,
  after TEXT);
CREATE INDEX IF NOT EXISTS register_audit_parcel ON register_audit (parcel_id);
"""
TABLES = {
    "register": "地块全生命周期登记 parcel lifecycle register",
    "register_audit": "登记变更记录 register audit trail",
    "register_meta": "登记表结构版本 register schema version",
}
COLUMNS = (
    "parcel_id",
    "state",
    "version",
    "state_since",
    "contract_no",
    "transferred_on",
    "agreed_start_date",
    "agreed_completion_date",
    "land_price_wan",
    "committed",
    "started_on",
    "completed_on",
    "developed_area_share",
    "invested_share",
    "halted_since",
    "note",
    "updated_at",
    "updated_by",
)


# ----------------------------------------------------------------------------- values


def utc_now() -> str:
    """UTC time in the GeoPackage DATETIME form (``2025-01-31T08:15:02.123Z``)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _clean(name: str, value):
    """One settable field, checked and converted to what the table stores."""
    if name not in SETTABLE:
        raise RegisterError(
            f"unknown register field {name!r}; settable fields: {', '.join(SETTABLE)}"
        )
    if value is None or (isinstance(value, str) and not value.strip()):
        return "{}" if name == "committed" else None
    if name in DATE_FIELDS:
        return parse_date(value, name=name).isoformat()
    if name == "committed":
        data = json.loads(value) if isinstance(value, str) else dict(value)
        if not isinstance(data, dict):
            raise RegisterError(
                f"committed must be a JSON object of indicator → value, got {value!r}"
            )
        try:
            return json.dumps(
                {str(k): float(v) for k, v in data.items()}, ensure_ascii=False, sort_keys=True
            )
        except (TypeError, ValueError):
            raise RegisterError(f"committed indicators must be numbers, got {data!r}") from None
    if name in ("contract_no", "note"):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RegisterError(f"{name} = {value!r} is not a number") from None
    if name in SHARE_FIELDS and not 0.0 <= number <= 1.0:
        raise RegisterError(f"{name} = {value!r}: give a share between 0 and 1 (0.3 for 30 %)")
    if number < 0:
        raise RegisterError(f"{name} = {value!r} must not be negative")
    return number


def _check_row(row: Mapping, state: str) -> None:
    missing = [f for f in REQUIRED.get(state, ()) if row.get(f) is None]
    if missing:
        raise RegisterError(
            f"parcel {row['parcel_id']}: state {state!r} needs {', '.join(missing)}; "
            f"give them with --set {missing[0]}=..."
        )
    start, end = row.get("agreed_start_date"), row.get("agreed_completion_date")
    if start and end and end < start:
        raise RegisterError(
            f"parcel {row['parcel_id']}: agreed_completion_date {end} is before agreed_start_date {start}"
        )


# ----------------------------------------------------------------------------- SQLite


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
    :func:`freeze_register` held until the swap is done.  In ``GpkgWorkspace.write_result``::

        with ExitStack() as lock:
            with staged_directory(self.path) as stage:
                _write_all(stage, result)
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


# ----------------------------------------------------------------------------- transitions
# Pure steps shared by this SQLite register and the PostGIS one (landplan.store.pgregister).


def first_row(pid: str, expected_version: int | None, /) -> dict:
    """The row of a parcel entering the register (version 1), or ConflictError."""
    if expected_version not in (None, 0):
        raise ConflictError(
            f"parcel {pid} is not in the register (expected version {expected_version}); "
            "someone may have removed it, or the id is wrong",
            current=None,
        )
    new = dict.fromkeys(COLUMNS)
    new.update(parcel_id=pid, committed="{}", version=1)
    return new


def next_row(current: dict, to: str, expected_version: int | None, /) -> dict:
    """The row after moving a registered parcel to ``to`` (version + 1), or State/ConflictError."""
    _check_version(current, expected_version)
    allowed = TRANSITIONS[current["state"]]
    if to not in allowed:
        raise StateError(
            f"parcel {current['parcel_id']} is {current['state']!r} ({STATE_ZH[current['state']]}); "
            f"it cannot move to {to!r} ({STATE_ZH[to]}). Allowed from "
            f"{current['state']!r}: {', '.join(allowed) or 'none (final state)'}",
            current=current["state"],
            requested=to,
            allowed=allowed,
        )
    new = dict(current, version=current["version"] + 1)
    if current["state"] == "reclaimed":  # a new lifecycle: the old contract is history
        new.update(dict.fromkeys(CONTRACT_FIELDS), committed="{}")
    if current["state"] == "idle" and to == "started":
        new["halted_since"] = None  # work resumed
    return new


def finish_row(new: dict, to: str, values: Mapping, event: str, who: str, /) -> dict:
    """Apply the fields, state, dates and author of a change, and check the row."""
    new.update(values, state=to, state_since=event, updated_at=utc_now(), updated_by=who)
    if to in EVENT_FIELD and EVENT_FIELD[to] not in values:
        new[EVENT_FIELD[to]] = event
    _check_row(new, to)
    return new


def check_not_blocked(pid: str, transferable, reason_codes, reasons_json, /) -> None:
    """``ready`` needs a transfer verdict without any block reason (净地, 三通一平, no red line)."""
    if transferable is None or transferable:
        return
    blocks = [x["code"] for x in json.loads(reasons_json or "[]") if x["severity"] == "block"]
    raise StateError(
        f"parcel {pid} cannot become 'ready': its transfer verdict is blocked by "
        f"{', '.join(blocks) or reason_codes} (see result_parcels.reasons_zh)",
        requested="ready",
    )


# ----------------------------------------------------------------------------- the register


class Register:
    """The lifecycle register of one workspace directory (tables created on first open).

    Each call opens its own SQLite connection, so one ``Register`` may be used from
    many threads; separate processes may open the same workspace at the same time.
    """

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
    def _write(self) -> Iterator[sqlite3.Connection]:
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

    # the storage primitives; record / update / log_check only use these (PgRegister overrides them)

    def _row(self, conn: sqlite3.Connection, parcel_id: str) -> dict | None:
        return _row(conn, parcel_id)

    def _store(self, conn: sqlite3.Connection, new: dict, current: dict | None) -> None:
        _store(conn, new, current)

    def _write_audit(self, conn, parcel_id: str, who: str, action: str, before, after) -> None:
        _write_audit(conn, parcel_id, who, action, before, after)

    # ------------------------------------------------------------------ reading

    def get(self, parcel_id: str, /) -> dict | None:
        """The register row of a parcel (``committed`` decoded), or ``None``."""
        conn = self._connect()
        try:
            row = _row(conn, str(parcel_id))
        finally:
            conn.close()
        if row is not None:
            row["committed"] = json.loads(row["committed"] or "{}")
        return row

    def entries(self, *, state: str | None = None) -> pd.DataFrame:
        """Every register row (``committed`` as JSON text), optionally of one state."""
        if state is not None and state not in STATES:
            raise RegisterError(f"unknown state {state!r}; states: {', '.join(STATES)}")
        sql = f"SELECT {', '.join(COLUMNS)} FROM register"
        params: tuple = ()
        if state is not None:
            sql, params = sql + " WHERE state = ?", (state,)
        conn = self._connect()
        try:
            return pd.read_sql_query(sql + " ORDER BY parcel_id", conn, params=params)
        finally:
            conn.close()

    def audit(self, *, parcel_id: str | None = None) -> pd.DataFrame:
        """The audit trail, oldest first, optionally of one parcel."""
        sql = "SELECT id, parcel_id, at, who, action, before, after FROM register_audit"
        params: tuple = ()
        if parcel_id is not None:
            sql, params = sql + " WHERE parcel_id = ?", (str(parcel_id),)
        conn = self._connect()
        try:
            return pd.read_sql_query(sql + " ORDER BY id", conn, params=params)
        finally:
            conn.close()

    # ------------------------------------------------------------------ checks

    def _require_parcel(self, conn: sqlite3.Connection, parcel_id: str) -> None:
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

    def _require_ready(self, conn: sqlite3.Connection, parcel_id: str) -> None:
        """``ready`` needs a transfer verdict without any block reason (净地, 三通一平, no red line)."""
        if not _has_table(conn, "result_parcels"):
            raise StateError(
                f"parcel {parcel_id}: no transfer verdict in the workspace; run `landplan analyze` first",
                requested="ready",
            )
        r = conn.execute(
            "SELECT transferable, reason_codes, reasons FROM result_parcels WHERE parcel_id = ?",
            (parcel_id,),
        ).fetchone()
        if r is not None:
            check_not_blocked(parcel_id, r["transferable"], r["reason_codes"], r["reasons"])

    # ------------------------------------------------------------------ writing

    def record(
        self,
        parcel_id: str,
        /,
        *,
        to: str,
        by: str,
        on: date | str | None = None,
        expected_version: int | None = None,
        fields: Mapping[str, object] | None = None,
        evidence: Mapping[str, object] | None = None,
    ) -> dict:
        """Move a parcel to state ``to`` (or register it there), in one audited transaction.

        ``on`` is the date of the event (default today): it becomes ``state_since`` and,
        for transferred / started / completed, ``transferred_on`` / ``started_on`` /
        ``completed_on`` unless ``fields`` gives them.  ``expected_version`` is the version
        the caller last read (0 or ``None`` for a parcel not yet registered; ``None`` skips
        the check).  A parcel not yet registered may start in any state (onboarding
        parcels transferred before the register existed).  ``evidence`` (e.g. a 达产复核
        result) is kept in the audit row under ``after["check"]``.  Returns the new row.

        Raises ``StateError`` for a transition not in :data:`TRANSITIONS`,
        ``ConflictError`` (with ``.current``) when the version moved on, and
        ``RegisterError`` for an unknown parcel or a bad field.
        """
        if to not in STATES:
            raise StateError(f"unknown state {to!r}; states: {', '.join(STATES)}", requested=to)
        who = _who(by)
        event = parse_date(on if on is not None else date.today(), name="--date").isoformat()
        values = {k: _clean(k, v) for k, v in (fields or {}).items()}
        pid = str(parcel_id)
        with self._write() as conn:
            current = self._row(conn, pid)
            if current is None:
                new, action = first_row(pid, expected_version), "create"
                self._require_parcel(conn, pid)
                if to in ("ready", "listed"):
                    self._require_ready(conn, pid)
            else:
                new, action = next_row(current, to, expected_version), "transition"
                if to == "ready":
                    self._require_ready(conn, pid)
            finish_row(new, to, values, event, who)
            self._store(conn, new, current)
            after = {**new, "check": dict(evidence)} if evidence else new
            self._write_audit(conn, pid, who, action, current, after)
        return self.get(pid)

    def update(
        self,
        parcel_id: str,
        /,
        *,
        by: str,
        fields: Mapping[str, object],
        expected_version: int | None = None,
    ) -> dict:
        """Change contract or progress fields without a state change (audited, version + 1)."""
        if not fields:
            raise RegisterError("nothing to update: give at least one --set key=value")
        who = _who(by)
        values = {k: _clean(k, v) for k, v in fields.items()}
        pid = str(parcel_id)
        with self._write() as conn:
            current = self._row(conn, pid)
            if current is None:
                raise RegisterError(
                    f"parcel {pid} is not in the register; record it first (landplan register record)"
                )
            _check_version(current, expected_version)
            new = dict(current, **values, version=current["version"] + 1)
            new.update(updated_at=utc_now(), updated_by=who)
            _check_row(new, new["state"])
            self._store(conn, new, current)
            self._write_audit(conn, pid, who, "update", current, new)
        return self.get(pid)

    def log_check(
        self, parcel_id: str, /, *, by: str, action: str, result: Mapping, expected_version=None
    ) -> None:
        """An audit row for a check that changes no field (e.g. a failed 达产复核)."""
        pid = str(parcel_id)
        with self._write() as conn:
            current = self._row(conn, pid)
            if current is None:
                raise RegisterError(f"parcel {pid} is not in the register")
            _check_version(current, expected_version)
            self._write_audit(
                conn, pid, _who(by), action, current, {**current, "check": dict(result)}
            )

    def idle(self, *, as_of: date | str | None = None) -> pd.DataFrame:
        """Idle-land findings as of a date (default today); see :func:`detect_idle`."""
        return detect_idle(self.entries(), as_of=as_of)

    def check_output(
        self,
        parcel_id: str,
        /,
        *,
        actual: Mapping[str, float],
        by: str | None = None,
        on: date | str | None = None,
        expected_version: int | None = None,
        tolerance_pct: float = 0.0,
        lower_is_better: frozenset[str] | set[str] = DEFAULT_LOWER_IS_BETTER,
    ) -> OutputCheck:
        """达产复核 of a registered parcel against its ``committed`` indicators.

        With ``by`` the check is recorded: a pass moves a ``completed`` parcel to
        ``output_verified``; a fail (or a pass in another state) adds an audit row
        ``output_check`` holding the result and changes nothing else.
        """
        row = self.get(parcel_id)
        if row is None:
            raise RegisterError(f"parcel {parcel_id} is not in the register")
        check = verify_output(
            row["committed"],
            actual,
            tolerance_pct=tolerance_pct,
            lower_is_better=lower_is_better,
        )
        if by is None:
            return check
        version = row["version"] if expected_version is None else expected_version
        if check.passed and row["state"] == "completed":
            self.record(
                parcel_id,
                to="output_verified",
                by=by,
                on=on,
                expected_version=version,
                evidence=check.to_dict(),
            )
        else:
            self.log_check(
                parcel_id,
                by=by,
                action="output_check",
                result=check.to_dict(),
                expected_version=version,
            )
        return check


def _who(by: str) -> str:
    who = str(by or "").strip()
    if not who:
        raise RegisterError("say who records the change (--by NAME)")
    return who


def _check_version(current: dict, expected: int | None) -> None:
    if expected is not None and int(expected) != current["version"]:
        raise ConflictError(
            f"parcel {current['parcel_id']} was changed by {current['updated_by']} at "
            f"{current['updated_at']}: it is now version {current['version']} "
            f"({current['state']}), not {expected}; re-read it (landplan register show) and retry",
            current=dict(current),
        )


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

"""Register storage in a PostGIS workspace, composed into :class:`landplan.store.register.Register`.

The tables ``register`` and ``register_audit`` of the workspace schema have the columns of the
GeoPackage register (dates as ``date``, ``updated_at`` / ``at`` as ``timestamptz``, ``before`` /
``after`` as ``json``, which keeps the JSON text as written).  Values are returned exactly as
:class:`~landplan.store.register.Register` returns them: dates as ``YYYY-MM-DD`` text, times as
``2025-01-31T08:15:02.123Z`` (UTC, milliseconds), ``committed`` as JSON text in
``entries`` and decoded in ``get``.

Every change is one transaction (READ COMMITTED): the row is read without a lock, the
version checked, and ``UPDATE ... WHERE parcel_id = %s AND version = %s`` written; when another
writer committed first the update matches no row and :class:`~landplan.core.errors.ConflictError`
is raised (a concurrent first ``INSERT`` fails on the unique ``parcel_id`` likewise).  The audit
row and the workspace's ``data_version`` are written in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from landplan.core.errors import ConflictError, RegisterError
from landplan.store.pgschema import (
    bump_data_version,
    connect,
    psycopg,
    sql,
    table_exists,
)
from landplan.store.register import Register
from landplan.store.register_schema import COLUMNS, DATE_FIELDS, NO_RESULTS, utc_now

#: timestamptz → the text form of :func:`landplan.store.register.utc_now`
TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'
AUDIT_COLUMNS = ("id", "parcel_id", "at", "who", "action", "before", "after")


def _select_list(columns) -> sql.Composable:
    """The register columns in the text forms the SQLite register returns."""
    parts = []
    for c in columns:
        ident = sql.Identifier(c)
        if c in DATE_FIELDS or c == "state_since":
            parts.append(sql.SQL("{}::text AS {}").format(ident, ident))
        elif c in ("updated_at", "at"):
            parts.append(
                sql.SQL("to_char({}, {}) AS {}").format(ident, sql.Literal(TIME_FORMAT), ident)
            )
        elif c in ("before", "after"):
            parts.append(sql.SQL("{}::text AS {}").format(ident, ident))
        else:
            parts.append(ident)
    return sql.SQL(", ").join(parts)


def register_rows(conn, schema: str, /) -> list[dict]:
    """Every register row with its ``fid``, in the text forms of the SQLite register."""
    query = sql.SQL("SELECT {} FROM {} ORDER BY fid").format(
        _select_list(("fid", *COLUMNS)), sql.Identifier(schema, "register")
    )
    return _dicts(conn.execute(query))


def audit_rows(conn, schema: str, /, *, parcel_id: str | None = None) -> list[dict]:
    """Audit rows, oldest first (``before`` / ``after`` as the JSON text written)."""
    query = sql.SQL("SELECT {} FROM {}").format(
        _select_list(AUDIT_COLUMNS), sql.Identifier(schema, "register_audit")
    )
    params: tuple = ()
    if parcel_id is not None:
        query, params = query + sql.SQL(" WHERE parcel_id = %s"), (str(parcel_id),)
    return _dicts(conn.execute(query + sql.SQL(" ORDER BY id"), params))


def insert_rows(conn, schema: str, register: list[dict], audit: list[dict], /) -> None:
    """Copy register and audit rows (ids kept) into empty tables; sequences moved past them."""
    for table, rows, key in (("register", register, "fid"), ("register_audit", audit, "id")):
        if not rows:
            continue
        cols = list(rows[0])
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(schema, table),
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        )
        with conn.cursor() as cur:
            cur.executemany(query, [[r[c] for c in cols] for r in rows])
        qualified = sql.Identifier(schema, table).as_string(conn)
        conn.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence(%s, %s), max({})) FROM {}").format(
                sql.Identifier(key), sql.Identifier(schema, table)
            ),
            (qualified, key),
        )


def _dicts(cursor) -> list[dict]:
    names = [d.name for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def PgRegister(conninfo: str, schema: str, /) -> Register:  # noqa: N802  (reads as a class)
    """The lifecycle register of one PostGIS workspace (the rules of :class:`Register`)."""
    return Register(PgRegisterStorage(conninfo, schema))


class PgRegisterStorage:
    """The register's storage primitives over PostgreSQL (pooled connections, thread-safe)."""

    def __init__(self, conninfo: str, schema: str, /) -> None:
        self.conninfo = conninfo
        self.schema = schema

    def _table(self, name: str = "register") -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction: commit on success, roll back on any error (nothing half-written)."""
        with connect(self.conninfo) as conn, conn.transaction():
            yield conn
            bump_data_version(conn, self.schema)

    def row(self, conn, parcel_id: str) -> dict | None:
        query = sql.SQL("SELECT {} FROM {} WHERE parcel_id = %s").format(
            _select_list(COLUMNS), self._table()
        )
        rows = _dicts(conn.execute(query, (parcel_id,)))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ reading

    def read_row(self, parcel_id: str) -> dict | None:
        with connect(self.conninfo) as conn:
            return self.row(conn, parcel_id)

    def entries(self, state: str | None) -> pd.DataFrame:
        query = sql.SQL("SELECT {} FROM {}").format(_select_list(COLUMNS), self._table())
        params: tuple = ()
        if state is not None:
            query, params = query + sql.SQL(" WHERE state = %s"), (state,)
        with connect(self.conninfo) as conn:
            rows = conn.execute(query + sql.SQL(" ORDER BY parcel_id"), params).fetchall()
        return pd.DataFrame.from_records(rows, columns=list(COLUMNS), coerce_float=True)

    def audit(self, parcel_id: str | None) -> pd.DataFrame:
        with connect(self.conninfo) as conn:
            rows = audit_rows(conn, self.schema, parcel_id=parcel_id)
        return pd.DataFrame.from_records(
            [tuple(r.values()) for r in rows], columns=list(AUDIT_COLUMNS)
        )

    # ------------------------------------------------------------------ checks

    def _columns(self, conn, layer: str) -> set[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (self.schema, layer),
        ).fetchall()
        return {r[0] for r in rows}

    def require_parcel(self, conn, parcel_id: str) -> None:
        for layer in ("result_parcels", "parcels"):
            if table_exists(conn, self.schema, layer):
                query = sql.SQL("SELECT 1 FROM {} WHERE parcel_id = %s LIMIT 1").format(
                    self._table(layer)
                )
                if conn.execute(query, (parcel_id,)).fetchone():
                    return
                raise RegisterError(
                    f"parcel {parcel_id!r} is not in the workspace layer {layer!r}; "
                    "register only parcels of the analysed workspace (check the id)"
                )
        raise RegisterError(f"workspace {self.schema} has no result_parcels or parcels layer")

    def verdict(self, conn, parcel_id: str):
        """``(transferable, reason_codes, reasons)`` of the parcel, None, or ``NO_RESULTS``."""
        if not table_exists(conn, self.schema, "result_parcels"):
            return NO_RESULTS
        query = sql.SQL(
            "SELECT transferable, reason_codes, reasons FROM {} WHERE parcel_id = %s"
        ).format(self._table("result_parcels"))
        r = conn.execute(query, (parcel_id,)).fetchone()
        return None if r is None else tuple(r)

    # ------------------------------------------------------------------ writing

    def store(self, conn, new: dict, current: dict | None) -> None:
        """INSERT a new row, or UPDATE guarded by the version read (0 rows → ConflictError)."""
        if current is None:
            query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                self._table(),
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
                sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
            )
            try:
                with conn.transaction():  # a savepoint, so the row can be re-read after it
                    conn.execute(query, [new[c] for c in COLUMNS])
            except psycopg.errors.UniqueViolation as exc:
                raise ConflictError(
                    f"parcel {new['parcel_id']} was registered by someone else first",
                    current=self.row(conn, new["parcel_id"]),
                ) from exc
            return
        cols = [c for c in COLUMNS if c != "parcel_id"]
        query = sql.SQL("UPDATE {} SET {} WHERE parcel_id = %s AND version = %s").format(
            self._table(),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols),
        )
        n = conn.execute(
            query, [*(new[c] for c in cols), new["parcel_id"], current["version"]]
        ).rowcount
        if n != 1:
            now = self.row(conn, new["parcel_id"])
            raise ConflictError(
                f"parcel {new['parcel_id']} changed under this write (now version "
                f"{now['version'] if now else '?'}); re-read and retry",
                current=now,
            )

    def write_audit(self, conn, parcel_id: str, who: str, action: str, before, after) -> None:
        """Insert the audit row (inside the caller's transaction)."""
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (parcel_id, at, who, action, before, after) "
                "VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(self._table("register_audit")),
            (
                parcel_id,
                utc_now(),
                who,
                action,
                None if before is None else json.dumps(before, ensure_ascii=False),
                None if after is None else json.dumps(after, ensure_ascii=False),
            ),
        )

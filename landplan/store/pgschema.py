"""The PostgreSQL schema of a PostGIS workspace: names, connections, DDL and migrations.

One workspace is one PostgreSQL schema named after the workspace (``?workspace=NAME`` in the
DSN, default ``landplan``).  Besides one table per layer it holds:

``landplan_meta``     key/value text: ``schema_version``, ``workspace`` (the marker JSON of the
                      GeoPackage workspace, verbatim), ``policy_toml``, ``data_version`` (bumped
                      by every write, see :func:`bump_data_version`) and ``push_id``.
``landplan_layers``   the catalogue of layers: ``name``, ``geometry_type`` (OGR name such as
                      ``Polygon``; NULL for attribute tables), ``srid``, ``position`` (the order
                      of the layers in ``workspace.gpkg``), ``features`` (count) and the extent
                      in CRS84 degrees (``west``, ``south``, ``east``, ``north``), all written
                      with the layer.
``register``          the lifecycle register and ``register_audit`` its audit trail
                      (:mod:`landplan.store.pgregister`), with the columns of :mod:`landplan.store.register`.
``landplan_files``    other files of the workspace directory (``validation_report.json``,
                      ``park_summary.csv`` ...) as bytes, so a pull gives them back.

:data:`MIGRATIONS` are numbered steps; :func:`migrate` applies the missing ones in one
transaction under an advisory lock, so two processes opening an old schema do not race.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from landplan.core.errors import DataSourceError, WorkspaceError
from landplan.store.register_schema import STATES

try:  # psycopg is the optional ``landplan[postgis]`` dependency
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - checked when a store is opened
    psycopg = None
    sql = None

DEFAULT_WORKSPACE = "landplan"
#: schemas a workspace may never be called (PostgreSQL's own and PostGIS's)
RESERVED = frozenset({"public", "information_schema", "topology", "tiger", "tiger_data"})
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")  # 48 characters leave room for staging suffixes
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: longer names would be truncated silently
INTERNAL_TABLES = frozenset(
    {"landplan_meta", "landplan_layers", "landplan_files", "register", "register_audit"}
)


# ----------------------------------------------------------------------------- names


def check_workspace_name(name: str, /) -> str:
    """The schema name of workspace ``name``; refuse anything but ``[a-z_][a-z0-9_]*`` (≤ 48)."""
    text = str(name)
    if not _NAME.match(text) or text in RESERVED or text.startswith("pg_"):
        raise WorkspaceError(
            f"workspace name {text!r} is not allowed: use 1–48 lower-case letters, digits and "
            "'_', starting with a letter (not public, pg_*, information_schema, topology, tiger)"
        )
    return text


def check_layer_name(name: str, /) -> str:
    """A layer name usable as a table name: ≤ 63 UTF-8 bytes, no NUL, not an internal table."""
    text = str(name)
    if (
        not text
        or "\x00" in text
        or len(text.encode()) > MAX_IDENTIFIER_BYTES
        or text in INTERNAL_TABLES
        or text.startswith("_lp_")
    ):
        raise WorkspaceError(
            f"layer name {text!r} cannot be stored in PostGIS: give 1–63 bytes, not one of "
            f"{sorted(INTERNAL_TABLES)} and not starting with '_lp_'"
        )
    return text


def check_column_name(name: str, /) -> str:
    text = str(name)
    if not text or "\x00" in text or len(text.encode()) > MAX_IDENTIFIER_BYTES:
        raise WorkspaceError(
            f"column name {text!r} cannot be stored in PostGIS (1–63 bytes, no NUL); rename it"
        )
    return text


URI_PREFIXES = ("postgresql://", "postgres://")
#: ``workspace=NAME`` in a key=value DSN (libpq itself would refuse the unknown keyword)
_KV_WORKSPACE = re.compile(r"(?:^|\s)workspace\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)")


def split_dsn(dsn: str, /) -> tuple[str, str]:
    """``(conninfo, workspace name)`` of a DSN in any libpq form; the name defaults to ``landplan``.

    URIs (``postgresql:///db`` for the local socket, ``postgresql://u@h:5433/db?sslmode=..``,
    ``?host=/socket/dir``, ``?options=-c...``) carry the workspace as ``?workspace=NAME``;
    key=value strings (``host=/tmp dbname=db``) as ``workspace=NAME``.  The rest is parsed by
    libpq (``conninfo_to_dict``) and rebuilt with ``make_conninfo``, so every form libpq
    accepts works and nothing is pasted together by hand.
    """
    text = str(dsn).strip()
    if text.startswith(URI_PREFIXES):
        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=True)
        names = [v for k, v in query if k == "workspace"]
        rest = urlencode([(k, v) for k, v in query if k != "workspace"], quote_via=quote)
        text = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
    else:
        names = [m.group(1).strip("'") for m in _KV_WORKSPACE.finditer(text)]
        text = _KV_WORKSPACE.sub(" ", text).strip()
    name = check_workspace_name(names[-1] if names else DEFAULT_WORKSPACE)
    if psycopg is None:
        return text, name
    try:
        params = psycopg.conninfo.conninfo_to_dict(text)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise DataSourceError(
            f"not a PostgreSQL connection string ({reason}); use postgresql://user@host:port/db, "
            "postgresql:///db for the local socket, or host=... dbname=..."
        ) from None
    return psycopg.conninfo.make_conninfo("", **params), name


def with_workspace(dsn: str, name: str, /) -> str:
    """``dsn`` (URI or key=value, as the user wrote it) naming workspace ``name``."""
    text = str(dsn).strip()
    if text.startswith(URI_PREFIXES):
        parts = urlsplit(text)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        query = [(k, v) for k, v in query if k != "workspace"] + [("workspace", name)]
        base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        return f"{base}?{urlencode(query, quote_via=quote)}"
    return f"{_KV_WORKSPACE.sub(' ', text).strip()} workspace={name}".strip()


def list_workspaces(conninfo: str, /) -> list[str]:
    """Names of the landplan workspaces in the database (schemas with a ``landplan_meta``)."""
    with connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'landplan_meta' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows if "__" not in r[0]]  # staging schemas of a push are hidden


def describe(conninfo: str, /) -> str:
    """``host:port/dbname`` of a conninfo, without user or password (for messages)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "the given DSN"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '?')}"


# ----------------------------------------------------------------------------- connections


_POOLS: dict[tuple[int, str], object] = {}
_POOLS_LOCK = threading.Lock()
POOL_MAX = 16
#: connections beyond the read threads: tile tokens, health checks and writes run beside them
POOL_SPARE = 2
#: pools already sized for serving (see :func:`_serve_sized`)
_SERVING: set[tuple[int, str]] = set()
#: pooled blocks open now, per pool
_IN_USE: dict[tuple[int, str], int] = {}
#: connections that wrote in their current block (see :func:`note_write`)
_WROTE: weakref.WeakSet = weakref.WeakSet()
_WRITE_EPOCH = itertools.count(1)
_write_epoch = 0


def serving_pool_min() -> int:
    """Connections kept open once a process reads from several threads at once: one per read
    thread of the API (``LANDPLAN_READ_THREADS``, default: the cores, at most 4) plus
    :data:`POOL_SPARE`."""
    from landplan.core.parallel import default_read_threads, env_int

    threads = env_int("LANDPLAN_READ_THREADS", default_read_threads())
    return max(1, min(POOL_MAX, threads + POOL_SPARE))


def write_epoch() -> int:
    """A number that changes after every committed block of this process that wrote to a
    workspace (took its lock, set a meta key or bumped ``data_version``).

    Caches of catalogue reads compare it to serve this process's own writes at once.
    """
    return _write_epoch


def note_write(conn, /) -> None:
    """Mark ``conn``'s block as a write: :func:`write_epoch` moves on when the block ends."""
    _WROTE.add(conn)


def _end_block(conn) -> None:
    global _write_epoch
    if conn in _WROTE:
        _WROTE.discard(conn)
        _write_epoch = next(_WRITE_EPOCH)


#: per conninfo, ``{srid: (lon, lat)}``: the CRSs whose transformations every new pooled
#: connection sets up before it serves (see :func:`warm_transforms`)
_WARM: dict[str, dict[int, tuple[float, float]]] = {}


def warm_transforms(conninfo: str, points: dict[int, tuple[float, float]], /) -> None:
    """Have each new pooled connection to ``conninfo`` transform a point (CRS84 ``lon, lat``)
    to each ``srid``, back to CRS84 and to Web Mercator once, before it serves a request.

    PostGIS sets up a PROJ transformation per pair of CRSs and connection (about 0.1 s, seconds
    on a busy machine); the first feature page or tile on a new connection paid it, so the
    requests of a first burst waited for it one after another.
    """
    known = _WARM.get(conninfo, {})
    if any(srid not in known for srid in points):
        _WARM[conninfo] = {**known, **points}


def _configure(conn, conninfo: str | None = None) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    for srid, (lon, lat) in _WARM.get(conninfo, {}).items():
        try:
            conn.execute(
                "SELECT ST_Transform(ST_Transform(p, %s), 4326), "
                "ST_Transform(ST_Transform(p, %s), 3857) "
                "FROM (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS p) s",
                (srid, srid, lon, lat),
            ).fetchone()
            conn.commit()
        except psycopg.Error:  # a warm-up only: the request will tell what is wrong
            _rollback(conn)


def _open(conninfo: str, autocommit: bool):
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataSourceError(
            f"cannot connect to PostGIS at {describe(conninfo)}: {reason}"
        ) from None


def _pool(conninfo: str):
    """This process's pool for ``conninfo`` (created after one direct connection succeeded,
    so a wrong DSN fails at once with a clear message instead of a pool timeout)."""
    key = (os.getpid(), conninfo)
    pool = _POOLS.get(key)
    if pool is not None:
        return pool
    with _POOLS_LOCK:
        if key not in _POOLS:
            from psycopg_pool import ConnectionPool

            _open(conninfo, False).close()
            _POOLS[key] = ConnectionPool(
                conninfo,
                min_size=1,  # a command line opens one; a service grows in one step, see below
                max_size=POOL_MAX,
                kwargs={"connect_timeout": 10},
                configure=functools.partial(_configure, conninfo=conninfo),
                timeout=30,
                open=True,
                name=f"landplan-{describe(conninfo)}",
            )
        return _POOLS[key]


def _borrow(key: tuple[int, str]) -> int:
    """Count a pooled block of this process as started; the blocks already open before it."""
    with _POOLS_LOCK:
        before = _IN_USE.get(key, 0)
        _IN_USE[key] = before + 1
    return before


def _give_back(key: tuple[int, str]) -> None:
    with _POOLS_LOCK:
        _IN_USE[key] -= 1


def _serve_sized(pool, key: tuple[int, str]) -> None:
    """Open the serving connections at once: called when a block starts while another holds
    a connection of the same pool (reads from several threads: a service).

    A command line reads from one thread and keeps one connection.  A service's first burst
    finds the only connection busy: the pool then opens :func:`serving_pool_min` connections
    together (in the pool's workers) and keeps them, instead of growing one connection per
    wait and shrinking back after ten idle minutes, when the next burst pays again.
    """
    with _POOLS_LOCK:
        if key in _SERVING:
            return
        _SERVING.add(key)
    target = serving_pool_min()
    if target > pool.min_size:
        pool.resize(target, max(pool.max_size, target))


@contextmanager
def connect(conninfo: str, /, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection in UTC for the block: committed at the end, rolled back on an error.

    Transactional connections come from a per-process pool (``psycopg_pool``), so PostGIS's
    per-connection PROJ set-up and the connection start are paid once, not per request;
    ``autocommit`` connections (locks, DDL outside transactions) are opened and closed.
    Connection failures become :class:`DataSourceError`, other database errors
    :class:`WorkspaceError` carrying PostgreSQL's message (never the SQL text or password).
    """
    if psycopg is None:
        raise DataSourceError("the PostGIS store needs psycopg: pip install 'landplan[postgis]'")
    if autocommit:
        conn = _open(conninfo, True)
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            yield conn
        except psycopg.Error as exc:
            raise WorkspaceError(
                f"PostGIS error: {exc.diag.message_primary or type(exc).__name__}"
            ) from exc
        finally:
            _end_block(conn)
            conn.close()
        return
    from psycopg_pool import PoolTimeout

    key = (os.getpid(), conninfo)
    counted = False
    try:
        pool = _pool(conninfo)
        counted = True
        if _borrow(key) and key not in _SERVING:
            _serve_sized(pool, key)
        borrowed = pool.connection()
        conn = borrowed.__enter__()
    except BaseException as exc:
        if counted:
            _give_back(key)
        if isinstance(exc, PoolTimeout):
            raise DataSourceError(
                f"no PostGIS connection to {describe(conninfo)} became free in 30 s"
            ) from None
        if isinstance(exc, psycopg.OperationalError):
            raise DataSourceError(
                f"cannot connect to PostGIS at {describe(conninfo)}: {type(exc).__name__}"
            ) from None
        raise
    try:
        yield conn
        conn.commit()
    except psycopg.Error as exc:
        _rollback(conn)
        _end_block(conn)
        borrowed.__exit__(None, None, None)
        message = exc.diag.message_primary or type(exc).__name__
        raise WorkspaceError(f"PostGIS error: {message}") from exc
    except BaseException:
        _rollback(conn)
        _end_block(conn)
        borrowed.__exit__(None, None, None)
        raise
    finally:
        _give_back(key)
    _end_block(conn)
    borrowed.__exit__(None, None, None)


def _rollback(conn) -> None:
    with suppress(psycopg.Error):
        conn.rollback()


def schema_exists(conn, schema: str, /) -> bool:
    row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return row is not None


def table_exists(conn, schema: str, table: str, /) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (schema, table)
    ).fetchone()
    return row is not None


def lock_workspace(conn, schema: str, /) -> None:
    """Transaction-level advisory lock on a workspace name (pushes and migrations wait on it)."""
    note_write(conn)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("landplan:" + schema,))


@contextmanager
def shared_workspace_lock(conn, schema: str, /) -> Iterator[None]:
    """Hold the workspace lock shared (session level) for the block: writers wait until it ends.

    Taken and released in transactions of their own, so a REPEATABLE READ transaction inside
    the block takes its snapshot after the lock was granted.
    """
    key = "landplan:" + schema
    conn.execute("SELECT pg_advisory_lock_shared(hashtext(%s))", (key,))
    conn.commit()
    try:
        yield
        conn.commit()
    finally:
        _rollback(conn)
        conn.execute("SELECT pg_advisory_unlock_shared(hashtext(%s))", (key,))
        conn.commit()


# ----------------------------------------------------------------------------- meta


def get_meta(conn, schema: str, key: str, /) -> str | None:
    row = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = %s").format(
            sql.Identifier(schema, "landplan_meta")
        ),
        (key,),
    ).fetchone()
    return None if row is None else row[0]


def get_metas(conn, schema: str, keys: Iterable[str], /) -> dict[str, str]:
    """The values of ``keys`` that are set, in one query."""
    rows = conn.execute(
        sql.SQL("SELECT key, value FROM {} WHERE key = ANY(%s)").format(
            sql.Identifier(schema, "landplan_meta")
        ),
        (list(keys),),
    ).fetchall()
    return dict(rows)


def set_meta(conn, schema: str, key: str, value: str, /) -> None:
    note_write(conn)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ).format(sql.Identifier(schema, "landplan_meta")),
        (key, str(value)),
    )


def bump_data_version(conn, schema: str, /) -> None:
    """Increment ``data_version`` inside the caller's transaction (visible with its data)."""
    note_write(conn)
    conn.execute(
        sql.SQL(
            "UPDATE {} SET value = (value::bigint + 1)::text WHERE key = 'data_version'"
        ).format(sql.Identifier(schema, "landplan_meta"))
    )


# ----------------------------------------------------------------------------- migrations

_STATE_LIST = ", ".join(f"'{s}'" for s in STATES)


def _v1_create(conn, schema: str) -> None:
    """Version 1: meta, layer catalogue, register and its audit trail."""
    ident = sql.Identifier(schema)
    statements = [
        "CREATE TABLE {s}.landplan_meta (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE {s}.landplan_layers (name text PRIMARY KEY, geometry_type text, "
        "srid integer, position integer NOT NULL DEFAULT 0, features bigint NOT NULL DEFAULT 0, "
        "west double precision, south double precision, east double precision, "
        "north double precision)",
        "CREATE TABLE {s}.register ("
        " fid bigserial PRIMARY KEY,"
        " parcel_id text NOT NULL UNIQUE,"
        f" state text NOT NULL CHECK (state IN ({_STATE_LIST})),"
        " version integer NOT NULL CHECK (version >= 1),"
        " state_since date, contract_no text, transferred_on date,"
        " agreed_start_date date, agreed_completion_date date,"
        " land_price_wan double precision CHECK (land_price_wan >= 0),"
        " committed text NOT NULL DEFAULT '{{}}',"
        " started_on date, completed_on date,"
        " developed_area_share double precision CHECK (developed_area_share BETWEEN 0 AND 1),"
        " invested_share double precision CHECK (invested_share BETWEEN 0 AND 1),"
        " halted_since date, note text,"
        " updated_at timestamptz NOT NULL, updated_by text NOT NULL)",
        "CREATE TABLE {s}.register_audit ("
        " id bigserial PRIMARY KEY, parcel_id text NOT NULL, at timestamptz NOT NULL,"
        " who text NOT NULL, action text NOT NULL, before json, after json)",
    ]
    for statement in statements:
        conn.execute(sql.SQL(statement).format(s=ident))
    for key, value in (("data_version", "0"), ("workspace", "{}")):
        set_meta(conn, schema, key, value)


def _v2_files(conn, schema: str) -> None:
    """Version 2: the other files of the workspace directory; audit index by parcel."""
    ident = sql.Identifier(schema)
    conn.execute(
        sql.SQL(
            "CREATE TABLE {s}.landplan_files (name text PRIMARY KEY, content bytea NOT NULL)"
        ).format(s=ident)
    )
    conn.execute(
        sql.SQL("CREATE INDEX register_audit_parcel ON {s}.register_audit (parcel_id)").format(
            s=ident
        )
    )


Migration = Callable[[object, str], None]
#: (version, step): step ``n`` upgrades a schema at version ``n - 1`` to ``n``
MIGRATIONS: tuple[tuple[int, Migration], ...] = ((1, _v1_create), (2, _v2_files))
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(conn, schema: str, /) -> int:
    """The version of a workspace schema; 0 when it has no ``landplan_meta`` yet."""
    if not table_exists(conn, schema, "landplan_meta"):
        return 0
    value = get_meta(conn, schema, "schema_version")
    return int(value) if value else 0


def migrate(conn, schema: str, /, *, target: int = SCHEMA_VERSION) -> int:
    """Create or upgrade ``schema`` step by step to ``target``, in the caller's transaction.

    Returns the version found before.  A schema newer than this landplan is refused.
    """
    check_workspace_name(schema.split("__", 1)[0])
    lock_workspace(conn, schema)
    if not schema_exists(conn, schema):
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    found = schema_version(conn, schema)
    if found > SCHEMA_VERSION:
        raise WorkspaceError(
            f"workspace {schema} was written by a newer landplan (schema {found} > "
            f"{SCHEMA_VERSION}); upgrade landplan"
        )
    for version, step in MIGRATIONS:
        if found < version <= target:
            step(conn, schema)
            set_meta(conn, schema, "schema_version", str(version))
    return found

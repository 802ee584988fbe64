"""Open a store by name: a workspace directory or a PostGIS DSN."""

from __future__ import annotations

import re
from pathlib import Path

from landplan.store.protocol import ServiceStore

#: a libpq key=value connection string starts with one of these keywords
_KV_DSN = re.compile(
    r"^\s*(host|hostaddr|port|dbname|user|password|passfile|service|sslmode|options|"
    r"application_name|connect_timeout|target_session_attrs|workspace)\s*="
)


def is_dsn(spec: str | Path, /) -> bool:
    """True for a PostgreSQL DSN: a ``postgresql://`` URI or a key=value conninfo."""
    text = str(spec).strip()
    return text.startswith(("postgresql://", "postgres://")) or bool(_KV_DSN.match(text))


def open_store(spec: str | Path, /) -> ServiceStore:
    """The store named by ``spec``: a PostgreSQL DSN in any libpq form (``postgresql:///db``,
    ``postgresql://u@h:5432/db?workspace=NAME``, ``host=... dbname=... workspace=NAME``; the
    default workspace is ``landplan``) or a workspace directory."""
    text = str(spec)
    if is_dsn(text):
        from landplan.store.pgstore import PgStore

        return PgStore.from_dsn(text)
    from landplan.store.gpkgstore import GpkgStore

    return GpkgStore(Path(text))

"""Open a store by name: a workspace directory or a PostGIS DSN."""

from __future__ import annotations

from pathlib import Path

from landplan.store.protocol import ServiceStore


def open_store(spec: str | Path, /) -> ServiceStore:
    """The store named by ``spec``: a ``postgresql://`` DSN (with ``?workspace=NAME`` or the
    default schema ``landplan``) or a workspace directory."""
    text = str(spec)
    if text.startswith(("postgresql://", "postgres://")):
        from landplan.store.pgstore import PgStore

        return PgStore.from_dsn(text)
    from landplan.store.gpkgstore import GpkgStore

    return GpkgStore(Path(text))

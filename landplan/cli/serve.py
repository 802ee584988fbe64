"""``landplan serve``: the FastAPI service (uvicorn), and ``landplan api-key-hash``.

Settings come from ``LANDPLAN_*`` environment variables or a ``.env`` file (see docs/api.md);
``--store`` overrides ``LANDPLAN_STORE``.  Connections are bounded by the settings:
``LANDPLAN_HEADER_TIMEOUT_S`` (complete headers within, default 10 s),
``LANDPLAN_KEEP_ALIVE_S`` (idle keep-alive, 5 s), ``LANDPLAN_BODY_TIMEOUT_S`` (a stalled
body, 60 s) and ``LANDPLAN_MAX_CONNECTIONS`` (per worker, 200; above it 503).  The CLI is the composition root, so importing
``api`` here (lazily) keeps the direction of imports ``landplan`` ← ``maps`` ← ``api``.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer


def serve(
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="workspace directory or PostgreSQL DSN (postgresql:///db?workspace=NAME, "
            "host=... dbname=... workspace=NAME); else LANDPLAN_STORE",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Serve a workspace: OGC API Features, tiles, analysis, the transfer register."""
    import uvicorn

    from landplan.api.logs import configure
    from landplan.api.server import uvicorn_options
    from landplan.api.settings import Settings

    if store:
        os.environ["LANDPLAN_STORE"] = store
    settings = Settings()
    _check_store(settings.store)
    configure(log_level)
    uvicorn.run(
        "landplan.api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        proxy_headers=True,
        **uvicorn_options(settings),
    )


def _check_store(spec: str) -> None:
    """Open the store once before starting: a missing workspace (the message lists the ones
    there are) or an unreachable server is an ``error:`` line and exit code 2, not a
    traceback from the worker."""
    from landplan.core.errors import LandplanError
    from landplan.store.open import open_store

    try:
        open_store(spec)
    except LandplanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def api_key_hash(key: Annotated[str, typer.Argument(help="the API key to hash")]) -> None:
    """Print the SHA-256 digest to put into LANDPLAN_API_KEYS (keys are stored hashed only)."""
    from landplan.api.auth import hash_key

    typer.echo(hash_key(key))


COMMANDS = [serve, api_key_hash]

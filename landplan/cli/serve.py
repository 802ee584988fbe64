"""``landplan serve``: the FastAPI service (uvicorn), and ``landplan api-key-hash``.

Settings come from ``LANDPLAN_*`` environment variables or a ``.env`` file (see docs/api.md);
``--store`` overrides ``LANDPLAN_STORE``.  The CLI is the composition root, so importing
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
            "--store", help="workspace directory or postgresql:// DSN (else LANDPLAN_STORE)"
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

    if store:
        os.environ["LANDPLAN_STORE"] = store
    configure(log_level)
    uvicorn.run(
        "landplan.api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        proxy_headers=True,
    )


def api_key_hash(key: Annotated[str, typer.Argument(help="the API key to hash")]) -> None:
    """Print the SHA-256 digest to put into LANDPLAN_API_KEYS (keys are stored hashed only)."""
    from landplan.api.auth import hash_key

    typer.echo(hash_key(key))


COMMANDS = [serve, api_key_hash]

"""``landplan workspace ...``: copy workspaces between a directory and PostGIS.

``push`` stores a workspace directory (``landplan analyze --out``) in a PostGIS schema;
``pull`` writes one back as a directory.  Both are all-or-nothing.  Bad input (an
existing workspace without ``--replace``, an unreachable server, a bad name) exits with
code 2 and an ``error: ...`` line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

EXIT_BAD_INPUT = 2


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def push(
    workspace: Annotated[Path, typer.Argument(help="workspace directory (landplan analyze --out)")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="PostgreSQL DSN: postgresql://user@host:port/db[?workspace=NAME], "
            "postgresql:///db (local socket) or host=... dbname=...",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="workspace (schema) name; default: ?workspace= or the directory"
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="replace a workspace of that name (atomically)")
    ] = False,
) -> None:
    """Store a workspace directory in PostGIS (one transaction; rasters to the raster root)."""
    from landplan.core.errors import LandplanError
    from landplan.store.pgtransfer import push as push_workspace

    try:
        report = push_workspace(workspace, to, name=name, replace=replace)
    except LandplanError as exc:
        _fail(exc)
    typer.echo(
        f"pushed {workspace} → workspace {report.name}: {len(report.layers)} layers, "
        f"{report.register_rows} register rows ({report.audit_rows} audit rows), "
        f"{len(report.rasters)} rasters"
    )
    typer.echo(f"serve it with:\n  {serve_command(to, report.name)}")


def serve_command(dsn: str, name: str) -> str:
    """The shell command that serves workspace ``name`` of ``dsn`` (with the raster root the
    push used, when it is not the default)."""
    import os
    import shlex

    from landplan.store.pgschema import with_workspace
    from landplan.store.pgstore import RASTER_ROOT_ENV

    command = f"landplan serve --store {shlex.quote(with_workspace(dsn, name))}"
    root = os.environ.get(RASTER_ROOT_ENV)
    return f"{RASTER_ROOT_ENV}={shlex.quote(root)} {command}" if root else command


@app.command()
def pull(
    dsn: Annotated[str, typer.Argument(help="postgresql://user@host:port/db?workspace=NAME")],
    to: Annotated[
        Path, typer.Option("--to", help="workspace directory to write (replaced atomically)")
    ],
) -> None:
    """Write a PostGIS workspace back as a workspace directory (QGIS opens it as it is)."""
    from landplan.core.errors import LandplanError
    from landplan.store.pgtransfer import pull as pull_workspace

    try:
        out = pull_workspace(dsn, to)
    except LandplanError as exc:
        _fail(exc)
    typer.echo(f"pulled → {out}")

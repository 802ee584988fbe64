"""CLI options shared by several commands: the Dask switch."""

from __future__ import annotations

import os
from typing import Annotated

import typer

SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this dask.distributed scheduler (or set LANDPLAN_DASK_SCHEDULER); "
        "for raster outputs the workers must share the output directory's filesystem",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="run on a local dask cluster of N worker processes"),
]


def use_dask(scheduler: str | None, workers: int | None) -> bool:
    """True when the command should run on Dask (an option or ``LANDPLAN_DASK_SCHEDULER``)."""
    from landplan.analysis.cluster import ENV_SCHEDULER

    return bool(scheduler or workers or os.environ.get(ENV_SCHEDULER))


def _show_version(value: bool) -> None:
    if value:
        from landplan import __version__

        typer.echo(f"landplan {__version__}")
        raise typer.Exit()


def root_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Industrial-park land planning: available land and transfer verdicts (可出让) with reasons."""

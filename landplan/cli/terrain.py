"""``landplan terrain slope|aspect|relief DEM OUT``: terrain rasters from a DEM.

Outputs are tiled GeoTIFFs (float32, uncompressed, as ``gdaldem`` writes them); ``--cog``
writes a Cloud-Optimised GeoTIFF (DEFLATE, overviews) instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landplan.cli.options import SchedulerOpt, WorkersOpt, use_dask

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

DemArg = Annotated[Path, typer.Argument(help="DEM in a projected CRS (metres), any GDAL raster")]
OutArg = Annotated[
    Path, typer.Argument(help="output GeoTIFF (float32, nodata −9999; tiled, or COG with --cog)")
]
CogOpt = Annotated[
    bool,
    typer.Option(
        "--cog",
        help="write a Cloud-Optimised GeoTIFF (DEFLATE, overviews) instead of a tiled GeoTIFF",
    ),
]
EdgesOpt = Annotated[
    bool,
    typer.Option("--compute-edges", help="also compute the edge cells, as gdaldem -compute_edges"),
]
AlgOpt = Annotated[
    str, typer.Option("--algorithm", help="horn (3×3 weights) or zevenbergenthorne (4 neighbours)")
]


def _run(label: str, func, *args, **kwargs) -> None:
    import sys

    from landplan.core.errors import LandplanError

    try:
        if sys.stdout.isatty():  # a bar in a terminal; none in a pipe or a log
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn(f"[bold]{label}"), BarColumn(),
                TextColumn("{task.completed}/{task.total} rows"), TimeElapsedColumn(),
            ) as bar:  # fmt: skip
                task = bar.add_task(label, total=None)
                out = func(
                    *args, **kwargs, on_progress=lambda d, t: bar.update(task, completed=d, total=t)
                )
        else:
            out = func(*args, **kwargs)
    except LandplanError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # a bad option value
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    g = out.grid
    extra = f", window {out.window}×{out.window} cells" if out.window else ""
    typer.echo(
        f"{out.kind}: {g.width}×{g.height} cells of {g.cellsize_x:g}×{g.cellsize_y:g} m{extra}"
        f" → {out.path}"
    )


def _run_dask(label: str, build, dem: Path, out: Path, *, scheduler, workers, cog) -> None:
    """The chunked path: ``build(dem_array, grid)`` → ``(dask array, window)``, written by the cluster."""
    from landplan.analysis.cluster import dask_client
    from landplan.core.errors import LandplanError
    from landplan.raster import chunked

    try:
        with dask_client(
            scheduler=scheduler,
            workers=workers,
            on_dashboard=lambda link: typer.echo(f"dask dashboard: {link}"),
        ):
            z, g = chunked.read_dask(dem, projected=True, check_data=True)
            arr, window = build(z, g)
            chunked.write_cog_dask(arr, g, out, on_futures=chunked.show_progress, cog=cog)
    except (LandplanError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    extra = f", window {window}×{window} cells" if window else ""
    typer.echo(
        f"{label}: {g.width}×{g.height} cells of {g.cellsize_x:g}×{g.cellsize_y:g} m{extra}"
        f" → {out} (chunked)"
    )


@app.command()
def slope(
    dem: DemArg,
    out: OutArg,
    percent: Annotated[
        bool, typer.Option("--percent", help="percent (100·tan) instead of degrees")
    ] = False,
    algorithm: AlgOpt = "horn",
    compute_edges: EdgesOpt = False,
    cog: CogOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Slope in degrees (or percent); agrees with gdaldem slope."""
    from landplan.raster import terrain

    units = "percent" if percent else "degrees"
    if use_dask(scheduler, workers):
        if compute_edges:
            typer.secho("error: --compute-edges is single-process only; drop --scheduler/--workers",
                        fg=typer.colors.RED, err=True)  # fmt: skip
            raise typer.Exit(2)
        from landplan.raster.chunked import slope_dask

        def build(z, g):
            return slope_dask(z, g, units=units, algorithm=algorithm.lower()), None

        _run_dask(f"slope_{units}", build, dem, out, scheduler=scheduler, workers=workers, cog=cog)
        return
    _run("slope", terrain.slope, dem, out, units=units, algorithm=algorithm.lower(),
         compute_edges=compute_edges, cog=cog)  # fmt: skip


@app.command()
def aspect(
    dem: DemArg,
    out: OutArg,
    algorithm: AlgOpt = "horn",
    compute_edges: EdgesOpt = False,
    cog: CogOpt = False,
) -> None:
    """Aspect: downslope direction in degrees clockwise from north; flat cells are nodata."""
    from landplan.raster import terrain

    _run("aspect", terrain.aspect, dem, out, algorithm=algorithm.lower(),
         compute_edges=compute_edges, cog=cog)  # fmt: skip


@app.command()
def relief(
    dem: DemArg,
    out: OutArg,
    window: Annotated[
        int | None,
        typer.Option(
            "--window",
            help="window side in cells; default from the cell size (双评价: <30 m 15, 30–50 m 12, "
            "50–100 m 9, ≥100 m 3)",
        ),
    ] = None,
    cog: CogOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Relief (地形起伏度): max − min elevation in a square moving window."""
    from landplan.raster import terrain

    if use_dask(scheduler, workers):
        from landplan.raster.chunked import relief_dask

        def build(z, g):
            size = window or terrain.default_relief_window(max(g.cellsize_x, g.cellsize_y))
            return relief_dask(z, g, window=size), size

        _run_dask("relief", build, dem, out, scheduler=scheduler, workers=workers, cog=cog)
        return
    _run("relief", terrain.relief, dem, out, window=window, cog=cog)

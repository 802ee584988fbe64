"""``landplan suitability CONFIG.toml OUT``: a weighted suitability surface from factor rasters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landplan.cli.options import SchedulerOpt, WorkersOpt, use_dask


def suitability(
    config: Annotated[
        Path,
        typer.Argument(
            help="suitability TOML: [[factors]] with raster, rescale, weight; [ahp]; masks"
        ),
    ],
    out: Annotated[
        Path, typer.Argument(help="output GeoTIFF (0–100, nodata −9999; tiled, or COG with --cog)")
    ],
    cog: Annotated[
        bool,
        typer.Option(
            "--cog",
            help="write a Cloud-Optimised GeoTIFF (DEFLATE, overviews) instead of a tiled GeoTIFF",
        ),
    ] = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Combine factor rasters into a suitability surface (hard-constraint masks score 0)."""

    from rich.progress import Progress

    from landplan.core.errors import LandplanError
    from landplan.raster.suitability import load_config, score_suitability

    if use_dask(scheduler, workers):
        _chunked(config, out, scheduler=scheduler, workers=workers, cog=cog)
        return
    try:
        cfg = load_config(config)
        with Progress() as bar:
            task = bar.add_task("suitability", total=None)
            result = score_suitability(
                cfg, out, on_progress=lambda d, t: bar.update(task, completed=d, total=t), cog=cog
            )
    except LandplanError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    weights = ", ".join(f"{k} {v:.3f}" for k, v in result.weights.items())
    typer.echo(f"weights: {weights}")
    typer.echo(
        f"cells {result.cells:,}, masked {result.masked_cells:,}, mean score {result.mean_score:.2f}"
    )
    typer.echo(f"written: {result.path}")


def _chunked(
    config: Path, out: Path, *, scheduler: str | None, workers: int | None, cog: bool
) -> None:
    """The dask path: :func:`landplan.raster.chunked.suitability_dask`, written tile by tile."""
    import math

    from landplan.analysis.cluster import dask_client
    from landplan.core.errors import LandplanError
    from landplan.raster import chunked
    from landplan.raster.suitability import load_config

    try:
        cfg = load_config(config)
        with dask_client(
            scheduler=scheduler,
            workers=workers,
            on_dashboard=lambda link: typer.echo(f"dask dashboard: {link}"),
        ):
            res = chunked.suitability_dask(cfg)
            written = chunked.write_cog_dask(
                res.score, res.grid, out, on_futures=chunked.show_progress, cog=cog
            )
            masked = int(res.masked.sum().compute())
    except LandplanError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    mean = written.sum / written.cells if written.cells else math.nan
    weights = ", ".join(f"{k} {v:.3f}" for k, v in res.weights.items())
    typer.echo(f"weights: {weights}")
    typer.echo(f"cells {written.cells:,}, masked {masked:,}, mean score {mean:.2f}")
    typer.echo(f"written: {written.path} (chunked, {written.tiles} tiles)")


COMMANDS = [suitability]

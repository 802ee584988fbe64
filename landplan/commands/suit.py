"""``landplan suitability CONFIG.toml OUT``: a weighted suitability surface from factor rasters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def suitability(
    config: Annotated[
        Path,
        typer.Argument(
            help="suitability TOML: [[factors]] with raster, rescale, weight; [ahp]; masks"
        ),
    ],
    out: Annotated[
        Path, typer.Argument(help="output Cloud-Optimised GeoTIFF (0–100, nodata −9999)")
    ],
) -> None:
    """Combine factor rasters into a suitability surface (hard-constraint masks score 0)."""
    from rich.progress import Progress

    from landplan.errors import LandplanError
    from landplan.suitability import load_config, score_suitability

    try:
        cfg = load_config(config)
        with Progress() as bar:
            task = bar.add_task("suitability", total=None)
            result = score_suitability(
                cfg, out, on_progress=lambda d, t: bar.update(task, completed=d, total=t)
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


COMMANDS = [suitability]

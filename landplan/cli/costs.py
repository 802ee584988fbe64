"""``landplan distance`` and ``landplan costdistance``: distance and accumulated-cost rasters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landplan.cli.options import SchedulerOpt, WorkersOpt, use_dask

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc")

CogOpt = Annotated[
    bool,
    typer.Option(
        "--cog",
        help="write a Cloud-Optimised GeoTIFF (DEFLATE, overviews) instead of a tiled GeoTIFF",
    ),
]


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def distance(
    features: Annotated[
        Path, typer.Argument(help="vector file of network features (lines, points or polygons)")
    ],
    out: Annotated[
        Path, typer.Argument(help="output GeoTIFF (float32, m, nodata −9999; tiled, or COG)")
    ],
    like: Annotated[
        Path, typer.Option("--like", help="reference raster: the output takes its grid and CRS")
    ],
    kind: Annotated[
        str | None, typer.Option(help="network kind (when the layer has landplan's kind column)")
    ] = None,
    status: Annotated[
        str, typer.Option(help="built: built features only; all: built and planned")
    ] = "built",
    max_distance_m: Annotated[
        float | None,
        typer.Option("--max-distance-m", help="search radius; farther cells are nodata"),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="layer of a multi-layer file")] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="distance to the geometry, not to burnt cells")
    ] = False,
    cog: CogOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Euclidean distance (m) from each cell centre to the nearest feature (like gdal_proximity)."""
    from landplan.core.errors import LandplanError
    from landplan.raster.distance import distance_raster, read_features

    if status not in ("built", "all"):
        _fail(ValueError(f"--status must be built or all, not {status!r}"))
    if use_dask(scheduler, workers):
        if exact:
            _fail(ValueError("--exact is single-process only; drop --scheduler/--workers"))
        _distance_chunked(features, out, like, kind=kind, status=status, layer=layer, cog=cog,
                          max_distance_m=max_distance_m, scheduler=scheduler, workers=workers)  # fmt: skip
        return
    try:
        feats = read_features(features, layer=layer)
        res = distance_raster(feats, like, out, kind=kind, status=status,
                              max_distance_m=max_distance_m, exact=exact, cog=cog)  # fmt: skip
    except LandplanError as exc:
        _fail(exc)
    typer.echo(
        f"distance 距离: {res.path} ({res.width}×{res.height}, {res.n_features} features, "
        f"{res.tiles} tiles, max {res.max_value_m:.1f} m)"
    )


def _distance_chunked(features, out, like, *, kind, status, layer, cog, max_distance_m, scheduler,
                      workers) -> None:  # fmt: skip
    """The dask path of ``landplan distance``: :func:`landplan.raster.chunked.distance_dask`."""
    from landplan.analysis.cluster import dask_client
    from landplan.core.errors import LandplanError
    from landplan.raster import chunked
    from landplan.raster.distance import read_features, read_grid

    try:
        feats = read_features(features, layer=layer)
        grid = read_grid(like)
        with dask_client(
            scheduler=scheduler,
            workers=workers,
            on_dashboard=lambda link: typer.echo(f"dask dashboard: {link}"),
        ):
            arr = chunked.distance_dask(
                feats, like, max_distance_m=max_distance_m, kind=kind, status=status
            )
            res = chunked.write_cog_dask(arr, grid, out, on_futures=chunked.show_progress, cog=cog)
    except LandplanError as exc:
        _fail(exc)
    typer.echo(
        f"distance 距离: {res.path} ({grid.width}×{grid.height}, {res.tiles} tiles, "
        f"max {res.max:.1f} m, chunked)"
    )


def costdistance(
    out: Annotated[
        Path, typer.Argument(help="output GeoTIFF (float32, nodata −9999; tiled, or COG)")
    ],
    sources: Annotated[Path, typer.Option("--sources", help="vector file of source features")],
    cost: Annotated[Path, typer.Option("--cost", help="cost raster: cost per metre, > 0")],
    knight: Annotated[
        bool, typer.Option("--knight", help="knight's moves, 16 neighbours (r.cost -k)")
    ] = False,
    barriers: Annotated[
        Path | None,
        typer.Option(help="impassable areas: polygon file, or a mask raster (non-zero = barrier)"),
    ] = None,
    max_cells: Annotated[
        int | None, typer.Option("--max-cells", help="cell budget (default from 4 GiB)")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="layer of a multi-layer sources file")] = None,
    cog: CogOpt = False,
) -> None:
    """Accumulated cost distance from the sources over a cost raster (as GRASS r.cost)."""
    from landplan.core.errors import LandplanError
    from landplan.raster.costdistance import cost_distance, write_cost_distance
    from landplan.raster.distance import read_features

    try:
        src = read_features(sources, layer=layer)
        bar = None
        if barriers is not None:
            is_raster = barriers.suffix.lower() in RASTER_SUFFIXES
            bar = barriers if is_raster else read_features(barriers, polygons=True)
        res = cost_distance(src, cost, barriers=bar, knight=knight, max_cells=max_cells)
        written = write_cost_distance(res, out, cog=cog)
    except LandplanError as exc:
        _fail(exc)
    typer.echo(
        f"cost distance 累积成本: {out} ({res.grid.width}×{res.grid.height}, "
        f"{res.n_source_cells} source cells, {written.cells_reached:,} cells reached, "
        f"max {written.max_cost:.1f})"
    )


COMMANDS = [distance, costdistance]

"""Top-level raster commands: ``landplan zonal`` and ``landplan earthwork`` (CSV outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EXIT_BAD_INPUT = 2


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


LayerOpt = Annotated[
    str | None,
    typer.Option("--layer", help="layer of a multi-layer parcels file (e.g. a GeoPackage)"),
]


def _parcels(path: Path, id_field: str, layer: str | None = None):
    from landplan.io.vector import read_vector

    gdf, _ = read_vector(path, role="parcels", workspace_crs=None, id_field=id_field, layer=layer)
    return gdf


def zonal(
    raster: Annotated[Path, typer.Argument(help="single-band raster in the parcels' CRS")],
    parcels: Annotated[Path, typer.Argument(help="parcel polygons (any OGR format)")],
    id_field: Annotated[str, typer.Option("--id-field", help="field holding the parcel id")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write")],
    stats: Annotated[
        str, typer.Option("--stats", help="comma-separated exactextract stats")
    ] = "mean,min,max",
    layer: LayerOpt = None,
) -> None:
    """Exact zonal statistics per parcel (partial cells weighted by the area inside)."""
    from landplan.core.errors import LandplanError
    from landplan.raster.zonal import zonal_stats

    try:
        df = zonal_stats(
            raster, _parcels(parcels, id_field, layer), stats=stats.split(","), id_field=id_field
        )
    except (LandplanError, ValueError) as exc:
        _fail(exc)
    df.to_csv(out, index=False, encoding="utf-8-sig")
    typer.echo(f"{len(df):,} parcels → {out}")


def earthwork(
    dem: Annotated[Path, typer.Argument(help="DEM in the parcels' projected CRS (metres)")],
    parcels: Annotated[Path, typer.Argument(help="parcel polygons (any OGR format)")],
    id_field: Annotated[str, typer.Option("--id-field", help="field holding the parcel id")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write")],
    design_elevation: Annotated[
        float | None, typer.Option("--design-elevation", help="pad elevation (m) to level to")
    ] = None,
    compaction: Annotated[
        float,
        typer.Option(
            "--compaction", help="m³ of cut needed per m³ of compacted fill (balanced pad)"
        ),
    ] = 1.0,
    layer: LayerOpt = None,
) -> None:
    """Cut and fill per parcel: the balanced pad, and a pad at --design-elevation."""
    from landplan.core.errors import LandplanError
    from landplan.raster.earthwork import earthwork as compute

    try:
        df = compute(dem, _parcels(parcels, id_field, layer), id_field=id_field,
                     design_elevation=design_elevation, compaction=compaction)  # fmt: skip
    except (LandplanError, ValueError) as exc:
        _fail(exc)
    df.to_csv(out, index=False, encoding="utf-8-sig")
    typer.echo(
        f"{len(df):,} parcels → {out}; balanced cut {df['balanced_cut_m3'].sum():,.0f} m³, "
        f"fill {df['balanced_fill_m3'].sum():,.0f} m³"
    )


COMMANDS = [zonal, earthwork]

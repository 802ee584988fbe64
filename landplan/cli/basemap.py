"""``landplan basemap ...``: local basemaps for intranets without internet.

``add NAME FILE`` checks an MBTiles or PMTiles file (raster PNG/JPEG/WebP or vector MVT
tiles) and copies it into ``<workspace>/basemaps/`` (``--workspace``) or a basemap folder
(``--dir``, else ``$LANDPLAN_BASEMAP_DIR``); ``landplan serve`` then serves it at
``/basemaps/NAME/tiles/{z}/{x}/{y}`` and the map pages offer it (the first one is their
default).  ``hillshade WORKSPACE`` renders the workspace DEM's hillshade with the study-area
outline into ``<workspace>/basemaps/hillshade.mbtiles`` (no third-party tiles).  ``list``
shows what a workspace or folder holds.  Bad input exits with 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

EXIT_BAD_INPUT = 2
WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="workspace directory: store under <workspace>/basemaps"),
]
DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="basemap folder (default: $LANDPLAN_BASEMAP_DIR)"),
]


def _fail(message: object) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _folder(workspace: Path | None, folder: Path | None) -> Path:
    from landplan.maps.localtiles import ENV_BASEMAP_DIR, default_basemap_dir

    if workspace is not None and folder is not None:
        _fail("give --workspace or --dir, not both")
    if workspace is not None:
        if not (workspace / "workspace.gpkg").is_file():
            _fail(
                f"{workspace} is not a landplan workspace (no workspace.gpkg); pass the "
                "directory written by `landplan analyze --out`"
            )
        return workspace / "basemaps"
    target = folder or default_basemap_dir()
    if target is None:
        _fail(
            f"where should the basemap go? pass --workspace DIR or --dir DIR (or set {ENV_BASEMAP_DIR})"
        )
    return target


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="basemap name (letters, digits, - and _)")],
    file: Annotated[Path, typer.Argument(help="an .mbtiles or .pmtiles file")],
    workspace: WorkspaceOpt = None,
    dir: DirOpt = None,
    force: Annotated[bool, typer.Option(help="replace a basemap of the same name")] = False,
) -> None:
    """Check an MBTiles/PMTiles basemap (raster or vector) and store it for the service."""
    from landplan.maps.localtiles import BasemapFileError, add_tileset

    target = _folder(workspace, dir)
    try:
        ts = add_tileset(name, file, target, force=force)
    except (BasemapFileError, OSError) as exc:
        _fail(exc)
    typer.echo(
        f"basemap 底图 {ts.name}: {ts.kind} {ts.format}, zoom {ts.minzoom}–{ts.maxzoom} → {ts.path}"
    )


@app.command("list")
def list_(workspace: WorkspaceOpt = None, dir: DirOpt = None) -> None:
    """List the basemaps of a workspace or basemap folder."""
    from landplan.maps.localtiles import find_tilesets

    target = _folder(workspace, dir)
    sets = find_tilesets(target)
    for ts in sets.values():
        typer.echo(f"{ts.name:20} {ts.kind:6} {ts.format:4} z{ts.minzoom}–{ts.maxzoom}  {ts.path}")
    if not sets:
        typer.echo(f"no basemaps in {target}")


@app.command()
def hillshade(
    workspace: Annotated[Path, typer.Argument(help="workspace directory with rasters/dem.tif")],
    out: Annotated[
        Path | None,
        typer.Option(help="MBTiles to write (default: <workspace>/basemaps/hillshade.mbtiles)"),
    ] = None,
    minzoom: Annotated[int | None, typer.Option(min=0, max=20)] = None,
    maxzoom: Annotated[int | None, typer.Option(min=0, max=20)] = None,
) -> None:
    """Render the DEM hillshade with the study-area outline into an MBTiles basemap (locally)."""
    import pyogrio

    from landplan.maps.localtiles import BasemapFileError, build_hillshade, outline_3857

    dem = workspace / "rasters" / "dem.tif"
    if not dem.is_file():
        _fail(f"{workspace} has no DEM ({dem}); run `landplan analyze` with a DEM first")
    gpkg = workspace / "workspace.gpkg"
    outline = None
    if gpkg.is_file() and "result_parcels" in pyogrio.list_layers(gpkg)[:, 0]:
        outline = outline_3857(pyogrio.read_dataframe(gpkg, layer="result_parcels", columns=[]))
    target = out or workspace / "basemaps" / "hillshade.mbtiles"
    try:
        ts = build_hillshade(dem, target, outline=outline, minzoom=minzoom, maxzoom=maxzoom)
    except (BasemapFileError, OSError) as exc:
        _fail(exc)
    typer.echo(f"hillshade 地形晕渲: zoom {ts.minzoom}–{ts.maxzoom} → {ts.path}")

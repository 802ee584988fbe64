"""``landplan map`` (HTML, PNG or PDF of a workspace's results) and ``landplan assets ...``.

``landplan assets install`` downloads the pinned Leaflet packages from the npm registry,
checks their sha512 and extracts them into the asset directory (``--dir``, else
``$LANDPLAN_ASSETS_DIR``, else ``<sys.prefix>/share/landplan/assets``); ``status`` re-checks
them (exit code 1 when something is missing or changed).  Bad input exits with 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

EXIT_BAD_INPUT = 2
EXIT_NOT_INSTALLED = 1
FORMATS = {".html": "html", ".htm": "html", ".png": "png", ".pdf": "pdf"}
DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="asset directory (default: $LANDPLAN_ASSETS_DIR or <prefix>/share)"),
]


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def install(
    dir: DirOpt = None,
    registry: Annotated[
        str | None,
        typer.Option(help="npm registry or mirror (default: $LANDPLAN_NPM_REGISTRY or npmjs.org)"),
    ] = None,
    force: Annotated[bool, typer.Option(help="re-download even when verified")] = False,
) -> None:
    """Download, verify (sha512) and extract the Leaflet assets for offline maps."""
    from landplan.maps.assets import AssetError, default_asset_dir, install_assets

    def report(status, action: str) -> None:
        typer.echo(f"{action:9} {status.name}@{status.version}  {status.detail}")

    try:
        install_assets(dir, registry=registry, force=force, on_package=report)
    except AssetError as exc:
        _fail(exc)
    typer.echo(f"assets 资源: {(dir or default_asset_dir()).resolve()}")


@app.command()
def status(dir: DirOpt = None) -> None:
    """Show whether every asset is installed and unchanged (exit 1 when not)."""
    from landplan.maps.assets import assets_status, default_asset_dir

    rows = assets_status(dir)
    for s in rows:
        typer.echo(f"{'ok' if s.ok else 'MISSING':8} {s.name}@{s.version}  {s.detail}  {s.path}")
    typer.echo(f"assets 资源: {(dir or default_asset_dir()).resolve()}")
    if not all(s.ok for s in rows):
        typer.echo("run `landplan assets install` 请先安装", err=True)
        raise typer.Exit(EXIT_NOT_INSTALLED)


def map(  # the command is `landplan map`
    results: Annotated[
        Path, typer.Argument(help="workspace directory (landplan analyze --out) or results.gpkg")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="file to write; its suffix picks the format: .html, .png, .pdf"
        ),
    ],
    basemap: Annotated[str, typer.Option(help="osm | tianditu | gaode | none")] = "osm",
    lang: Annotated[str, typer.Option(help="first language of the labels: zh or en")] = "zh",
    assets: Annotated[
        str | None,
        typer.Option(help="cdn | offline | inline (default: inline when installed, else cdn)"),
    ] = None,
    tk: Annotated[
        str | None, typer.Option(help="Tianditu key (default: $LANDPLAN_TIANDITU_TK)")
    ] = None,
    embed_key: Annotated[
        bool, typer.Option(help="write the Tianditu key into the HTML (else: open it with ?tk=)")
    ] = False,
    title: Annotated[str | None, typer.Option(help="map title (default: workspace name)")] = None,
    png: Annotated[
        bool, typer.Option("--png", help="(optional) the --out suffix must be .png")
    ] = False,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="(optional) the --out suffix must be .pdf")
    ] = False,
    dpi: Annotated[int, typer.Option(min=50, max=1200, help="PNG resolution")] = 200,
    style_by: Annotated[
        str,
        typer.Option(
            help="colour parcels by: verdict, state (lifecycle, from the register) or any "
            "result column (categorical or graduated)"
        ),
    ] = "verdict",
) -> None:
    """Draw a workspace's transfer results as an HTML map, or a static PNG/PDF (by the suffix
    of --out)."""
    from landplan.core.errors import LandplanError
    from landplan.maps.export import export_static, load_results

    fmt = _format(out, png=png, pdf=pdf)
    try:
        inputs = load_results(results)
        if fmt in ("png", "pdf"):
            path = export_static(inputs, out, fmt=fmt, title=title, lang=lang, dpi=dpi)
        else:
            if style_by == "state":
                inputs = _with_states(inputs, results)
            path = _write_html(inputs, out, basemap, lang, assets, tk, embed_key, title, style_by)
    except (LandplanError, ValueError, KeyError) as exc:
        _fail(exc)
    typer.echo(f"map 地图: {path}")


def _format(out: Path, *, png: bool, pdf: bool) -> str:
    """``html``, ``png`` or ``pdf`` from the suffix of ``out`` (exit 2 on anything else)."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        _fail(
            ValueError(
                f"--out {out}: unknown map format {out.suffix or '(no suffix)'!r}; "
                "end the file name with .html, .png or .pdf"
            )
        )
    if png and pdf:
        _fail(ValueError("choose one of --png and --pdf"))
    flag = "png" if png else "pdf" if pdf else None
    if flag is not None and flag != fmt:
        _fail(ValueError(f"--{flag} contradicts --out {out.name}; name the file *.{flag}"))
    return fmt


def _with_states(inputs, results: Path):
    """The parcels with their lifecycle ``state`` from the workspace's register."""
    import dataclasses

    from landplan.store.register import Register

    entries = Register(results).entries()[["parcel_id", "state"]]
    parcels = inputs.parcels.drop(columns="state", errors="ignore").merge(
        entries, on="parcel_id", how="left"
    )
    return dataclasses.replace(inputs, parcels=parcels)


def _write_html(inputs, out, basemap, lang, assets, tk, embed_key, title, style_by) -> Path:
    from landplan.maps import build_result_map, save_map
    from landplan.maps.assets import ASSET_MODES, assets_installed

    if assets is None:
        assets = "inline" if assets_installed() else "cdn"
        if assets == "cdn":
            typer.echo(
                "warning: Leaflet assets are not installed, the map loads them from a CDN; "
                "run `landplan assets install` for a standalone file",
                err=True,
            )
    if assets not in ASSET_MODES:
        raise ValueError(f"--assets must be one of {ASSET_MODES}, got {assets!r}")
    m = build_result_map(
        inputs.parcels,
        constraints=inputs.constraints,
        networks=inputs.networks,
        overlays=inputs.overlays,
        lang=lang,
        title=title or inputs.name,
        basemap=basemap,
        tk=tk,
        embed_key=embed_key,
        assets=assets,
        vector_tile_threshold=None,  # a file has no tile server: always embed
        style_by=style_by,
    )
    return save_map(m, out)


COMMANDS = [map]

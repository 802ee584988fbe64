"""``landplan boundary ...``: evaluate a drawn park boundary, suggest regions, compare scenarios.

Every command takes the workspace directory written by ``landplan analyze``; scenarios are
stored in its ``workspace.gpkg`` (layer ``scenarios``).  Bad input exits with code 2 and an
``error: ...`` line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

EXIT_BAD_INPUT = 2
Workspace = Annotated[
    str,
    typer.Argument(help="workspace (landplan analyze --out): a directory or a postgresql:// DSN"),
]


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _print_evaluation(name: str, ev) -> None:
    k = ev.key_figures()
    typer.echo(
        f"{name}: gross {k['gross_mu']:,.2f} 亩 (ellipsoidal {k['gross_ellipsoidal_mu']:,.2f}), "
        f"excluded {k['excluded_mu']:,.2f}, net {k['net_available_mu']:,.2f} 亩; "
        f"parcels inside {k['parcels_inside']}; "
        f"{'compliant 合规' if ev.compliant else 'NOT compliant 不合规'}"
    )
    for r in ev.reasons:
        typer.echo(f"  [{r.severity}] {r.code}: {r.message_zh} / {r.message_en}")


@app.command()
def evaluate(
    workspace: Workspace,
    boundary_file: Annotated[Path, typer.Argument(help="boundary polygons (any OGR format)")],
    layer: Annotated[str | None, typer.Option(help="layer of a multi-layer file")] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of the file when it has none, e.g. EPSG:4490")
    ] = None,
    industry_field: Annotated[
        str | None, typer.Option(help="result_parcels column naming each parcel's industry")
    ] = None,
    save_as: Annotated[str | None, typer.Option(help="store as a named scenario")] = None,
    out: Annotated[Path | None, typer.Option(help="write the evaluation as JSON")] = None,
) -> None:
    """Evaluate a drawn boundary: areas, 三区三线, parcels inside, cost, compliance reasons."""
    from landplan.core.errors import LandplanError
    from landplan.planning.boundary import evaluate_boundary, load_context

    try:
        ctx = load_context(workspace)
        ev = evaluate_boundary(
            boundary_file, ctx, layer=layer, crs=crs, industry_field=industry_field
        )
        if save_as:
            from landplan.planning.scenarios import save_scenario

            save_scenario(workspace, save_as, boundary_file, evaluation=ev, layer=layer, crs=crs)
    except LandplanError as exc:
        _fail(exc)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(ev.to_json(), encoding="utf-8")
    _print_evaluation(save_as or boundary_file.name, ev)


@app.command()
def suggest(
    workspace: Workspace,
    target_mu: Annotated[float, typer.Option("--target-mu", help="area of each region (亩)")],
    out: Annotated[Path, typer.Option("--out", help="output directory")],
    regions: Annotated[int, typer.Option("--regions", help="number of regions")] = 1,
    compactness: Annotated[float, typer.Option(help="0 = best cells anywhere, 1 = disc")] = 0.5,
    seed: Annotated[int, typer.Option(help="seed of the multi-start search")] = 0,
    min_distance_m: Annotated[float, typer.Option(help="minimum distance between regions")] = 0.0,
    prefer_touch_park: Annotated[
        bool, typer.Option(help="prefer regions touching the park_boundary layer")
    ] = False,
    snap: Annotated[bool, typer.Option(help="also snap each region to whole parcels")] = False,
    save_as: Annotated[
        str | None, typer.Option(help="store the regions as scenarios NAME-1, NAME-2, ...")
    ] = None,
) -> None:
    """Grow contiguous regions of --target-mu 亩 on the suitability surface (an open Locate Regions)."""
    import json

    from landplan.core.errors import LandplanError
    from landplan.planning.boundary import load_context
    from landplan.planning.regions import regions_frame, suggest_regions

    try:
        ctx = load_context(workspace)
        found = suggest_regions(
            ctx,
            target_mu=target_mu,
            n_regions=regions,
            compactness=compactness,
            seed=seed,
            min_distance_m=min_distance_m,
            prefer_touch_park=prefer_touch_park,
        )
        frame = regions_frame(found, ctx.crs)
        snapped = []
        if snap:
            from landplan.planning.regions import snap_to_parcels

            snapped = [snap_to_parcels(r, ctx) for r in found]
            frame["snapped_mu"] = [s.snapped_mu for s in snapped]
            frame["snap_difference_mu"] = [s.difference_mu for s in snapped]
            frame["snapped_parcels"] = [len(s.parcel_ids) for s in snapped]
        if save_as:
            from landplan.planning.scenarios import save_scenario

            for r in found:
                save_scenario(
                    workspace,
                    f"{save_as}-{r.rank}",
                    frame.geometry.iloc[[r.rank - 1]],
                    evaluation=r.evaluation,
                )
    except LandplanError as exc:
        _fail(exc)
    out.mkdir(parents=True, exist_ok=True)
    for path in (out / "regions.gpkg", out / "regions.geojson"):
        path.unlink(missing_ok=True)
    from landplan.core.types import GPKG_DATASET_OPTIONS

    frame.to_file(
        out / "regions.gpkg", layer="regions", driver="GPKG", dataset_options=GPKG_DATASET_OPTIONS
    )
    frame.to_crs(4326).to_file(out / "regions.geojson", driver="GeoJSON")
    if snapped:
        import geopandas as gpd

        sn = gpd.GeoDataFrame(
            {
                "rank": [r.rank for r in found],
                "parcel_ids": [";".join(s.parcel_ids) for s in snapped],
                "snapped_mu": [s.snapped_mu for s in snapped],
                "difference_mu": [s.difference_mu for s in snapped],
            },
            geometry=[s.geometry for s in snapped],
            crs=ctx.crs,
        )
        sn.to_file(out / "regions.gpkg", layer="snapped", driver="GPKG")
    frame.drop(columns="geometry").to_csv(out / "regions.csv", index=False, encoding="utf-8-sig")
    (out / "evaluations.json").write_text(
        json.dumps([r.evaluation.to_dict() for r in found], ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    for r in found:
        typer.echo(
            f"region {r.rank}: {r.area_mu:,.2f} 亩 ({r.n_cells} cells), mean suitability "
            f"{r.mean_suitability:.1f}, seed ({r.seed_xy[0]:.0f}, {r.seed_xy[1]:.0f})"
        )
        if r.evaluation is not None:
            _print_evaluation(f"  region {r.rank}", r.evaluation)
    typer.echo(f"written 输出: {out / 'regions.gpkg'}, {out / 'regions.geojson'}, regions.csv")


@app.command()
def compare(
    workspace: Workspace,
    names: Annotated[list[str], typer.Argument(help="scenario names (saved with --save-as)")],
    out: Annotated[Path, typer.Option("--out", help="output directory")],
    lang: Annotated[str, typer.Option(help="first language of the map and table: zh or en")] = "zh",
) -> None:
    """Compare saved scenarios side by side: compare.xlsx and map.html."""
    from landplan.core.errors import LandplanError
    from landplan.planning.scenarios import (
        compare_scenarios,
        export_comparison_xlsx,
        read_scenarios,
    )
    from landplan.store.model import open_workspace

    try:
        table = compare_scenarios(workspace, names)
        frame = read_scenarios(workspace)
        parcels = open_workspace(workspace).result_parcels()
    except LandplanError as exc:
        _fail(exc)
    out.mkdir(parents=True, exist_ok=True)
    export_comparison_xlsx(table, out / "compare.xlsx", lang=lang)
    from landplan.maps import save_map
    from landplan.maps.boundary_map import build_boundary_map

    chosen = frame.set_index("name").loc[names].reset_index()
    m = build_boundary_map(parcels, chosen, lang=lang, title=" / ".join(names))
    save_map(m, out / "map.html")
    typer.echo(table.to_string())
    typer.echo(f"written 输出: {out / 'compare.xlsx'}, {out / 'map.html'}")

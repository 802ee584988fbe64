"""``landplan efficiency review``: the yearly land-efficiency loop (reclaim / reallocate, parks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The land-efficiency loop: reclaim / reallocate, park ranking.",
                  no_args_is_help=True)  # fmt: skip


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command("review")
def review(
    workspace: Annotated[
        str, typer.Argument(help="workspace folder or postgresql://...?workspace=NAME")
    ],
    year: Annotated[int, typer.Option(help="review year (idle land as of 31 December)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    firms: Annotated[
        Path | None,
        typer.Option(help="firms CSV/XLSX (firm_id, parcel_id, land_area_mu, tax_wan, ...)"),
    ] = None,
    preset: Annotated[str, typer.Option(help="亩均 preset for the classes")] = "huaian-2024",
    zone_field: Annotated[str, typer.Option(help="parcel column of the 片区")] = "QY",
) -> None:
    """Parcels to reclaim or reallocate (idle, 达产复核 shortfall, D-class), and parks by 亩均."""
    from landplan.core.errors import LandplanError, WorkspaceError

    try:
        import pandas as pd

        from landplan.indicators.inputs import read_input_table
        from landplan.indicators.review import efficiency_review
        from landplan.store.model import open_workspace

        ws = open_workspace(workspace)
        parcels = ws.result_parcels()
        reg = ws.register()
        firms_df = read_input_table(firms)[0] if firms is not None else None
        res = efficiency_review(parcels, year=year, entries=reg.entries(), audit=reg.audit(),
                                firms=firms_df, preset=preset, zone_field=zone_field)  # fmt: skip
        if out.exists() and not out.is_dir():
            raise WorkspaceError(f"--out {out} is a file; give a directory")
        out.mkdir(parents=True, exist_ok=True)
        kw = {"index": False, "encoding": "utf-8-sig"}
        res.findings.to_csv(out / "review.csv", **kw)
        res.supply.to_csv(out / "reclaim.csv", **kw)
        if len(res.parks):
            res.parks.to_csv(out / "parks.csv", **kw, float_format="%.4f")
        from landplan.export.xlsx import Sheet, write_workbook

        sheets = [
            Sheet("复核结果", "review", res.findings),
            Sheet("可再供应", "reclaim", res.supply),
            *([Sheet("园区排名", "parks", res.parks)] if len(res.parks) else []),
            Sheet("说明", "notes", pd.DataFrame({"note": list(res.notes) or [""]})),
        ]
        write_workbook(out / "review.xlsx", sheets)
    except LandplanError as exc:
        _fail(exc)
    f = res.findings
    counts = f.groupby(["source", "action"]).size().to_dict() if len(f) else {}
    typer.echo(
        f"{year} 年效率复核 review: {len(f)} findings 条 {counts}; back to supply 可再供应 "
        f"{len(res.supply)} parcels 宗, {res.supply['area_mu'].sum():,.2f} 亩 "
        f"(from {year + 1}; use --reclaimed {out / 'reclaim.csv'} with plan / match)"
    )
    for _, r in res.parks.iterrows():
        typer.echo(
            f"  {int(r['rank'])}. {r['park']}: 亩均税收 {r['tax_wan_per_mu']:,.2f} 万元/亩, "
            f"{r['leading_check_zh']}"
        )
    for note in res.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"written 输出: {out.resolve()} (review.csv, reclaim.csv, review.xlsx)")

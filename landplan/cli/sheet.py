"""``landplan sheet``: parcel condition sheets (出让条件 / 标准地 indicator sheets), one A4 PDF each."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def sheet(
    workspace: Annotated[Path, typer.Argument(help="workspace directory (landplan analyze --out)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the PDFs")],
    parcel: Annotated[
        list[str] | None, typer.Option("--parcel", help="parcel id (repeat for several)")
    ] = None,
    all_parcels: Annotated[bool, typer.Option("--all", help="one sheet for every parcel")] = False,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            help="only parcels with this verdict: transferable, "
            "transferable_with_warnings or blocked",
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="first language of the sheet: zh or en")] = "zh",
    industry: Annotated[
        str | None,
        typer.Option(help="intended industry (GB/T 4754 code) for the standard-land indicators"),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(help="indicator table: a shipped name (national-2008, ...) or a TOML path"),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="processes drawing sheets")] = 1,
) -> None:
    """Write one A4 PDF condition sheet per parcel: areas, map, verdict and reasons, indicators."""
    from landplan.core.errors import LandplanError

    if lang not in ("zh", "en"):
        _fail(ValueError(f"--lang must be zh or en, not {lang!r}"))
    try:
        from landplan.maps.sheets import load_sheet_context, select_parcels, write_sheets_parallel

        ctx = load_sheet_context(workspace, industry=industry, table=table)
        ids = select_parcels(ctx, ids=tuple(parcel or ()), all_parcels=all_parcels, where=where)
        started = time.perf_counter()
        paths = write_sheets_parallel(
            ctx,
            ids,
            out,
            lang=lang,
            jobs=jobs,
            industry=industry,
            table=table,  # type: ignore[arg-type]
        )
        seconds = time.perf_counter() - started
    except LandplanError as exc:
        _fail(exc)
    rate = len(paths) / seconds if seconds > 0 else float("inf")
    typer.echo(
        f"sheets 条件表: {len(paths)} PDF in {out.resolve()} ({seconds:.1f} s, {rate:.2f} sheets/s)"
    )


COMMANDS = [sheet]

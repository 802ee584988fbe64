"""``landplan indicators``: check proposed projects against 标准地 indicator tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Per-mu indicators of proposed projects (投资强度, 容积率, 建筑系数, ...) and their check.",
    no_args_is_help=True,
)

EXIT_BAD_INPUT = 2


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def write_check_outputs(result, table, out: Path, *, lang: str = "zh") -> tuple[Path, Path]:
    """``OUT.csv`` (UTF-8 with BOM, so Excel shows the Chinese) and ``OUT.xlsx`` beside it."""
    import json

    import pandas as pd

    from landplan.indicators.tables import summarize_violations

    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out if out.suffix.lower() == ".csv" else out.with_suffix(".csv")
    xlsx_path = csv_path.with_suffix(".xlsx")
    result.to_csv(csv_path, index=False, encoding="utf-8-sig")
    reasons = pd.DataFrame(
        [
            {"project_id": pid, **r}
            for pid, text in zip(result["project_id"], result["reasons"], strict=True)
            for r in json.loads(text)
        ],
        columns=[
            "project_id",
            "code",
            "severity",
            "value",
            "threshold",
            "unit",
            "basis",
            "message_zh",
            "message_en",
        ],
    )
    info = table.spec.table
    about = pd.DataFrame(
        [
            ("table", info.name),
            ("title", info.title_zh),
            ("jurisdiction", info.jurisdiction),
            ("edition", info.edition),
            ("industry codes", info.code_version),
            ("national base", table.base.name if table.base else ""),
            *(("source", s) for s in info.sources),
            *(("note", n) for n in info.notes),
            *(("looser than base", line) for line in summarize_violations(table.violations)),
        ],
        columns=["item", "value"],
    )
    from landplan.export.xlsx import Sheet, write_workbook

    sheets = [
        Sheet("项目", "projects", result, wrap=("reasons",)),
        Sheet("原因", "reasons", reasons),
        Sheet("指标表", "table", about),
    ]
    write_workbook(xlsx_path, sheets, lang=lang)
    return csv_path, xlsx_path


@app.command()
def check(
    projects: Annotated[Path, typer.Argument(help="projects CSV (UTF-8 or GBK) or XLSX")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="result CSV; an .xlsx is written beside it")
    ],
    policy: Annotated[
        str | None,
        typer.Option(
            help="indicator table: a shipped name (national-2008, tieshangang, ...) or a TOML path"
        ),
    ] = None,
    peers: Annotated[
        Path | None,
        typer.Option(help="existing projects of the park(s) (CSV/XLSX) for the peer averages"),
    ] = None,
    peer_severity: Annotated[
        str, typer.Option(help="severity of BELOW_PEER_AVERAGE: block or warn")
    ] = "block",
    strict_base: Annotated[
        bool, typer.Option(help="refuse a local table that is looser than its national base")
    ] = False,
    lang: Annotated[str, typer.Option(help="first language of the tables: zh or en")] = "zh",
) -> None:
    """Compute each project's indicators and check them against notice, table and peers."""
    from rich.console import Console
    from rich.table import Table

    from landplan.core.errors import LandplanError
    from landplan.indicators.check import check_projects, read_input_table
    from landplan.indicators.tables import load_indicator_table, summarize_violations

    try:
        table = load_indicator_table(policy, strict=strict_base)
        for line in summarize_violations(table.violations):
            typer.echo(f"warning: table {table.name} vs {table.base.name}: {line}", err=True)
        df, encoding = read_input_table(projects)
        peers_df = read_input_table(peers)[0] if peers is not None else None
        result = check_projects(df, table=table, peers_df=peers_df, peer_severity=peer_severity)
        csv_path, xlsx_path = write_check_outputs(result, table, out, lang=lang)
    except LandplanError as exc:
        _fail(exc)
    console = Console(highlight=False, width=140)
    t = Table(title=f"indicators 指标核查 · table {table.name} · input {encoding}")
    for col in (
        "project",
        "亩",
        "万元/亩",
        "FAR",
        "coverage",
        "min invest 万元",
        "pass",
        "reasons",
    ):
        t.add_column(col, justify="left" if col in ("project", "reasons") else "right")
    for _, r in result.iterrows():
        t.add_row(
            str(r["project_id"]),
            f"{r['land_area_mu']:,.2f}",
            f"{r['invest_wan_per_mu']:,.2f}",
            "-" if r["far"] != r["far"] else f"{r['far']:.2f}",
            "-" if r["coverage"] != r["coverage"] else f"{r['coverage']:.1%}",
            "-"
            if r["min_investment_wan"] != r["min_investment_wan"]
            else f"{r['min_investment_wan']:,.2f}",
            "yes" if r["pass"] else "no",
            r["reason_codes"],
        )
    console.print(t)
    console.print(f"passed 通过: {int(result['pass'].sum())}/{len(result)}")
    console.print(f"results 结果: {csv_path.resolve()}")
    console.print(f"workbook 工作簿: {xlsx_path.resolve()}")


@app.command()
def tables() -> None:
    """List the shipped indicator tables with their jurisdiction, edition and base."""
    from landplan.indicators.tables import SHIPPED_TABLES, load_indicator_table

    for name in SHIPPED_TABLES:
        t = load_indicator_table(name)
        info = t.spec.table
        unset = [k for k, r in t.spec.indicators.items() if r.value is None and not r.by_industry]
        typer.echo(
            f"{name}: {info.jurisdiction} · {info.edition} · {info.code_version}"
            + (f" · base {t.base.name}" if t.base else "")
            + (f" · not set: {', '.join(unset)}" if unset else "")
        )

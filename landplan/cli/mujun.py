"""``landplan mujun``: 亩均效益 evaluation of firms with a preset (scores and A/B/C/D classes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="亩均效益 evaluation and A/B/C/D classes.", no_args_is_help=True)

EXIT_BAD_INPUT = 2


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _parse_cutoffs(text: str | None) -> list[float] | None:
    from landplan.core.errors import InputTableError

    if text is None:
        return None
    try:
        vals = [float(x) for x in text.replace("，", ",").split(",") if x.strip()]
    except ValueError as exc:
        raise InputTableError(f"--cutoffs {text!r}: give fractions like 0.2,0.6,0.95") from exc
    if vals and max(vals) > 1:
        vals = [v / 100.0 for v in vals]  # 20,60,95 → 0.2,0.6,0.95
    return vals


def write_outputs(result, out: Path, *, lang: str = "zh") -> tuple[Path, Path]:
    """``OUT.csv`` (UTF-8 with BOM) and ``OUT.xlsx`` with firms, park summary, benchmarks, preset."""
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out if out.suffix.lower() == ".csv" else out.with_suffix(".csv")
    xlsx_path = csv_path.with_suffix(".xlsx")
    result.firms.to_csv(csv_path, index=False, encoding="utf-8-sig")
    info = result.preset.preset
    about = pd.DataFrame(
        [
            ("preset", info.name),
            ("title", info.title_zh),
            ("jurisdiction", info.jurisdiction),
            ("data year", "" if info.data_year is None else str(info.data_year)),
            ("class cut-offs", str(result.preset.classes.cutoffs or "not set")),
            *(("source", s) for s in info.sources),
            *(("note", n) for n in (*info.notes, *result.notes)),
        ],
        columns=["item", "value"],
    )
    from landplan.export.xlsx import Sheet, write_workbook

    sheets = [
        Sheet("企业", "firms", result.firms),
        Sheet("园区汇总", "park summary", result.summary),
        Sheet("基准值", "benchmarks", result.benchmarks),
        Sheet("评价办法", "preset", about),
    ]
    write_workbook(xlsx_path, sheets, lang=lang)
    return csv_path, xlsx_path


@app.command()
def evaluate(
    firms: Annotated[Path, typer.Argument(help="firms CSV (UTF-8 or GBK) or XLSX")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="result CSV; .xlsx and _classes.png are written beside it"
        ),
    ],
    policy: Annotated[
        str, typer.Option(help="preset: huangyan-2023, huangyan-2022, huaian-2024, or a TOML path")
    ] = "huaian-2024",
    benchmark_from: Annotated[
        Path | None,
        typer.Option(
            help="previous year's firms, for mean-based benchmarks (Huai'an: 2 × the mean)"
        ),
    ] = None,
    cutoffs: Annotated[
        str | None,
        typer.Option(help="class cut-offs as top shares, e.g. 0.2,0.6,0.95 (overrides the preset)"),
    ] = None,
    chart: Annotated[bool, typer.Option(help="write the class-distribution PNG")] = True,
    lang: Annotated[str, typer.Option(help="first language of the tables: zh or en")] = "zh",
) -> None:
    """Score every firm (S = Σ w·x/b), class it (A/B/C/D), and summarise per park."""
    from rich.console import Console
    from rich.table import Table

    from landplan.core.errors import LandplanError
    from landplan.indicators import mujun
    from landplan.indicators.inputs import read_input_table

    try:
        df, encoding = read_input_table(firms)
        bench = read_input_table(benchmark_from)[0] if benchmark_from is not None else None
        result = mujun.evaluate(
            df, preset=policy, benchmark_df=bench, cutoffs=_parse_cutoffs(cutoffs)
        )
        csv_path, xlsx_path = write_outputs(result, out, lang=lang)
    except LandplanError as exc:
        _fail(exc)
    console = Console(highlight=False, width=140)
    for note in result.notes:
        console.print(f"note: {note}")
    counts = result.firms["class"].value_counts()
    t = Table(title=f"亩均评价 · {result.preset.preset.name} · input {encoding}")
    t.add_column("class 类别")
    t.add_column("firms 企业", justify="right")
    for lab, n in counts.sort_index().items():
        t.add_row(str(lab), str(n))
    console.print(t)
    console.print(f"results 结果: {csv_path.resolve()}")
    console.print(f"workbook 工作簿: {xlsx_path.resolve()}")
    if not chart:
        return
    try:
        from landplan.indicators.mujun_chart import class_chart

        png, zh = class_chart(result, csv_path.with_name(csv_path.stem + "_classes.png"))
    except ImportError:
        console.print("chart skipped: matplotlib is not installed (pip install matplotlib)")
        return
    console.print(f"chart 图表: {png.resolve()}")
    if not zh:
        console.print("note: no CJK font found (fc-list :lang=zh); the chart uses English labels")

"""``landplan plan``: a year-by-year plan of roads and pipes so land becomes transferable by a year."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _scope(text: str | None):
    from landplan.core.errors import InputTableError

    if text is None:
        return None
    if "=" not in text:
        raise InputTableError(f"--scope must be FIELD=VALUE, e.g. ZT=标准地, not {text!r}")
    return tuple(text.split("=", 1))


def read_extra_supply(path: Path | None, year: int):
    """Flagged supply from ``landplan efficiency review`` (``reclaim.csv``): ``parcel_id, mu, year``."""
    if path is None:
        return None
    import pandas as pd

    from landplan.core.errors import InputTableError

    try:
        df = pd.read_csv(path, dtype={"parcel_id": str}, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputTableError(f"cannot read the reclaimed-land table {path}: {exc}") from exc
    if "parcel_id" not in df.columns or "area_mu" not in df.columns:
        raise InputTableError(
            f"{path.name}: needs columns parcel_id and area_mu (the reclaim.csv of "
            f"`landplan efficiency review`); it has {list(df.columns)}"
        )
    yr = df["available_year"] if "available_year" in df.columns else year
    return pd.DataFrame({"parcel_id": df["parcel_id"], "mu": pd.to_numeric(df["area_mu"]),
                         "year": yr})  # fmt: skip


def plan_chart(table, path: Path, *, total_mu: float, target_share: float) -> None:
    """Cumulative transferable 亩 by year against the target line (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    cjk = next((f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name), None)
    if cjk:
        plt.rcParams["font.sans-serif"] = [cjk, "DejaVu Sans"]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    years = table["year"].astype(int).tolist()
    ax.plot(years, table["cumulative_transferable_mu"], "o-", color="#2e7d32", lw=2,
            label="可出让累计 cumulative transferable" if cjk else "cumulative transferable")  # fmt: skip
    ax.axhline(target_share * total_mu, color="#c62828", ls="--",
               label=(f"目标 target {target_share:.0%}" if cjk else f"target {target_share:.0%}"))  # fmt: skip
    ax.set_xticks(years)
    ax.set_xlabel("年份 (year)" if cjk else "year")
    ax.set_ylabel("亩 (mu)" if cjk else "mu")
    ax.set_title("分年供地计划 (supply plan)" if cjk else "Supply plan")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plan(
    workspace: Annotated[
        str, typer.Argument(help="workspace folder or postgresql://...?workspace=NAME")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    budget: Annotated[
        list[str],
        typer.Option("--budget", help="YEAR:WAN, once per year, e.g. --budget 2026:3000"),
    ],
    lead_time_years: Annotated[
        int, typer.Option("--lead-time-years", help="years from funding to service")
    ] = 0,
    scope: Annotated[
        str | None, typer.Option(help="count only parcels with FIELD=VALUE, e.g. ZT=标准地")
    ] = None,
    target_share: Annotated[
        float | None,
        typer.Option(
            "--target-share",
            help="minimise the cost of reaching this share by the last year (default: maximise land, target line 100%)",
        ),
    ] = None,
    objective: Annotated[
        str, typer.Option(help="lexicographic (last year first, then earlier) or discounted")
    ] = "lexicographic",
    discount: Annotated[float, typer.Option(help="yearly weight δ of 'discounted'")] = 0.9,
    carry_over: Annotated[
        bool, typer.Option("--carry-over/--no-carry-over", help="unspent budget moves to next year")
    ] = True,
    reclaimed: Annotated[
        Path | None,
        typer.Option(help="reclaim.csv of `landplan efficiency review`: flagged extra supply"),
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="policy profile (default: workspace's)")
    ] = None,
    cost_field: Annotated[
        str | None, typer.Option("--cost-field", help="network column with cost in 万元")
    ] = None,
    time_limit_s: Annotated[float, typer.Option(help="MILP time limit per solve (s)")] = 60.0,
    lang: Annotated[str, typer.Option(help="first language of the map: zh or en")] = "zh",
) -> None:
    """Plan roads and pipes year by year: how many 亩 become transferable each year."""
    from landplan.core.errors import LandplanError, WorkspaceError

    try:
        import pandas as pd

        from landplan.cli.unlock import _cost_surface
        from landplan.core.policy import load_policy
        from landplan.planning.supply_answer import gap_to_target, plan_sentences
        from landplan.planning.supply_plan import build_problem, parse_budgets, plan_supply
        from landplan.store.model import open_workspace

        where = _scope(scope)
        budgets = parse_budgets(budget)
        ws = open_workspace(workspace)
        pol = load_policy(policy) if policy else ws.policy()
        parcels = ws.result_parcels()
        networks = ws.networks()
        cost, cost_text = _cost_surface(ws)
        extra = read_extra_supply(reclaimed, min(budgets))
        pb = build_problem(parcels, networks, pol, budgets=budgets, lead_time_years=lead_time_years,
                           scope=where, carry_over=carry_over, extra_supply=extra,
                           cost_field=cost_field, cost=cost)  # fmt: skip
        res = plan_supply(pb, objective=objective, discount=discount, target_share=target_share,
                          time_limit_s=time_limit_s)  # fmt: skip
        zh, en = plan_sentences(res, gap_to_target(res), label=where[1] if where else None)
        if out.exists() and not out.is_dir():
            raise WorkspaceError(f"--out {out} is a file; give a directory")
        out.mkdir(parents=True, exist_ok=True)
        res.table.to_csv(out / "plan.csv", index=False, encoding="utf-8-sig", float_format="%.4f")
        notes = [zh, en, f"method: {res.method}", f"objective: {res.objective}",
                 f"bound (亩 unlocked by the last year): {res.bound_mu:.4f}",
                 f"gap to bound: {res.gap_pct:.4f}%", f"extension cost surface: {cost_text}",
                 *res.notes]  # fmt: skip
        from landplan.export.xlsx import Sheet, write_workbook

        res.parcels.to_csv(out / "plan_parcels.csv", index=False, encoding="utf-8-sig")
        sheets = [
            Sheet("分年计划", "plan", res.table),
            Sheet("投资安排", "schedule", res.schedule),
            Sheet("地块", "parcels", res.parcels),
            Sheet("说明", "notes", pd.DataFrame({"note": notes})),
        ]
        write_workbook(out / "plan.xlsx", sheets, lang="en" if lang == "en" else "zh")
        (out / "answer.txt").write_text(zh + "\n" + en + "\n", encoding="utf-8")
        plan_chart(res.table, out / "plan_curve.png", total_mu=pb.total_mu,
                   target_share=res.target_share)  # fmt: skip
        from landplan.maps.plan_map import build_plan_map
        from landplan.maps.result_map import save_map

        m = build_plan_map(parcels, res.schedule, pb.cands.atoms, res.parcels, list(pb.years),
                           lang=lang, title=zh)  # fmt: skip
        save_map(m, out / "plan_map.html")
    except LandplanError as exc:
        _fail(exc)
    typer.echo(zh)
    typer.echo(en)
    for _, r in res.table.iterrows():
        typer.echo(
            f"  {int(r['year'])}: {int(r['segments'])} 段 segments, {r['spent_wan']:,.1f} 万元 "
            f"(budget 预算 {r['budget_wan']:,.1f}, available 可用 {r['available_wan']:,.1f}) → "
            f"+{r['new_transferable_mu']:,.2f} 亩, "
            f"累计 cumulative {r['cumulative_transferable_mu']:,.2f} 亩 ({r['cumulative_share']:.1%})"
        )
    typer.echo(f"method 方法: {res.method}; gap to bound 与上界差距 {res.gap_pct:.2f}%")
    for note in res.notes:
        typer.echo(f"note: {note}")
    typer.echo(
        f"written 输出: {out.resolve()} (plan.csv, plan.xlsx, plan_curve.png, plan_map.html)"
    )


COMMANDS = [plan]

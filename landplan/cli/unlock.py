"""``landplan unlock``: which planned roads and pipes make the most land transferable per 万元."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _cost_surface(ws):
    """The extension cost surface from ``rasters/slope.tif`` (1 + slope/10) or ``suitability.tif``."""
    import numpy as np

    from landplan.planning.unlock import cost_surface_from_slope
    from landplan.raster.costdistance import CostSurface
    from landplan.raster.grid import grid_info, open_raster

    for name in ("slope", "suitability"):
        path = ws.raster(name)
        if path is not None and path.exists():
            with open_raster(path) as src:
                arr = src.read(1, masked=True).astype(float).filled(np.nan)
                grid = grid_info(src)
            if name == "slope":
                return cost_surface_from_slope(arr, grid), "1 + slope_deg/10 per metre"
            s = np.clip(arr / 100.0, 0.0, 1.0)
            return CostSurface(1.0 + 2.0 * (1.0 - s), grid), "1 + 2·(1 − suitability/100) per metre"
    return None, "no slope/suitability raster: straight line less connectable_m (lower bound)"


def _chart(curve, path: Path, *, baseline_mu: float) -> None:
    """The cumulative curve as a PNG; Chinese labels only when a CJK font is installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    cjk = next(
        (
            f.name
            for f in font_manager.fontManager.ttflist
            if "CJK" in f.name or f.name in ("WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei")
        ),
        None,
    )
    if cjk:
        plt.rcParams["font.sans-serif"] = [cjk, "DejaVu Sans"]
    xlab = "投资 万元 (investment, 万元)" if cjk else "investment (10^4 yuan)"
    ylab = "新增可出让 亩 (mu unlocked)" if cjk else "mu unlocked"
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.step(curve["budget_wan"], curve["mu_unlocked"], where="post", color="#2e7d32", lw=2)
    ax.plot(curve["budget_wan"], curve["mu_unlocked"], "o", color="#2e7d32", ms=3)
    ax.set_xlabel(xlab)
    ax.set_ylabel(ylab)
    title = "管网/道路投资与新增可出让土地" if cjk else "Investment vs transferable land unlocked"
    ax.set_title(f"{title} (baseline {baseline_mu:,.1f} mu)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def unlock(
    workspace: Annotated[
        str,
        typer.Argument(help="workspace written by landplan analyze/demo: a directory or a DSN"),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    budget_wan: Annotated[
        float | None,
        typer.Option("--budget-wan", help="budget in 万元 (default: all that unlocks land)"),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(help="policy profile (default: the workspace's policy.toml)"),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="count only parcels with COLUMN=VALUE, e.g. ZT=标准地"),
    ] = None,
    cost_field: Annotated[
        str | None,
        typer.Option("--cost-field", help="network column with each segment's cost in 万元"),
    ] = None,
    lang: Annotated[str, typer.Option(help="first language of the map: zh or en")] = "zh",
) -> None:
    """Rank planned roads and pipes by the transferable 亩 they unlock per 万元."""
    from landplan.core.errors import InputTableError, LandplanError, WorkspaceError

    try:
        import pandas as pd

        from landplan.core.policy import load_policy
        from landplan.planning.unlock_answer import unlock_plan
        from landplan.store.model import open_workspace

        if budget_wan is not None and budget_wan < 0:
            raise InputTableError(f"--budget-wan must be ≥ 0, not {budget_wan}")
        where = None
        if scope is not None:
            if "=" not in scope:
                raise InputTableError(f"--scope must be COLUMN=VALUE, not {scope!r}")
            where = tuple(scope.split("=", 1))
        ws = open_workspace(workspace)
        pol = load_policy(policy) if policy else ws.policy()
        parcels = ws.result_parcels()
        networks = ws.networks()
        cost, cost_text = _cost_surface(ws)
        res = unlock_plan(
            parcels,
            networks,
            pol,
            budget_wan=budget_wan,
            scope=where,
            cost_field=cost_field,
            cost=cost,
        )
        if out.exists() and not out.is_dir():
            raise WorkspaceError(f"--out {out} is a file; give a directory")
        out.mkdir(parents=True, exist_ok=True)
        table = res.table.drop(columns=["atoms"])
        table.to_csv(out / "unlock.csv", index=False, encoding="utf-8-sig", float_format="%.4f")
        chosen = res.chosen.steps.drop(columns=["atoms"])
        from landplan.export.xlsx import Sheet, write_workbook

        notes = [res.sentence_zh, res.sentence_en, f"extension cost surface: {cost_text}"]
        sheets = [
            Sheet("排序", "ranking", table),
            Sheet("释放曲线", "curve", res.curve),
            Sheet("选定方案", "chosen", chosen),
            Sheet("地块", "parcels", res.parcels),
            *([Sheet("最优性", "optimality", res.gaps)] if res.gaps is not None else []),
            Sheet("说明", "notes", pd.DataFrame({"note": notes + list(res.notes)})),
        ]
        write_workbook(out / "unlock.xlsx", sheets, lang="en" if lang == "en" else "zh")
        _chart(res.curve, out / "unlock_curve.png", baseline_mu=res.baseline_mu)
        from landplan.maps.result_map import save_map
        from landplan.maps.unlock_map import build_unlock_map

        m = build_unlock_map(
            parcels, res.candidates.atoms, res.table, res.parcels, lang=lang, title=res.sentence_zh
        )
        save_map(m, out / "unlock_map.html")
    except LandplanError as exc:
        _fail(exc)
    typer.echo(res.sentence_zh)
    typer.echo(res.sentence_en)
    for _, r in res.chosen.steps.iterrows():
        typer.echo(
            f"  {r['rank']:>3}. {r['segments']} [{r['kinds']}] {r['cost_wan']:,.1f} 万元 → "
            f"{r['mu_unlocked']:,.2f} 亩 ({r['mu_per_wan']:.3f} 亩/万元)"
        )
    for note in res.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"extensions 外延: {cost_text}")
    if res.gaps is not None:
        typer.echo("greedy vs optimum 贪心与最优 (MILP):")
        for _, g in res.gaps.iterrows():
            typer.echo(
                f"  budget {g['budget_wan']:,.1f} 万元: greedy {g['greedy_mu']:,.2f} 亩 "
                f"({g['greedy_cost_wan']:,.1f} 万元), optimum {g['optimal_mu']:,.2f} 亩 "
                f"({g['optimal_cost_wan']:,.1f} 万元), gap {g['gap_pct']:.1f}%"
            )
    typer.echo(
        f"written 输出: {out.resolve()} (unlock.csv, unlock.xlsx, unlock_curve.png, unlock_map.html)"
    )


COMMANDS = [unlock]

"""``landplan match``: which parcels, or groups of adjacent parcels, fit arriving projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def read_plan_parcels(plan_dir: Path):
    """``plan_parcels.csv`` written by ``landplan plan`` (``parcel_id, unlocked_year, missing``)."""
    import pandas as pd

    from landplan.core.errors import InputTableError

    path = plan_dir / "plan_parcels.csv" if plan_dir.is_dir() else plan_dir
    try:
        df = pd.read_csv(path, dtype={"parcel_id": str}, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputTableError(
            f"cannot read the plan's parcels from {path} ({exc}); give the --out folder of "
            "`landplan plan`"
        ) from exc
    if not {"parcel_id", "unlocked_year"} <= set(df.columns):
        raise InputTableError(f"{path}: needs columns parcel_id and unlocked_year")
    return df


def match(
    projects: Annotated[
        Path, typer.Argument(help="PROJECTS.csv (project_id, min_mu, max_mu, ...)")
    ],
    workspace: Annotated[
        str, typer.Argument(help="workspace folder or postgresql://...?workspace=NAME")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    by: Annotated[
        int | None, typer.Option(help="year by which the land must be ready (with --plan)")
    ] = None,
    plan_dir: Annotated[
        Path | None, typer.Option("--plan", help="--out folder of `landplan plan` (for --by)")
    ] = None,
    reclaimed: Annotated[
        Path | None,
        typer.Option(help="reclaim.csv of `landplan efficiency review`: flagged extra supply"),
    ] = None,
    table: Annotated[
        str | None, typer.Option(help="indicator table (name or TOML; default national-2023)")
    ] = None,
    peers: Annotated[
        Path | None, typer.Option(help="CSV of existing projects for the peer average")
    ] = None,
    status_field: Annotated[
        str, typer.Option(help="parcel column whose 已出让/在建/已建成 marks land taken")
    ] = "ZT",
    zone_field: Annotated[str, typer.Option(help="parcel column of the 片区")] = "QY",
    top_k: Annotated[int, typer.Option("--top-k", help="candidates listed per project")] = 5,
    lang: Annotated[str, typer.Option(help="first language of the map: zh or en")] = "zh",
) -> None:
    """Match projects to ready parcels (or adjacent groups), jointly, with reasons for the rest."""
    from landplan.core.errors import LandplanError, WorkspaceError

    try:
        import pandas as pd

        from landplan.cli.plan import read_extra_supply
        from landplan.indicators.inputs import read_input_table
        from landplan.planning.matching import match_projects, read_projects
        from landplan.store.model import open_workspace

        projs = read_projects(projects)
        ws = open_workspace(workspace)
        parcels = ws.result_parcels()
        ready = read_plan_parcels(plan_dir) if plan_dir is not None else None
        register = ws.register().entries()
        extra = read_extra_supply(reclaimed, by or 0)
        peers_df = read_input_table(peers)[0] if peers is not None else None
        res = match_projects(
            projs, parcels, by=by, ready_year=ready, register=register,
            status_field=status_field, zone_field=zone_field,
            reclaimed=() if extra is None else set(extra["parcel_id"]),
            table=table, peers=peers_df, top_k=top_k,
        )  # fmt: skip
        if out.exists() and not out.is_dir():
            raise WorkspaceError(f"--out {out} is a file; give a directory")
        out.mkdir(parents=True, exist_ok=True)
        m = res.matches
        m.to_csv(out / "match.csv", index=False, encoding="utf-8-sig", float_format="%.4f")
        res.unmatched.to_csv(out / "unmatched_reasons.csv", index=False, encoding="utf-8-sig")
        from landplan.export.xlsx import Sheet, write_workbook

        counts = res.unmatched.groupby(["project_id", "code"]).size().rename("parcels")
        sheets = [
            Sheet("候选地块", "match", m.drop(columns=["reasons"], errors="ignore")),
            Sheet("分配比较", "summary", res.summary),
            Sheet("未得地块原因", "unmatched", counts.reset_index()),
            Sheet("说明", "notes", pd.DataFrame({"note": list(res.notes) or [""]})),
        ]
        write_workbook(out / "match.xlsx", sheets, lang="en" if lang == "en" else "zh")
        from landplan.maps.plan_map import build_match_map
        from landplan.maps.result_map import save_map

        if len(m):
            save_map(build_match_map(parcels, m, lang=lang), out / "match_map.html")
    except LandplanError as exc:
        _fail(exc)
    for _, s in res.summary.iterrows():
        typer.echo(
            f"{s['method']}: {int(s['placed'])}/{int(s['projects'])} projects placed 项目落地, "
            f"total score 总分 {s['total_score']:.4f}, {s['area_mu']:,.2f} 亩"
        )
    for pid in projs["project_id"]:
        a = m[(m["project_id"] == pid) & m["assigned"]] if len(m) else m
        if len(a):
            r = a.iloc[0]
            typer.echo(
                f"  {pid}: {r['parcel_ids']} ({r['area_mu']:,.2f} 亩, score {r['score']:.3f})"
            )
        else:
            typer.echo(f"  {pid}: 无合适地块 no parcel fits (see unmatched_reasons.csv)")
    for note in res.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"written 输出: {out.resolve()} (match.csv, match.xlsx, unmatched_reasons.csv)")


COMMANDS = [match]

"""``landplan register ...``: the parcel lifecycle register (出让 → 动工 → 竣工 → 达产).

Every command takes the workspace directory written by ``landplan analyze``; the
register lives in its ``workspace.gpkg``.  Bad input exits with code 2 and an
``error: ...`` line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

EXIT_BAD_INPUT = 2
Workspace = Annotated[Path, typer.Argument(help="workspace directory (landplan analyze --out)")]
ParcelId = Annotated[str, typer.Argument(help="parcel id (parcel_id of result_parcels)")]
By = Annotated[str, typer.Option("--by", help="who records the change (name or staff id)")]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="field=value, repeatable: agreed_start_date=2024-03-01, land_price_wan=1200, "
        "committed.tax_wan_per_mu=30, invested_share=0.2, halted_since=2024-05-01",
    ),
]
Expected = Annotated[
    int | None,
    typer.Option("--expected-version", help="the version you last saw; refused if it moved on"),
]


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _console():
    from rich.console import Console

    return Console(highlight=False, width=140)


def parse_sets(items: list[str] | None, current_committed: dict | None = None) -> dict:
    """``key=value`` items → fields; ``committed.NAME=value`` items merge into ``committed``."""
    from landplan.core.errors import RegisterError

    fields: dict = {}
    committed = dict(current_committed or {})
    touched = False
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RegisterError(f"--set {item!r}: write it as field=value")
        if key.startswith("committed."):
            name = key.removeprefix("committed.")
            try:
                committed[name] = float(value)
            except ValueError:
                raise RegisterError(
                    f"--set {item!r}: a committed indicator must be a number"
                ) from None
            touched = True
        else:
            fields[key] = value
    if touched:
        if "committed" in fields:
            raise RegisterError(
                "give committed either as JSON or as committed.NAME=value, not both"
            )
        fields["committed"] = committed
    return fields


def _committed_now(reg, parcel_id: str, sets: list[str] | None) -> dict | None:
    if not any(s.strip().startswith("committed.") for s in sets or []):
        return None
    row = reg.get(parcel_id)
    return row["committed"] if row else None


@app.command()
def record(
    workspace: Workspace,
    parcel_id: ParcelId,
    to: Annotated[str, typer.Option("--to", help="the new state (see `landplan register states`)")],
    by: By,
    date: Annotated[
        str | None, typer.Option("--date", help="date of the event, YYYY-MM-DD (default today)")
    ] = None,
    expected_version: Expected = None,
    set_: Sets = None,
) -> None:
    """Move a parcel to a new state (or register it), in one audited transaction."""
    from landplan.core.errors import LandplanError
    from landplan.store.register import STATE_ZH, Register

    try:
        reg = Register(workspace)
        before = reg.get(parcel_id)
        fields = parse_sets(set_, _committed_now(reg, parcel_id, set_))
        row = reg.record(
            parcel_id, to=to, by=by, on=date, expected_version=expected_version, fields=fields
        )
    except LandplanError as exc:
        _fail(exc)
    was = f"{before['state']} → " if before else "registered as "
    typer.echo(
        f"{parcel_id}: {was}{row['state']} ({STATE_ZH[row['state']]}), version {row['version']}"
    )


@app.command()
def update(
    workspace: Workspace,
    parcel_id: ParcelId,
    by: By,
    expected_version: Expected = None,
    set_: Sets = None,
) -> None:
    """Change contract or progress fields without a state change (audited)."""
    from landplan.core.errors import LandplanError
    from landplan.store.register import Register

    try:
        reg = Register(workspace)
        fields = parse_sets(set_, _committed_now(reg, parcel_id, set_))
        row = reg.update(parcel_id, by=by, fields=fields, expected_version=expected_version)
    except LandplanError as exc:
        _fail(exc)
    typer.echo(f"{parcel_id}: updated {', '.join(fields)}, version {row['version']}")


@app.command()
def states() -> None:
    """The lifecycle states and the transitions allowed between them."""
    from landplan.store.register import STATE_ZH, TRANSITIONS

    for state, nxt in TRANSITIONS.items():
        typer.echo(f"{state:<16} {STATE_ZH[state]:<8} → {', '.join(nxt) or '(final)'}")


@app.command()
def show(workspace: Workspace, parcel_id: ParcelId) -> None:
    """The register row of one parcel (JSON) and the states it may move to."""
    from landplan.core.errors import LandplanError, RegisterError
    from landplan.store.register import TRANSITIONS, Register

    try:
        row = Register(workspace).get(parcel_id)
        if row is None:
            raise RegisterError(f"parcel {parcel_id} is not in the register")
    except LandplanError as exc:
        _fail(exc)
    row["allowed_next"] = list(TRANSITIONS[row["state"]])
    typer.echo(json.dumps(row, ensure_ascii=False, indent=2))


@app.command("list")
def list_(
    workspace: Workspace,
    state: Annotated[str | None, typer.Option("--state", help="only this state")] = None,
) -> None:
    """Every registered parcel (optionally of one state)."""
    from rich.table import Table

    from landplan.core.errors import LandplanError
    from landplan.store.register import STATE_ZH, Register

    try:
        df = Register(workspace).entries(state=state)
    except LandplanError as exc:
        _fail(exc)
    table = Table(title=f"register 登记 · {len(df)} parcels")
    cols = ("parcel_id", "state", "version", "state_since", "agreed_start_date", "land_price_wan")
    for col in (*cols, "updated_by"):
        table.add_column(col)
    for r in df.itertuples(index=False):
        d = r._asdict()
        d["state"] = f"{d['state']} {STATE_ZH[d['state']]}"
        table.add_row(*("" if d[c] is None else str(d[c]) for c in (*cols, "updated_by")))
    _console().print(table)


@app.command()
def audit(
    workspace: Workspace,
    parcel: Annotated[str | None, typer.Option("--parcel", help="only this parcel")] = None,
) -> None:
    """The audit trail: who changed what, when (UTC), before → after state."""
    from rich.table import Table

    from landplan.core.errors import LandplanError
    from landplan.store.register import Register

    try:
        df = Register(workspace).audit(parcel_id=parcel)
    except LandplanError as exc:
        _fail(exc)
    table = Table(title=f"register audit 变更记录 · {len(df)} rows")
    for col in ("id", "at (UTC)", "who", "parcel_id", "action", "state", "version"):
        table.add_column(col)
    for r in df.itertuples(index=False):
        before = json.loads(r.before) if isinstance(r.before, str) else {}
        after = json.loads(r.after) if isinstance(r.after, str) else {}
        change = f"{before.get('state', '—')} → {after.get('state', '—')}"
        version = f"{before.get('version', '—')} → {after.get('version', '—')}"
        table.add_row(str(r.id), r.at, r.who, r.parcel_id, r.action, change, version)
    _console().print(table)


@app.command()
def idle(
    workspace: Workspace,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write (UTF-8 with BOM)")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="assess as of YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Idle-land findings (《闲置土地处置办法》): late starts, halted works, fees, reclaim candidates."""
    from landplan.core.errors import LandplanError
    from landplan.store.register import Register

    try:
        df = Register(workspace).idle(as_of=as_of)
    except LandplanError as exc:
        _fail(exc)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False, encoding="utf-8-sig")
    counts = df["rule"].value_counts().to_dict() if len(df) else {}
    fee = df["fee_wan"].dropna().sum() if len(df) else 0.0
    typer.echo(f"{len(df)} parcels with findings {counts}; idle fees {fee:,.2f} 万元 → {out}")


@app.command()
def verify(
    workspace: Workspace,
    parcel_id: ParcelId,
    actual_csv: Annotated[
        Path,
        typer.Option(
            "--actual-csv",
            help="actual indicators: columns indicator,value, or parcel_id + one column per indicator",
        ),
    ],
    by: Annotated[
        str | None, typer.Option("--by", help="record the check (audit; pass → output_verified)")
    ] = None,
    date: Annotated[str | None, typer.Option("--date", help="date of the check")] = None,
    tolerance_pct: Annotated[
        float, typer.Option(help="shortfall tolerated per indicator, %")
    ] = 0.0,
    expected_version: Expected = None,
) -> None:
    """达产复核: committed vs actual indicators, shortfall per indicator, pass/fail with reasons."""
    from rich.table import Table

    from landplan.core.errors import LandplanError
    from landplan.store.lifecycle_rules import read_actuals
    from landplan.store.register import Register

    try:
        actual = read_actuals(actual_csv, parcel_id=parcel_id)
        check = Register(workspace).check_output(
            parcel_id,
            actual=actual,
            by=by,
            on=date,
            expected_version=expected_version,
            tolerance_pct=tolerance_pct,
        )
    except LandplanError as exc:
        _fail(exc)
    table = Table(title=f"达产复核 {parcel_id}: {'PASS 通过' if check.passed else 'FAIL 未通过'}")
    for col in check.table.columns:
        table.add_column(col)
    for r in check.table.itertuples(index=False):
        table.add_row(
            *("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in r)
        )
    console = _console()
    console.print(table)
    for reason in check.reasons:
        console.print(f"{reason.code}: {reason.message_zh} / {reason.message_en}")

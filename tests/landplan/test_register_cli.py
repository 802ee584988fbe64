"""``landplan register ...`` through the real typer app."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from landplan.cli.main import app
from landplan.store.register import Register
from tests.landplan.test_register import make_workspace


@pytest.fixture
def ws(tmp_path):
    return make_workspace(tmp_path / "ws")


def _run(*args):
    return CliRunner().invoke(app, ["register", *map(str, args)])


def _transfer(ws, pid="A"):
    for to, day in (("planned", "2022-01-05"), ("ready", "2022-02-01"), ("listed", "2022-03-01")):
        r = _run("record", ws, pid, "--to", to, "--by", "张三", "--date", day)
        assert r.exit_code == 0, r.stderr
    sets = [
        "agreed_start_date=2023-03-01",
        "agreed_completion_date=2025-03-01",
        "land_price_wan=1000",
        "committed.tax_wan_per_mu=30",
        "committed.invest_wan_per_mu=300",
    ]
    args = [x for s in sets for x in ("--set", s)]
    r = _run(
        "record", ws, pid, "--to", "transferred", "--by", "李四", "--date", "2022-04-01", *args
    )
    assert r.exit_code == 0, r.stderr
    assert "listed → transferred (已出让), version 4" in r.stdout


def test_record_show_list_audit(ws):
    _transfer(ws)
    shown = _run("show", ws, "A")
    assert shown.exit_code == 0, shown.stderr
    row = json.loads(shown.stdout)
    assert row["committed"] == {"invest_wan_per_mu": 300.0, "tax_wan_per_mu": 30.0}
    assert row["allowed_next"] == ["started", "idle"]
    listed = _run("list", ws, "--state", "transferred")
    assert listed.exit_code == 0 and "A" in listed.stdout and "已出让" in listed.stdout
    assert "0 parcels" in _run("list", ws, "--state", "idle").stdout
    trail = _run("audit", ws, "--parcel", "A")
    assert trail.exit_code == 0 and "listed → transferred" in trail.stdout
    assert "李四" in trail.stdout


def test_update_merges_committed_indicators(ws):
    _transfer(ws)
    r = _run("update", ws, "A", "--by", "王五", "--set", "committed.output_wan_per_mu=500")
    assert r.exit_code == 0, r.stderr
    assert Register(ws).get("A")["committed"] == {
        "invest_wan_per_mu": 300.0,
        "output_wan_per_mu": 500.0,
        "tax_wan_per_mu": 30.0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "A", "--to", "listed", "--by", "x"], "Allowed from 'planned': ready"),
        (["record", "A", "--to", "ready", "--by", "x", "--expected-version", "7"], "not 7"),
        (["record", "A", "--to", "ready", "--by", "x", "--set", "nonsense"], "field=value"),
        (["record", "B", "--to", "ready", "--by", "x"], "NETWORK_MISSING:water"),
        (["show", "C"], "not in the register"),
        (["list", "--state", "sold"], "unknown state 'sold'"),
    ],
)
def test_bad_input_exits_2_with_the_reason_on_stderr(ws, args, message):
    assert _run("record", ws, "A", "--to", "planned", "--by", "x").exit_code == 0
    assert _run("record", ws, "B", "--to", "planned", "--by", "x").exit_code == 0
    r = _run(args[0], ws, *args[1:])
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and message in r.stderr


def test_not_a_workspace_exits_2(tmp_path):
    r = _run("list", tmp_path)
    assert r.exit_code == 2 and "landplan analyze" in r.stderr


def test_idle_writes_the_csv(ws, tmp_path):
    _transfer(ws)
    out = tmp_path / "idle.csv"
    r = _run("idle", ws, "--as-of", "2024-03-02", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "200.00 万元" in r.stdout
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert list(df["parcel_id"]) == ["A"]
    assert (df.loc[0, "rule"], df.loc[0, "fee_wan"], df.loc[0, "days_late"]) == (
        "IDLE_NOT_STARTED_1Y",
        200.0,
        367,
    )
    assert json.loads(df.loc[0, "reasons"])[0]["code"] == "IDLE_NOT_STARTED_1Y"


def test_verify_pass_records_output_verified_and_fail_keeps_the_state(ws, tmp_path):
    _transfer(ws)
    for to in ("started", "completed"):
        assert _run("record", ws, "A", "--to", to, "--by", "x").exit_code == 0
    low = tmp_path / "low.csv"
    low.write_text("indicator,value\ntax_wan_per_mu,24\ninvest_wan_per_mu,320\n", encoding="utf-8")
    r = _run("verify", ws, "A", "--actual-csv", low, "--by", "审核")
    assert r.exit_code == 0, r.stderr
    assert "FAIL" in r.stdout and "OUTPUT_SHORTFALL:tax_wan_per_mu" in r.stdout
    assert Register(ws).get("A")["state"] == "completed"
    good = tmp_path / "good.csv"
    good.write_text("parcel_id,tax_wan_per_mu,invest_wan_per_mu\nA,31,300\n", encoding="utf-8")
    r = _run("verify", ws, "A", "--actual-csv", good, "--by", "审核")
    assert r.exit_code == 0 and "PASS" in r.stdout
    assert Register(ws).get("A")["state"] == "output_verified"

"""The lifecycle register on real GeoPackage files: transitions, audit, concurrency, carry-over."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from landplan.core.errors import ConflictError, RegisterError, StateError
from landplan.store.lifecycle_rules import (
    add_years,
    detect_idle,
    full_years_elapsed,
    read_actuals,
    verify_output,
)
from landplan.store.register import STATES, TRANSITIONS, Register, carry_register, freeze_register
from landplan.store.workspace import MARKER, GpkgWorkspace, write_layer
from tests.helpers import GK, box

ROOT = Path(__file__).resolve().parents[2]
BLOCK = {"code": "NETWORK_MISSING:water", "severity": "block", "value": 412.3, "threshold": 200.0}
CONTRACT = {
    "agreed_start_date": "2023-03-01",
    "agreed_completion_date": "2025-03-01",
    "land_price_wan": 1000,
    "committed": {"tax_wan_per_mu": 30, "invest_wan_per_mu": 300},
}


def make_workspace(path: Path) -> Path:
    """A tiny workspace: A, C, D transferable; B blocked by NETWORK_MISSING:water."""
    path.mkdir(parents=True)
    (path / MARKER).write_text(json.dumps({"format_version": 1, "name": "t"}), encoding="utf-8")
    ids = ["A", "B", "C", "D"]
    reasons = [[], [BLOCK], [], []]
    gdf = gpd.GeoDataFrame(
        {
            "parcel_id": ids,
            "transferable": [not r for r in reasons],
            "reasons": [json.dumps(r) for r in reasons],
            "reason_codes": [";".join(x["code"] for x in r) for r in reasons],
        },
        geometry=[box(100 * i, 0, 100, 100) for i in range(4)],
        crs=GK,
    )
    write_layer(path / "workspace.gpkg", "result_parcels", gdf)
    return path


@pytest.fixture
def ws(tmp_path) -> Path:
    return make_workspace(tmp_path / "ws")


def _to_transferred(reg: Register, pid: str = "A") -> dict:
    reg.record(pid, to="planned", by="张三", on="2022-01-05")
    reg.record(pid, to="ready", by="张三", on="2022-02-01")
    reg.record(pid, to="listed", by="张三", on="2022-03-01")
    return reg.record(pid, to="transferred", by="李四", on="2022-04-01", fields=CONTRACT)


def _audit_rows(ws: Path) -> int:
    with sqlite3.connect(ws / "workspace.gpkg") as conn:
        return conn.execute("SELECT count(*) FROM register_audit").fetchone()[0]


# ----------------------------------------------------------------------------- schema


def test_tables_are_geopackage_attribute_tables_that_gdal_reads(ws):
    reg = Register(ws)
    _to_transferred(reg)
    Register(ws)  # reopening is a no-op
    with sqlite3.connect(ws / "workspace.gpkg") as conn:
        contents = dict(
            conn.execute(
                "SELECT table_name, data_type FROM gpkg_contents WHERE table_name LIKE 'register%'"
            ).fetchall()
        )
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'register'").fetchone()[0]
        version = conn.execute(
            "SELECT value FROM register_meta WHERE key = 'register_schema_version'"
        ).fetchone()[0]
    assert contents == {
        "register": "attributes",
        "register_audit": "attributes",
        "register_meta": "attributes",
    }
    assert "fid INTEGER PRIMARY KEY AUTOINCREMENT" in ddl  # GeoPackage requirement 119
    assert version == "1"
    layers = dict(pyogrio.list_layers(ws / "workspace.gpkg"))
    assert layers["register"] is None and layers["register_audit"] is None
    df = pyogrio.read_dataframe(ws / "workspace.gpkg", layer="register")
    assert df.loc[0, "parcel_id"] == "A" and df.loc[0, "state"] == "transferred"
    assert str(df.loc[0, "agreed_start_date"].date()) == "2023-03-01"  # a GeoPackage DATE
    audit = pyogrio.read_dataframe(ws / "workspace.gpkg", layer="register_audit")
    assert list(audit["action"]) == ["create", "transition", "transition", "transition"]


def test_a_directory_without_workspace_gpkg_is_refused(tmp_path):
    with pytest.raises(Exception, match="run `landplan analyze"):
        Register(tmp_path)


# ----------------------------------------------------------------------------- lifecycle


def test_whole_lifecycle_with_versions_and_audit(ws):
    reg = Register(ws)
    row = _to_transferred(reg)
    assert row["version"] == 4 and row["transferred_on"] == "2022-04-01"
    assert row["committed"] == {"invest_wan_per_mu": 300.0, "tax_wan_per_mu": 30.0}
    row = reg.record("A", to="started", by="王五", on="2023-02-20", expected_version=4)
    assert row["started_on"] == "2023-02-20" and row["state_since"] == "2023-02-20"
    row = reg.record("A", to="completed", by="王五", on="2024-12-01", expected_version=5)
    check = reg.check_output(
        "A", actual={"tax_wan_per_mu": 31, "invest_wan_per_mu": 300}, by="赵六", on="2026-01-10"
    )
    assert check.passed
    row = reg.get("A")
    assert (row["state"], row["version"], row["updated_by"]) == ("output_verified", 7, "赵六")
    trail = reg.audit(parcel_id="A")
    states = [json.loads(a)["state"] for a in trail["after"]]
    assert states == [
        "planned",
        "ready",
        "listed",
        "transferred",
        "started",
        "completed",
        "output_verified",
    ]
    assert trail["before"].isna().iloc[0]  # the creation has no "before"
    assert json.loads(trail["before"].iloc[-1])["state"] == "completed"
    assert list(trail["who"].iloc[-2:]) == ["王五", "赵六"]
    assert json.loads(trail["after"].iloc[-1])["check"]["passed"] is True
    assert trail["at"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").all()


def _in_state(reg: Register, state: str) -> None:
    fields = CONTRACT if state in ("transferred", "started", "completed", "idle") else None
    reg.record("A", to=state, by="t", on="2023-01-01", fields=fields)


@pytest.mark.parametrize("state", STATES)
def test_every_transition_outside_the_table_is_refused_and_changes_nothing(tmp_path, state):
    ws = make_workspace(tmp_path / "ws")
    reg = Register(ws)
    _in_state(reg, state)  # a new parcel may be registered in any state (onboarding)
    before = reg.get("A")
    refused = [t for t in STATES if t not in TRANSITIONS[state]]
    for target in refused:
        with pytest.raises(StateError) as err:
            reg.record("A", to=target, by="t", fields=CONTRACT)
        assert (err.value.current, err.value.requested) == (state, target)
        assert err.value.allowed == TRANSITIONS[state]
        assert repr(state) in str(err.value) and repr(target) in str(err.value)
    assert reg.get("A") == before
    assert len(reg.audit()) == 1
    for target in TRANSITIONS[state]:  # and every allowed one is accepted
        trial = make_workspace(tmp_path / f"ok-{target}")
        r = Register(trial)
        _in_state(r, state)
        assert r.record("A", to=target, by="t", fields=CONTRACT)["state"] == target


def test_ready_needs_a_transfer_verdict_without_block_reasons(ws):
    reg = Register(ws)
    with pytest.raises(StateError, match="NETWORK_MISSING:water"):
        reg.record("B", to="listed", by="t")  # nor can it be registered as listed
    reg.record("B", to="planned", by="t")
    with pytest.raises(StateError, match="NETWORK_MISSING:water"):
        reg.record("B", to="ready", by="t")
    assert reg.get("B")["state"] == "planned"


def test_unknown_parcel_bad_fields_and_missing_contract_are_refused(ws):
    reg = Register(ws)
    with pytest.raises(RegisterError, match="'Z' is not in the workspace layer 'result_parcels'"):
        reg.record("Z", to="planned", by="t")
    with pytest.raises(RegisterError, match="needs agreed_start_date, agreed_completion_date"):
        reg.record("A", to="transferred", by="t")
    bad = {**CONTRACT, "agreed_completion_date": "2022-01-01"}
    with pytest.raises(RegisterError, match="before agreed_start_date"):
        reg.record("A", to="transferred", by="t", fields=bad)
    with pytest.raises(RegisterError, match="between 0 and 1"):
        reg.record("A", to="started", by="t", fields={**CONTRACT, "invested_share": 30})
    with pytest.raises(RegisterError, match="YYYY-MM-DD"):
        reg.record("A", to="planned", by="t", on="01/03/2024")
    with pytest.raises(RegisterError, match="unknown register field 'price'"):
        reg.record("A", to="planned", by="t", fields={"price": 1})
    with pytest.raises(RegisterError, match="--by"):
        reg.record("A", to="planned", by=" ")
    assert reg.entries().empty and reg.audit().empty


def test_reclaimed_land_returns_to_the_reserve_without_the_old_contract(ws):
    reg = Register(ws)
    _to_transferred(reg)
    reg.record("A", to="idle", by="t", on="2024-03-02")
    reg.record("A", to="reclaimed", by="t", on="2025-03-02")
    row = reg.record("A", to="planned", by="t", on="2025-04-01")
    assert row["land_price_wan"] is None and row["agreed_start_date"] is None
    assert row["committed"] == {}
    old = json.loads(reg.audit(parcel_id="A")["before"].iloc[-1])
    assert old["land_price_wan"] == 1000.0  # the history keeps it


def test_update_changes_progress_with_a_version_check(ws):
    reg = Register(ws)
    _to_transferred(reg)
    reg.record("A", to="started", by="t", on="2023-02-01")
    row = reg.update("A", by="t", fields={"invested_share": 0.2, "halted_since": "2023-06-01"})
    assert (row["invested_share"], row["halted_since"], row["version"]) == (0.2, "2023-06-01", 6)
    with pytest.raises(ConflictError) as err:
        reg.update("A", by="u", fields={"invested_share": 0.3}, expected_version=5)
    assert err.value.current["version"] == 6 and err.value.current["invested_share"] == 0.2


# ----------------------------------------------------------------------------- concurrency


def test_50_threads_same_version_exactly_one_wins(ws):
    reg = Register(ws)
    reg.record("A", to="planned", by="setup")
    start = threading.Barrier(50)
    results: list[object] = [None] * 50

    def attempt(i: int) -> None:
        start.wait()
        try:
            results[i] = Register(ws).record("A", to="ready", by=f"t{i}", expected_version=1)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if isinstance(r, dict)]
    conflicts = [r for r in results if isinstance(r, ConflictError)]
    assert len(wins) == 1 and len(conflicts) == 49, [type(r) for r in results]
    assert all(c.current["version"] == 2 for c in conflicts)
    row = reg.get("A")
    assert (row["state"], row["version"], row["updated_by"]) == ("ready", 2, wins[0]["updated_by"])
    assert len(reg.audit()) == 2  # create + the one transition


_CHILD = """
import pathlib, sys, time
from landplan.core.errors import ConflictError
from landplan.store.register import Register
ws, tmp, i = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
reg = Register(ws)
(tmp / f"ready-{i}").touch()
while not (tmp / "go").exists():
    time.sleep(0.002)
try:
    reg.record("A", to="ready", by=f"p{i}", expected_version=1)
except ConflictError:
    sys.exit(3)
"""


def test_12_processes_same_version_exactly_one_wins(ws, tmp_path):
    Register(ws).record("A", to="planned", by="setup")
    flags = tmp_path / "flags"
    flags.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(ws), str(flags), str(i)], cwd=ROOT)
        for i in range(12)
    ]
    deadline = time.monotonic() + 120
    while len(list(flags.glob("ready-*"))) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    (flags / "go").touch()
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0] + [3] * 11
    assert Register(ws).get("A")["version"] == 2 and _audit_rows(ws) == 2


def test_a_failure_after_the_update_leaves_state_and_audit_unchanged(ws, monkeypatch):
    import landplan.store.register_sqlite as register_module

    reg = Register(ws)
    reg.record("A", to="planned", by="t")
    before, n = reg.get("A"), _audit_rows(ws)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full (injected after the UPDATE)")

    monkeypatch.setattr(register_module, "_write_audit", boom)
    with pytest.raises(RuntimeError, match="injected"):
        reg.record("A", to="ready", by="t", expected_version=1)
    monkeypatch.undo()
    assert reg.get("A") == before and _audit_rows(ws) == n
    assert reg.record("A", to="ready", by="t", expected_version=1)["version"] == 2


def test_a_process_killed_before_commit_leaves_nothing(ws):
    reg = Register(ws)
    reg.record("A", to="planned", by="t")
    before, n = reg.get("A"), _audit_rows(ws)
    code = (
        "import os, landplan.store.register as m, landplan.store.register_sqlite as s\n"
        "s._write_audit = lambda *a, **k: os._exit(7)\n"
        f"m.Register({str(ws)!r}).record('A', to='ready', by='killed')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=120)
    assert run.returncode == 7, run.stderr
    assert reg.get("A") == before and _audit_rows(ws) == n  # the hot journal was rolled back


def test_a_writer_waits_for_a_lock_instead_of_failing(ws):
    reg = Register(ws)
    reg.record("A", to="planned", by="t")
    holder = sqlite3.connect(ws / "workspace.gpkg", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Event()
    threading.Timer(0.5, lambda: (holder.execute("ROLLBACK"), released.set())).start()
    row = reg.record("A", to="ready", by="waiter", expected_version=1)
    assert released.is_set() and row["version"] == 2
    holder.close()


# ----------------------------------------------------------------------------- re-analysis


def _rewrite(ws: Path, result) -> None:
    """A re-analysis: GpkgWorkspace.write_result carries the register under its lock until the swap."""
    GpkgWorkspace(ws).write_result(result)


def test_the_register_survives_a_re_analysis(tmp_path, sample_result):
    ws = tmp_path / "ws"
    GpkgWorkspace(ws).write_result(sample_result)
    pid = sample_result.parcels.loc[sample_result.parcels["transferable"], "parcel_id"].iloc[0]
    reg = Register(ws)
    _to_transferred(reg, pid)
    reg.record("530702-GY-00001", to="started", by="t", fields=CONTRACT)
    rows, audit = reg.entries(), reg.audit()
    _rewrite(ws, sample_result)
    reg = Register(ws)
    pd.testing.assert_frame_equal(reg.entries(), rows)
    pd.testing.assert_frame_equal(reg.audit(), audit)
    row = reg.record(pid, to="started", by="t", expected_version=4)
    assert row["version"] == 5 and reg.audit()["id"].iloc[-1] == audit["id"].iloc[-1] + 1


def test_carry_reports_registered_parcels_the_new_workspace_lacks(tmp_path, ws):
    Register(ws).record("D", to="planned", by="t")
    new = make_workspace(tmp_path / "new")
    with sqlite3.connect(new / "workspace.gpkg") as conn:
        conn.execute("DELETE FROM result_parcels WHERE parcel_id = 'D'")
    report = carry_register(ws / "workspace.gpkg", new / "workspace.gpkg")
    assert (report.entries, report.audit_rows, report.orphans) == (1, 1, ("D",))
    assert Register(new).get("D")["state"] == "planned"


def test_a_write_waiting_during_the_swap_lands_in_the_new_workspace(tmp_path, ws):
    reg = Register(ws)
    reg.record("A", to="planned", by="t")
    new_dir = make_workspace(tmp_path / "stage")
    done = threading.Event()
    out: dict = {}

    def writer():
        out["row"] = Register(ws).record("A", to="ready", by="late", expected_version=1)
        done.set()

    with freeze_register(ws / "workspace.gpkg"):
        t = threading.Thread(target=writer)
        t.start()
        done.wait(0.5)  # the writer is blocked on the lock
        carry_register(ws / "workspace.gpkg", new_dir / "workspace.gpkg")
        old = tmp_path / "old"
        ws.rename(old)
        new_dir.rename(ws)
        shutil.rmtree(old)
    t.join()
    assert out["row"]["version"] == 2
    assert Register(ws).get("A")["updated_by"] == "late"


# ----------------------------------------------------------------------------- idle land


def test_add_years_handles_29_february():
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert add_years(date(2023, 3, 1), 1) == date(2024, 3, 1)
    assert not full_years_elapsed(date(2024, 2, 29), date(2025, 2, 28), 1)
    assert full_years_elapsed(date(2024, 2, 29), date(2025, 3, 1), 1)


def _entry(pid, state, **kw):
    base = dict.fromkeys(
        (
            "agreed_start_date",
            "land_price_wan",
            "started_on",
            "halted_since",
            "developed_area_share",
            "invested_share",
        )
    )
    return {"parcel_id": pid, "state": state, **base, **kw}


def test_idle_rules_by_hand():
    rows = pd.DataFrame(
        [
            _entry("on_time", "transferred", agreed_start_date="2023-03-01", land_price_wan=1000.0),
            _entry("leap", "transferred", agreed_start_date="2024-02-29", land_price_wan=500.0),
            _entry("two_years", "idle", agreed_start_date="2022-01-10", land_price_wan=800.0),
            _entry(
                "halted",
                "started",
                started_on="2022-06-01",
                halted_since="2023-05-01",
                developed_area_share=0.2,
                invested_share=0.5,
                land_price_wan=600.0,
            ),
            _entry(
                "halted_but_built_up",
                "started",
                started_on="2022-06-01",
                halted_since="2023-05-01",
                developed_area_share=0.5,
                invested_share=0.3,
            ),
            _entry("no_date", "transferred"),
            _entry("no_price", "transferred", agreed_start_date="2024-01-01"),
            _entry("done", "completed", agreed_start_date="2020-01-01"),
        ]
    )
    day1 = detect_idle(rows, as_of="2024-03-01").set_index("parcel_id")
    assert "on_time" not in day1.index  # 2024-03-01 is the last day of the year, not past it
    day = detect_idle(rows, as_of="2025-03-01").set_index("parcel_id")
    assert set(day.index) == {"on_time", "leap", "two_years", "halted", "no_date", "no_price"}
    assert day.loc["leap", "rule"] == "IDLE_NOT_STARTED_1Y"  # 2024-02-29 + 1 year = 2025-02-28
    assert day.loc["leap", "days_late"] == 366 and day.loc["leap", "fee_wan"] == pytest.approx(
        100.0
    )
    assert day.loc["leap", "idle_from"] == "2025-03-01"
    assert day.loc["on_time", "rule"] == "IDLE_NOT_STARTED_1Y"
    assert day.loc["on_time", "fee_wan"] == pytest.approx(200.0)
    two = day.loc["two_years"]
    assert (two["rule"], two["action"]) == ("IDLE_NOT_STARTED_2Y", "reclaim 无偿收回（候选）")
    codes = [r["code"] for r in json.loads(two["reasons"])]
    assert codes == ["IDLE_NOT_STARTED_1Y", "IDLE_NOT_STARTED_2Y"]
    halted = day.loc["halted"]
    assert (halted["rule"], halted["days_halted"]) == ("IDLE_HALTED", 670)
    assert halted["fee_wan"] == pytest.approx(120.0)
    reason = json.loads(halted["reasons"])[0]
    assert set(reason) == {
        "code",
        "severity",
        "value",
        "threshold",
        "unit",
        "basis",
        "message_zh",
        "message_en",
    }
    assert (reason["value"], reason["threshold"], reason["unit"]) == (670.0, 366.0, "d")
    assert "闲置土地处置办法" in reason["basis"] and "20.0%" in reason["message_zh"]
    assert day.loc["no_date", "rule"] == "IDLE_DATA_MISSING"
    assert pd.isna(day.loc["no_date", "fee_wan"])
    no_price = day.loc["no_price"]
    assert no_price["rule"] == "IDLE_NOT_STARTED_1Y" and pd.isna(no_price["fee_wan"])
    assert "IDLE_DATA_MISSING" in no_price["reasons"]


def test_register_idle_reads_the_stored_rows(ws):
    reg = Register(ws)
    _to_transferred(reg)
    found = reg.idle(as_of="2025-03-02")
    assert list(found["parcel_id"]) == ["A"] and found.loc[0, "rule"] == "IDLE_NOT_STARTED_2Y"
    assert found.loc[0, "days_late"] == (date(2025, 3, 2) - date(2023, 3, 1)).days


# ----------------------------------------------------------------------------- 达产复核


def test_output_shortfall_per_indicator():
    check = verify_output(
        {"tax_wan_per_mu": 30, "invest_wan_per_mu": 300, "energy_tce_per_wan": 0.5, "jobs": 100},
        {"tax_wan_per_mu": 24, "invest_wan_per_mu": 320, "energy_tce_per_wan": 0.6},
    )
    t = check.table.set_index("indicator")
    assert not check.passed
    assert t.loc["tax_wan_per_mu", "shortfall"] == pytest.approx(6.0)
    assert t.loc["tax_wan_per_mu", "shortfall_pct"] == pytest.approx(20.0)
    assert t.loc["invest_wan_per_mu", "shortfall"] == pytest.approx(-20.0)
    assert bool(t.loc["invest_wan_per_mu", "passed"])
    assert t.loc["energy_tce_per_wan", "shortfall_pct"] == pytest.approx(20.0)  # lower is better
    assert [r.code for r in check.reasons] == [
        "OUTPUT_SHORTFALL:tax_wan_per_mu",
        "OUTPUT_SHORTFALL:energy_tce_per_wan",
        "OUTPUT_NOT_REPORTED:jobs",
    ]
    ok = verify_output({"tax_wan_per_mu": 30}, {"tax_wan_per_mu": 29}, tolerance_pct=5)
    assert ok.passed and not ok.reasons


def test_a_failed_check_is_audited_and_keeps_the_state(ws):
    reg = Register(ws)
    _in_state(reg, "completed")
    check = reg.check_output("A", actual={"tax_wan_per_mu": 10, "invest_wan_per_mu": 300}, by="审")
    assert not check.passed
    row = reg.get("A")
    assert (row["state"], row["version"]) == ("completed", 1)
    last = reg.audit().iloc[-1]
    assert last["action"] == "output_check"
    assert json.loads(last["after"])["check"]["passed"] is False


def test_actuals_from_long_and_wide_csv(tmp_path):
    long = tmp_path / "long.csv"
    long.write_text("indicator,value\ntax_wan_per_mu,24\ninvest_wan_per_mu,320\n", encoding="utf-8")
    wide = tmp_path / "wide.csv"
    wide.write_text(
        "parcel_id,tax_wan_per_mu,invest_wan_per_mu\nA,24,320\nB,1,2\n", encoding="utf-8-sig"
    )
    expected = {"tax_wan_per_mu": 24.0, "invest_wan_per_mu": 320.0}
    assert read_actuals(long) == expected
    assert read_actuals(wide, parcel_id="A") == expected
    with pytest.raises(RegisterError, match="found 0"):
        read_actuals(wide, parcel_id="Z")

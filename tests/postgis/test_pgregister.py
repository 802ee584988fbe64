"""PgRegister on a real PostGIS: the same semantics as the GeoPackage register, optimistic
concurrency under 50 simultaneous writers, and all-or-nothing transactions."""

from __future__ import annotations

import json
import os
import threading

import geopandas as gpd
import pytest

from landplan.core.errors import ConflictError, RegisterError, StateError
from landplan.store.register import Register
from tests.helpers import GK, box
from tests.landplan.test_register import make_workspace

psycopg = pytest.importorskip("psycopg")

from landplan.store.pgregister import PgRegisterStorage  # noqa: E402
from landplan.store.pgstore import PgStore  # noqa: E402
from landplan.store.pgtransfer import drop_workspace  # noqa: E402

pytestmark = pytest.mark.postgis

BLOCK = {"code": "NETWORK_MISSING:water", "severity": "block", "value": 412.3, "threshold": 200.0}
CONTRACT = {
    "agreed_start_date": "2023-03-01",
    "agreed_completion_date": "2025-03-01",
    "land_price_wan": 1000,
    "committed": {"tax_wan_per_mu": 30, "invest_wan_per_mu": 300},
}
#: parcels A, C, D … and the race parcels R0..R9 are transferable; B is blocked
IDS = ["A", "B", "C", "D", *(f"R{i}" for i in range(10))]


def result_parcels() -> gpd.GeoDataFrame:
    reasons = [[BLOCK] if pid == "B" else [] for pid in IDS]
    return gpd.GeoDataFrame(
        {
            "parcel_id": IDS,
            "transferable": [not r for r in reasons],
            "reasons": [json.dumps(r) for r in reasons],
            "reason_codes": [";".join(x["code"] for x in r) for r in reasons],
        },
        geometry=[box(100 * i, 0, 100, 100) for i in range(len(IDS))],
        crs=GK,
    )


@pytest.fixture(scope="module")
def store(postgis_dsn):
    dsn = f"{postgis_dsn}?workspace=t_pgregister_{os.getpid()}"
    drop_workspace(dsn)
    store = PgStore.create(dsn, metadata={"name": "登记测试", "crs": GK})
    store.replace_layer("result_parcels", result_parcels())
    yield store
    drop_workspace(dsn)


@pytest.fixture(scope="module")
def reg(store) -> Register:
    return store.register()


def _to_transferred(reg, pid: str) -> dict:
    reg.record(pid, to="planned", by="张三", on="2022-01-05")
    reg.record(pid, to="ready", by="张三", on="2022-02-01")
    reg.record(pid, to="listed", by="张三", on="2022-03-01")
    return reg.record(pid, to="transferred", by="李四", on="2022-04-01", fields=CONTRACT)


def _lifecycle(reg, pid: str) -> None:
    _to_transferred(reg, pid)
    reg.update(pid, by="王五", fields={"invested_share": 0.2, "note": "首期投资到位"})
    reg.record(pid, to="started", by="王五", on="2023-02-20")
    reg.record(pid, to="idle", by="赵六", on="2024-06-01", fields={"halted_since": "2023-06-01"})
    reg.record(pid, to="started", by="赵六", on="2024-07-01")
    reg.record(pid, to="completed", by="赵六", on="2025-01-10")


def _strip_times(value):
    if isinstance(value, dict):
        return {k: _strip_times(v) for k, v in value.items() if k != "updated_at"}
    return value


def test_same_results_as_the_geopackage_register(reg, tmp_path):
    sqlite_reg = Register(make_workspace(tmp_path / "ws"))
    _lifecycle(sqlite_reg, "A")
    _lifecycle(reg, "A")
    want, got = sqlite_reg.get("A"), reg.get("A")
    assert _strip_times(got) == _strip_times(want)
    assert got["state"] == "completed" and got["version"] == 9
    assert got["committed"] == {"invest_wan_per_mu": 300.0, "tax_wan_per_mu": 30.0}
    assert got["agreed_start_date"] == "2023-03-01" and got["halted_since"] is None
    assert got["updated_at"].endswith("Z") and len(got["updated_at"]) == 24
    audit_want, audit_got = sqlite_reg.audit(parcel_id="A"), reg.audit(parcel_id="A")
    assert list(audit_got.columns) == list(audit_want.columns)
    assert list(audit_got["action"]) == list(audit_want["action"])
    assert list(audit_got["who"]) == list(audit_want["who"])
    for a, b in zip(audit_got.itertuples(), audit_want.itertuples(), strict=True):
        assert _strip_times(json.loads(a.after)) == _strip_times(json.loads(b.after))
        assert (a.before is None) == (b.before is None)
    entries = reg.entries(state="completed")
    assert list(entries.columns) == list(sqlite_reg.entries().columns)
    assert entries["parcel_id"].tolist() == ["A"]


def test_refusals_match_the_geopackage_register(reg):
    with pytest.raises(RegisterError, match="not in the workspace layer"):
        reg.record("ZZ", to="planned", by="张三")
    with pytest.raises(StateError, match="blocked by NETWORK_MISSING:water"):
        reg.record("B", to="ready", by="张三")
    reg.record("C", to="planned", by="张三")
    with pytest.raises(StateError) as info:
        reg.record("C", to="started", by="张三")
    assert info.value.allowed == ("ready",) and info.value.current == "planned"
    reg.record("C", to="ready", by="张三")
    reg.record("C", to="listed", by="张三")
    with pytest.raises(RegisterError, match="needs agreed_start_date"):
        reg.record("C", to="transferred", by="张三")
    with pytest.raises(RegisterError, match="--by"):
        reg.record("D", to="planned", by=" ")
    with pytest.raises(RegisterError, match="between 0 and 1"):
        reg.update("C", by="张三", fields={"invested_share": 30})
    with pytest.raises(RegisterError, match="not in the register"):
        reg.update("D", by="张三", fields={"note": "x"})
    with pytest.raises(RegisterError, match="unknown state"):
        reg.entries(state="sold")


def test_stale_version_is_a_conflict_with_the_current_row(reg):
    row = reg.record("D", to="planned", by="张三")
    reg.update("D", by="李四", fields={"note": "先改"}, expected_version=row["version"])
    with pytest.raises(ConflictError) as info:
        reg.update("D", by="王五", fields={"note": "后改"}, expected_version=row["version"])
    assert info.value.current["version"] == row["version"] + 1
    assert info.value.current["note"] == "先改"
    with pytest.raises(ConflictError):
        reg.record("D", to="ready", by="王五", expected_version=0)


def test_fifty_simultaneous_writers_one_wins(reg, store):
    pid = "R0"
    row = reg.record(pid, to="planned", by="张三")
    audit_before = len(reg.audit(parcel_id=pid))
    token = store.token()
    barrier = threading.Barrier(50)
    outcomes: list[object] = []
    lock = threading.Lock()

    def clerk(i: int) -> None:
        barrier.wait()
        try:
            result = reg.record(pid, to="ready", by=f"clerk{i}", expected_version=row["version"])
        except ConflictError as exc:
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=clerk, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if isinstance(o, dict)]
    conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(wins) == 1 and len(conflicts) == 49
    assert all(c.current["version"] == 2 for c in conflicts)
    now = reg.get(pid)
    assert now["state"] == "ready" and now["version"] == 2
    assert now["updated_by"] == wins[0]["updated_by"]
    audit = reg.audit(parcel_id=pid)
    assert len(audit) == audit_before + 1
    assert audit["who"].iloc[-1] == now["updated_by"]
    assert store.token() != token


def test_simultaneous_first_registrations_one_wins(reg):
    pid = "R1"
    barrier = threading.Barrier(20)
    outcomes: list[object] = []

    def clerk(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(reg.record(pid, to="planned", by=f"clerk{i}", expected_version=0))
        except ConflictError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=clerk, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert sum(isinstance(o, ConflictError) for o in outcomes) == 19
    assert len(reg.audit(parcel_id=pid)) == 1


def test_an_error_mid_transaction_changes_nothing(reg, store, monkeypatch):
    pid = "R2"
    reg.record(pid, to="planned", by="张三")
    row, audit, token = reg.get(pid), reg.audit(), store.token()

    def broken_audit(self, conn, *args):
        raise RuntimeError("disk full (simulated)")

    # fails after the row's UPDATE, inside the transaction
    monkeypatch.setattr(PgRegisterStorage, "write_audit", broken_audit)
    with pytest.raises(RuntimeError, match="simulated"):
        reg.record(pid, to="ready", by="李四", expected_version=row["version"])
    with pytest.raises(RuntimeError, match="simulated"):
        reg.record("R3", to="planned", by="李四")
    monkeypatch.undo()
    assert reg.get(pid) == row
    assert reg.get("R3") is None
    assert reg.audit().equals(audit)
    assert store.token() == token


def test_output_check_and_idle_work_through_the_shared_rules(reg):
    _lifecycle(reg, "R4")
    check = reg.check_output(
        "R4", actual={"tax_wan_per_mu": 31, "invest_wan_per_mu": 310}, by="核查员", on="2025-06-01"
    )
    assert check.passed and reg.get("R4")["state"] == "output_verified"
    assert json.loads(reg.audit(parcel_id="R4")["after"].iloc[-1])["check"]["passed"] is True
    _to_transferred(reg, "R5")
    findings = reg.idle(as_of="2024-06-01")
    assert "R5" in set(findings["parcel_id"])

"""Transfers over HTTP: optimistic concurrency (409 with the current row), roles, the audit trail."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pyogrio
import pytest

from tests.api.conftest import auth


@pytest.fixture(scope="module")
def ready_ids(workspace_template) -> list[str]:
    rp = pyogrio.read_dataframe(
        workspace_template / "workspace.gpkg", layer="result_parcels", read_geometry=False
    )
    return sorted(rp.loc[rp["transferable"].astype(bool), "parcel_id"])[:10]


@pytest.fixture(scope="module")
def blocked_id(workspace_template) -> str:
    rp = pyogrio.read_dataframe(
        workspace_template / "workspace.gpkg", layer="result_parcels", read_geometry=False
    )
    return sorted(rp.loc[~rp["transferable"].astype(bool), "parcel_id"])[0]


def test_fifty_concurrent_transfers_one_wins(live_server, ready_ids):
    """50 clerks register the same parcel with the version they read: 1 success, 49 conflicts."""
    pid = ready_ids[0]

    def attempt(i: int) -> httpx.Response:
        return httpx.post(
            f"{live_server.url}/register/{pid}/transitions",
            json={"to": "ready", "fields": {"note": f"clerk {i}"}},
            headers={**auth("registrar"), "If-Match": '"0"'},
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(attempt, range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1 and codes.count(409) == 49, codes
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.headers["etag"] == '"1"'
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["current"]["version"] == 1
    assert conflict.json()["current"]["note"] == winner.json()["note"]
    audit = httpx.get(
        f"{live_server.url}/register/{pid}/audit", headers=auth("viewer"), timeout=30
    ).json()["audit"]
    assert len(audit) == 1 and audit[0]["who"] == "registrar-user"

    # the same race on the next step (ready → listed at version 1)
    def step(i: int) -> httpx.Response:
        return httpx.post(
            f"{live_server.url}/register/{pid}/transitions",
            json={"to": "listed", "expected_version": 1},
            headers=auth("registrar"),
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = sorted(r.status_code for r in pool.map(step, range(50)))
    assert codes.count(200) == 1 and codes.count(409) == 49


def test_transfer_flow_and_audit(client, ready_ids):
    pid = ready_ids[1]
    r = client.post(
        f"/register/{pid}/transitions",
        json={"to": "ready", "expected_version": 0},
        headers=auth("registrar"),
    )
    assert r.status_code == 200 and r.json()["state"] == "ready"
    etag = r.headers["etag"]
    client.post(
        f"/register/{pid}/transitions",
        json={"to": "listed"},
        headers={**auth("registrar"), "If-Match": etag},
    )
    fields = {
        "agreed_start_date": "2027-03-01",
        "agreed_completion_date": "2028-09-30",
        "land_price_wan": 1180.5,
        "contract_no": "丽自然资出〔2026〕12号",
    }
    r = client.post(
        f"/register/{pid}/transitions",
        json={"to": "transferred", "on": "2026-11-20", "expected_version": 2, "fields": fields},
        headers=auth("registrar"),
    )
    assert r.status_code == 200, r.text
    row = client.get(f"/register/{pid}", headers=auth("viewer")).json()
    assert (
        row["state"] == "transferred"
        and row["version"] == 3
        and row["transferred_on"] == "2026-11-20"
    )
    assert row["contract_no"] == "丽自然资出〔2026〕12号" and row["land_price_wan"] == 1180.5
    audit = client.get(f"/audit?parcel_id={pid}", headers=auth("viewer")).json()["audit"]
    assert [a["action"] for a in audit] == ["create", "transition", "transition"]
    assert audit[-1]["before"]["state"] == "listed" and audit[-1]["after"]["state"] == "transferred"
    assert all(a["who"] == "registrar-user" and a["at"] for a in audit)


def test_stale_version_gets_409_with_current_state(client, ready_ids):
    pid = ready_ids[2]
    client.post(
        f"/register/{pid}/transitions",
        json={"to": "ready", "expected_version": 0},
        headers=auth("registrar"),
    )
    r = client.patch(
        f"/register/{pid}",
        json={"fields": {"note": "first"}},
        headers={**auth("registrar"), "If-Match": '"1"'},
    )
    assert r.status_code == 200
    stale = client.patch(
        f"/register/{pid}",
        json={"fields": {"note": "second"}},
        headers={**auth("registrar"), "If-Match": '"1"'},
    )
    assert stale.status_code == 409
    assert stale.json()["current"]["note"] == "first" and stale.json()["current"]["version"] == 2
    assert client.get(f"/register/{pid}", headers=auth("viewer")).json()["note"] == "first"


def test_blocked_parcel_cannot_become_ready(client, blocked_id):
    r = client.post(
        f"/register/{blocked_id}/transitions",
        json={"to": "ready", "expected_version": 0},
        headers=auth("registrar"),
    )
    assert r.status_code == 409 and r.json()["requested"] == "ready"
    assert client.get(f"/register/{blocked_id}", headers=auth("viewer")).status_code == 404


def test_writes_need_version_and_role(client, ready_ids):
    pid = ready_ids[3]
    url = f"/register/{pid}/transitions"
    assert client.post(url, json={"to": "ready"}, headers=auth("registrar")).status_code == 428
    assert client.post(url, json={"to": "ready", "expected_version": 0}).status_code == 401
    assert (
        client.post(
            url, json={"to": "ready", "expected_version": 0}, headers=auth("planner")
        ).status_code
        == 403
    )
    assert (
        client.post(
            url, json={"to": "ready", "expected_version": 0}, headers=auth("viewer")
        ).status_code
        == 403
    )
    assert (
        client.post(
            url, json={"to": "ready", "expected_version": 0}, headers={"X-API-Key": "wrong"}
        ).status_code
        == 401
    )
    assert (
        client.post(
            url, json={"to": "ready", "expected_version": 0}, headers=auth("admin")
        ).status_code
        == 200
    )
    bad = client.post(url, json={"to": "flying", "expected_version": 1}, headers=auth("admin"))
    assert bad.status_code == 409 and bad.headers["content-type"] == "application/problem+json"

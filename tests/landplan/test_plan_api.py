"""The planning router (``api/routers/planning.py``): plan and match jobs on the sample workspace."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def client(sample_result, tmp_path_factory):
    from fastapi.testclient import TestClient
    from landplan.api.app import create_app
    from landplan.api.auth import hash_key
    from landplan.api.routers import planning
    from landplan.api.settings import ApiKey, Settings

    from landplan.store.workspace import GpkgWorkspace

    path = tmp_path_factory.mktemp("planapi") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    keys = [ApiKey(name="p", role="planner", sha256=hash_key("planner-key")),
            ApiKey(name="v", role="viewer", sha256=hash_key("viewer-key"))]  # fmt: skip
    app = create_app(Settings(store=str(path), api_keys=keys))
    if not any(getattr(r, "path", "") == "/plans/jobs" for r in app.routes):
        app.include_router(planning.router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


PLANNER = {"X-API-Key": "planner-key"}


def _wait(client, job_id, timeout_s=300):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        j = client.get(f"/jobs/{job_id}", headers=PLANNER).json()
        if j["status"] in ("succeeded", "failed"):
            return j
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def test_plan_then_match_jobs(client):
    body = {"budgets": {"2026": 150, "2027": 150, "2028": 150}, "scope_field": "ZT",
            "scope_value": "标准地"}  # fmt: skip
    r = client.post("/plans/jobs", json=body, headers=PLANNER)
    assert r.status_code == 202, r.text
    plan = _wait(client, r.json()["id"])
    assert plan["status"] == "succeeded", plan
    res = plan["result"]
    assert [row["year"] for row in res["table"]] == [2026, 2027, 2028]
    last = res["table"][-1]["cumulative_transferable_mu"]
    assert f"{last:,.2f} 亩" in res["sentence_zh"] and "plan.csv" in plan["files"]
    assert all(row["spent_wan"] <= row["available_wan"] + 1e-6 for row in res["table"])
    projects = [{"project_id": "A", "min_mu": 10, "max_mu": 30, "invest_wan": 5000,
                 "networks": ["road", "water"]},
                {"project_id": "B", "min_mu": 10, "max_mu": 30, "invest_wan": 5000,
                 "networks": ["road"]}]  # fmt: skip
    r = client.post("/matches/jobs", headers=PLANNER,
                    json={"projects": projects, "by": 2028, "plan_job": plan["id"]})  # fmt: skip
    assert r.status_code == 202, r.text
    m = _wait(client, r.json()["id"])
    assert m["status"] == "succeeded", m
    got = [x for x in m["result"]["matches"] if x["assigned"]]
    ids = [p for x in got for p in x["parcel_ids"].split(";")]
    assert len(ids) == len(set(ids)) and {x["project_id"] for x in got} == {"A", "B"}


def test_bad_requests_are_4xx(client):
    assert client.post("/plans/jobs", json={"budgets": {}}, headers=PLANNER).status_code == 400
    r = client.post("/plans/jobs", json={"budgets": {"2026": 1}})
    assert r.status_code == 401
    r = client.post(
        "/plans/jobs", json={"budgets": {"2026": 1}}, headers={"X-API-Key": "viewer-key"}
    )
    assert r.status_code == 403
    # min_mu > max_mu: the job fails with the reason, never a 5xx
    r = client.post("/matches/jobs", headers=PLANNER, json={"projects": [
        {"project_id": "A", "min_mu": 50, "max_mu": 10, "invest_wan": 1}]})  # fmt: skip
    assert r.status_code == 202
    j = _wait(client, r.json()["id"])
    assert j["status"] == "failed" and "min_mu ≤ max_mu" in j["error"]
    r = client.post("/matches/jobs", headers=PLANNER, json={"plan_job": "abc123", "projects": [
        {"project_id": "A", "min_mu": 5, "max_mu": 10, "invest_wan": 1}]})  # fmt: skip
    assert r.status_code == 404

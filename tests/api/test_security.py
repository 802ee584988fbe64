"""Keys, roles, public reads, CORS, health and the documented API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from landplan.api.app import create_app

from tests.api.conftest import auth, make_settings


@pytest.fixture(scope="module")
def private_client(store_spec):
    app = create_app(
        make_settings(store_spec, public_read=False, cors_origins=["https://report.example.gov.cn"])
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_private_reads_need_a_key(private_client):
    r = private_client.get("/collections")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert private_client.get("/collections", headers=auth("viewer")).status_code == 200
    assert private_client.get("/collections", headers={"X-API-Key": "guess"}).status_code == 401
    assert private_client.get("/healthz").status_code == 200  # liveness needs no key


def test_cors_allows_only_the_configured_origin(private_client):
    ok = private_client.options(
        "/collections",
        headers={
            "Origin": "https://report.example.gov.cn",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-API-Key",
        },
    )
    assert ok.headers.get("access-control-allow-origin") == "https://report.example.gov.cn"
    bad = private_client.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in bad.headers


def test_keys_are_not_stored_in_clear(store_spec):
    settings = make_settings(store_spec)
    dumped = settings.model_dump_json()
    assert all(k not in dumped for k in ("viewer-key-1", "admin-key-4"))


def test_openapi_documents_parameters_and_errors(client):
    doc = client.get("/openapi.json").json()
    items = doc["paths"]["/collections/{collection_id}/items"]["get"]
    params = {p["name"]: p for p in items["parameters"]}
    assert {"bbox", "bbox-crs", "crs", "limit", "offset"} <= set(params)
    assert all(p.get("description") for n, p in params.items() if n != "collection_id")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code in ("400", "401", "500"):
                assert "application/problem+json" in op["responses"][code]["content"], (
                    path,
                    method,
                    code,
                )
    transition = doc["paths"]["/register/{parcel_id}/transitions"]["post"]["responses"]
    assert {"409", "428", "403"} <= set(transition)


def test_internal_errors_do_not_leak(client, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("psycopg.errors.UndefinedTable: SELECT secret FROM ws_x.parcels")

    store = client.app.state.store
    monkeypatch.setattr(store, "collections", boom)
    r = client.get("/collections")
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert "SELECT" not in r.text and "psycopg" not in r.text and "reference" in r.json()["detail"]


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["crs"] == "EPSG:4542" and body["data_token"]

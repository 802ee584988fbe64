"""Service hardening (issue 13 item 8): nothing a client sends gives a 5xx, no body shows a
server path, 413 for chunked bodies, public_read never opens the register or the audit trail,
job bboxes are checked, scratch folders are removed, and a real server on 127.0.0.1 sheds
idle and half-sent connections (header timeout) while it keeps answering."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from landplan.api.app import create_app

from tests.api.conftest import LiveServer, auth, make_settings


def _server_paths(*extra) -> list[str]:
    """Strings that must never appear in a response body."""
    found = {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir()), *map(str, extra)}
    return sorted(p for p in found if p and len(p) > 1)


def _no_server_path(text: str, *extra) -> None:
    for p in _server_paths(*extra):
        assert p not in text, (p, text[:400])


# ------------------------------------------------------------------------------ the three bugs


@pytest.mark.parametrize("token", ["²³.abc", "١٢٣.abc", "1" * 500 + ".x", "9" * 30, ".", ""])
def test_embed_token_with_odd_digits_is_403(client, token):
    r = client.get("/maps/embed", params={"token": token})
    assert r.status_code in (400, 403), r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "feature_id", ["12345678901234567890123", "9" * 19, "-1", "１２", "1e3", "9" * 5000]
)
def test_huge_or_odd_feature_ids_are_404(client, feature_id):
    for collection in ("constraint_red_line", "result_parcels", "park_summary"):
        r = client.get(f"/collections/{collection}/items/{feature_id}")
        assert r.status_code in (400, 404), (collection, r.status_code, r.text[:200])


@pytest.mark.parametrize("value", ["%00", "a%00b", "%FF", "%C0%80", "%0A", "%E2%80%AE"])
def test_nul_and_odd_bytes_in_ids_are_4xx(client, value):
    """Ids no parcel can have: 4xx (404, or 400 for control characters), never 5xx/503."""
    for url in (
        f"/parcels/{value}/verdict",
        f"/collections/result_parcels/items/{value}",
        f"/register/{value}",
        f"/register/{value}/audit",
        f"/collections/result_parcels/items?parcel_id={value}",
        f"/audit?parcel_id={value}",
        f"/collections/{value}",
    ):
        r = client.get(url, headers=auth("viewer"))
        if r.status_code == 200:  # a list filtered by an id no parcel has is empty
            body = r.json()
            assert body.get("audit") == [] or body.get("numberMatched") == 0, (url, body)
            continue
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "application/problem+json", url


# ------------------------------------------------------------------------------ server paths


def _geojson(n=2, crs="EPSG:4542") -> bytes:
    x0, y0 = 622_000.0, 2_979_000.0
    gdf = gpd.GeoDataFrame(
        {"名称": [f"区{i}" for i in range(n)]},
        geometry=[shapely.box(x0 + 50 * i, y0, x0 + 50 * i + 40, y0 + 40) for i in range(n)],
        crs=crs,
    )
    return gdf.to_crs(4326).to_json().encode()


def test_upload_report_names_the_uploaded_file_not_a_server_path(client, store_spec):
    r = client.post(
        "/uploads/layers/constraint_noise",
        files={"file": ("噪声区.geojson", _geojson())},
        headers=auth("admin"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["validation"]["path"] == "噪声区.geojson"
    _no_server_path(r.text, store_spec)


@pytest.mark.parametrize(
    ("data", "filename", "params"),
    [
        (b"not a layer", "x.txt", {}),
        (b"PK\x03\x04broken", "x.zip", {}),
        (b"SQLite format 3\x00" + b"\x00" * 300, "x.gpkg", {}),
        (b"II*\x00" + b"\x00" * 300, "x.tif", {}),
        (b'{"type":"FeatureCollection","features":[]}', "empty.geojson", {}),
        (b'{"type":"FeatureCollection","features":[', "cut.geojson", {}),
        (None, "a.geojson", {"crs": "EPSG:999999"}),
        (None, "a.geojson", {"encoding": "no-such-codec"}),
        (None, "a.geojson", {"id_field": "nope"}),
    ],
)
def test_refused_uploads_are_422_without_server_paths(client, store_spec, data, filename, params):
    name = "parcels" if "id_field" in params else "constraint_refused"
    r = client.post(
        f"/uploads/layers/{name}",
        files={"file": (filename, data if data is not None else _geojson())},
        params=params,
        headers=auth("admin"),
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    _no_server_path(r.text, store_spec)
    assert "landplan-upload-" not in r.text


# ------------------------------------------------------------------------------ 413, chunked


def test_chunked_body_over_the_limit_is_413(store_spec):
    app = create_app(make_settings(store_spec, max_body_mb=0.05, max_upload_mb=0.1))

    def chunks(n):
        for _ in range(n):
            yield b" " * 16_384

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post(
            "/boundaries/evaluate", content=chunks(10), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        r = c.post(
            "/uploads/layers/constraint_big",
            content=chunks(20),
            headers={**auth("admin"), "content-type": "multipart/form-data; boundary=B"},
        )
        assert r.status_code == 413, r.text
        small = c.post(
            "/boundaries/evaluate",
            content=chunks(1),
            headers={"content-type": "application/json"},
        )
        assert small.status_code in (400, 422)  # whitespace only: not JSON, but not too large


# ------------------------------------------------------------------------------ public_read


def test_public_read_opens_map_data_but_never_register_or_audit(client):
    assert client.get("/collections").status_code == 200
    assert client.get("/collections/result_parcels/items?limit=1").status_code == 200
    for url in ("/register", "/audit", "/register/X/audit", "/register/X"):
        r = client.get(url)
        assert r.status_code == 401, (url, r.status_code)
        assert "registrar-user" not in r.text
        assert client.get(url, headers=auth("viewer")).status_code in (200, 404)
    doc = client.get("/openapi.json").json()
    assert "401" in doc["paths"]["/audit"]["get"]["responses"]


# ------------------------------------------------------------------------------ job bbox


@pytest.mark.parametrize(
    "bbox",
    [
        [0, 0, 0, False],
        [0, 0, 1, True],
        [1, 0, 0, 1],
        [0, 1, 1, 0],
        [0, 0, 0, 0],
        [0, 0, 1],
        [0, 0, 1, 1, 2],
        ["0", 0, 1, 1],
        "[0, 0, 1e309, 1]",
        "[0, 0, NaN, 1]",
        [-181, 0, 1, 1],
        [0, -91, 1, 1],
        [None, 0, 1, 1],
    ],
)
def test_job_bbox_is_checked(client, bbox):
    text = bbox if isinstance(bbox, str) else json.dumps(bbox)  # raw text: inf, NaN
    r = client.post(
        "/suitability/jobs",
        content=f'{{"weights": {{"slope": 1}}, "bbox": {text}}}',
        headers={**auth("admin"), "content-type": "application/json"},
    )
    assert r.status_code == 400, (bbox, r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"


def test_job_weights_are_finite_positive_numbers(client):
    for weights in ({"slope": True}, {"slope": 0}, {"slope": -1}, {"slope": "1"}, {}):
        r = client.post("/suitability/jobs", json={"weights": weights}, headers=auth("admin"))
        assert r.status_code == 400, (weights, r.text[:200])


# ------------------------------------------------------------------------------ scratch


def _wait_job(c, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = c.get(f"/jobs/{job_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_scratch_folders_are_removed_and_stale_ones_cleared(store_spec, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    dead = 2**22 + 12345  # above pid_max on this kernel: no such process
    stale = [scratch / f"landplan-upload-{dead}-abc", scratch / f"landplan-job-{dead}-def"]
    for d in stale:
        (d / "unzipped").mkdir(parents=True)
        (d / "unzipped" / "big.shp").write_bytes(b"x" * 1000)
    old = scratch / "landplan-job-oldstyle"
    old.mkdir()
    os.utime(old, (time.time() - 10 * 86400,) * 2)
    alive = scratch / f"landplan-upload-{os.getppid()}-xyz"  # a live process's folder stays
    alive.mkdir()
    unrelated = scratch / "keep-me"
    unrelated.mkdir()
    orphan = None
    if not store_spec.startswith("postgresql"):
        orphan = Path(store_spec) / f".workspace.gpkg.upload-{dead}-1"
        orphan.write_bytes(b"half a copy")
    app = create_app(make_settings(store_spec, upload_dir=scratch))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert not any(d.exists() for d in stale) and not old.exists()
        assert alive.exists() and unrelated.exists()
        assert orphan is None or not orphan.exists()
        r = c.post(
            "/uploads/layers/constraint_scratch",
            files={"file": ("a.geojson", _geojson())},
            headers=auth("admin"),
        )
        assert r.status_code == 201, r.text
        r = c.post(
            "/uploads/layers/constraint_scratch",
            files={"file": ("a.zip", b"PK\x03\x04broken")},
            headers=auth("admin"),
        )
        assert r.status_code == 422
        assert set(scratch.glob("landplan-upload-*")) == {alive}
        # a failing job (unknown factor) leaves no folder; a succeeding one keeps its file
        r = c.post(
            "/suitability/jobs", json={"weights": {"no_such_factor": 1}}, headers=auth("admin")
        )
        assert r.status_code == 202
        failed = _wait_job(c, r.json()["id"])
        assert failed["status"] == "failed" and "no_such_factor" in failed["error"]
        _no_server_path(failed["error"], scratch)
        r = c.post("/suitability/jobs", json={"weights": {"slope": 2}}, headers=auth("admin"))
        done = _wait_job(c, r.json()["id"])
        assert done["status"] == "succeeded", done
        assert len(list(scratch.glob("landplan-job-*"))) == 1
        assert c.get(f"/jobs/{done['id']}/files/suitability.tif").status_code == 200
        _no_server_path(str(done), scratch)
    # shutdown removes finished jobs' folders
    assert not list(scratch.glob("landplan-job-*"))
    assert sorted(p.name for p in scratch.iterdir()) == sorted([alive.name, unrelated.name])


def test_job_files_expire(store_spec, tmp_path):
    app = create_app(make_settings(store_spec, upload_dir=tmp_path, job_files_ttl_s=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/suitability/jobs", json={"weights": {"slope": 2}}, headers=auth("admin"))
        done = _wait_job(c, r.json()["id"])
        assert done["status"] == "succeeded"
        time.sleep(0.05)
        body = c.get(f"/jobs/{done['id']}").json()
        assert body["files"] == [] and not list(tmp_path.glob("landplan-job-*"))
        assert c.get(f"/jobs/{done['id']}/files/suitability.tif").status_code == 404


# ------------------------------------------------------------------------------ connections


def test_real_server_sheds_400_idle_and_half_sent_connections(store_spec, tmp_path):
    """400 connections that send nothing, half a request line or headers without the blank
    line are all closed by the server after the header timeout, and it answers meanwhile."""
    server = LiveServer(
        store_spec,
        tmp_path,
        LANDPLAN_HEADER_TIMEOUT_S="2",
        LANDPLAN_KEEP_ALIVE_S="2",
        LANDPLAN_MAX_CONNECTIONS="1000",
    )
    socks = []
    try:
        partial = [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"]
        for i in range(400):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if partial[i % 3]:
                s.sendall(partial[i % 3])
            socks.append(s)
        t0 = time.monotonic()
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        closed = 0
        deadline = time.monotonic() + 20
        for s in socks:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                if s.recv(1024) == b"":
                    closed += 1
            except (TimeoutError, ConnectionResetError):
                pass
        waited = time.monotonic() - t0
        assert closed == 400, f"{closed} of 400 closed after {waited:.1f} s"
        assert waited < 15
        # a keep-alive connection idles out too
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in s.recv(65536)
            s.settimeout(10)
            t1 = time.monotonic()
            rest = s.recv(65536)
            while rest:
                rest = s.recv(65536)
            assert time.monotonic() - t1 < 6
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_connection_bound_answers_503_not_a_hang(store_spec, tmp_path):
    server = LiveServer(
        store_spec, tmp_path, LANDPLAN_HEADER_TIMEOUT_S="30", LANDPLAN_MAX_CONNECTIONS="20"
    )
    socks = []
    try:
        for _ in range(25):
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        time.sleep(0.3)
        r = httpx.get(f"{server.url}/healthz", timeout=10)
        assert r.status_code == 503
    finally:
        for s in socks:
            s.close()
        time.sleep(0.3)
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        server.stop()

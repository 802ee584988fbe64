"""Uploads: formats, validation report, zip safety, size limits, atomic replacement, kill -9."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import threading
import time
import zipfile

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely

from tests.api.conftest import LiveServer, auth


def _layer(n=3, crs="EPSG:4542"):
    x0, y0 = 622_000.0, 2_979_000.0
    return gpd.GeoDataFrame(
        {"名称": [f"保护区{i}" for i in range(n)], "kind": ["custom"] * n},
        geometry=[shapely.box(x0 + 50 * i, y0, x0 + 50 * i + 40, y0 + 40) for i in range(n)],
        crs=crs,
    )


def _shp_zip(tmp_path, gdf, encoding="GBK") -> bytes:
    d = tmp_path / "shp"
    d.mkdir(exist_ok=True)
    gdf.to_file(d / "layer.shp", encoding=encoding)
    (d / "layer.cpg").unlink(missing_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in d.iterdir():
            zf.write(f, f.name)
    return buf.getvalue()


def _post(client, name, data: bytes, filename: str, role="admin", **params):
    return client.post(
        f"/uploads/layers/{name}",
        files={"file": (filename, data, "application/octet-stream")},
        params=params,
        headers=auth(role),
    )


def test_zipped_gbk_shapefile_becomes_a_collection(client, tmp_path):
    r = _post(client, "constraint_geohazard", _shp_zip(tmp_path, _layer()), "灾害点.zip")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["features"] == 3 and body["validation"]["encoding"].upper() in (
        "GBK",
        "GB18030",
        "CP936",
    )
    items = client.get("/collections/constraint_geohazard/items").json()
    assert items["numberMatched"] == 3
    assert {f["properties"]["名称"] for f in items["features"]} == {"保护区0", "保护区1", "保护区2"}


def test_geojson_in_4490_is_reprojected(client, tmp_path):
    gdf = _layer(2).to_crs(4490)
    r = _post(client, "constraint_flood", gdf.to_json().encode(), "flood.geojson")
    assert r.status_code == 201, r.text
    stored = client.get(
        "/collections/constraint_flood/items?crs=http://www.opengis.net/def/crs/EPSG/0/4542"
    ).json()
    first = stored["features"][0]["geometry"]["coordinates"][0][0]
    assert first[0] == pytest.approx(2_979_000.0, abs=0.01) or first[0] == pytest.approx(
        2_979_040.0, abs=0.01
    )


def test_geotiff_upload_serves_tiles(client, tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "dem2.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=50,
        height=50,
        count=1,
        dtype="float32",
        crs="EPSG:4542",
        transform=from_origin(620_000, 2_980_000, 10, 10),
    ) as dst:
        dst.write(np.arange(2500, dtype="float32").reshape(1, 50, 50))
    r = _post(client, "relief", path.read_bytes(), "relief.tif")
    assert r.status_code == 201, r.text
    assert "relief" in {x["name"] for x in client.get("/rasters").json()["rasters"]}


@pytest.mark.parametrize("entry", ["../evil.shp", "/etc/evil.shp", "a/../../evil.shp"])
def test_zip_with_unsafe_paths_is_refused(client, entry):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(entry, b"x")
    r = _post(client, "constraint_bad", buf.getvalue(), "bad.zip")
    assert r.status_code == 422 and "refused" in r.json()["detail"]
    assert "constraint_bad" not in {
        c["id"] for c in client.get("/collections").json()["collections"]
    }


def test_bad_uploads_change_nothing(client, tmp_path):
    before = client.get("/collections/parcels/items?limit=1").json()["numberMatched"]
    cases = [
        (b"this is not a layer", "x.txt", 422),
        (b"PK\x03\x04broken zip", "x.zip", 422),
        (b'{"type": "FeatureCollection", "features": [', "x.geojson", 422),
        (b"SQLite format 3\x00" + b"\x00" * 200, "x.gpkg", 422),
    ]
    for data, name, status in cases:
        r = _post(client, "parcels", data, name, id_field="DKBH")
        assert r.status_code == status, (name, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert "/tmp" not in r.text and "landplan-upload-" not in r.text
    assert client.get("/collections/parcels/items?limit=1").json()["numberMatched"] == before


def test_upload_roles_and_protected_layers(client, tmp_path):
    data = _shp_zip(tmp_path, _layer())
    assert _post(client, "constraint_x", data, "a.zip", role="planner").status_code == 403
    assert (
        client.post("/uploads/layers/constraint_x", files={"file": ("a.zip", data)}).status_code
        == 401
    )
    assert _post(client, "result_parcels", data, "a.zip").status_code == 422
    assert _post(client, "Bad-Name", data, "a.zip").status_code == 400


def test_oversized_upload_is_refused_with_413(store_spec, tmp_path):
    from fastapi.testclient import TestClient
    from landplan.api.app import create_app

    from tests.api.conftest import make_settings

    app = create_app(make_settings(store_spec, max_upload_mb=0.05, max_body_mb=0.01))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = _post(c, "constraint_big", b"0" * 100_000, "big.geojson")
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        r = c.post(
            "/boundaries/evaluate",
            content=b'{"type":"Polygon","coordinates":[' + b" " * 20_000 + b"]}",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413


def test_killing_the_server_mid_upload_leaves_the_workspace_as_it_was(store_spec, tmp_path):
    """kill -9 while the body streams in, and again while the layer is being written."""
    server = LiveServer(store_spec, tmp_path)
    try:
        before = httpx.get(f"{server.url}/collections/networks/items?limit=1").json()[
            "numberMatched"
        ]
        big = _layer(20_000).to_json().encode()
        body_head = (
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="n.geojson"\r\n'
            b"Content-Type: application/geo+json\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(
                b"POST /uploads/layers/networks HTTP/1.1\r\nHost: x\r\n"
                + f"X-API-Key: {auth('admin')['X-API-Key']}\r\n".encode()
                + b"Content-Type: multipart/form-data; boundary=B\r\n"
                + f"Content-Length: {len(body_head) + len(big) + 8}\r\n\r\n".encode()
                + body_head
                + big[: len(big) // 2]
            )
            time.sleep(0.5)
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=30)
    finally:
        server.stop()
    for delay in (0.3, 0.8, 1.5):  # now a complete upload, killed while it is processed
        server = LiveServer(store_spec, tmp_path)
        try:
            lines = gpd.GeoDataFrame(
                {"kind": ["road"] * 20_000, "status": ["built"] * 20_000},
                geometry=[
                    shapely.LineString([(622_000 + i, 2_979_000), (622_000 + i, 2_979_100)])
                    for i in range(20_000)
                ],
                crs="EPSG:4542",
            )
            payload = lines.to_json().encode()

            def send(url=server.url, data=payload):
                with contextlib.suppress(httpx.HTTPError):
                    httpx.post(
                        f"{url}/uploads/layers/networks",
                        files={"file": ("n.geojson", data)},
                        headers=auth("admin"),
                        timeout=60,
                    )

            t = threading.Thread(target=send)
            t.start()
            time.sleep(delay)
            server.kill()
            t.join(timeout=60)
        finally:
            server.stop()
        server = LiveServer(store_spec, tmp_path)
        try:
            n = httpx.get(f"{server.url}/collections/networks/items?limit=1").json()[
                "numberMatched"
            ]
            assert n in (before, 20_000)  # the old layer or the whole new one, never a part
            if n == 20_000:
                return  # the upload committed before the kill; atomicity shown for both outcomes
            assert httpx.get(f"{server.url}/collections/parcels/items?limit=1").status_code == 200
        finally:
            server.stop()

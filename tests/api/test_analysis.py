"""Verdicts, boundary evaluation (vs the library), scenarios, indicator checks, suitability jobs."""

from __future__ import annotations

import json
import time

import geopandas as gpd
import pyogrio
import pytest
import rasterio
import shapely

from landplan.planning.boundary import evaluate_boundary
from tests.api.conftest import auth


@pytest.fixture(scope="module")
def parcels(workspace_template):
    return pyogrio.read_dataframe(workspace_template / "workspace.gpkg", layer="result_parcels")


def _square(parcels, frac=0.3, size=0.25):
    x0, y0, x1, y1 = parcels.total_bounds
    w, h = x1 - x0, y1 - y0
    return shapely.box(x0 + frac * w, y0 + frac * h, x0 + (frac + size) * w, y0 + (frac + size) * h)


def test_verdict_lists_every_reason(client, parcels):
    blocked = parcels[~parcels["transferable"].astype(bool)].iloc[0]
    body = client.get(f"/parcels/{blocked.parcel_id}/verdict").json()
    assert body["transferable"] is False
    codes = [r["code"] for r in body["reasons"]]
    assert codes == [r["code"] for r in json.loads(blocked.reasons)]
    assert all(r["message_zh"] and r["message_en"] for r in body["reasons"])
    assert client.get("/parcels/NOPE/verdict").status_code == 404


@pytest.mark.parametrize("crs", [None, 4490, 4542])
def test_boundary_evaluation_matches_the_library(client, parcels, workspace_template, crs):
    square = _square(parcels)
    expected = evaluate_boundary(gpd.GeoSeries([square], crs=parcels.crs), workspace_template)
    if crs == 4542:  # GK north/east axis order on the wire
        geom = shapely.transform(square, lambda c: c[:, ::-1])
        url = "/boundaries/evaluate?crs=http://www.opengis.net/def/crs/EPSG/0/4542"
    elif crs == 4490:
        geom = gpd.GeoSeries([square], crs=parcels.crs).to_crs(4490).iloc[0]
        geom = shapely.transform(geom, lambda c: c[:, ::-1])
        url = "/boundaries/evaluate?crs=http://www.opengis.net/def/crs/EPSG/0/4490"
    else:
        geom = gpd.GeoSeries([square], crs=parcels.crs).to_crs("OGC:CRS84").iloc[0]
        url = "/boundaries/evaluate"
    r = client.post(url, json=json.loads(shapely.to_geojson(geom)))
    assert r.status_code == 200, r.text
    got = r.json()["key_figures"]
    tol = 1e-6 if crs == 4542 else 2e-3  # degrees on the wire round to 7 decimals (≈1 cm)
    assert got["gross_mu"] == pytest.approx(expected.gross_mu, rel=tol)
    assert got["net_available_mu"] == pytest.approx(expected.net_available_mu, rel=tol)
    assert got["parcels_inside"] == expected.key_figures()["parcels_inside"]
    assert got["transferable_parcels"] == expected.key_figures()["transferable_parcels"]


def test_boundary_errors(client):
    line = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[100, 26], [101, 27]]},
        "properties": {},
    }
    assert client.post("/boundaries/evaluate", json=line).status_code == 422
    far = {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0]]]}
    r = client.post("/boundaries/evaluate", json=far)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert client.post("/boundaries/evaluate", json={"type": "Point"}).status_code == 400


def test_scenarios_save_list_compare(client, parcels):
    a = json.loads(
        shapely.to_geojson(
            gpd.GeoSeries([_square(parcels, 0.2)], crs=parcels.crs).to_crs(4326).iloc[0]
        )
    )
    b = json.loads(
        shapely.to_geojson(
            gpd.GeoSeries([_square(parcels, 0.5)], crs=parcels.crs).to_crs(4326).iloc[0]
        )
    )
    assert client.put("/scenarios/东区方案", json=a).status_code == 401
    assert client.put("/scenarios/东区方案", json=a, headers=auth("viewer")).status_code == 403
    ra = client.put("/scenarios/东区方案", json=a, headers=auth("planner"))
    rb = client.put("/scenarios/west", json=b, headers=auth("admin"))
    assert ra.status_code == rb.status_code == 200
    names = {s["name"] for s in client.get("/scenarios").json()["scenarios"]}
    assert {"东区方案", "west"} <= names
    table = client.get("/scenarios/compare?names=东区方案&names=west").json()
    assert table["columns"] == ["figure", "东区方案", "west"]
    gross = next(r for r in table["rows"] if r["figure"] == "gross_mu")
    assert gross["东区方案"] == pytest.approx(ra.json()["key_figures"]["gross_mu"])
    assert client.get("/scenarios/compare?names=东区方案&names=nope").status_code == 404


def test_indicator_check(client):
    body = {
        "projects": [
            {
                "project_id": "P1",
                "land_area_m2": 24735,
                "fixed_investment_wan": 12000,
                "req_invest_wan_per_mu": 350,
            }
        ]
    }
    r = client.post("/indicators/check", json=body).json()["results"][0]
    assert r["min_investment_wan"] == pytest.approx(
        12985.88
    )  # 24 735 m² × 350 万元/亩, docs/indicators.md
    assert r["pass"] is False
    bad = client.post(
        "/indicators/check",
        json={"projects": [{"project_id": "P1", "land_area_m2": -1, "fixed_investment_wan": 1}]},
    )
    assert bad.status_code == 400


def test_suitability_job_runs_in_background(client, parcels, workspace_template):
    lon0, lat0, lon1, lat1 = (
        gpd.GeoSeries([_square(parcels, 0.2, 0.4)], crs=parcels.crs)
        .to_crs("OGC:CRS84")
        .total_bounds
    )
    body = {"weights": {"slope": 5.0}, "bbox": [lon0, lat0, lon1, lat1]}
    assert client.post("/suitability/jobs", json=body).status_code == 401
    r = client.post("/suitability/jobs", json=body, headers=auth("planner"))
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    for _ in range(300):
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "succeeded", job
    from landplan.core.policy import load_policy

    others = {
        k: r.weight
        for k, r in load_policy(workspace_template / "policy.toml").suitability.items()
        if k != "slope"
    }
    others = {k: v for k, v in others.items() if k in job["result"]["weights"]}
    assert job["progress"] == 1.0
    assert job["result"]["weights"]["slope"] == pytest.approx(5.0 / (5.0 + sum(others.values())))
    tif = client.get(f"/jobs/{job_id}/files/suitability.tif")
    assert tif.status_code == 200 and tif.content[:2] in (b"II", b"MM")
    bad = client.post(
        "/suitability/jobs", json={"weights": {"nonsense": 1}}, headers=auth("planner")
    ).json()
    for _ in range(100):
        j = client.get(f"/jobs/{bad['id']}").json()
        if j["status"] == "failed":
            break
        time.sleep(0.1)
    assert j["status"] == "failed" and "nonsense" in j["error"]


def test_job_result_is_a_real_raster(client, parcels, tmp_path):
    r = client.post(
        "/suitability/jobs", json={"weights": {"slope": 1.0}}, headers=auth("planner")
    ).json()
    for _ in range(600):
        job = client.get(f"/jobs/{r['id']}").json()
        if job["status"] != "queued" and job["status"] != "running":
            break
        time.sleep(0.1)
    out = tmp_path / "s.tif"
    out.write_bytes(client.get(f"/jobs/{r['id']}/files/suitability.tif").content)
    with rasterio.open(out) as src:
        a = src.read(1, masked=True)
        assert 0 <= a.min() and a.max() <= 100 and a.count() > 1000

"""OGC API Features Part 1 + 2 on both stores, checked against the GeoPackage read directly."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
PART2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"


@pytest.fixture(scope="module")
def oracle(workspace_template) -> gpd.GeoDataFrame:
    """result_parcels as written, read straight from the template's GeoPackage."""
    return pyogrio.read_dataframe(workspace_template / "workspace.gpkg", layer="result_parcels")


def _box_inside(oracle, frac=(0.25, 0.25, 0.6, 0.55)):
    lon0, lat0, lon1, lat1 = oracle.to_crs("OGC:CRS84").total_bounds
    return (
        lon0 + frac[0] * (lon1 - lon0),
        lat0 + frac[1] * (lat1 - lat0),
        lon0 + frac[2] * (lon1 - lon0),
        lat0 + frac[3] * (lat1 - lat0),
    )


def _expected_in_bbox(oracle, bbox) -> set[str]:
    region = gpd.GeoSeries([shapely.segmentize(shapely.box(*bbox), 0.0005)], crs="OGC:CRS84")
    region = region.to_crs(oracle.crs).iloc[0]
    return set(oracle.loc[oracle.intersects(region), "parcel_id"])


def test_landing_and_conformance(client):
    links = {lk["rel"]: lk for lk in client.get("/").json()["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(links)
    assert client.get(links["service-desc"]["href"]).status_code == 200
    conf = client.get("/conformance").json()["conformsTo"]
    assert CORE in conf and PART2 in conf


def test_collections_describe_extent_and_crs(client, oracle):
    body = client.get("/collections").json()
    ids = {c["id"] for c in body["collections"]}
    assert {"result_parcels", "parcels", "networks"} <= ids
    assert not any(i.startswith("register") for i in ids)
    doc = client.get("/collections/result_parcels").json()
    assert (
        CRS84 in doc["crs"] and EPSG.format(4490) in doc["crs"] and EPSG.format(4542) in doc["crs"]
    )
    assert doc["storageCrs"] == EPSG.format(4542)
    expected = oracle.to_crs("OGC:CRS84").total_bounds
    assert np.allclose(doc["extent"]["spatial"]["bbox"][0], expected, atol=2e-4)


def test_paging_visits_every_feature_once(client, oracle):
    first = client.get("/collections/result_parcels/items")
    assert first.headers["content-type"].startswith("application/geo+json")
    body = first.json()
    assert body["numberMatched"] == len(oracle) and body["numberReturned"] == 10
    seen, url = [], "/collections/result_parcels/items?limit=1000"
    while url:
        page = client.get(url).json()
        seen += [f["id"] for f in page["features"]]
        url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
    assert len(seen) == len(oracle) and set(seen) == set(oracle["parcel_id"])
    assert seen == sorted(seen)  # stable order: parcel_id in code-point order


def test_bbox_selects_exactly_the_intersecting_parcels(client, oracle):
    bbox = _box_inside(oracle)
    want = _expected_in_bbox(oracle, bbox)
    assert 50 < len(want) < len(oracle)
    q = ",".join(f"{v:.7f}" for v in bbox)
    body = client.get(f"/collections/result_parcels/items?bbox={q}&limit=10000").json()
    assert body["numberMatched"] == len(want)
    assert {f["id"] for f in body["features"]} == want


def test_bbox_crs_4490_is_lat_lon(client, oracle):
    lon0, lat0, lon1, lat1 = _box_inside(oracle)
    a = client.get(
        f"/collections/result_parcels/items?bbox={lon0},{lat0},{lon1},{lat1}&limit=1"
    ).json()
    b = client.get(
        f"/collections/result_parcels/items?bbox={lat0},{lon0},{lat1},{lon1}"
        f"&bbox-crs={EPSG.format(4490)}&limit=1"
    ).json()
    assert a["numberMatched"] == b["numberMatched"] > 0


def _first_vertex(feature) -> list[float]:
    g = feature["geometry"]
    coords = g["coordinates"][0][0] if g["type"] == "Polygon" else g["coordinates"][0][0][0]
    return coords


@pytest.mark.parametrize("epsg", [None, 4490, 4542])
def test_output_crs_and_axis_order(client, oracle, epsg):
    pid = sorted(oracle["parcel_id"])[7]
    url = f"/collections/result_parcels/items/{pid}"
    r = client.get(url if epsg is None else f"{url}?crs={EPSG.format(epsg)}")
    assert r.status_code == 200
    assert r.headers["content-crs"] == f"<{CRS84 if epsg is None else EPSG.format(epsg)}>"
    got = _first_vertex(r.json())
    geom = oracle.loc[oracle["parcel_id"] == pid].geometry.iloc[0]
    x, y = shapely.get_coordinates(geom)[0]
    if epsg == 4542:  # GK: northing, easting
        assert got == pytest.approx([y, x], abs=1e-3)
        return
    lon, lat = Transformer.from_crs(oracle.crs, "OGC:CRS84", always_xy=True).transform(x, y)
    expected = [lon, lat] if epsg is None else [lat, lon]  # EPSG:4490 is latitude first
    assert got == pytest.approx(expected, abs=2e-7)


def test_property_filters_match_pandas(client, oracle):
    for query, mask in [
        ("verdict=blocked", oracle["verdict"] == "blocked"),
        ("transferable=true", oracle["transferable"].astype(bool)),
        ("net_road_status=connected", oracle["net_road_status"] == "connected"),
    ]:
        body = client.get(f"/collections/result_parcels/items?{query}&limit=1").json()
        assert body["numberMatched"] == int(mask.sum()), query
    assert mask.sum() > 0


def test_feature_properties_are_the_stored_values(client, oracle):
    row = oracle.sort_values("parcel_id").iloc[3]
    props = client.get(f"/collections/result_parcels/items/{row.parcel_id}").json()["properties"]
    assert props["area_mu"] == pytest.approx(row.area_mu, rel=1e-12)
    assert props["reasons_zh"] == row.reasons_zh
    assert json.loads(props["reasons"]) == json.loads(row.reasons)


def test_attribute_tables_are_plain_json_and_csv_not_collections(client, workspace_template):
    ids = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert not ids & {"park_summary", "reason_counts", "validation_issues"}
    r = client.get("/collections/park_summary/items")
    assert r.status_code == 404 and "/tables/park_summary" in r.json()["detail"]
    names = {t["name"] for t in client.get("/tables").json()["tables"]}
    assert {"park_summary", "reason_counts", "validation_issues"} <= names
    want = pyogrio.read_dataframe(workspace_template / "workspace.gpkg", layer="reason_counts")
    body = client.get("/tables/reason_counts").json()
    assert [r["code"] for r in body["rows"]] == want["code"].tolist()
    assert body["columns"]["parcels"] == "integer"
    csv = client.get("/tables/reason_counts?f=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:2] == ["code", "severity"] and len(lines) == len(want) + 1
    assert client.get("/tables/result_parcels").status_code == 404


def test_limit_above_the_maximum_is_served_at_the_maximum(client, oracle):
    body = client.get("/collections/result_parcels/items?limit=10001").json()
    assert body["numberReturned"] == len(oracle)  # 2,912 < the maximum 10,000
    r = client.get("/collections/parcels/items?limit=99999999")
    assert r.status_code == 200
    nxt = next(lk["href"] for lk in r.json()["links"] if lk["rel"] == "self")
    assert "limit=10000" in nxt


def test_openapi_30_at_service_desc_states_limit_default_and_maximum(client):
    links = {lk["rel"]: lk for lk in client.get("/").json()["links"]}
    desc = links["service-desc"]
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    r = client.get(desc["href"])
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    doc = r.json()
    assert doc["openapi"].startswith("3.0")
    text = json.dumps(doc)
    assert '"type": "null"' not in text and '"const"' not in text
    op = doc["paths"]["/collections/{collectionId}/items"]["get"]
    limit = next(p for p in op["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10}
    from openapi_spec_validator import validate

    validate(doc)


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T00:00:00Z",
        "2024-05-01",
        "2024-01-01/2024-12-31",
        "../2024-12-31T12:00:00Z",
        "2024-01-01T00:00:00+08:00/..",
    ],
)
def test_datetime_is_accepted_and_ignored_without_a_temporal_property(client, oracle, value):
    body = client.get(
        "/collections/result_parcels/items", params={"datetime": value, "limit": 1}
    ).json()
    assert body["numberMatched"] == len(oracle)


def test_queryables_are_json_schema_with_units_and_enums(client, oracle):
    r = client.get("/collections/result_parcels/queryables")
    assert r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(doc)
    props = doc["properties"]
    assert set(oracle.columns) - {"geometry"} <= set(props)
    assert props["geometry"]["format"] == "geometry-polygon"
    assert props["area_mu"]["type"] == "number" and "亩" in props["area_mu"]["description"]
    assert "米" in props["dist_road_m"]["description"]
    assert props["land_grade_majority"]["type"] == "integer"
    assert props["transferable"]["type"] == "boolean"
    assert set(props["verdict"]["enum"]) == set(oracle["verdict"])
    codes = set(props["reason_codes"]["x-reason-codes"])
    used = {c for v in oracle["reason_codes"].dropna() for c in v.split(";") if c}
    assert used <= codes
    # every feature's properties validate against the queryables (nullable numbers aside)
    feature = client.get("/collections/result_parcels/items?limit=1").json()["features"][0]
    props_only = {k: v for k, v in feature["properties"].items() if v is not None}
    Draft202012Validator({**doc, "additionalProperties": True}).validate(props_only)


def test_feature_etag_gives_304(client, oracle):
    pid = oracle["parcel_id"].iloc[0]
    r = client.get(f"/collections/result_parcels/items/{pid}")
    again = client.get(
        f"/collections/result_parcels/items/{pid}", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/collections/nope", 404),
        ("/collections/result_parcels/items/NO-SUCH-PARCEL", 404),
        ("/collections/result_parcels/items?bbox=1,2,3", 400),
        ("/collections/result_parcels/items?bbox=10,10,0,0", 400),
        ("/collections/result_parcels/items?crs=EPSG:3857", 400),
        ("/collections/result_parcels/items?bbox-crs=EPSG:4490", 400),
        ("/collections/result_parcels/items?colour=red", 400),
        ("/collections/result_parcels/items?limit=0", 400),
        ("/collections/result_parcels/items?datetime=soon", 400),
        ("/collections/result_parcels/items?filter=verdict%20%3D", 400),
        ("/collections/park_summary/items", 404),
        ("/collections/result_parcels/items?f=xml", 400),
    ],
)
def test_errors_are_problem_json(client, url, status):
    r = client.get(url)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in r.text and "SELECT" not in r.text


def test_datetime_filters_scenarios_on_created_at(client, oracle):
    """Scenarios have a temporal property (``created_at``, UTC): datetime selects on it."""
    from datetime import UTC, datetime, timedelta

    from tests.api.conftest import auth

    lon0, lat0, lon1, lat1 = _box_inside(oracle, (0.4, 0.4, 0.5, 0.5))
    square = {
        "type": "Polygon",
        "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]],
    }
    before = datetime.now(UTC) - timedelta(seconds=2)
    r = client.put("/scenarios/datetime-test", json=square, headers=auth("planner"))
    assert r.status_code == 200, r.text
    after = datetime.now(UTC) + timedelta(seconds=2)
    url = "/collections/scenarios/items"
    fmt = "%Y-%m-%dT%H:%M:%SZ"

    def matched(value: str) -> int:
        r = client.get(url, params={"datetime": value})
        assert r.status_code == 200, r.text
        return r.json()["numberMatched"]

    assert matched(f"{before.strftime(fmt)}/{after.strftime(fmt)}") == 1
    assert matched(f"{before.strftime(fmt)}/..") == 1
    assert matched("../2001-01-01T00:00:00Z") == 0
    assert matched(after.strftime(fmt) + "/..") == 0
    assert matched(before.strftime("%Y-%m-%d") + "/..") == 1  # a date: from its start

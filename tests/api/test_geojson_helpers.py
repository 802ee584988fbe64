"""The GeoJSON body helpers splice stored Feature texts into documents written by json.dumps."""

from __future__ import annotations

import json

import pytest
from landplan.api.geojson import feature, feature_collection

F1 = '{"type":"Feature","id":"a","properties":{"名称":"甲"},"geometry":null}'
F2 = '{"type":"Feature","id":"b","properties":{},"geometry":{"type":"Point","coordinates":[1,2]}}'


def test_feature_collection_is_valid_json_with_every_member():
    links = [{"href": 'http://x/items?a=1&b="q"', "rel": "self"}]
    body = feature_collection([F1, F2], numberMatched=2, numberReturned=2, links=links)
    doc = json.loads(body)
    assert doc["type"] == "FeatureCollection" and doc["links"] == links
    assert [f["id"] for f in doc["features"]] == ["a", "b"]
    assert doc["features"][0]["properties"]["名称"] == "甲"
    assert json.loads(feature_collection([], numberMatched=0))["features"] == []


def test_feature_gets_members_added():
    doc = json.loads(feature(F2, links=[{"href": "h", "rel": "self"}]))
    assert doc["id"] == "b" and doc["links"][0]["rel"] == "self"
    assert json.loads(feature("{}", links=[]))["links"] == []
    assert json.loads(feature(F1)) == json.loads(F1)


def test_non_object_texts_are_refused():
    with pytest.raises(ValueError):
        feature_collection(['"x"'])
    with pytest.raises(ValueError):
        feature("[1]", links=[])

"""GeoJSON feature texts of store rows (the pyogrio read path of the service)."""

import json
from types import SimpleNamespace

import geopandas as gpd
import shapely
from pyproj import CRS

from landplan.core.features import features_json


def test_a_layer_without_attributes_gives_empty_properties():
    rows = gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=4326, index=[7, 9]
    )
    texts = features_json(rows, SimpleNamespace(id_column="parcel_id"), CRS(4326), None, False)
    got = [json.loads(t) for t in texts]
    assert [f["id"] for f in got] == [7, 9]
    assert [f["properties"] for f in got] == [{}, {}]
    assert [f["geometry"]["type"] for f in got] == ["Polygon", "Polygon"]

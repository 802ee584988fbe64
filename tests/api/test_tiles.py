"""Vector tiles (decoded and compared with the parcels projected independently) and PNG tiles."""

from __future__ import annotations

import io
import math

import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from PIL import Image

HALF = 20037508.342789244


def tile_for(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def bounds(z, x, y):
    size = 2 * HALF / 2**z
    return (-HALF + x * size, HALF - (y + 1) * size, -HALF + (x + 1) * size, HALF - y * size)


@pytest.fixture(scope="module")
def parcels_3857(workspace_template):
    return pyogrio.read_dataframe(
        workspace_template / "workspace.gpkg", layer="result_parcels"
    ).to_crs(3857)


@pytest.fixture(scope="module")
def centre(workspace_template):
    g = pyogrio.read_dataframe(
        workspace_template / "workspace.gpkg", layer="result_parcels"
    ).to_crs("OGC:CRS84")
    x0, y0, x1, y1 = g.total_bounds
    return (x0 + x1) / 2, (y0 + y1) / 2


@pytest.mark.parametrize("z", [12, 15])
def test_mvt_holds_the_parcels_of_the_tile(client, parcels_3857, centre, z):
    x, y = tile_for(*centre, z)
    r = client.get(f"/collections/result_parcels/tiles/{z}/{x}/{y}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    layer = mapbox_vector_tile.decode(r.content)["result_parcels"]
    b = bounds(z, x, y)
    inside = parcels_3857[parcels_3857.intersects(shapely.box(*b))]
    got = {f["properties"]["parcel_id"] for f in layer["features"]}
    assert set(inside["parcel_id"]) <= got  # plus parcels in the 64/4096 buffer
    buffered = shapely.box(*b).buffer((b[2] - b[0]) * 64 / 4096, join_style="mitre")
    assert got <= set(parcels_3857.loc[parcels_3857.intersects(buffered), "parcel_id"])
    # position: a parcel's centroid in tile pixels (y down) from the decoded geometry
    pid = sorted(inside["parcel_id"])[0]
    feat = next(f for f in layer["features"] if f["properties"]["parcel_id"] == pid)
    ring = np.asarray(
        feat["geometry"]["coordinates"][0]
        if feat["geometry"]["type"] == "Polygon"
        else feat["geometry"]["coordinates"][0][0],
        float,
    )
    extent = layer["extent"]
    c = inside.loc[inside["parcel_id"] == pid].geometry.iloc[0].centroid
    px = (c.x - b[0]) / (b[2] - b[0]) * extent
    py = (c.y - b[1]) / (b[3] - b[1]) * extent  # decode() returns y up by default
    tile_poly = shapely.Polygon(ring)
    # exterior rings wind as PostGIS ST_AsMVT writes them (MVT spec 4.3.4.4): clockwise here
    assert not tile_poly.exterior.is_ccw
    assert tile_poly.distance(shapely.Point(px, py)) < 2.0 or tile_poly.contains(
        shapely.Point(px, py)
    )
    assert feat["properties"]["verdict"] in ("transferable", "blocked", "conditional")


def test_mvt_cache_and_empty_tiles(client):
    r = client.get("/collections/result_parcels/tiles/10/0/0")
    assert r.status_code == 200 and r.content == b""
    again = client.get(
        "/collections/result_parcels/tiles/10/0/0", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    assert client.get("/collections/result_parcels/tiles/3/8/1").status_code == 400
    assert client.get("/collections/park_summary/tiles/3/1/1").status_code == 404


def test_png_tiles(client, centre):
    names = {r["name"] for r in client.get("/rasters").json()["rasters"]}
    assert {"slope", "suitability"} <= names
    x, y = tile_for(*centre, 14)
    r = client.get(f"/rasters/slope/tiles/14/{x}/{y}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert img[..., 3].mean() > 200 and img[..., :3].std() > 5  # opaque and not one colour
    outside = np.asarray(
        Image.open(io.BytesIO(client.get("/rasters/slope/tiles/5/1/1.png").content)).convert("RGBA")
    )
    assert outside[..., 3].max() == 0
    assert (
        client.get(
            f"/rasters/slope/tiles/14/{x}/{y}.png", headers={"If-None-Match": r.headers["etag"]}
        ).status_code
        == 304
    )
    assert client.get(f"/rasters/slope/tiles/14/{x}/{y}.png?colormap=nope").status_code == 400
    assert client.get("/rasters/nope/tiles/1/1/1.png").status_code == 404


def test_dense_low_zoom_tiles_are_thinned(client, parcels_3857, centre, monkeypatch):
    """Above the feature cap a tile keeps every k-th parcel (by fid), as tippecanoe drops
    features at low zooms; the full tile is kept at the zooms a clerk reads parcels at."""
    import landplan.core.features

    x, y = tile_for(*centre, 11)
    full = mapbox_vector_tile.decode(
        client.get(f"/collections/result_parcels/tiles/11/{x}/{y}").content
    )
    n_full = len(full["result_parcels"]["features"])
    assert n_full > 1000
    monkeypatch.setattr(landplan.core.features, "MAX_TILE_FEATURES", 300)
    monkeypatch.setattr(client.app.state, "tile_cache", None)  # the full tile is cached
    r = client.get(f"/collections/result_parcels/tiles/11/{x}/{y}")
    assert r.status_code == 200, r.text
    thinned = {
        f["properties"]["parcel_id"]
        for f in mapbox_vector_tile.decode(r.content)["result_parcels"]["features"]
    }
    assert 50 < len(thinned) <= 2 * 300 < n_full
    assert thinned <= {f["properties"]["parcel_id"] for f in full["result_parcels"]["features"]}


# --------------------------------------------------------------------------- tiles metadata
# JSON Schemas written from OGC Two Dimensional Tile Matrix Set and Tile Set Metadata 2.0
# (17-083r4: tileMatrixSet, tileMatrix, tileSet, tileSets list) and TileJSON 3.0.0.
LINK = {
    "type": "object",
    "required": ["href", "rel"],
    "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                   "templated": {"type": "boolean"}},
}  # fmt: skip
TILE_MATRIX = {
    "type": "object",
    "required": ["id", "scaleDenominator", "cellSize", "pointOfOrigin", "tileWidth",
                 "tileHeight", "matrixWidth", "matrixHeight"],
    "properties": {
        "id": {"type": "string"},
        "scaleDenominator": {"type": "number", "exclusiveMinimum": 0},
        "cellSize": {"type": "number", "exclusiveMinimum": 0},
        "cornerOfOrigin": {"enum": ["topLeft", "bottomLeft"]},
        "pointOfOrigin": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}},
        "tileWidth": {"type": "integer", "minimum": 1},
        "tileHeight": {"type": "integer", "minimum": 1},
        "matrixWidth": {"type": "integer", "minimum": 1},
        "matrixHeight": {"type": "integer", "minimum": 1},
    },
}  # fmt: skip
TILE_MATRIX_SET = {
    "type": "object",
    "required": ["crs", "tileMatrices"],
    "properties": {
        "id": {"type": "string"},
        "uri": {"type": "string"},
        "crs": {"type": "string", "pattern": "^http://www.opengis.net/def/crs/"},
        "orderedAxes": {"type": "array", "items": {"type": "string"}},
        "tileMatrices": {"type": "array", "minItems": 1, "items": TILE_MATRIX},
    },
}
TILE_SET = {
    "type": "object",
    "required": ["dataType", "crs", "links"],
    "properties": {
        "dataType": {"enum": ["map", "vector", "coverage"]},
        "crs": {"type": "string"},
        "tileMatrixSetURI": {"type": "string"},
        "links": {"type": "array", "items": LINK,
                  "contains": {"type": "object", "properties": {"rel": {"const": "item"}}}},
        "tileMatrixSetLimits": {"type": "array", "items": {
            "type": "object",
            "required": ["tileMatrix", "minTileRow", "maxTileRow", "minTileCol", "maxTileCol"]}},
        "layers": {"type": "array", "items": {"type": "object", "required": ["id"]}},
    },
}  # fmt: skip
TILE_SETS = {
    "type": "object",
    "required": ["tilesets"],
    "properties": {"tilesets": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["dataType", "crs", "links"]}}},
}  # fmt: skip
TILEJSON = {
    "type": "object",
    "required": ["tilejson", "tiles"],
    "properties": {
        "tilejson": {"type": "string", "pattern": r"^3\.0\.\d+$"},
        "tiles": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "minzoom": {"type": "integer", "minimum": 0, "maximum": 30},
        "maxzoom": {"type": "integer", "minimum": 0, "maximum": 30},
        "bounds": {"type": "array", "minItems": 4, "maxItems": 4},
        "center": {"type": "array", "minItems": 3, "maxItems": 3},
        "vector_layers": {"type": "array", "items": {
            "type": "object", "required": ["id", "fields"],
            "properties": {"fields": {"type": "object", "additionalProperties": {"type": "string"}}}}},
    },
}  # fmt: skip


def _valid(doc, schema):
    from jsonschema import Draft202012Validator

    Draft202012Validator(schema).validate(doc)


def test_tile_matrix_sets_are_valid_and_match_the_tile_maths(client):
    from landplan.core.features import tile_bounds_3857

    listing = client.get("/tileMatrixSets").json()
    ids = {t["id"] for t in listing["tileMatrixSets"]}
    assert {"WebMercatorQuad", "CGCS2000Quad"} <= ids
    for t in listing["tileMatrixSets"]:
        doc = client.get(t["links"][0]["href"]).json()
        _valid(doc, TILE_MATRIX_SET)
    wmq = client.get("/tileMatrixSets/WebMercatorQuad").json()
    z12 = next(m for m in wmq["tileMatrices"] if m["id"] == "12")
    minx, _, maxx, maxy = tile_bounds_3857(12, 0, 0)
    assert z12["pointOfOrigin"] == pytest.approx([minx, maxy])
    assert z12["cellSize"] * z12["tileWidth"] == pytest.approx(maxx - minx)
    cgcs = client.get("/tileMatrixSets/CGCS2000Quad").json()
    assert cgcs["crs"].endswith("/4490") and cgcs["tileMatrices"][0]["matrixWidth"] == 2
    assert client.get("/tileMatrixSets/nope").status_code == 404


def test_tileset_metadata_and_tilejson_lead_to_the_tiles(client, parcels_3857, centre):
    listing = client.get("/collections/result_parcels/tiles").json()
    _valid(listing, TILE_SETS)
    meta = client.get("/collections/result_parcels/tiles/WebMercatorQuad").json()
    _valid(meta, TILE_SET)
    assert meta["layers"][0]["id"] == "result_parcels"
    tj = client.get("/collections/result_parcels/tiles/WebMercatorQuad/tilejson.json").json()
    _valid(tj, TILEJSON)
    assert tj["vector_layers"][0]["id"] == "result_parcels"
    assert "verdict" in tj["vector_layers"][0]["fields"]
    tx, ty = tile_for(*centre, 15)
    url = tj["tiles"][0].format(z=15, x=tx, y=ty).replace("http://testserver", "")
    xyz = client.get(url)
    ogc_url = next(lk["href"] for lk in meta["links"] if lk["rel"] == "item")
    ogc_url = ogc_url.format(tileMatrix=15, tileRow=ty, tileCol=tx)
    same = client.get(ogc_url.replace("http://testserver", ""))
    assert xyz.status_code == same.status_code == 200 and xyz.content == same.content
    assert mapbox_vector_tile.decode(xyz.content)["result_parcels"]["features"]
    assert client.get("/collections/park_summary/tiles").status_code == 404


def test_raster_tilesets_and_style(client):
    for r in client.get("/rasters").json()["rasters"][:2]:
        listing = client.get(f"/rasters/{r['name']}/tiles").json()
        _valid(listing, TILE_SETS)
        tj = client.get(f"/rasters/{r['name']}/tiles/WebMercatorQuad/tilejson.json").json()
        _valid(tj, TILEJSON)
    style = client.get("/styles/parcels-by-verdict").json()
    assert style["version"] == 8
    src = style["sources"]["parcels"]["url"].replace("http://testserver", "")
    assert client.get(src).json()["tilejson"] == "3.0.0"
    assert {lyr["source-layer"] for lyr in style["layers"] if "source" in lyr} == {"result_parcels"}

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
    r = client.get(f"/collections/result_parcels/tiles/11/{x}/{y}")
    assert r.status_code == 200, r.text
    thinned = {
        f["properties"]["parcel_id"]
        for f in mapbox_vector_tile.decode(r.content)["result_parcels"]["features"]
    }
    assert 50 < len(thinned) <= 2 * 300 < n_full
    assert thinned <= {f["properties"]["parcel_id"] for f in full["result_parcels"]["features"]}

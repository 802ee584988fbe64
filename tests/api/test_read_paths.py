"""The service's fast read paths under load, held to the slow ones they replace.

* the embedded store's direct SQLite reads (:mod:`landplan.store.gpkgread`) give the same
  pages, features, counts and tiles as the pyogrio path;
* the vectorised MVT encoder (:mod:`landplan.store.mvt`) writes the tiles
  ``mapbox_vector_tile`` writes;
* reads wait in line in the read pool (at most ``read_threads`` at once) and all succeed;
* a tile is rendered once per data version (the tile cache), again after a write.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import threading
import time

import httpx
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from landplan.api.app import create_app
from pyproj import CRS, Transformer

from landplan.store.gpkgread import bounds_to
from landplan.store.gpkgstore import GpkgStore
from landplan.store.mvt import encode_layer

from .conftest import make_settings


def _close(a, b) -> bool:
    """JSON values equal, floats to 1e-12 relative (the pyogrio path rounds to 15 decimals)."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    return a == b


@pytest.fixture(scope="module")
def stores(workspace_template, tmp_path_factory):
    """The store read directly, and one whose every layer goes the pyogrio way."""
    path = tmp_path_factory.mktemp("reads") / "ws"
    shutil.copytree(workspace_template, path)
    direct, slow = GpkgStore(path), GpkgStore(path)
    slow._reader.layout = lambda info: None  # the path every non-plain layer takes
    return direct, slow


def _tiles(info, zooms=(12, 14, 16), n=3):
    w, s, e, n_ = info.bbox
    out = []
    for z in zooms:
        for f in np.linspace(0.2, 0.8, n):
            lon, lat = w + (e - w) * f, s + (n_ - s) * f
            x = int((lon + 180) / 360 * 2**z)
            y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
            out.append((z, x, y))
    return out


def test_direct_reads_match_the_pyogrio_path(stores):
    direct, slow = stores
    spatial = [c for c in direct.collections() if c.geometry_type and c.count]
    assert any(direct._reader.layout(c) is not None for c in spatial)
    for info in spatial:
        if not info.columns:  # the pyogrio path cannot write a layer of no attributes
            page = direct.features(info.id, limit=3)
            assert page.number_matched == info.count
            assert all(json.loads(t)["properties"] == {} for t in page.features)
            continue
        w, s, e, n = info.bbox
        boxes = [None, (w, s, (w + e) / 2, (s + n) / 2), ((w + e) / 2, s, e, n), (w, s, e, n)]
        for box in boxes:
            for offset, epsg in ((0, None), (3, 4490), (0, info.storage_epsg)):
                a = direct.features(info.id, bbox=box, limit=7, offset=offset, out_epsg=epsg)
                b = slow.features(info.id, bbox=box, limit=7, offset=offset, out_epsg=epsg)
                assert a.number_matched == b.number_matched, (info.id, box)
                assert _close(
                    [json.loads(t) for t in a.features], [json.loads(t) for t in b.features]
                )
        first = json.loads(direct.features(info.id, limit=1, offset=info.count - 1).features[0])
        one = direct.feature(info.id, str(first["id"]))
        assert _close(json.loads(one), json.loads(slow.feature(info.id, str(first["id"]))))
        for tile in _tiles(info):
            got, want = _features(direct.tile(info.id, *tile)), _features(slow.tile(info.id, *tile))
            assert [g for g, _ in got] == [g for g, _ in want], (info.id, tile)
            assert _close([p for _, p in got], [p for _, p in want]), (info.id, tile)


def _features(body: bytes) -> list[tuple[str, dict]]:
    """(normalised WKT, properties) of every feature of a tile, sorted."""
    layers = mapbox_vector_tile.decode(body) if body else {}
    out = [
        (shapely.normalize(shapely.geometry.shape(f["geometry"])).wkt, f["properties"])
        for layer in layers.values()
        for f in layer["features"]
    ]
    return sorted(out, key=lambda gp: (gp[0], json.dumps(gp[1], sort_keys=True)))


def test_unknown_features_are_404_on_the_direct_path(stores):
    direct, _ = stores
    from landplan.core.errors import NotFoundError

    info = next(c for c in direct.collections() if c.geometry_type and c.count)
    for bad in ("no-such-id", "\x00", "99999999999999999999", "-1"):
        with pytest.raises(NotFoundError):
            direct.feature(info.id, bad)


def _reference_tile(name, pixels, props):
    feats = [
        {"geometry": g, "properties": {k: v for k, v in p.items() if v is not None}}
        for g, p in zip(pixels, props, strict=True)
    ]
    return mapbox_vector_tile.encode(
        [{"name": name, "features": feats}],
        default_options={
            "quantize_bounds": None,
            "extents": 4096,
            "y_coord_down": True,
            "check_winding_order": False,
        },
    )


def _decoded(body):
    return mapbox_vector_tile.decode(body) if body else {}


def test_mvt_encoder_writes_what_mapbox_vector_tile_writes():
    """Holes, multi-parts, repeated vertices, rings and lines that collapse, every value type;
    rings given in the winding MVT asks for (the encoder would turn the others)."""
    geoms = [
        shapely.Polygon([(0, 0), (0, 0), (10, 0), (10, 10), (0, 10)]),
        shapely.Polygon([(0, 0), (100, 0), (100, 100), (0, 100)], [[(20, 20), (20, 30), (30, 30)]]),
        shapely.Polygon([(0, 0), (100, 0), (100, 100), (0, 100)], [[(5, 5), (5, 5), (5, 5)]]),
        shapely.MultiPolygon(
            [
                shapely.Polygon([(1, 1), (1, 1), (1, 1)]),
                shapely.Polygon([(200, 200), (300, 200), (300, 300)]),
            ]
        ),
        shapely.LineString([(0, 0), (0, 0), (5, 5), (5, 5), (-64, 4000)]),
        shapely.MultiLineString([[(0, 0), (1, 1)], [(1, 1), (1, 1)], [(7, 7), (9, 9), (9, 9)]]),
        shapely.Polygon([(4000, 4000), (4100, 4000), (4100, 4150), (4000, 4100)]),
    ]
    geoms = [shapely.orient_polygons(g, exterior_cw=False) for g in geoms]  # y down: cw on screen
    props = [
        {"id": "a", "n": 1, "x": 1.5, "ok": True},
        {"id": "中文", "n": -7, "x": None, "ok": False},
        {"id": "b", "n": 2**40, "x": 0.1 + 0.2},
        {"x": 2.25, "ok": True},
        {"id": "a", "n": 1},
        {},
        {"id": "c", "x": -3.0},
    ]
    keys = ["id", "n", "x", "ok"]
    columns = {k: [p.get(k) for p in props] for k in keys}
    got = _decoded(encode_layer("lyr", np.array(geoms, dtype=object), columns))
    want = _decoded(_reference_tile("lyr", geoms, props))
    assert got == want


def test_mvt_encoder_projects_and_clips_as_the_reference_pipeline():
    rng = np.random.default_rng(7)
    centres = rng.uniform(-500, 4600, (400, 2))
    boxes = shapely.box(centres[:, 0], centres[:, 1], centres[:, 0] + 90, centres[:, 1] + 70)
    holes = shapely.difference(boxes[:100], shapely.buffer(shapely.points(centres[:100] + 30), 10))
    xy, at = shapely.get_coordinates(shapely.get_exterior_ring(boxes[:50]), return_index=True)
    geoms = np.concatenate([boxes[100:], holes, shapely.linestrings(xy, indices=at)])
    scale = 0.85

    def transform(x, y):  # "layer" coordinates → pixels, y flipped like a tile
        return x * scale + 100, 4096 - (y * scale + 100)

    clip = (-64, -64, 4160, 4160)
    columns = {"k": [f"f{i}" for i in range(len(geoms))], "v": np.arange(len(geoms), dtype=float)}
    got = _decoded(encode_layer("t", geoms, columns, transform=transform, clip=clip))
    pixels = shapely.transform(geoms, lambda c: np.column_stack(transform(c[:, 0], c[:, 1])))
    pixels = shapely.clip_by_rect(pixels, *clip)
    keep = ~shapely.is_empty(pixels)
    pixels = shapely.transform(pixels[keep], np.round)
    polygonal = shapely.get_type_id(pixels) >= 3
    pixels[polygonal] = shapely.orient_polygons(pixels[polygonal], exterior_cw=False)
    props = [
        {"k": k, "v": float(v)}
        for k, v, kept in zip(columns["k"], columns["v"], keep, strict=True)
        if kept
    ]
    want = _decoded(_reference_tile("t", pixels, props))

    def shapes(d):
        return sorted(
            (f["properties"]["k"], shapely.normalize(shapely.geometry.shape(f["geometry"])).wkt)
            for f in d["t"]["features"]
        )

    assert shapes(got) == shapes(want) and len(got["t"]["features"]) > 250
    crossing = ((centres < -64 / scale) | (centres > 4000 / scale)).any(axis=1)
    assert crossing.sum() > 20  # clipped ones among them


@pytest.mark.parametrize(
    ("bounds", "src", "dst"),
    [
        ((100.15, 26.85, 100.25, 26.95), "OGC:CRS84", "EPSG:4542"),
        ((11_148_000.0, 3_100_000.0, 11_160_000.0, 3_110_000.0), "EPSG:3857", "EPSG:4542"),
        ((73.5, 18.0, 135.0, 53.5), "OGC:CRS84", "EPSG:3857"),
    ],
)
def test_bounds_to_is_transform_bounds(bounds, src, dst):
    want = Transformer.from_crs(src, dst, always_xy=True).transform_bounds(*bounds, densify_pts=21)
    got = bounds_to(bounds, CRS.from_user_input(src), CRS.from_user_input(dst))
    assert np.allclose(got, want, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 3])
def test_reads_wait_in_line_in_the_read_pool(store_spec, threads):
    app = create_app(make_settings(store_spec, read_threads=threads, tile_cache_mb=0))
    seen = {"now": 0, "most": 0}
    lock = threading.Lock()

    def counted(method):
        def call(*args, **kwargs):
            with lock:
                seen["now"] += 1
                seen["most"] = max(seen["most"], seen["now"])
            try:
                time.sleep(0.02)  # long enough for the others to pile up
                return method(*args, **kwargs)
            finally:
                with lock:
                    seen["now"] -= 1

        return call

    async def run():
        async with app.router.lifespan_context(app):
            store = app.state.store
            store.features = counted(store.features)
            store.tile = counted(store.tile)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                paths = [f"/collections/result_parcels/items?limit=5&offset={i}" for i in range(12)]
                paths += [f"/collections/result_parcels/tiles/3/{i % 8}/3" for i in range(12)]
                return await asyncio.gather(*(c.get(p) for p in paths))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 24
    assert seen["most"] == threads


def test_a_tile_is_rendered_once_per_data_version(workspace_template, tmp_path):
    path = tmp_path / "ws"
    shutil.copytree(workspace_template, path)
    app = create_app(make_settings(str(path)))
    renders = []

    async def run():
        async with app.router.lifespan_context(app):
            store = app.state.store
            real = store.tile
            store.tile = lambda *a, **k: renders.append(a) or real(*a, **k)
            info = store.collection("result_parcels")
            w, s, e, n = info.bbox
            lon, lat = (w + e) / 2, (s + n) / 2
            z = 14
            x = int((lon + 180) / 360 * 2**z)
            y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                url = f"/collections/result_parcels/tiles/{z}/{x}/{y}"
                ogc = f"/collections/result_parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"
                first, again = await c.get(url), await c.get(url)
                assert len(renders) == 1
                assert (
                    again.content == first.content
                    and again.headers["etag"] == first.headers["etag"]
                )
                assert (await c.get(ogc)).content == first.content and len(renders) == 1
                # a write: the workspace's data version changes, the tile is drawn again
                frame = store.read_layer("result_parcels")
                store.replace_layer("result_parcels", frame.assign(verdict="changed"))
                after = await c.get(url)
                assert len(renders) == 2 and after.headers["etag"] != first.headers["etag"]
                return first, after

    first, after = asyncio.run(run())
    verdicts = lambda r: {  # noqa: E731
        f["properties"]["verdict"]
        for f in mapbox_vector_tile.decode(r.content)["result_parcels"]["features"]
    }
    assert verdicts(after) == {"changed"} and "changed" not in verdicts(first)

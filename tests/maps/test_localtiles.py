"""Local basemaps: MBTiles/PMTiles files (raster and vector) and the DEM hillshade.

Oracles: the hillshade of a tilted plane is known in closed form (normal · light); tiles are
read back from the written MBTiles with plain SQL in TMS order and from a PMTiles archive
written by the ``pmtiles`` package; the CLI is run as a user runs it.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import sqlite3

import numpy as np
import pytest
from landplan.maps.localtiles import (
    BasemapFileError,
    add_tileset,
    build_hillshade,
    find_tilesets,
    hillshade_tile,
    hillshade_tileset,
    open_tileset,
    read_tile,
    tile_bounds_m,
)
from PIL import Image
from typer.testing import CliRunner

from landplan.cli.main import app

runner = CliRunner()
CRS = "EPSG:4542"
X0, Y0 = 619_000.0, 2_977_000.0
Z = 15


def _dem(path, z_of, size=200, res=10.0, nodata_border=0):
    """A DEM of ``size``² cells of ``res`` m with elevations ``z_of(x_east, y_north)``."""
    import rasterio
    from rasterio.transform import from_origin

    xs = X0 + (np.arange(size) + 0.5) * res
    ys = Y0 + size * res - (np.arange(size) + 0.5) * res
    xx, yy = np.meshgrid(xs - X0, ys - Y0)
    z = z_of(xx, yy).astype("float32")
    if nodata_border:
        z[:nodata_border] = -9999
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": from_origin(X0, Y0 + size * res, res, res),
        "nodata": -9999,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(z, 1)
    return path


def _centre_tile(path, z=Z):
    ts = hillshade_tileset(path)
    w, s, e, n = ts.bounds
    lon, lat = (w + e) / 2, (s + n) / 2
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    return x, y


def _rgba(png: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(png))
    assert img.size == (256, 256) and img.mode == "RGBA"
    return np.asarray(img)


@pytest.mark.parametrize(
    ("gradient", "east"),
    [(0.3, True), (0.3, False), (-0.2, True), (0.0, True)],
)
def test_hillshade_of_a_plane_matches_the_closed_form(tmp_path, gradient, east):
    """z = g·x (or g·y): shade = n·L with n ∝ (−Z g, 0, 1) and the light from 315°, 45°."""
    from landplan.maps.localtiles import Z_FACTOR

    def plane(x, y):
        return 2000 + gradient * (x if east else y)

    dem = _dem(tmp_path / "dem.tif", plane)
    x, y = _centre_tile(dem)
    rgba = _rgba(hillshade_tile(dem, Z, x, y))
    inner = rgba[8:-8, 8:-8]
    assert (inner[..., 3] == 255).all()
    g = Z_FACTOR * gradient
    light = np.array([-0.5, 0.5, math.sqrt(0.5)])  # east, north, up (azimuth 315°, altitude 45°)
    normal = np.array([-g, 0, 1] if east else [0, -g, 1]) / math.sqrt(1 + g * g)
    expected = 110 + 145 * max(float(normal @ light), 0.0)
    # the Gauss-Krüger grid is turned ~0.6° against Web Mercator here: within 2 grey levels
    assert np.abs(inner[..., 0].astype(float) - expected).max() <= 2.0


def test_hillshade_is_transparent_off_the_dem_and_draws_the_outline(tmp_path):
    import shapely

    dem = _dem(tmp_path / "dem.tif", lambda x, y: 2000 + 0.1 * x, nodata_border=100)
    x, y = _centre_tile(dem, z=14)
    minx, miny, maxx, maxy = tile_bounds_m(14, x, y)
    square = shapely.box(
        minx + 0.25 * (maxx - minx), miny, maxx - 0.25 * (maxx - minx), maxy - 0.5 * (maxy - miny)
    )
    plain = _rgba(hillshade_tile(dem, 14, x, y))
    with_outline = _rgba(hillshade_tile(dem, 14, x, y, outline=square))
    assert (plain[..., 3] == 0).any() and (plain[..., 3] == 255).any()  # no data: transparent
    changed = np.any(plain != with_outline, axis=-1)
    assert 0 < changed.mean() < 0.05  # a thin line, not a fill
    assert (with_outline[changed][:, :3] == (38, 50, 56)).all()


def test_build_hillshade_mbtiles_in_tms_order(tmp_path):
    dem = _dem(tmp_path / "dem.tif", lambda x, y: 2000 + 0.05 * x + 0.02 * y)
    ts = build_hillshade(dem, tmp_path / "basemaps" / "hillshade.mbtiles")
    assert (ts.source, ts.kind, ts.format) == ("mbtiles", "raster", "png")
    assert ts.minzoom <= ts.maxzoom
    x, y = _centre_tile(dem, z=ts.maxzoom)
    with sqlite3.connect(ts.path) as con:
        meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
        row = con.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (ts.maxzoom, x, 2**ts.maxzoom - 1 - y),
        ).fetchone()
    assert meta["format"] == "png" and int(meta["maxzoom"]) == ts.maxzoom
    assert bytes(row[0]) == hillshade_tile(dem, ts.maxzoom, x, y)
    assert read_tile(ts, ts.maxzoom, x, y) == bytes(row[0])
    assert read_tile(ts, ts.maxzoom, 0, 0) is None  # far away: no tile
    assert [p.name for p in ts.path.parent.iterdir()] == ["hillshade.mbtiles"]  # no temp file


def _raster_mbtiles(path, color=(200, 0, 200), zooms=(2,), bounds=None):
    """An MBTiles of solid ``color`` PNG tiles at ``zooms``, over ``bounds`` (west, south, east,
    north; default: the whole world, for small zooms only)."""
    from landplan.maps.localtiles import _tile_range

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(buf, "PNG")
    rows = []
    for z in zooms:
        xs, ys = _tile_range(bounds, z) if bounds else (range(2**z), range(2**z))
        rows += [(z, x, 2**z - 1 - y, buf.getvalue()) for x in xs for y in ys]
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute("CREATE TABLE tiles (zoom_level, tile_column, tile_row, tile_data BLOB)")
        con.executemany(
            "INSERT INTO metadata VALUES (?, ?)",
            [("name", "city"), ("format", "png"), ("attribution", "某市测绘院")],
        )
        con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
    return path


def _vector_mbtiles(path):
    import mapbox_vector_tile

    tile = mapbox_vector_tile.encode(
        [
            {
                "name": "roads",
                "features": [{"geometry": "LINESTRING(0 0, 4096 4096)", "properties": {}}],
            }
        ]
    )
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute("CREATE TABLE tiles (zoom_level, tile_column, tile_row, tile_data BLOB)")
        meta = {"vector_layers": [{"id": "roads", "fields": {}}]}
        con.executemany(
            "INSERT INTO metadata VALUES (?, ?)",
            [("format", "pbf"), ("json", json.dumps(meta)), ("minzoom", "0"), ("maxzoom", "1")],
        )
        con.execute("INSERT INTO tiles VALUES (1, 1, 0, ?)", (gzip.compress(tile),))
    return path, tile


def test_raster_and_vector_mbtiles(tmp_path):
    raster = open_tileset(_raster_mbtiles(tmp_path / "city.mbtiles"))
    assert (raster.name, raster.kind, raster.format, raster.attribution) == (
        "city",
        "raster",
        "png",
        "某市测绘院",
    )
    assert Image.open(io.BytesIO(read_tile(raster, 2, 3, 1))).getpixel((5, 5)) == (200, 0, 200)
    path, tile = _vector_mbtiles(tmp_path / "roads.mbtiles")
    vector = open_tileset(path)
    assert (vector.kind, vector.format, vector.gzip, vector.layers) == (
        "vector",
        "pbf",
        True,
        ("roads",),
    )
    assert gzip.decompress(read_tile(vector, 1, 1, 1)) == tile  # y=1 is TMS row 0
    assert read_tile(vector, 1, 0, 0) is None


def test_pmtiles_raster(tmp_path):
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (10, 120, 30)).save(buf, "PNG")
    with write(str(tmp_path / "green.pmtiles")) as writer:
        writer.write_tile(zxy_to_tileid(3, 6, 3), buf.getvalue())
        writer.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_zoom": 3,
                "max_zoom": 3,
                "min_lon_e7": 900000000,
                "min_lat_e7": 200000000,
                "max_lon_e7": 1100000000,
                "max_lat_e7": 300000000,
                "center_zoom": 3,
                "center_lon_e7": 1000000000,
                "center_lat_e7": 250000000,
            },
            {"attribution": "本地 PMTiles"},
        )
    ts = open_tileset(tmp_path / "green.pmtiles")
    assert (ts.source, ts.kind, ts.format, ts.minzoom, ts.maxzoom) == (
        "pmtiles",
        "raster",
        "png",
        3,
        3,
    )
    assert ts.attribution == "本地 PMTiles" and ts.bounds == pytest.approx((90, 20, 110, 30))
    assert read_tile(ts, 3, 6, 3) == buf.getvalue()
    assert read_tile(ts, 3, 0, 0) is None


def test_add_checks_the_file_and_the_name(tmp_path):
    src = _raster_mbtiles(tmp_path / "src.mbtiles")
    folder = tmp_path / "basemaps"
    ts = add_tileset("city-2024", src, folder)
    assert ts.path == folder / "city-2024.mbtiles" and ts.path.read_bytes() == src.read_bytes()
    with pytest.raises(BasemapFileError, match="exists"):
        add_tileset("city-2024", src, folder)
    add_tileset("city-2024", src, folder, force=True)
    for bad in ("osm", "none", "../x", "城市", ""):
        with pytest.raises(BasemapFileError):
            add_tileset(bad, src, folder)
    garbage = tmp_path / "garbage.mbtiles"
    garbage.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(BasemapFileError, match="not a readable MBTiles"):
        add_tileset("garbage", garbage, folder)
    tif = tmp_path / "src.tif"
    tif.write_bytes(src.read_bytes())
    with pytest.raises(BasemapFileError, match=r"\.mbtiles or \.pmtiles"):
        add_tileset("tif", tif, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["city-2024.mbtiles"]
    assert list(find_tilesets(folder)) == ["city-2024"]


def test_cli_add_list_hillshade(tmp_path, tiny_workspace):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(tiny_workspace, ws)
    src = _raster_mbtiles(tmp_path / "city.mbtiles")
    ok = runner.invoke(app, ["basemap", "add", "city", str(src), "--workspace", str(ws)])
    assert ok.exit_code == 0, ok.output
    assert (ws / "basemaps" / "city.mbtiles").is_file()
    listed = runner.invoke(app, ["basemap", "list", "--workspace", str(ws)])
    assert listed.exit_code == 0 and "city" in listed.stdout and "raster" in listed.stdout
    bad = runner.invoke(
        app, ["basemap", "add", "x", str(tmp_path / "missing.mbtiles"), "-w", str(ws)]
    )
    assert bad.exit_code == 2 and "no such file" in bad.stderr
    nowhere = runner.invoke(
        app, ["basemap", "add", "x", str(src)], env={"LANDPLAN_BASEMAP_DIR": ""}
    )
    assert nowhere.exit_code == 2 and "--workspace" in nowhere.stderr
    no_dem = runner.invoke(app, ["basemap", "hillshade", str(ws)])
    assert no_dem.exit_code == 2 and "no DEM" in no_dem.stderr
    (ws / "rasters").mkdir(exist_ok=True)
    _dem(ws / "rasters" / "dem.tif", lambda x, y: 2000 + 0.05 * x)
    built = runner.invoke(app, ["basemap", "hillshade", str(ws)])
    assert built.exit_code == 0, built.output
    assert open_tileset(ws / "basemaps" / "hillshade.mbtiles").format == "png"

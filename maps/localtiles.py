"""Local basemaps for intranets with no internet: MBTiles / PMTiles files and a DEM hillshade.

A bureau usually has its own basemap as an MBTiles or PMTiles file (raster PNG/JPEG/WebP
tiles or Mapbox Vector Tiles).  ``landplan basemap add NAME FILE`` checks such a file
(:func:`open_tileset`) and copies it into ``<workspace>/basemaps/NAME.<ext>`` or into a
configured basemap directory (:func:`add_tileset`); the service lists them
(:func:`find_tilesets`) and serves their tiles at ``/basemaps/NAME/tiles/{z}/{x}/{y}``
(:func:`read_tile`), so that the maps and the planner draw them with no request leaving
the host.

The workspace itself gives a basemap too: a hillshade of its DEM, with the study-area
outline, rendered here tile by tile in Web Mercator (:func:`hillshade_tile`; no third-party
tiles, no network).  The service renders it on the fly from ``rasters/dem.tif``;
:func:`build_hillshade` writes the same tiles into an MBTiles file
(``landplan basemap hillshade``) for use elsewhere.

MBTiles rows are in TMS order (``tile_row = 2**z - 1 - y``); PMTiles v3 is read with the
``pmtiles`` package.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import sqlite3
import uuid
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from landplan.core.errors import LandplanError

ENV_BASEMAP_DIR = "LANDPLAN_BASEMAP_DIR"
SUFFIXES = (".mbtiles", ".pmtiles")
HILLSHADE = "hillshade"
#: names of the online basemaps, which a local one may not take
RESERVED = ("osm", "tianditu", "gaode", "none")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
MEDIA = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/x-protobuf",
}
EARTH_M = 2 * math.pi * 6378137.0  # Web Mercator world width
ORIGIN_M = EARTH_M / 2
TILE = 256
HILLSHADE_ATTRIBUTION = "DEM 晕渲 hillshade · landplan (本地渲染 rendered locally)"
OUTLINE_RGB = (38, 50, 56)
Z_FACTOR = 2.0  # relief exaggeration: plains read too


class BasemapFileError(LandplanError, ValueError):
    """A basemap file that is not a readable MBTiles/PMTiles, or a bad basemap name."""


@dataclass(frozen=True)
class TileSet:
    """One local basemap: where its tiles come from and how the page draws them."""

    name: str
    kind: Literal["raster", "vector"]
    format: str  # png | jpg | webp | pbf
    minzoom: int
    maxzoom: int
    source: Literal["mbtiles", "pmtiles", "hillshade"]
    path: Path
    bounds: tuple[float, float, float, float] | None = None  # west, south, east, north
    attribution: str = ""
    layers: tuple[str, ...] = ()  # vector layer names (styled grey in the page)
    gzip: bool = False  # vector tiles stored gzip-compressed
    outline: Any = field(default=None, compare=False, repr=False)  # hillshade only

    @property
    def media_type(self) -> str:
        return MEDIA[self.format]

    def info(self, url: str = "") -> dict[str, Any]:
        """JSON description (``url``: the tile URL template)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "format": self.format,
            "source": self.source,
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "bounds": list(self.bounds) if self.bounds else None,
            "attribution": self.attribution,
            "layers": list(self.layers),
            "tiles": url,
        }


def check_name(name: str, /) -> str:
    """``name`` when it is a valid basemap name, else :class:`BasemapFileError`."""
    if not NAME_RE.match(name or ""):
        raise BasemapFileError(
            f"basemap name {name!r} must be 1–40 letters, digits, '-' or '_' (e.g. city-2024)"
        )
    if name in RESERVED:
        raise BasemapFileError(f"basemap name {name!r} is reserved for an online basemap")
    return name


# --------------------------------------------------------------------------- reading files


def _format_of(fmt: str, *, what: Path) -> str:
    fmt = {"jpeg": "jpg", "mvt": "pbf"}.get(fmt.lower(), fmt.lower())
    if fmt not in MEDIA:
        raise BasemapFileError(
            f"{what}: tile format {fmt!r} is not supported; use png, jpg, webp or pbf (MVT)"
        )
    return fmt


def _bounds(text: Any) -> tuple[float, float, float, float] | None:
    try:
        w, s, e, n = (float(v) for v in str(text).split(","))
    except (TypeError, ValueError):
        return None
    return (w, s, e, n)


def _vector_layers(meta_json: Any) -> tuple[str, ...]:
    try:
        data = json.loads(meta_json) if isinstance(meta_json, str) else (meta_json or {})
        return tuple(str(v["id"]) for v in data.get("vector_layers", []))
    except (TypeError, ValueError, KeyError):
        return ()


def _open_mbtiles(path: Path, name: str) -> TileSet:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
            zooms = con.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
            first = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise BasemapFileError(
            f"{path}: not a readable MBTiles file ({exc}); it needs the tables 'metadata' "
            "and 'tiles' of the MBTiles 1.3 spec"
        ) from exc
    if first is None:
        raise BasemapFileError(f"{path}: the MBTiles file holds no tiles")
    fmt = _format_of(str(meta.get("format") or _sniff(bytes(first[0]))), what=path)
    return TileSet(
        name=name,
        kind="vector" if fmt == "pbf" else "raster",
        format=fmt,
        minzoom=int(meta.get("minzoom", zooms[0])),
        maxzoom=int(meta.get("maxzoom", zooms[1])),
        source="mbtiles",
        path=path,
        bounds=_bounds(meta.get("bounds")),
        attribution=str(meta.get("attribution", "")),
        layers=_vector_layers(meta.get("json")),
        gzip=fmt == "pbf" and bytes(first[0])[:2] == b"\x1f\x8b",
    )


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "pbf"


def _pmtiles_reader(path: Path):
    from pmtiles.reader import Reader

    data = path.read_bytes() if path.stat().st_size < 64 * 2**20 else None
    if data is not None:
        return Reader(lambda offset, length: data[offset : offset + length])
    fh = open(path, "rb")  # noqa: SIM115 - kept open by the mapping for the process' life
    from pmtiles.reader import MmapSource

    return Reader(MmapSource(fh))


def _open_pmtiles(path: Path, name: str) -> TileSet:
    from pmtiles.tile import Compression, TileType

    try:
        reader = _pmtiles_reader(path)
        header = reader.header()
        meta = reader.metadata()
    except Exception as exc:  # the package raises its own exceptions and struct errors
        raise BasemapFileError(f"{path}: not a readable PMTiles v3 file ({exc})") from exc
    types = {TileType.MVT: "pbf", TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp"}
    if header["tile_type"] not in types:
        raise BasemapFileError(f"{path}: tile type {header['tile_type'].name} is not supported")
    if header["tile_compression"] not in (Compression.NONE, Compression.GZIP, Compression.UNKNOWN):
        raise BasemapFileError(
            f"{path}: tiles compressed with {header['tile_compression'].name} cannot be served "
            "to a browser; re-encode them with gzip or no compression"
        )
    fmt = types[header["tile_type"]]
    return TileSet(
        name=name,
        kind="vector" if fmt == "pbf" else "raster",
        format=fmt,
        minzoom=int(header["min_zoom"]),
        maxzoom=int(header["max_zoom"]),
        source="pmtiles",
        path=path,
        bounds=tuple(
            header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")
        ),  # type: ignore[arg-type]
        attribution=str(meta.get("attribution", "")) if isinstance(meta, dict) else "",
        layers=_vector_layers(meta),
        gzip=header["tile_compression"] == Compression.GZIP,
    )


def open_tileset(path: str | os.PathLike[str], /, name: str | None = None) -> TileSet:
    """Read and check the metadata of an MBTiles or PMTiles file.

    Raises
    ------
    BasemapFileError
        Missing file, unknown suffix, unreadable file or unsupported tile format.
    """
    p = Path(path)
    if not p.is_file():
        raise BasemapFileError(f"{p}: no such file")
    name = check_name(name or p.stem)
    suffix = p.suffix.lower()
    if suffix == ".mbtiles":
        return _open_mbtiles(p, name)
    if suffix == ".pmtiles":
        return _open_pmtiles(p, name)
    raise BasemapFileError(f"{p}: a basemap must be an .mbtiles or .pmtiles file")


@lru_cache(maxsize=32)
def _mbtiles_connection(path: str, mtime: float) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


@lru_cache(maxsize=32)
def _pmtiles_cached(path: str, mtime: float):
    return _pmtiles_reader(Path(path))


def read_tile(ts: TileSet, z: int, x: int, y: int, /) -> bytes | None:
    """The stored bytes of tile ``z/x/y`` (XYZ scheme), ``None`` when there is none."""
    if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
        return None
    if ts.source == "hillshade":
        return hillshade_tile(ts.path, z, x, y, outline=ts.outline)
    mtime = ts.path.stat().st_mtime
    if ts.source == "mbtiles":
        row = (
            _mbtiles_connection(str(ts.path), mtime)
            .execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, 2**z - 1 - y),
            )
            .fetchone()
        )
        return bytes(row[0]) if row else None
    data = _pmtiles_cached(str(ts.path), mtime).get(z, x, y)
    return bytes(data) if data else None


def find_tilesets(*folders: str | os.PathLike[str] | None) -> dict[str, TileSet]:
    """Every readable ``*.mbtiles`` / ``*.pmtiles`` in ``folders`` by name (first one wins).

    Files that cannot be read are skipped (``landplan basemap add`` checks them on the way in).
    """
    out: dict[str, TileSet] = {}
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() not in SUFFIXES or path.stem in out:
                continue
            try:
                out[path.stem] = open_tileset(path)
            except BasemapFileError:
                continue
    return out


def default_basemap_dir() -> Path | None:
    """``$LANDPLAN_BASEMAP_DIR`` when set."""
    env = os.environ.get(ENV_BASEMAP_DIR)
    return Path(env) if env else None


def add_tileset(
    name: str,
    file: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    /,
    *,
    force: bool = False,
) -> TileSet:
    """Check ``file`` and copy it to ``folder/NAME.<ext>`` (atomically); return the copy.

    Raises
    ------
    BasemapFileError
        Bad name or file, or a basemap of that name exists and ``force`` is false.
    """
    check_name(name)
    src = Path(file)
    open_tileset(src, name)  # check before copying anything
    target_dir = Path(folder)
    target_dir.mkdir(parents=True, exist_ok=True)
    existing = [target_dir / f"{name}{s}" for s in SUFFIXES if (target_dir / f"{name}{s}").exists()]
    if existing and not force:
        raise BasemapFileError(
            f"a basemap named {name!r} exists ({existing[0]}); choose another name or use --force"
        )
    target = target_dir / f"{name}{src.suffix.lower()}"
    tmp = target_dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        for old in existing:
            old.unlink()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return open_tileset(target, name)


# --------------------------------------------------------------------------- DEM hillshade


def tile_bounds_m(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator bounds (minx, miny, maxx, maxy) of XYZ tile ``z/x/y``."""
    size = EARTH_M / 2**z
    minx = -ORIGIN_M + x * size
    maxy = ORIGIN_M - y * size
    return (minx, maxy - size, minx + size, maxy)


def _lat_of(y_m: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y_m / 6378137.0)) - math.pi / 2)


@lru_cache(maxsize=8)
def _dem_info(path: str, mtime: float) -> dict[str, Any]:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        if src.crs is None:
            raise BasemapFileError(f"{path}: the DEM has no CRS")
        w, s, e, n = transform_bounds(src.crs, 4326, *src.bounds)
        res_m = abs(src.res[0]) if src.crs.is_projected else abs(src.res[0]) * 111_320.0
    lat = (s + n) / 2
    maxzoom = int(
        min(
            18, max(1, math.ceil(math.log2(EARTH_M * math.cos(math.radians(lat)) / (TILE * res_m))))
        )
    )
    extent_m = max((e - w) * 111_320.0 * math.cos(math.radians(lat)), (n - s) * 110_574.0, 1.0)
    minzoom = int(
        max(
            0, min(maxzoom, math.floor(math.log2(EARTH_M * math.cos(math.radians(lat)) / extent_m)))
        )
    )
    return {"bounds": (w, s, e, n), "minzoom": minzoom, "maxzoom": maxzoom}


def hillshade_tileset(
    dem: str | os.PathLike[str], /, *, outline: Any = None, name: str = HILLSHADE
) -> TileSet:
    """The DEM hillshade as a (rendered on demand) tile set; ``outline``: polygons in EPSG:3857."""
    path = Path(dem)
    info = _dem_info(str(path), path.stat().st_mtime)
    return TileSet(
        name=name,
        kind="raster",
        format="png",
        minzoom=info["minzoom"],
        maxzoom=info["maxzoom"],
        source="hillshade",
        path=path,
        bounds=info["bounds"],
        attribution=HILLSHADE_ATTRIBUTION,
        outline=outline,
    )


def outline_3857(frame: Any, /) -> Any:
    """The study-area outline (convex hull of the layer's geometries) in EPSG:3857."""
    import shapely

    if frame is None or not len(frame) or frame.crs is None:
        return None
    geoms = frame.geometry.to_numpy()
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms):
        return None
    from geopandas import GeoSeries

    hull = shapely.convex_hull(shapely.union_all(shapely.convex_hull(geoms)))
    return GeoSeries([hull], crs=frame.crs).to_crs(3857).iloc[0]


@lru_cache(maxsize=512)
def _hillshade_png(
    path: str, mtime: float, z: int, x: int, y: int, outline_wkb: bytes | None
) -> bytes:
    import numpy as np
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin
    from rasterio.warp import Resampling, reproject

    minx, miny, maxx, maxy = tile_bounds_m(z, x, y)
    res = (maxx - minx) / TILE
    n = TILE + 2  # one pixel of halo for the gradient
    dem = np.full((n, n), np.nan, dtype="float32")
    transform = from_origin(minx - res, maxy + res, res, res)
    with rasterio.open(path) as src:
        reproject(
            source=rasterio.band(src, 1),
            destination=dem,
            src_nodata=src.nodata,
            dst_transform=transform,
            dst_crs="EPSG:3857",
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    valid = np.isfinite(dem)
    rgba = np.zeros((TILE, TILE, 4), dtype=np.uint8)
    if valid.any():
        ground = res * math.cos(math.radians(_lat_of((miny + maxy) / 2)))
        filled = np.where(valid, dem, np.nanmean(dem))
        dzdy, dzdx = np.gradient(filled * Z_FACTOR, ground)
        slope = np.arctan(np.hypot(dzdx, dzdy))
        aspect = np.arctan2(-dzdx, dzdy)  # rows grow southwards: dz/dy points south
        zenith, azimuth = math.radians(45.0), math.radians(315.0)
        shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(
            azimuth - aspect
        )
        grey = (110 + 145 * np.clip(shade, 0, 1))[1:-1, 1:-1]  # light: parcels read on top
        rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = grey.astype(np.uint8)
        rgba[..., 2] = np.clip(grey + 6, 0, 255).astype(np.uint8)  # a cool tint
        rgba[..., 3] = np.where(valid[1:-1, 1:-1], 255, 0)
    if outline_wkb is not None:
        import shapely
        from rasterio.features import rasterize

        line = shapely.from_wkb(outline_wkb).boundary.buffer(res * 1.3)
        mask = rasterize(
            [line], out_shape=(TILE, TILE), transform=from_origin(minx, maxy, res, res)
        )
        hit = mask.astype(bool)
        rgba[hit, :3] = OUTLINE_RGB
        rgba[hit, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return buf.getvalue()


def hillshade_tile(
    dem: str | os.PathLike[str], z: int, x: int, y: int, /, *, outline: Any = None
) -> bytes:
    """A 256 px RGBA PNG of the DEM hillshade (light grey, transparent off the DEM) with the
    ``outline`` (a polygon in EPSG:3857) drawn as a dark line."""
    path = Path(dem)
    wkb = outline.wkb if outline is not None else None
    return _hillshade_png(str(path), path.stat().st_mtime, z, x, y, wkb)


def _tile_range(bounds: tuple[float, float, float, float], z: int) -> tuple[range, range]:
    w, s, e, n = bounds

    def tx(lon: float) -> int:
        return min(2**z - 1, max(0, int((lon + 180) / 360 * 2**z)))

    def ty(lat: float) -> int:
        lat = max(min(lat, 85.0511), -85.0511)
        r = math.radians(lat)
        return min(2**z - 1, max(0, int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * 2**z)))

    return range(tx(w), tx(e) + 1), range(ty(n), ty(s) + 1)


def build_hillshade(
    dem: str | os.PathLike[str],
    out: str | os.PathLike[str],
    /,
    *,
    outline: Any = None,
    minzoom: int | None = None,
    maxzoom: int | None = None,
) -> TileSet:
    """Write the hillshade tiles of ``dem`` for zooms ``minzoom..maxzoom`` into an MBTiles file
    (atomically) and return it as a tile set."""
    ts = hillshade_tileset(dem, outline=outline)
    lo = ts.minzoom if minzoom is None else minzoom
    hi = ts.maxzoom if maxzoom is None else maxzoom
    if not 0 <= lo <= hi <= 20:
        raise BasemapFileError(f"zooms must satisfy 0 <= minzoom <= maxzoom <= 20, got {lo}..{hi}")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        con = sqlite3.connect(tmp)
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute(
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
            "tile_data BLOB)"
        )
        con.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        w, s, e, n = ts.bounds or (-180, -85, 180, 85)
        meta = {
            "name": target.stem,
            "format": "png",
            "type": "baselayer",
            "version": "1",
            "description": "DEM hillshade with the study-area outline (landplan)",
            "attribution": HILLSHADE_ATTRIBUTION,
            "minzoom": str(lo),
            "maxzoom": str(hi),
            "bounds": f"{w},{s},{e},{n}",
        }
        con.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
        for z in range(lo, hi + 1):
            xs, ys = _tile_range((w, s, e, n), z)
            rows = [
                (z, x, 2**z - 1 - y, hillshade_tile(dem, z, x, y, outline=outline))
                for x in xs
                for y in ys
            ]
            con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
        con.commit()
        con.close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return replace(open_tileset(target), attribution=HILLSHADE_ATTRIBUTION)

"""Local basemaps: the bureau's MBTiles/PMTiles files and the workspace's DEM hillshade.

Files come from ``<workspace>/basemaps/`` (``landplan basemap add NAME FILE --workspace``)
and from ``LANDPLAN_BASEMAP_DIR``; the hillshade is rendered from ``rasters/dem.tif`` on
demand (or read from a ``hillshade.mbtiles`` written by ``landplan basemap hillshade``).
Every tile is served from this host, so an intranet without internet still has a basemap.

``LANDPLAN_OFFLINE`` (default true): no page of the service makes a request that leaves the
host.  The maps then default to the first local basemap (the bureau's files first, then the
hillshade), or to none, and the online basemaps (OSM, Tianditu, Gaode) are refused.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from landplan.api.auth import require
from landplan.api.deps import settings, store
from landplan.api.errors import BadParameterError, responses
from landplan.maps.basemaps import BASEMAPS, LocalBasemap
from landplan.maps.localtiles import (
    HILLSHADE,
    TileSet,
    default_basemap_dir,
    find_tilesets,
    hillshade_tileset,
    outline_3857,
    read_tile,
)

from landplan.core.errors import NotFoundError

router = APIRouter(tags=["Basemaps"], dependencies=[Depends(require("read"))])
ONLINE = tuple(b for b in BASEMAPS if b != "none")
_OUTLINES: dict[tuple[int, str], Any] = {}
_LOCK = threading.Lock()


def _outline(s) -> Any:
    """The study-area outline (convex hull of the result parcels) in EPSG:3857, cached per
    store and data token."""
    key = (id(s), str(s.token()))
    with _LOCK:
        if key in _OUTLINES:
            return _OUTLINES[key]
    try:
        frame = s.read_layer("result_parcels")
    except Exception:  # no results yet: a hillshade without an outline
        frame = None
    outline = outline_3857(frame)
    with _LOCK:
        if len(_OUTLINES) > 8:
            _OUTLINES.clear()
        _OUTLINES[key] = outline
    return outline


def tilesets(cfg, s) -> dict[str, TileSet]:
    """The local basemaps of this service by name (the bureau's files, then the hillshade)."""
    folder = getattr(s, "path", None)
    found = find_tilesets(
        Path(folder) / "basemaps" if folder else None, cfg.basemap_dir or default_basemap_dir()
    )
    dem = s.raster_path("dem")
    if HILLSHADE not in found and dem is not None:
        found[HILLSHADE] = hillshade_tileset(dem, outline=_outline(s))
    files = {k: v for k, v in found.items() if k != HILLSHADE}
    return {**files, **{k: v for k, v in found.items() if k == HILLSHADE}}


def tile_url(request: Request, name: str) -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}/basemaps/{name}/tiles/{{z}}/{{x}}/{{y}}"


def local_basemaps(request: Request, cfg, s) -> list[LocalBasemap]:
    """The local basemaps as the map builders take them."""
    return [
        LocalBasemap(
            name=ts.name,
            url=tile_url(request, ts.name),
            kind=ts.kind,
            maxzoom=ts.maxzoom,
            attribution=ts.attribution,
            layers=ts.layers,
        )
        for ts in tilesets(cfg, s).values()
    ]


def choose_basemap(requested: str | None, cfg, local: list[LocalBasemap]) -> str:
    """The basemap of a page: the requested one, else the first local one, else none (offline)
    or OSM.  Offline, online basemaps are refused (400)."""
    names = [b.name for b in local]
    if requested is None:
        return names[0] if names else ("none" if cfg.offline else "osm")
    if requested not in (*BASEMAPS, *names):
        raise BadParameterError(
            f"unknown basemap {requested!r}; choose one of {', '.join((*BASEMAPS, *names))}",
            parameter="basemap",
        )
    if cfg.offline and requested in ONLINE:
        raise BadParameterError(
            f"the service runs offline (LANDPLAN_OFFLINE=true): the online basemap {requested!r} "
            "would send requests off this host; use a local basemap "
            f"({', '.join(names) or 'add one with `landplan basemap add`'}) or none, "
            "or set LANDPLAN_OFFLINE=false",
            parameter="basemap",
        )
    return requested


@router.get("/basemaps", summary="Local basemaps served by this host", response_model=dict)
def list_basemaps(request: Request, s=Depends(store), cfg=Depends(settings)) -> dict:
    """The local basemaps (MBTiles/PMTiles files, the DEM hillshade) with their tile URLs,
    and the one the map pages use by default."""
    sets = tilesets(cfg, s)
    local = [ts.info(tile_url(request, name)) for name, ts in sets.items()]
    default = choose_basemap(None, cfg, local_basemaps(request, cfg, s))
    return {"basemaps": local, "default": default, "offline": cfg.offline}


@router.get(
    "/basemaps/{name}/tiles/{z}/{x}/{y}",
    summary="A tile of a local basemap",
    responses={
        200: {
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        204: {"description": "no vector tile here"},
        **responses(404),
    },
)
def basemap_tile(
    name: str, z: int, x: int, y: int, s=Depends(store), cfg=Depends(settings)
) -> Response:
    """The stored tile (a transparent PNG where a raster basemap has none, 204 for vector)."""
    sets = tilesets(cfg, s)
    if name not in sets:
        raise NotFoundError(
            f"no local basemap {name!r}; basemaps: {', '.join(sets) or 'none'} "
            "(add one with `landplan basemap add NAME FILE`)"
        )
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise BadParameterError(f"tile {z}/{x}/{y} is outside the tile matrix", parameter="z")
    ts = sets[name]
    data = read_tile(ts, z, x, y)
    headers = {"Cache-Control": f"public, max-age={cfg.tile_max_age_s}"}
    if data is None:
        if ts.kind == "vector":
            return Response(status_code=204, headers=headers)
        return Response(_empty_png(), media_type="image/png", headers=headers)
    if ts.gzip:
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=ts.media_type, headers=headers)


@lru_cache(maxsize=1)
def _empty_png() -> bytes:
    """A fully transparent 256 px PNG."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(buf, "PNG")
    return buf.getvalue()

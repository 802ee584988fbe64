"""Tiles: Mapbox Vector Tiles per collection and PNG tiles of the workspace rasters (rio-tiler).

Both are cacheable: the ETag is derived from the store's data token, so a tile changes its
ETag exactly when the workspace data changes; ``If-None-Match`` gets a 304.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from landplan.api.auth import require
from landplan.api.deps import in_read_pool, settings, store
from landplan.api.errors import BadParameterError, responses
from landplan.api.rastertiles import RASTER_STYLES, raster_tile, rasters_list

from landplan.core.errors import NotFoundError
from landplan.core.features import tile_in_range

router = APIRouter(tags=["Tiles"], dependencies=[Depends(require("read"))])
MVT = "application/vnd.mapbox-vector-tile"
Z = Annotated[int, Path(ge=0, le=24, description="zoom (WebMercatorQuad)")]
XY = Annotated[int, Path(ge=0, le=16_777_215)]
#: how old the data token keying the tile cache may be (s): a cached tile is answered without a
#: database query, and a write by another process shows in tiles within this time (a write by
#: this service at once).  At 32 clients on PostGIS, asking for every tile queued the drawn
#: tiles behind the cached ones' token queries (p99 1.5–1.7 s against 0.7 s with no cache).
TOKEN_FRESH_S = 1.0


def _cached(request: Request, body: bytes, media: str, token: str, max_age: int) -> Response:
    etag = (
        '"'
        + hashlib.sha1(f"{token}|{request.url.path}|{request.url.query}".encode()).hexdigest()
        + '"'
    )
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if request.headers.get("if-none-match") in (etag, f"W/{etag}"):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


def _check_tile(z: int, x: int, y: int) -> None:
    if not tile_in_range(z, x, y):
        raise BadParameterError(
            f"tile {z}/{x}/{y} is outside the WebMercatorQuad grid", parameter="x/y"
        )


MVT_RESPONSES = {
    200: {"content": {MVT: {"schema": {"type": "string", "format": "binary"}}}},
    **responses(400, 404),
}


async def _mvt(collection_id: str, z: int, x: int, y: int, request: Request, s, cfg) -> Response:
    """One vector tile, with its ETag and cache headers (both tile paths).

    A tile is drawn once per data version while it stays in the tile cache
    (:mod:`landplan.api.tilecache`): the data token is read in a plain worker thread (a
    PostGIS store asks the database) and a cached tile is answered at once; only a tile to
    draw waits its turn in the read pool (:func:`landplan.api.deps.read_pool`).
    """
    _check_tile(z, x, y)
    token = await anyio.to_thread.run_sync(functools.partial(s.token, max_age_s=TOKEN_FRESH_S))
    cache = getattr(request.app.state, "tile_cache", None)
    key = (token, collection_id, z, x, y)
    body = cache.get(key) if cache is not None else None
    if body is None:
        body = await in_read_pool(request, s.tile, collection_id, z, x, y)
        if cache is not None:
            cache.put(key, body)
    return _cached(request, body, MVT, token, cfg.tile_max_age_s)


@router.get(
    "/collections/{collection_id}/tiles/{z}/{x}/{y}",
    summary="Mapbox Vector Tile of a collection",
    response_class=Response,
    responses=MVT_RESPONSES,
)
async def vector_tile(
    collection_id: str,
    z: Z,
    x: XY,
    y: XY,
    request: Request,
    s=Depends(store),
    cfg=Depends(settings),
):
    return await _mvt(collection_id, z, x, y, request, s, cfg)


@router.get("/rasters", summary="Rasters with PNG tiles", response_model=dict)
def rasters(s=Depends(store)):
    return {"rasters": rasters_list(s)}


@router.get(
    "/rasters/{name}/tiles/{z}/{x}/{y}.png",
    summary="PNG tile of a raster with a colormap",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
        **responses(400, 404),
    },
)
def raster_png(
    name: str,
    z: Z,
    x: XY,
    y: XY,
    request: Request,
    colormap: Annotated[
        str | None, Query(description="matplotlib/rio-tiler colormap name", max_length=40)
    ] = None,
    s=Depends(store),
    cfg=Depends(settings),
):
    _check_tile(z, x, y)
    path = s.raster_path(name)
    if path is None:
        raise NotFoundError(
            f"no raster {name!r}; rasters: {', '.join(r['name'] for r in rasters_list(s))}"
        )
    body = raster_tile(
        path, name, z, x, y, colormap=colormap or RASTER_STYLES.get(name, (0, 0, "viridis"))[2]
    )
    return _cached(
        request, body, "image/png", s.token() + str(path.stat().st_mtime_ns), cfg.tile_max_age_s
    )


@router.get(
    "/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{y}/{x}",
    summary="Mapbox Vector Tile (OGC path: tileMatrix/tileRow/tileCol)",
    response_class=Response,
    responses=MVT_RESPONSES,
)
async def vector_tile_ogc(
    collection_id: str,
    z: Z,
    y: XY,
    x: XY,
    request: Request,
    s=Depends(store),
    cfg=Depends(settings),
):
    return await _mvt(collection_id, z, x, y, request, s, cfg)

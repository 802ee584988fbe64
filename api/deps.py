"""Typed dependencies of the routes: ``Annotated[..., Depends(...)]`` aliases.

Routes declare what they need — the store, the settings, the job runner, a collection, a
parsed ``bbox`` (CRS84), an output or input CRS (EPSG code or ``None`` for CRS84), the
boundary context — and receive it parsed and checked.  Services get these values, never the
FastAPI application or the request.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Annotated

import anyio
from fastapi import Depends, Path, Query, Request
from landplan.api.errors import BadParameterError
from landplan.api.jobs import JobRunner
from landplan.api.settings import Settings

from landplan.core.features import bbox_to_crs84, parse_crs_uri
from landplan.store.protocol import CollectionInfo, ServiceStore

_CTX_LOCK = threading.Lock()
MAX_ABS_COORD = 1e9


# The three below only read app state: ``async`` so FastAPI calls them on the event loop.  A
# plain ``def`` dependency is run in the worker-thread pool, and under load every request
# would queue for a pool thread once per such dependency, behind the slow handlers.


async def store(request: Request) -> ServiceStore:
    return request.app.state.store


async def settings(request: Request) -> Settings:
    return request.app.state.settings


async def jobs(request: Request) -> JobRunner:
    return request.app.state.jobs


def read_pool(endpoint: Callable) -> Callable:
    """Run a blocking read endpoint (feature pages, features, vector tiles) in the read pool:
    at most ``Settings.read_threads`` at once per worker process, the others waiting in line,
    first come first served.

    Sync endpoints otherwise run in anyio's pool of 40 threads: under load 32 reads of a few
    milliseconds of CPU each share the GIL, every one of them finishing late and some very
    late (the tail); in line, each waits its turn and then runs at full speed.  The endpoint
    must take ``request: Request``.
    """

    @functools.wraps(endpoint)
    async def pooled(*args, **kwargs):
        return await in_read_pool(kwargs["request"], endpoint, *args, **kwargs)

    return pooled


async def in_read_pool(request: Request, fn: Callable, /, *args, **kwargs):
    """``fn(*args, **kwargs)`` in the read pool (see :func:`read_pool`)."""
    limiter = getattr(request.app.state, "read_limiter", None)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)


StoreDep = Annotated[ServiceStore, Depends(store)]
SettingsDep = Annotated[Settings, Depends(settings)]
JobsDep = Annotated[JobRunner, Depends(jobs)]


def collection(
    store: StoreDep,
    collection_id: Annotated[str, Path(max_length=200, description="collection id")],
) -> CollectionInfo:
    """The collection named in the path (404 when the workspace has none of that name)."""
    return store.collection(collection_id)


CollectionDep = Annotated[CollectionInfo, Depends(collection)]


def epsg_of(value: str | None, parameter: str) -> int | None:
    """A CRS URI → EPSG code (``None`` = CRS84); 400 naming ``parameter`` when not served."""
    try:
        return parse_crs_uri(value)
    except ValueError as exc:
        raise BadParameterError(str(exc), parameter=parameter) from None


#: the ``crs`` query parameter of every endpoint that returns geometries
CrsQuery = Annotated[
    str | None,
    Query(
        description="output CRS URI: CRS84 (default), EPSG:4490, GK zones EPSG:4513–4554",
        max_length=200,
    ),
]


def out_crs(
    crs: CrsQuery = None,
) -> int | None:
    return epsg_of(crs, "crs")


def body_crs(
    crs: Annotated[
        str | None,
        Query(description="CRS of the posted geometry (URI; default CRS84)", max_length=200),
    ] = None,
) -> int | None:
    return epsg_of(crs, "crs")


OutCrs = Annotated[int | None, Depends(out_crs)]
BodyCrs = Annotated[int | None, Depends(body_crs)]


def parse_bbox(text: str | None, bbox_crs: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` (or 6 numbers, 3-D) in ``bbox_crs`` → CRS84 bounds."""
    if text is None:
        if bbox_crs is not None:
            raise BadParameterError("bbox-crs is given without bbox", parameter="bbox-crs")
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadParameterError(
            f"bbox must be 4 comma-separated numbers, got {text[:80]!r}", parameter="bbox"
        ) from None
    if len(values) == 6:  # 3-D bbox: drop the heights
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) and abs(v) < MAX_ABS_COORD for v in values):
        raise BadParameterError(
            "bbox must be minx,miny,maxx,maxy (4 finite numbers)", parameter="bbox"
        )
    epsg = epsg_of(bbox_crs, "bbox-crs")
    if values[0] > values[2] or values[1] > values[3]:
        raise BadParameterError(
            "bbox lower corner must not exceed the upper corner", parameter="bbox"
        )
    if epsg is None and not (
        -180 <= values[0] <= values[2] <= 180 and -90 <= values[1] <= values[3] <= 90
    ):
        raise BadParameterError("a CRS84 bbox must lie within ±180°, ±90°", parameter="bbox")
    try:
        box = bbox_to_crs84(values, epsg)
    except Exception:
        raise BadParameterError(
            "bbox cannot be transformed from bbox-crs", parameter="bbox"
        ) from None
    if not all(math.isfinite(v) for v in box):
        raise BadParameterError("bbox lies outside the area of bbox-crs", parameter="bbox")
    return box


def bbox(
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in bbox-crs (CRS84 by default)", max_length=400),
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox (URI)", max_length=200)
    ] = None,
) -> tuple[float, float, float, float] | None:
    return parse_bbox(bbox, bbox_crs)


BboxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox)]


def boundary_context(request: Request, store: StoreDep):
    """The boundary context, read once per data version of the store (cached on the app)."""
    from landplan.planning.scenarios import boundary_context as read_context

    token = store.token()
    state = request.app.state
    cached = getattr(state, "boundary_ctx", None)
    if cached is not None and cached[0] == token:
        return cached[1]
    with _CTX_LOCK:
        cached = getattr(state, "boundary_ctx", None)
        if cached is None or cached[0] != token:
            state.boundary_ctx = (token, read_context(store))
        return state.boundary_ctx[1]


BoundaryCtx = Annotated[object, Depends(boundary_context)]

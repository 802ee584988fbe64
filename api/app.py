"""``create_app(settings)``: the landplan service.

State (the store, the job runner) is opened in the lifespan hook; routers are plain and
short; errors go through :mod:`api.errors`.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from landplan.api import errors, logs, openapi, scratch
from landplan.api.jobs import JobRunner
from landplan.api.limits import BodyLimit
from landplan.api.settings import Settings
from landplan.api.tilecache import TileCache
from landplan.api.version import VERSION

from landplan.store.open import open_store

DESCRIPTION = """\
landplan serves one planning workspace: OGC API Features (Part 1 Core + Part 2 CRS) for every
layer and result table, Mapbox Vector Tiles and PNG raster tiles, transfer verdicts with reasons
(zh-CN / English), boundary evaluation, 亩均 indicator checks, suitability re-runs as background
jobs, the parcel lifecycle register with optimistic concurrency and an audit trail, and uploads.

Errors are `application/problem+json`. Writes need an `X-API-Key` whose role permits them.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scratch.clear_stale(settings.upload_dir, stale_s=settings.scratch_stale_s)
        store = open_store(settings.store)
        clear_orphans = getattr(store, "clear_orphans", None)
        if clear_orphans is not None:
            clear_orphans()
        _warm(store)
        app.state.store = store
        app.state.read_limiter = anyio.CapacityLimiter(settings.read_threads)
        app.state.tile_cache = TileCache(int(settings.tile_cache_mb * 2**20))
        app.state.server_roots = errors.server_roots(
            getattr(store, "path", None),
            settings.upload_dir,
            settings.assets_dir,
            os.environ.get("LANDPLAN_RASTER_ROOT"),
        )
        app.state.jobs = JobRunner(
            workers=settings.job_workers,
            upload_dir=settings.upload_dir,
            files_ttl_s=settings.job_files_ttl_s,
            roots=app.state.server_roots,
        )
        try:
            yield
        finally:
            app.state.jobs.shutdown()

    app = FastAPI(
        title="landplan",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # self-hosted Swagger UI: api/routers/docs.py (works offline)
        redoc_url=None,
        openapi_tags=[
            {"name": "OGC API Features", "description": "Part 1 Core and Part 2 CRS by reference"},
            {
                "name": "Tiles",
                "description": "Mapbox Vector Tiles per collection; PNG raster tiles",
            },
            {
                "name": "Analysis",
                "description": "verdicts, boundaries, indicators, suitability jobs",
            },
            {"name": "Register", "description": "parcel lifecycle and transfers (出让) with audit"},
            {"name": "Uploads", "description": "layers into the workspace, validated"},
            {
                "name": "Maps",
                "description": "result map, planner, embeds, PNG/PDF (offline assets)",
            },
            {"name": "Operations", "description": "health"},
        ],
    )
    app.state.settings = settings
    errors.install(app)
    openapi.install(app)
    _routers(app)
    app.add_middleware(
        BodyLimit,
        default_mb=settings.max_body_mb,
        upload_mb=settings.max_upload_mb,
        timeout_s=settings.body_timeout_s,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["X-API-Key", "If-Match", "Content-Type", "Accept"],
            expose_headers=["ETag", "Location", "Content-Crs"],
        )
    app.add_middleware(logs.AccessLog)
    return app


def _warm(store) -> None:
    """Read the catalogue and one feature before serving: the first request does not pay for
    the layer catalogue and PROJ's transformer set-up (seconds on a busy machine)."""
    from contextlib import suppress

    from landplan.core.errors import LandplanError

    with suppress(LandplanError):  # /healthz reports an unreadable store
        spatial = [c for c in store.collections() if c.geometry_type and c.count]
        if spatial:
            store.features(spatial[0].id, limit=1)


def _routers(app: FastAPI) -> None:
    from landplan.api.routers import (
        analysis,
        features,
        health,
        maps,
        register,
        tables,
        tiles,
        tilesets,
        uploads,
    )

    for module in (features, tables, tiles, tilesets, analysis, register, uploads, maps, health):
        app.include_router(module.router)
    app.include_router(register.audit_router)
    from landplan.api.routers import sheets  # parcel condition sheets (PDF)

    app.include_router(sheets.router)
    from landplan.api.routers import basemaps, docs

    app.include_router(basemaps.router)
    app.include_router(docs.router)
    from landplan.api.routers import planning  # supply plan and project matching jobs

    app.include_router(planning.router)
    _assets(app)


def _assets(app: FastAPI) -> None:
    """Leaflet and plugins, installed from the npm registry by ``landplan assets install``."""
    from fastapi.staticfiles import StaticFiles
    from landplan.maps.assets import default_asset_dir

    folder = app.state.settings.assets_dir or default_asset_dir()
    app.mount("/assets", StaticFiles(directory=folder, check_dir=False), name="assets")

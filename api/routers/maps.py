"""Map pages (result map, planner, read-only embeds), static PNG/PDF, and the offline assets."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from landplan.api.auth import require
from landplan.api.deps import settings, store
from landplan.api.errors import BadParameterError, responses
from landplan.api.mapdata import check_embed_token, embed_token, map_layers, with_states
from starlette.background import BackgroundTask

router = APIRouter(prefix="/maps", tags=["Maps"])
READ = Depends(require("read"))
LangQ = Annotated[Literal["zh", "en"], Query(description="first language of labels")]
BasemapQ = Annotated[
    str | None,
    Query(
        max_length=40,
        description="osm | tianditu | gaode | none | a local basemap (GET /basemaps); default: "
        "the first local basemap, else none (offline) or osm. Offline (the default setting), "
        "online basemaps are refused. gaode shifts overlays to GCJ-02 for display",
    ),
]
StyleQ = Annotated[
    str,
    Query(
        max_length=60,
        description="colour parcels by verdict, state (lifecycle) or a result column "
        "(vector-tiled layers always use verdict)",
    ),
]
HTML = {200: {"content": {"text/html": {"schema": {"type": "string"}}}}}


def _page_options(request: Request, cfg, s, basemap: str | None) -> dict:
    from landplan.api.routers.basemaps import choose_basemap, local_basemaps

    local = local_basemaps(request, cfg, s)
    basemap = choose_basemap(basemap, cfg, local)
    return {
        "assets": cfg.assets,
        "assets_base_url": str(request.url_for("assets", path="")).rstrip("/"),
        "api_base": str(request.base_url).rstrip("/"),
        "basemap": basemap,
        "local_basemaps": local,
        "tk": cfg.tianditu_tk if basemap == "tianditu" else None,
    }


@router.get(
    "/result",
    response_class=HTMLResponse,
    dependencies=[READ],
    responses={**HTML, **responses(404)},
)
def result_map(
    request: Request,
    lang: LangQ = "zh",
    basemap: BasemapQ = None,
    style_by: StyleQ = "verdict",
    s=Depends(store),
    cfg=Depends(settings),
):
    """The result map: parcels by verdict, lifecycle state or any result column, with
    reasons, constraints, networks and overlays."""
    from landplan.maps import build_result_map

    layers = map_layers(s, threshold=cfg.map_tile_threshold)
    parcels = layers.pop("parcels")
    if style_by == "state":
        parcels = with_states(s, parcels)
    if layers["vector_tile_threshold"] is None and style_by not in parcels.columns:
        raise BadParameterError(
            f"no parcel column {style_by!r}; use verdict, state or a result column",
            parameter="style_by",
        )
    m = build_result_map(
        parcels,
        **layers,
        lang=lang,
        title=s.name,
        style_by=style_by if layers["vector_tile_threshold"] is None else "verdict",
        **_page_options(request, cfg, s, basemap),
    )
    return HTMLResponse(m.get_root().render())


@router.get(
    "/planner",
    response_class=HTMLResponse,
    dependencies=[READ],
    responses={**HTML, **responses(404)},
)
def planner(
    request: Request,
    lang: LangQ = "zh",
    basemap: BasemapQ = None,
    s=Depends(store),
    cfg=Depends(settings),
):
    """Draw a park boundary, see its evaluation, save and compare scenarios."""
    from landplan.maps.planner import build_planner_page

    layers = map_layers(s, threshold=cfg.map_tile_threshold)
    layers.pop("overlays")
    m = build_planner_page(
        layers.pop("parcels"),
        **layers,
        lang=lang,
        title=s.name,
        **_page_options(request, cfg, s, basemap),
    )
    return HTMLResponse(m.get_root().render())


@router.post(
    "/embed-tokens",
    response_model=dict,
    dependencies=[Depends(require("admin"))],
    responses=responses(401, 403),
)
def new_embed_token(
    request: Request, days: Annotated[int, Query(ge=1, le=3650)] = 365, cfg=Depends(settings)
):
    """A read-only token for an iframe embed of the result map (``/maps/embed?token=``)."""
    expires = int(time.time()) + days * 86400
    token = embed_token(cfg.embed_secret, expires)
    return {
        "token": token,
        "url": f"{request.url_for('embed')!s}?token={token}",
        "expires_at": expires,
    }


@router.get("/embed", response_class=HTMLResponse, responses={**HTML, **responses(403)})
def embed(
    request: Request,
    token: Annotated[str, Query(max_length=80)],
    lang: LangQ = "zh",
    s=Depends(store),
    cfg=Depends(settings),
):
    """The result map for an iframe: data inline, no key needed beyond the token."""
    from landplan.maps import build_result_map

    check_embed_token(cfg.embed_secret, token)
    layers = map_layers(s, inline_always=True)
    m = build_result_map(
        layers.pop("parcels"),
        **layers,
        lang=lang,
        title=s.name,
        **_page_options(request, cfg, s, None),
    )
    ancestors = " ".join(cfg.embed_origins) or "*"
    return HTMLResponse(
        m.get_root().render(), headers={"Content-Security-Policy": f"frame-ancestors {ancestors}"}
    )


@router.get(
    "/static.{fmt}",
    dependencies=[READ],
    responses={
        200: {
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        **responses(404),
    },
)
def static_map(
    fmt: Literal["png", "pdf"],
    lang: LangQ = "zh",
    dpi: Annotated[int, Query(ge=50, le=400)] = 150,
    s=Depends(store),
):
    """A report map (title, legend, scale bar, north arrow, CRS note) rendered by matplotlib."""
    from landplan.maps.export import export_static

    layers = map_layers(s, inline_always=True)
    folder = Path(tempfile.mkdtemp(prefix="landplan-static-"))
    out = export_static(
        {
            "parcels": layers["parcels"],
            "constraints": layers["constraints"],
            "networks": layers["networks"],
            "name": s.name,
        },
        folder / f"map.{fmt}",
        lang=lang,
        dpi=dpi,
    )
    media = "image/png" if fmt == "png" else "application/pdf"
    return FileResponse(
        out,
        media_type=media,
        filename=f"landplan-map.{fmt}",
        background=BackgroundTask(_cleanup, folder),
    )


def _cleanup(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)

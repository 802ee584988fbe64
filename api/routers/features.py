"""OGC API Features Part 1 (Core, GeoJSON) and Part 2 (CRS by reference)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from landplan.api import ogc
from landplan.api.auth import require
from landplan.api.deps import settings, store
from landplan.api.errors import BadParameterError, responses

from landplan.core.features import bbox_to_crs84, crs_uri, parse_crs_uri

router = APIRouter(tags=["OGC API Features"], dependencies=[Depends(require("read"))])
RESERVED = {"bbox", "bbox-crs", "crs", "limit", "offset", "f"}
FEATURE_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}},
}


class GeoJSONResponse(Response):
    media_type = ogc.GEOJSON


def _epsg(value: str | None, name: str) -> int | None:
    try:
        return parse_crs_uri(value)
    except ValueError as exc:
        raise BadParameterError(str(exc), parameter=name) from None


def _bbox(text: str | None, bbox_crs: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        if bbox_crs is not None:
            raise BadParameterError("bbox-crs is given without bbox", parameter="bbox-crs")
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadParameterError(
            f"bbox must be 4 comma-separated numbers, got {text!r}", parameter="bbox"
        ) from None
    if len(values) == 6:  # 3-D bbox: drop the heights
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(abs(v) < 1e9 for v in values):
        raise BadParameterError(
            "bbox must be minx,miny,maxx,maxy (4 finite numbers)", parameter="bbox"
        )
    epsg = _epsg(bbox_crs, "bbox-crs")
    if values[0] > values[2] or values[1] > values[3]:
        raise BadParameterError(
            "bbox lower corner must not exceed the upper corner", parameter="bbox"
        )
    if epsg is None and not (
        -180 <= values[0] <= 180
        and -90 <= values[1] <= 90
        and -180 <= values[2] <= 180
        and -90 <= values[3] <= 90
    ):
        raise BadParameterError("a CRS84 bbox must lie within ±180°, ±90°", parameter="bbox")
    try:
        return bbox_to_crs84(values, epsg)
    except Exception:
        raise BadParameterError(
            "bbox cannot be transformed from bbox-crs", parameter="bbox"
        ) from None


def _filters(request: Request, columns: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in request.query_params.multi_items():
        if key in RESERVED:
            continue
        if key not in columns:
            raise BadParameterError(
                f"unknown query parameter {key!r}; property filters must name a column: "
                f"{', '.join(sorted(columns))}",
                parameter=key,
            )
        out[key] = value
    return out


@router.get("/", summary="Landing page", response_model=dict, responses=responses(500))
def landing(request: Request, s=Depends(store)):
    return ogc.landing(request, s.name)


@router.get("/conformance", summary="Conformance classes", response_model=dict)
def conformance():
    return {"conformsTo": ogc.CONFORMANCE}


@router.get("/collections", summary="Feature collections", response_model=dict)
def collections(request: Request, s=Depends(store)):
    b = ogc.base(request)
    return {
        "links": [ogc.link(f"{b}/collections", "self", ogc.JSON)],
        "collections": [ogc.collection_doc(request, c) for c in s.collections()],
    }


@router.get(
    "/collections/{collection_id}",
    summary="One collection",
    response_model=dict,
    responses=responses(404),
)
def collection(collection_id: str, request: Request, s=Depends(store)):
    return ogc.collection_doc(request, s.collection(collection_id))


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection",
    response_class=GeoJSONResponse,
    responses={200: {"content": {ogc.GEOJSON: {"schema": FEATURE_SCHEMA}}}, **responses(400, 404)},
    description="Besides the parameters below, any column of the collection may be given as "
    "`column=value` for an exact-match filter (e.g. `verdict=blocked`).",
)
def items(
    collection_id: str,
    request: Request,
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in bbox-crs (CRS84 by default)", max_length=400),
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox (URI)", max_length=200)
    ] = None,
    crs: Annotated[
        str | None,
        Query(
            description="output CRS URI: CRS84 (default), EPSG:4490, GK zones EPSG:4513–4554",
            max_length=200,
        ),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="page size")] = None,
    offset: Annotated[int, Query(ge=0, le=100_000_000, description="features to skip")] = 0,
    f: Annotated[
        str | None, Query(description="format: json (GeoJSON) only", max_length=20)
    ] = None,
    s=Depends(store),
    cfg=Depends(settings),
):
    info = s.collection(collection_id)
    if f not in (None, "json", "geojson"):
        raise BadParameterError("only f=json (GeoJSON) is served", parameter="f")
    out_epsg = _epsg(crs, "crs")
    box = _bbox(bbox, bbox_crs)
    filters = _filters(request, info.columns)
    size = min(limit or cfg.default_items_limit, cfg.max_items_limit)
    page = s.features(
        collection_id, bbox=box, filters=filters, limit=size, offset=offset, out_epsg=out_epsg
    )
    links = _page_links(request, offset, size, len(page.features), page.number_matched)
    body = (
        '{"type":"FeatureCollection","features":['
        + ",".join(page.features)
        + f'],"numberMatched":{page.number_matched},"numberReturned":{len(page.features)},'
        + f'"timeStamp":"{datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}","links":'
        + JSONResponse(links).body.decode()
        + "}"
    )
    return GeoJSONResponse(body, headers={"Content-Crs": f"<{crs_uri(out_epsg)}>"})


def _page_links(
    request: Request, offset: int, size: int, returned: int, matched: int
) -> list[dict]:
    url = str(request.url).split("?")[0]
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]

    def at(o: int) -> str:
        return f"{url}?{urlencode([*params, ('limit', size), ('offset', o)])}"

    links = [ogc.link(at(offset), "self", ogc.GEOJSON, "this page")]
    if offset + returned < matched:
        links.append(ogc.link(at(offset + size), "next", ogc.GEOJSON, "next page"))
    if offset > 0:
        links.append(ogc.link(at(max(0, offset - size)), "prev", ogc.GEOJSON, "previous page"))
    links.append(ogc.link(url.rsplit("/items", 1)[0], "collection", ogc.JSON, "the collection"))
    return links


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    response_class=GeoJSONResponse,
    responses={200: {"content": {ogc.GEOJSON: {"schema": FEATURE_SCHEMA}}}, **responses(400, 404)},
)
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    crs: Annotated[str | None, Query(description="output CRS URI", max_length=200)] = None,
    f: Annotated[str | None, Query(description="format: json only", max_length=20)] = None,
    s=Depends(store),
):
    if f not in (None, "json", "geojson"):
        raise BadParameterError("only f=json (GeoJSON) is served", parameter="f")
    out_epsg = _epsg(crs, "crs")
    text = s.feature(collection_id, feature_id, out_epsg=out_epsg)
    b = f"{ogc.base(request)}/collections/{collection_id}"
    links = [ogc.link(str(request.url), "self", ogc.GEOJSON), ogc.link(b, "collection", ogc.JSON)]
    body = text[:-1] + ',"links":' + JSONResponse(links).body.decode() + "}"
    etag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return GeoJSONResponse(body, headers={"Content-Crs": f"<{crs_uri(out_epsg)}>", "ETag": etag})

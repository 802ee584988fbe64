"""OGC API Features Part 1 (Core, GeoJSON), Part 2 (CRS by reference), Part 3 (CQL2 filters).

Only layers with geometry are collections; attribute tables (park summary, reason counts,
validation findings) are plain JSON / CSV resources under ``/tables``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from landplan.api import ogc
from landplan.api.auth import require
from landplan.api.deps import CrsQuery, parse_bbox, read_pool, settings, store
from landplan.api.errors import BadParameterError, responses

from landplan.core.errors import NotFoundError
from landplan.core.features import crs_uri, parse_crs_uri
from landplan.store.cql2 import FilterError, datetime_filter, parse_filter
from landplan.store.protocol import CollectionInfo

router = APIRouter(tags=["OGC API Features"], dependencies=[Depends(require("read"))])
RESERVED = {
    "bbox",
    "bbox-crs",
    "crs",
    "limit",
    "offset",
    "f",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
}
#: the least page size a `next` link asks for (see items)
NEXT_PAGE_MIN = 1000
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


def _feature_collection(s, collection_id: str) -> CollectionInfo:
    """The collection, if it has geometry; a table answers 404 pointing at ``/tables``."""
    info = s.collection(collection_id)
    if info.geometry_type is None:
        raise NotFoundError(
            f"{collection_id!r} is an attribute table, not a feature collection: "
            f"read it at /tables/{collection_id} (JSON) or /tables/{collection_id}?f=csv"
        )
    return info


@router.get("/collections", summary="Feature collections", response_model=dict)
def collections(request: Request, s=Depends(store)):
    b = ogc.base(request)
    return {
        "links": [ogc.link(f"{b}/collections", "self", ogc.JSON)],
        "collections": [ogc.collection_doc(request, c) for c in s.collections() if c.geometry_type],
    }


@router.get(
    "/collections/{collection_id}",
    summary="One collection",
    response_model=dict,
    responses=responses(404),
)
def collection(collection_id: str, request: Request, s=Depends(store)):
    return ogc.collection_doc(request, _feature_collection(s, collection_id))


@router.get(
    "/collections/{collection_id}/queryables",
    summary="Queryable properties (JSON Schema)",
    response_class=Response,
    responses={
        200: {"content": {ogc.SCHEMA_JSON: {"schema": {"type": "object"}}}},
        **responses(404),
    },
)
def queryables(collection_id: str, request: Request, s=Depends(store)):
    info = _feature_collection(s, collection_id)
    doc = ogc.queryables_doc(request, info, ogc.reason_codes(s))
    return Response(JSONResponse(doc).body, media_type=ogc.SCHEMA_JSON)


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection",
    response_class=GeoJSONResponse,
    responses={200: {"content": {ogc.GEOJSON: {"schema": FEATURE_SCHEMA}}}, **responses(400, 404)},
    description="Besides the parameters below, any queryable of the collection may be given as "
    "`name=value` for an exact-match filter (e.g. `verdict=blocked`). `filter` takes CQL2 "
    "(OGC API Features Part 3): comparison, LIKE, IN, BETWEEN, IS NULL, CASEI, and "
    "S_INTERSECTS / S_WITHIN / S_CONTAINS / S_DISJOINT / S_TOUCHES / S_CROSSES / S_OVERLAPS / "
    "S_EQUALS on `geometry`; see `/collections/{collection_id}/queryables`. `datetime` filters "
    "on the collection's temporal property (`created_at` of scenarios); collections without "
    "one accept it and return every feature. A `limit` above the maximum is served at the "
    "maximum.",
)
@read_pool
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
    crs: CrsQuery = None,
    limit: Annotated[
        int | None,
        Query(ge=1, description="page size (default and maximum: see the schema)"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=100_000_000, description="features to skip")] = 0,
    datetime_: Annotated[
        str | None,
        Query(
            alias="datetime",
            description="RFC 3339 instant or interval (start/end, ../end, start/..)",
            max_length=100,
        ),
    ] = None,
    filter_: Annotated[
        str | None,
        Query(alias="filter", description="CQL2 filter (text or JSON)", max_length=100_000),
    ] = None,
    filter_lang: Annotated[
        str | None,
        Query(
            alias="filter-lang",
            description="cql2-text (default) or cql2-json (cql-text: the draft name, read as "
            "cql2-text)",
            max_length=20,
            json_schema_extra={"enum": ["cql2-text", "cql2-json", "cql-text"]},
        ),
    ] = None,
    filter_crs: Annotated[
        str | None,
        Query(
            alias="filter-crs",
            description="CRS of geometries in the filter (URI; CRS84 by default)",
            max_length=200,
        ),
    ] = None,
    f: Annotated[
        str | None, Query(description="format: json (GeoJSON) only", max_length=20)
    ] = None,
    s=Depends(store),
    cfg=Depends(settings),
):
    info = _feature_collection(s, collection_id)
    if f not in (None, "json", "geojson"):
        raise BadParameterError("only f=json (GeoJSON) is served", parameter="f")
    out_epsg = _epsg(crs, "crs")
    box = parse_bbox(bbox, bbox_crs)
    filters = _filters(request, info.columns)
    cql = _cql(info, filter_, filter_lang, filter_crs, datetime_)
    size = min(limit or cfg.default_items_limit, cfg.max_items_limit)
    page = s.features(
        collection_id,
        bbox=box,
        filters=filters,
        limit=size,
        offset=offset,
        out_epsg=out_epsg,
        cql=cql,
    )
    # the `next` page holds at least NEXT_PAGE_MIN features: clients that follow `next` links
    # but never read the API definition (GDAL 3.6 asks for 10) page efficiently
    next_size = min(max(size, NEXT_PAGE_MIN), cfg.max_items_limit)
    links = _page_links(
        request, offset, size, len(page.features), page.number_matched, next_size=next_size
    )
    body = (
        '{"type":"FeatureCollection","features":['
        + ",".join(page.features)
        + f'],"numberMatched":{page.number_matched},"numberReturned":{len(page.features)},'
        + f'"timeStamp":"{datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}","links":'
        + JSONResponse(links).body.decode()
        + "}"
    )
    headers = {"Content-Crs": f"<{crs_uri(out_epsg)}>", "Link": _link_header(request, links)}
    return GeoJSONResponse(body, headers=headers)


def _cql(info, text, lang, crs_text, when):
    """The CQL2 ``filter`` and the ``datetime`` parameter as one checked filter (or None)."""
    if crs_text is not None and text is None:
        raise BadParameterError("filter-crs is given without filter", parameter="filter-crs")
    epsg = _epsg(crs_text, "filter-crs") if crs_text is not None else None
    try:
        cql = None
        if text is not None:
            cql = parse_filter(
                text,
                lang=lang,
                columns=info.columns,
                geometry=info.geometry_type is not None,
                filter_epsg=epsg,
            )
        if when is not None:
            timed = datetime_filter(when, info.columns)
            cql = timed if cql is None else cql & timed
    except FilterError as exc:
        name = exc.where if exc.where in ("datetime", "filter-lang") else "filter"
        raise BadParameterError(str(exc), parameter=name, where=exc.where) from None
    return cql


def _link_header(request: Request, links: list[dict]) -> str:
    url = str(request.url).split("?")[0].rsplit("/items", 1)[0]
    out = [lk for lk in links if lk["rel"] in ("self", "next", "prev")]
    out.append(ogc.link(f"{url}/queryables", ogc.QUERYABLES_REL, ogc.SCHEMA_JSON, "queryables"))
    return ", ".join(f'<{lk["href"]}>; rel="{lk["rel"]}"; type="{lk["type"]}"' for lk in out)


def _page_links(
    request: Request,
    offset: int,
    size: int,
    returned: int,
    matched: int,
    *,
    next_size: int | None = None,
) -> list[dict]:
    url = str(request.url).split("?")[0]
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]

    def at(o: int, n: int = size) -> str:
        return f"{url}?{urlencode([*params, ('limit', n), ('offset', o)])}"

    links = [ogc.link(at(offset), "self", ogc.GEOJSON, "this page")]
    if offset + returned < matched:
        links.append(
            ogc.link(at(offset + size, next_size or size), "next", ogc.GEOJSON, "next page")
        )
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
@read_pool
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
    _feature_collection(s, collection_id)
    out_epsg = _epsg(crs, "crs")
    text = s.feature(collection_id, feature_id, out_epsg=out_epsg)
    b = f"{ogc.base(request)}/collections/{collection_id}"
    links = [ogc.link(str(request.url), "self", ogc.GEOJSON), ogc.link(b, "collection", ogc.JSON)]
    body = text[:-1] + ',"links":' + JSONResponse(links).body.decode() + "}"
    etag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return GeoJSONResponse(body, headers={"Content-Crs": f"<{crs_uri(out_epsg)}>", "ETag": etag})

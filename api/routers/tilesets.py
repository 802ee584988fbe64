"""Tiles metadata (OGC API Tiles): tile matrix sets, tilesets, TileJSON 3.0, a MapLibre style.

Tiles are cut on WebMercatorQuad only (vector: ``/collections/{id}/tiles/{z}/{x}/{y}``, the
OGC form ``.../tiles/WebMercatorQuad/{z}/{y}/{x}`` too; raster PNG: ``/rasters/{name}/...``).
``/tileMatrixSets`` also defines CGCS2000Quad (EPSG:4490, 2×1 tiles at level 0, the grid of
天地图's ``_c`` layers) built with morecantile, for clients that align other data to it; no
tiles are served on it.  Every document links to the next one, so MapLibre, QGIS or
OpenLayers add a layer from one URL (the TileJSON or the style).
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from landplan.api import ogc
from landplan.api.auth import require
from landplan.api.deps import store
from landplan.api.errors import responses
from landplan.api.rastertiles import rasters_list

from landplan.core.errors import NotFoundError

router = APIRouter(tags=["Tiles"], dependencies=[Depends(require("read"))])
MVT = "application/vnd.mapbox-vector-tile"
TMS_REL = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
WMQ = "WebMercatorQuad"
VECTOR_ZOOM = (0, 22)
RASTER_ZOOM = (8, 18)
#: verdict → fill colour of the parcels style (green / amber / red)
VERDICT_COLOURS = {
    "transferable": "#1a9850",
    "transferable_with_warnings": "#fdae61",
    "blocked": "#d73027",
}


@lru_cache(maxsize=1)
def _matrix_sets() -> dict:
    import morecantile
    from pyproj import CRS

    wmq = morecantile.tms.get(WMQ)
    cgcs = morecantile.TileMatrixSet.custom(
        [-180.0, -90.0, 180.0, 90.0],
        CRS.from_epsg(4490),
        extent_crs=CRS.from_epsg(4490),
        matrix_scale=[2, 1],
        minzoom=0,
        maxzoom=20,
        id="CGCS2000Quad",
        title="CGCS2000 经纬度四叉树 CGCS2000 geographic quad (天地图 _c grid)",
    )
    return {m.id: m for m in (wmq, cgcs)}


def _tms_doc(tms) -> dict:
    doc = tms.model_dump(mode="json", exclude_none=True, by_alias=True)
    crs = doc.get("crs")
    if isinstance(crs, dict) and "uri" in crs:
        doc["crs"] = crs["uri"]
    return doc


def _tms_uri(tms_id: str) -> str:
    doc = _tms_doc(_matrix_sets()[tms_id])
    return doc.get("uri") or f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{tms_id}"


@router.get("/tileMatrixSets", summary="Tile matrix sets", response_model=dict)
def tile_matrix_sets(request: Request):
    b = ogc.base(request)
    out = []
    for tms_id, tms in _matrix_sets().items():
        doc = _tms_doc(tms)
        out.append(
            {
                "id": tms_id,
                "title": doc.get("title", tms_id),
                "uri": _tms_uri(tms_id),
                "crs": doc["crs"],
                "links": [ogc.link(f"{b}/tileMatrixSets/{tms_id}", "self", ogc.JSON, tms_id)],
            }
        )
    return {
        "links": [ogc.link(f"{b}/tileMatrixSets", "self", ogc.JSON)],
        "tileMatrixSets": out,
    }


@router.get(
    "/tileMatrixSets/{tms_id}",
    summary="One tile matrix set (OGC TMS 2.0 JSON)",
    response_model=dict,
    responses=responses(404),
)
def tile_matrix_set(tms_id: str):
    sets = _matrix_sets()
    if tms_id not in sets:
        raise NotFoundError(f"no tile matrix set {tms_id!r}; there are {', '.join(sets)}")
    return _tms_doc(sets[tms_id])


def _vector_collection(s, collection_id: str):
    info = s.collection(collection_id)
    if info.geometry_type is None:
        raise NotFoundError(f"{collection_id!r} is an attribute table and has no tiles")
    return info


def _bbox(info) -> list[float]:
    return list(info.bbox) if info.bbox else [-180.0, -85.0511287798066, 180.0, 85.0511287798066]


def _vector_tileset(request: Request, info) -> dict:
    b = f"{ogc.base(request)}/collections/{info.id}/tiles"
    lo, hi = VECTOR_ZOOM
    box = _bbox(info)
    fields = dict(info.columns)
    return {
        "title": f"{ogc.title_of(info)} · {WMQ}",
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": _tms_uri(WMQ),
        "links": [
            ogc.link(f"{b}/{WMQ}", "self", ogc.JSON, "this tileset"),
            ogc.link(f"{ogc.base(request)}/tileMatrixSets/{WMQ}", TMS_REL, ogc.JSON, WMQ),
            dict(
                ogc.link(f"{b}/{WMQ}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "item", MVT, "tiles"),
                templated=True,
            ),
            ogc.link(f"{b}/{WMQ}/tilejson.json", "describedby", ogc.JSON, "TileJSON 3.0"),
        ],
        "tileMatrixSetLimits": [
            {
                "tileMatrix": str(z),
                "minTileRow": 0,
                "maxTileRow": 2**z - 1,
                "minTileCol": 0,
                "maxTileCol": 2**z - 1,
            }
            for z in range(lo, hi + 1)
        ],
        "boundingBox": {"lowerLeft": box[:2], "upperRight": box[2:], "crs": ogc.CRS84_URI},
        "centerPoint": {
            "coordinates": [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2],
            "tileMatrix": "14",
            "crs": ogc.CRS84_URI,
        },
        "layers": [
            {
                "id": info.id,
                "title": ogc.title_of(info),
                "dataType": "vector",
                "geometryDimension": 1 if "line" in (info.geometry_type or "").lower() else 2,
                "minTileMatrix": str(lo),
                "maxTileMatrix": str(hi),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {k: {"type": v} for k, v in fields.items() if k in _tile_cols()},
                },
            }
        ],
    }


def _tile_cols() -> set[str]:
    from landplan.core.features import TILE_COLUMNS

    return set(TILE_COLUMNS)


@router.get(
    "/collections/{collection_id}/tiles",
    summary="Vector tilesets of a collection",
    response_model=dict,
    responses=responses(404),
)
def vector_tilesets(collection_id: str, request: Request, s=Depends(store)):
    info = _vector_collection(s, collection_id)
    doc = _vector_tileset(request, info)
    entry = {k: doc[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI", "links")}
    b = f"{ogc.base(request)}/collections/{collection_id}/tiles"
    return {"links": [ogc.link(b, "self", ogc.JSON)], "tilesets": [entry]}


@router.get(
    "/collections/{collection_id}/tiles/WebMercatorQuad",
    summary="Vector tileset metadata (WebMercatorQuad)",
    response_model=dict,
    responses=responses(404),
)
def vector_tileset(collection_id: str, request: Request, s=Depends(store)):
    return _vector_tileset(request, _vector_collection(s, collection_id))


def _tilejson(name: str, tiles: str, box: list[float], zoom: tuple[int, int], **extra) -> dict:
    centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(zoom[0], min(14, zoom[1]))]
    return {
        "tilejson": "3.0.0",
        "name": name,
        "scheme": "xyz",
        "tiles": [tiles],
        "minzoom": zoom[0],
        "maxzoom": zoom[1],
        "bounds": box,
        "center": centre,
        **extra,
    }


@router.get(
    "/collections/{collection_id}/tiles/WebMercatorQuad/tilejson.json",
    summary="TileJSON 3.0 of a collection's vector tiles",
    response_model=dict,
    responses=responses(404),
)
def vector_tilejson(collection_id: str, request: Request, s=Depends(store)):
    info = _vector_collection(s, collection_id)
    tiles = f"{ogc.base(request)}/collections/{collection_id}/tiles/{{z}}/{{x}}/{{y}}"
    fields = {
        k: ("Number" if v in ("number", "integer") else "Boolean" if v == "boolean" else "String")
        for k, v in info.columns.items()
        if k in _tile_cols()
    }
    layer = {
        "id": collection_id,
        "description": ogc.title_of(info),
        "minzoom": VECTOR_ZOOM[0],
        "maxzoom": VECTOR_ZOOM[1],
        "fields": fields,
    }
    return _tilejson(ogc.title_of(info), tiles, _bbox(info), VECTOR_ZOOM, vector_layers=[layer])


def _raster(s, name: str) -> dict:
    for r in rasters_list(s):
        if r["name"] == name:
            return r
    raise NotFoundError(f"no raster {name!r}; see /rasters")


def _raster_bbox(s, name: str) -> list[float]:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(s.raster_path(name)) as src:
        return list(transform_bounds(src.crs, "OGC:CRS84", *src.bounds, densify_pts=21))


@router.get(
    "/rasters/{name}/tiles",
    summary="Raster tilesets (PNG, WebMercatorQuad)",
    response_model=dict,
    responses=responses(404),
)
def raster_tilesets(name: str, request: Request, s=Depends(store)):
    _raster(s, name)
    b = f"{ogc.base(request)}/rasters/{name}/tiles"
    box = _raster_bbox(s, name)
    lo, hi = RASTER_ZOOM
    tileset = {
        "title": f"{name} · {WMQ}",
        "dataType": "map",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": _tms_uri(WMQ),
        "links": [
            ogc.link(f"{b}/{WMQ}/tilejson.json", "describedby", ogc.JSON, "TileJSON 3.0"),
            ogc.link(f"{ogc.base(request)}/tileMatrixSets/{WMQ}", TMS_REL, ogc.JSON, WMQ),
            dict(
                ogc.link(f"{b}/{{z}}/{{x}}/{{y}}.png", "item", "image/png", "tiles"), templated=True
            ),
        ],
        "boundingBox": {"lowerLeft": box[:2], "upperRight": box[2:], "crs": ogc.CRS84_URI},
        "layers": [
            {"id": name, "dataType": "map", "minTileMatrix": str(lo), "maxTileMatrix": str(hi)}
        ],
    }
    return {"links": [ogc.link(b, "self", ogc.JSON)], "tilesets": [tileset]}


@router.get(
    "/rasters/{name}/tiles/WebMercatorQuad/tilejson.json",
    summary="TileJSON 3.0 of a raster's PNG tiles",
    response_model=dict,
    responses=responses(404),
)
def raster_tilejson(name: str, request: Request, s=Depends(store)):
    _raster(s, name)
    tiles = f"{ogc.base(request)}/rasters/{name}/tiles/{{z}}/{{x}}/{{y}}.png"
    return _tilejson(name, tiles, _raster_bbox(s, name), RASTER_ZOOM)


@router.get(
    "/styles/parcels-by-verdict",
    summary="MapLibre style: parcels coloured by verdict",
    response_model=dict,
    responses=responses(404),
)
def parcels_style(request: Request, s=Depends(store)):
    collection_id = "result_parcels"
    info = _vector_collection(s, collection_id)
    url = f"{ogc.base(request)}/collections/{collection_id}/tiles/{WMQ}/tilejson.json"
    box = _bbox(info)
    colour = ["match", ["get", "verdict"]]
    for verdict, hex_colour in VERDICT_COLOURS.items():
        colour += [verdict, hex_colour]
    colour.append("#969696")
    return JSONResponse(
        {
            "version": 8,
            "name": "地块出让判定 Parcels by verdict",
            "center": [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2],
            "zoom": 13,
            "sources": {"parcels": {"type": "vector", "url": url}},
            "layers": [
                {
                    "id": "background",
                    "type": "background",
                    "paint": {"background-color": "#f8f8f8"},
                },
                {
                    "id": "parcels-fill",
                    "type": "fill",
                    "source": "parcels",
                    "source-layer": collection_id,
                    "paint": {"fill-color": colour, "fill-opacity": 0.7},
                },
                {
                    "id": "parcels-line",
                    "type": "line",
                    "source": "parcels",
                    "source-layer": collection_id,
                    "paint": {"line-color": "#333333", "line-width": 0.5},
                },
            ],
            "metadata": {"legend": dict(VERDICT_COLOURS)},
        }
    )

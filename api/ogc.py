"""OGC API Features documents: landing page, conformance, collection descriptions, links."""

from __future__ import annotations

from fastapi import Request

from landplan.core.features import CRS84_URI, crs_uri, served_crs_uris
from landplan.store.protocol import CollectionInfo

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
TITLES = {
    "parcels": "地块（输入） Parcels (input)",
    "result_parcels": "地块出让判定 Parcel transfer verdicts",
    "networks": "基础设施管网 Infrastructure networks",
    "park_summary": "园区汇总 Park summary",
    "reason_counts": "不可出让原因统计 Reason counts",
    "validation_issues": "数据检查 Validation findings",
    "scenarios": "园区边界方案 Boundary scenarios",
}


def base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(request: Request, name: str) -> dict:
    b = base(request)
    return {
        "title": f"landplan · {name}",
        "description": "工业园区用地规划服务 Industrial-park land planning service (OGC API Features)",
        "links": [
            link(f"{b}/", "self", JSON, "this document"),
            link(f"{b}/openapi.json", "service-desc", OPENAPI, "API definition"),
            link(f"{b}/docs", "service-doc", "text/html", "API documentation"),
            link(f"{b}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{b}/collections", "data", JSON, "collections"),
        ],
    }


def title_of(info: CollectionInfo) -> str:
    if info.id in TITLES:
        return TITLES[info.id]
    if info.id.startswith("constraint_"):
        return f"约束图层 Constraint layer: {info.id.removeprefix('constraint_')}"
    return info.title


def collection_doc(request: Request, info: CollectionInfo) -> dict:
    b = f"{base(request)}/collections/{info.id}"
    doc = {
        "id": info.id,
        "title": title_of(info),
        "itemType": "feature",
        "links": [
            link(b, "self", JSON, "this collection"),
            link(f"{b}/items", "items", GEOJSON, "items"),
        ],
        "crs": served_crs_uris() if info.geometry_type else [CRS84_URI],
        "storageCrs": crs_uri(info.storage_epsg) if info.storage_epsg else CRS84_URI,
    }
    if info.geometry_type:
        doc["links"].append(
            dict(
                link(
                    f"{b}/tiles/{{z}}/{{x}}/{{y}}",
                    "tiles",
                    "application/vnd.mapbox-vector-tile",
                    "vector tiles (WebMercatorQuad)",
                ),
                templated=True,
            )
        )
    if info.bbox:
        doc["extent"] = {"spatial": {"bbox": [list(info.bbox)], "crs": CRS84_URI}}
    return doc

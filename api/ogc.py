"""OGC API documents: landing page, conformance, collection descriptions, queryables, links."""

from __future__ import annotations

import re

from fastapi import Request

from landplan.core.features import CRS84_URI, crs_uri, served_crs_uris
from landplan.store import cql2
from landplan.store.protocol import CollectionInfo

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
OPENAPI_31 = "application/vnd.oai.openapi+json;version=3.1"
SCHEMA_JSON = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    *cql2.CONFORMANCE,
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
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
            link(f"{b}/api", "service-desc", OPENAPI, "API definition (OpenAPI 3.0)"),
            link(f"{b}/openapi.json", "alternate", OPENAPI_31, "API definition (OpenAPI 3.1)"),
            link(f"{b}/docs", "service-doc", "text/html", "API documentation"),
            link(f"{b}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{b}/collections", "data", JSON, "collections"),
            link(f"{b}/tables", "tables", JSON, "attribute tables (JSON / CSV)"),
            link(
                f"{b}/tileMatrixSets",
                "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                JSON,
                "tile matrix sets",
            ),
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
            link(f"{b}/queryables", QUERYABLES_REL, SCHEMA_JSON, "queryables"),
            link(f"{b}/queryables", "queryables", SCHEMA_JSON, "queryables"),
        ],
        "crs": served_crs_uris() if info.geometry_type else [CRS84_URI],
        "storageCrs": crs_uri(info.storage_epsg) if info.storage_epsg else CRS84_URI,
    }
    if info.geometry_type:
        doc["links"].append(
            link(
                f"{b}/tiles",
                "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                JSON,
                "vector tilesets",
            )
        )
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


# --------------------------------------------------------------------------- queryables

#: column-name suffix → unit written into the queryable's description
UNITS = (
    ("_mu", "亩 mu (1 mu = 666.67 m²)"),
    ("_ha", "公顷 hectares"),
    ("_m2", "平方米 m²"),
    ("_m3", "立方米 m³"),
    ("_m", "米 metres"),
    ("_deg", "度 degrees"),
    ("_wan_per_mu", "万元/亩 10,000 CNY per mu"),
    ("_wan_per_ha", "万元/公顷 10,000 CNY per hectare"),
    ("_wan", "万元 10,000 CNY"),
    ("_pct", "百分比 percent"),
    ("_share", "比例 share 0–1"),
)
VERDICTS = ["transferable", "transferable_with_warnings", "blocked"]
_GEOMETRY_FORMATS = {
    "point": "geometry-point",
    "multipoint": "geometry-multipoint",
    "linestring": "geometry-linestring",
    "multilinestring": "geometry-multilinestring",
    "polygon": "geometry-polygon",
    "multipolygon": "geometry-multipolygon",
}


def unit_of(name: str) -> str | None:
    for suffix, unit in UNITS:
        if name.endswith(suffix):
            return unit
    return None


def reason_codes(store) -> list[str]:
    """Every reason code the workspace's policy can give (constraints, networks, land)."""
    from landplan.store.protocol import store_policy

    codes = {"NO_AVAILABLE_LAND"}
    try:
        policy = store_policy(store)
        codes |= {c.code for c in policy.constraints.values()}
        codes |= {f"NETWORK_MISSING:{k}" for k in policy.networks}
    except Exception:
        pass
    try:
        table = store.read_layer("reason_counts")
        codes |= {str(c) for c in table["code"].dropna()}
    except Exception:
        pass
    return sorted(codes)


def queryables_doc(request, info: CollectionInfo, codes: list[str]) -> dict:
    """The collection's queryables as a JSON Schema (draft 2020-12), per OGC API Features Part 3."""
    url = f"{base(request)}/collections/{info.id}/queryables"
    props: dict[str, dict] = {}
    if info.geometry_type:
        fmt = _GEOMETRY_FORMATS.get(info.geometry_type.lower(), "geometry-any")
        props[cql2.GEOMETRY] = {
            "title": "几何 Geometry",
            "format": fmt,
            "x-ogc-role": "primary-geometry",
            "description": "the feature geometry; use it in S_INTERSECTS, S_WITHIN, ... "
            "(coordinates in CRS84 lon/lat, or in filter-crs)",
        }
    for name, kind in info.columns.items():
        entry: dict = {"title": name, "type": kind}
        unit = unit_of(name)
        if unit:
            entry["description"] = f"unit 单位: {unit}"
            entry["x-ogc-unit"] = unit.split(" ", 1)[1]
        if name == "verdict":
            entry["enum"] = VERDICTS
            entry["description"] = "出让判定 transfer verdict"
        elif name == "reason_codes" and codes:
            alt = "|".join(re.escape(c) for c in codes)
            entry["pattern"] = f"^(({alt})(;({alt}))*)?$"
            entry["description"] = (
                "不可出让/提示原因代码，分号分隔 reason codes separated by ';' "
                "(test one with LIKE '%CODE%'): " + ", ".join(codes)
            )
            entry["x-reason-codes"] = codes
        elif name == "transferable":
            entry["description"] = "可出让 transferable (verdict is not blocked)"
        if name == info.id_column:
            entry["x-ogc-role"] = "id"
        props[name] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": title_of(info),
        "properties": props,
        "additionalProperties": False,
    }

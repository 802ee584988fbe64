"""The OpenAPI documents: every operation lists its problem+json errors, none are left implicit.

FastAPI writes OpenAPI 3.1 (``/openapi.json``, used by ``/docs``).  OGC API Features
conformance class *OpenAPI 3.0* and clients such as GDAL's OAPIF driver read 3.0, so the
landing page's ``service-desc`` link points at ``/api``: the same document converted to 3.0
(nullable instead of ``type: null``, ``example`` instead of ``examples``, boolean
``exclusiveMinimum``).  The items ``limit`` parameter states its default and maximum there.
"""

from __future__ import annotations

import copy

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from landplan.api.errors import PROBLEM

#: errors any operation can answer (bad parameters, unknown key, body too large, bad data, bug)
COMMON = {
    "400": "Bad request",
    "401": "Unauthorized",
    "413": "Payload too large",
    "422": "Unprocessable data",
    "500": "Internal server error",
}
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for schema in ("HTTPValidationError", "ValidationError"):
            doc["components"]["schemas"].pop(schema, None)
        ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for item in doc.get("paths", {}).values():
            for op in item.values():
                responses = op.setdefault("responses", {})
                for code, text in COMMON.items():
                    responses.setdefault(code, {"description": text})
                for code, resp in responses.items():
                    if code[0] in "45":
                        resp["content"] = {PROBLEM: ref}
        _limit_schema(doc, app)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi
    cache: dict = {}

    def api30(request: Request):
        store = request.app.state.store
        token = store.token()
        if cache.get("token") != token:
            doc = to_openapi30(app.openapi())
            add_collection_paths(doc, [c for c in store.collections() if c.geometry_type])
            cache.update(doc=doc, token=token)
        return JSONResponse(cache["doc"], media_type=OPENAPI_30)

    app.add_api_route("/api", api30, methods=["GET"], include_in_schema=False)


OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"


def _limit_schema(doc: dict, app: FastAPI) -> None:
    """``limit`` of the items operation: integer, minimum 1, the server's default and maximum
    (a larger value is served at the maximum, as OGC API Features Part 1 requires)."""
    cfg = getattr(app.state, "settings", None)
    if cfg is None:
        return
    op = doc.get("paths", {}).get("/collections/{collection_id}/items", {}).get("get")
    for param in (op or {}).get("parameters", []):
        if param.get("name") == "limit":
            param["schema"] = {
                "type": "integer",
                "minimum": 1,
                "maximum": cfg.max_items_limit,
                "default": cfg.default_items_limit,
            }
            param["style"], param["explode"] = "form", False
            param["description"] = (
                f"page size: default {cfg.default_items_limit}, maximum {cfg.max_items_limit} "
                "(a larger limit is served at the maximum)"
            )


ITEMS = "/collections/{collectionId}/items"
#: bbox and datetime as OGC API Features Part 1 defines them (comma-separated forms)
OGC_PARAMETERS = {
    "bbox": {
        "style": "form",
        "explode": False,
        "required": False,
        "schema": {
            "type": "array",
            "minItems": 4,
            "maxItems": 6,
            "items": {"type": "number"},
        },
    },
    "datetime": {
        "style": "form",
        "explode": False,
        "required": False,
        "schema": {"type": "string"},
    },
}


def add_collection_paths(doc: dict, collections) -> None:
    """``/collections/<id>/items`` for every collection, listing its queryables as query
    parameters (``verdict=blocked``; OGC API Features Part 1 permission 5 and Part 3), so
    clients read which properties they may filter on from the definition."""
    generic = doc.get("paths", {}).get(ITEMS, {}).get("get")
    if generic is None:
        return
    for info in collections:
        op = copy.deepcopy(generic)
        op["operationId"] = f"items_{info.id}"
        op["summary"] = f"Features of {info.id}"
        params = [p for p in op.get("parameters", []) if p.get("in") != "path"]
        taken = {p["name"] for p in params}
        for name, kind in info.columns.items():
            if name in taken:
                continue
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "description": f"exact-match filter on {name}",
                    "schema": {"type": kind},
                }
            )
        op["parameters"] = params
        doc["paths"][f"/collections/{info.id}/items"] = {"get": op}


def to_openapi30(doc: dict) -> dict:
    """An OpenAPI 3.1 document (as FastAPI writes it) → OpenAPI 3.0.3."""
    out = _schema30(copy.deepcopy(doc))
    out["paths"] = {_ogc_path(k): _ogc_params(v) for k, v in out.get("paths", {}).items()}
    for param in out["paths"].get(ITEMS, {}).get("get", {}).get("parameters", []):
        if param.get("name") in OGC_PARAMETERS:
            description = param.get("description") or param.get("schema", {}).get("description")
            param.update(copy.deepcopy(OGC_PARAMETERS[param["name"]]))
            if description:
                param["description"] = description
    out["openapi"] = "3.0.3"
    out.pop("jsonSchemaDialect", None)
    out.pop("webhooks", None)
    return out


def _ogc_path(path: str) -> str:
    """``{collection_id}`` → ``{collectionId}``: the parameter name of the OGC API Features
    specification, which clients such as GDAL's OAPIF driver look up in the definition."""
    return path.replace("{collection_id}", "{collectionId}").replace("{feature_id}", "{featureId}")


def _ogc_params(item: dict) -> dict:
    for op in item.values():
        for param in op.get("parameters", []) if isinstance(op, dict) else []:
            if param.get("in") == "path":
                param["name"] = {"collection_id": "collectionId", "feature_id": "featureId"}.get(
                    param["name"], param["name"]
                )
    return item


#: maps whose keys are names (properties, paths, components), not schema keywords
_NAME_MAPS = {"properties", "schemas", "paths", "responses", "content", "headers", "parameters"}
#: JSON Schema keywords OpenAPI 3.0 does not have
_NOT_30 = (
    "$schema", "$id", "$defs", "$anchor", "$comment", "contentMediaType", "contentEncoding",
    "prefixItems", "propertyNames", "contains", "minContains", "maxContains",
    "dependentRequired", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems",
    "patternProperties", "if", "then", "else",
)  # fmt: skip


def _schema30(node, names: bool = False):
    if isinstance(node, list):
        return [_schema30(n) for n in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {k: _schema30(v) for k, v in node.items()}
    node = {k: _schema30(v, names=k in _NAME_MAPS) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and any(o == {"type": "null"} for o in options):
            rest = [o for o in options if o != {"type": "null"}]
            if len(rest) == 1:
                node.pop(key)
                node.update({k: v for k, v in rest[0].items() if k not in node})
            else:
                node[key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else types
        if isinstance(node["type"], list):
            node.pop("type")
            node["anyOf"] = [{"type": t} for t in types]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node.pop(bound)
            node[bound] = True
    if "examples" in node and isinstance(node["examples"], list):
        examples = node.pop("examples")
        if examples and "schema" not in node and "in" not in node:
            node["example"] = examples[0]
    for key in _NOT_30:
        node.pop(key, None)
    if "$ref" in node and len(node) > 1:
        ref = node.pop("$ref")
        node = {"allOf": [{"$ref": ref}], **node}
    return node

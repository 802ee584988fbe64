"""The OpenAPI document: every operation lists its problem+json errors, none are left implicit."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
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
        app.openapi_schema = doc
        return doc

    app.openapi = openapi

"""Attribute tables (park summary, reason counts, validation findings) as plain JSON or CSV.

They have no geometry, so they are not OGC feature collections: ``/tables`` lists them and
``/tables/{name}`` answers ``{"name", "columns", "rows"}`` (``?f=csv`` for UTF-8 CSV with BOM,
which Excel opens with Chinese intact).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from landplan.api import ogc
from landplan.api.auth import require
from landplan.api.deps import store
from landplan.api.errors import responses

from landplan.core.errors import NotFoundError

router = APIRouter(tags=["OGC API Features"], dependencies=[Depends(require("read"))])
TABLE_SCHEMA = {
    "type": "object",
    "required": ["name", "columns", "rows"],
    "properties": {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "columns": {"type": "object", "additionalProperties": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "object"}},
    },
}


def _tables(s) -> list:
    return [c for c in s.collections() if c.geometry_type is None]


@router.get("/tables", summary="Attribute tables (not feature collections)", response_model=dict)
def tables(request: Request, s=Depends(store)):
    b = ogc.base(request)
    return {
        "links": [ogc.link(f"{b}/tables", "self", ogc.JSON)],
        "tables": [
            {
                "name": t.id,
                "title": ogc.title_of(t),
                "rows": t.count,
                "columns": t.columns,
                "links": [
                    ogc.link(f"{b}/tables/{t.id}", "item", ogc.JSON, "JSON"),
                    ogc.link(f"{b}/tables/{t.id}?f=csv", "alternate", "text/csv", "CSV"),
                ],
            }
            for t in _tables(s)
        ],
    }


@router.get(
    "/tables/{name}",
    summary="One attribute table as JSON rows or CSV",
    response_class=Response,
    responses={
        200: {
            "content": {
                ogc.JSON: {"schema": TABLE_SCHEMA},
                "text/csv": {"schema": {"type": "string"}},
            }
        },
        **responses(400, 404),
    },
)
def table(
    name: str,
    f: Annotated[Literal["json", "csv"] | None, Query(description="json (default) or csv")] = None,
    s=Depends(store),
):
    info = s.collection(name)
    if info.geometry_type is not None:
        raise NotFoundError(
            f"{name!r} has geometry: it is a feature collection at /collections/{name}/items"
        )
    frame = s.read_layer(name)
    frame = frame.drop(columns=["geometry", "fid"], errors="ignore")
    if f == "csv":
        text = frame.to_csv(index=False, lineterminator="\r\n")
        return Response(
            ("\ufeff" + text).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    rows = json.loads(frame.to_json(orient="records", date_format="iso", double_precision=15))
    body = {"name": name, "title": ogc.title_of(info), "columns": info.columns, "rows": rows}
    return JSONResponse(body)

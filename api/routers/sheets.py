"""``GET /parcels/{parcel_id}/sheet.pdf``: a parcel's condition sheet (出让条件表), one A4 PDF."""

from __future__ import annotations

import threading
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from landplan.api.auth import require
from landplan.api.deps import store
from landplan.api.errors import responses

from landplan.core.errors import ConflictError

router = APIRouter(tags=["Maps"], dependencies=[Depends(require("read"))])
#: matplotlib's rc settings are process-wide: one sheet is drawn at a time
_LOCK = threading.Lock()
_CACHE: dict[tuple, object] = {}


class SheetUnavailableError(ConflictError):
    """The service's store is not a workspace directory (sheets read its files)."""


def _context(s, industry: str | None, table: str | None):
    from landplan.maps.sheets import load_sheet_context

    path = getattr(s, "path", None)
    if path is None:
        raise SheetUnavailableError(
            "parcel sheets need a workspace directory store; this service runs on PostGIS "
            "(pull the workspace with `landplan workspace pull` and run `landplan sheet`)"
        )
    token = s.token() if hasattr(s, "token") else ""
    key = (str(path), token, industry, table)
    if key not in _CACHE:
        _CACHE.clear()  # one workspace version at a time
        _CACHE[key] = load_sheet_context(path, industry=industry, table=table)
    return _CACHE[key]


@router.get(
    "/parcels/{parcel_id}/sheet.pdf",
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **responses(404, 409),
    },
)
def parcel_sheet(
    parcel_id: str,
    lang: Annotated[Literal["zh", "en"], Query(description="first language")] = "zh",
    industry: Annotated[
        str | None, Query(description="intended industry (GB/T 4754 code)", max_length=16)
    ] = None,
    table: Annotated[
        str | None, Query(description="shipped indicator table name", pattern=r"^[a-z0-9-]+$")
    ] = None,
    s=Depends(store),
) -> Response:
    """One parcel's A4 condition sheet: areas, map inset, verdict and reasons, indicators."""
    from landplan.maps.sheets import sheet_filename, sheet_pdf

    with _LOCK:
        ctx = _context(s, industry, table)
        data = sheet_pdf(ctx, parcel_id, lang=lang)
    name = sheet_filename(parcel_id)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"inline; filename=\"sheet.pdf\"; filename*=UTF-8''{quote(name)}"
        },
    )

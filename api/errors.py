"""One table from error types to HTTP status codes, answered as ``application/problem+json``.

Internal error text is never sent: landplan's own errors carry messages written for users;
anything else becomes a 500 with a correlation id that is also logged.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from landplan.core import errors as lp

PROBLEM = "application/problem+json"
log = logging.getLogger("landplan.api")


class ApiError(Exception):
    """An error raised by the API layer itself (auth, limits, bad parameters)."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, /, **extra) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class UnauthorizedError(ApiError):
    status, title = 401, "Unauthorized"


class ForbiddenError(ApiError):
    status, title = 403, "Forbidden"


class PreconditionRequiredError(ApiError):
    status, title = 428, "Precondition required"


class BadParameterError(ApiError):
    status, title = 400, "Bad parameter"


#: landplan error → (status, title); the first matching base class wins
ERROR_TABLE: list[tuple[type[Exception], int, str]] = [
    (lp.NotFoundError, 404, "Not found"),
    (lp.ConflictError, 409, "Conflict"),
    (lp.StateError, 409, "State transition not allowed"),
    (lp.UploadError, 422, "Upload refused"),
    (lp.CRSError, 422, "CRS problem"),
    (lp.EncodingError, 422, "Encoding problem"),
    (lp.GeometryError, 422, "Geometry problem"),
    (lp.EmptyLayerError, 422, "Empty layer"),
    (lp.DuplicateIdError, 422, "Duplicate ids"),
    (lp.RegisterError, 422, "Register entry refused"),
    (lp.InputTableError, 422, "Input table problem"),
    (lp.IndicatorTableError, 422, "Indicator table problem"),
    (lp.PolicyError, 422, "Policy problem"),
    (lp.RegionError, 422, "Boundary problem"),
    (lp.RasterError, 422, "Raster problem"),
    (lp.DataSourceError, 422, "Unreadable data"),
    (lp.WorkspaceError, 503, "Workspace unavailable"),
    (lp.LandplanError, 422, "Request cannot be processed"),
]


def server_roots(*extra: str | Path | None) -> tuple[str, ...]:
    """Folders of this server that must never appear in a response: the temp dir, the
    working directory, the home and the interpreter prefix, plus ``extra`` (workspace,
    upload and raster folders).  Longest first, with their resolved forms."""
    import sys

    found: set[str] = set()
    for root in (tempfile.gettempdir(), os.getcwd(), Path.home(), sys.prefix, *extra):
        if not root:
            continue
        for form in (str(root), os.path.realpath(root)):
            if len(form) > 1:
                found.add(form.rstrip("/"))
    return tuple(sorted(found, key=len, reverse=True))


def scrub(text: str, roots: Iterable[str]) -> str:
    """``text`` with every path under one of ``roots`` replaced by its last component."""
    for root in roots:
        if root in text:
            text = re.sub(
                re.escape(root) + r"(/[^\s'\"]*)?",
                lambda m: Path(m.group(0)).name or "(server folder)",
                text,
            )
    return text


def roots_of(request: Request | None) -> tuple[str, ...]:
    state = getattr(getattr(request, "app", None), "state", None)
    return getattr(state, "server_roots", None) or server_roots()


def problem(
    status: int, title: str, detail: str, request: Request | None = None, **extra
) -> JSONResponse:
    detail = scrub(str(detail), roots_of(request))
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = str(request.url.path)
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def classify(exc: Exception) -> tuple[int, str]:
    for cls, status, title in ERROR_TABLE:
        if isinstance(exc, cls):
            return status, title
    return 500, "Internal server error"


def install(app: FastAPI) -> None:
    """Register the handlers: API errors, landplan errors, HTTP errors, validation, the rest."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        return problem(exc.status, exc.title, exc.detail, request, **exc.extra)

    @app.exception_handler(lp.LandplanError)
    async def _landplan(request: Request, exc: lp.LandplanError):
        status, title = classify(exc)
        extra = {}
        if isinstance(exc, lp.ConflictError):
            extra["current"] = exc.current
        if isinstance(exc, lp.StateError):
            extra.update(
                current_state=exc.current, requested=exc.requested, allowed=list(exc.allowed)
            )
        return problem(status, title, str(exc), request, **extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return problem(exc.status_code, _reason(exc.status_code), detail, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return problem(
            400, "Invalid request", "the request does not match the API", request, errors=errors
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", ref, request.method, request.url.path)
        return problem(500, "Internal server error", f"unexpected error; reference {ref}", request)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


#: documented error responses of a route (the content is set to problem+json in api.openapi)
def responses(*codes: int) -> dict:
    return {c: {"description": _reason(c)} for c in codes}

"""Operations: /healthz."""

from __future__ import annotations

from fastapi import APIRouter
from landplan.api.deps import StoreDep
from landplan.api.errors import problem, responses
from landplan.api.version import VERSION

from landplan.core.errors import LandplanError

router = APIRouter(tags=["Operations"])


@router.get("/healthz", response_model=dict, responses=responses(503))
def healthz(s: StoreDep):
    """Liveness and store reachability (no key needed); 503 when the store cannot be read."""
    try:
        meta = s.metadata()
        token = s.token()
    except (LandplanError, OSError):
        return problem(503, "Store unavailable", f"the workspace store {s.name!r} cannot be read")
    return {
        "status": "ok",
        "version": VERSION,
        "workspace": s.name,
        "crs": meta.get("crs"),
        "data_token": token,
    }


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    """No icon: answer 204 so browsers do not log a 404 on every map page."""
    from fastapi.responses import Response

    return Response(status_code=204)

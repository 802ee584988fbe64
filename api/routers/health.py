"""Operations: /healthz."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import store
from api.version import VERSION

router = APIRouter(tags=["Operations"])


@router.get("/healthz", response_model=dict)
def healthz(s=Depends(store)):
    """Liveness and store reachability (no key needed)."""
    meta = s.metadata()
    return {
        "status": "ok",
        "version": VERSION,
        "workspace": s.name,
        "crs": meta.get("crs"),
        "data_token": s.token(),
    }

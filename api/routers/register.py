"""The parcel lifecycle register: transfers (出让) and every other state change, with audit.

Optimistic concurrency: every row carries a ``version`` (also its ETag).  A change must say
which version it read (``If-Match: "3"`` or ``expected_version``; 0 for a parcel not yet
registered); if someone changed the parcel since, the answer is 409 with the current row.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from landplan.api.auth import Caller, require
from landplan.api.deps import StoreDep
from landplan.api.errors import BadParameterError, PreconditionRequiredError, responses
from landplan.api.schemas import AuditOut, RegisterRow, TransitionIn, UpdateIn

from landplan.core.errors import NotFoundError
from landplan.store.register import STATE_ZH, STATES, TRANSITIONS

router = APIRouter(prefix="/register", tags=["Register"])
READ = Depends(require("read"))
#: the register and the audit trail always need a key (public_read does not open them)
RECORDS = Depends(require("records"))
Registrar = Annotated[Caller, Depends(require("register"))]
ParcelId = Annotated[
    str, Path(max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description="parcel id")
]
IfMatch = Annotated[
    str | None,
    Header(description='the version read, e.g. "3" (ETag of GET /register/{id})', max_length=40),
]
WRITE_ERRORS = responses(400, 401, 403, 404, 409, 422, 428)


def _version(if_match: str | None, body_version: int | None) -> int:
    if if_match is not None:
        text = if_match.strip().removeprefix("W/").strip('"')
        if not text.isdigit():
            raise BadParameterError(
                f'If-Match must be a version like "3", got {if_match!r}', parameter="If-Match"
            )
        return int(text)
    if body_version is None:
        raise PreconditionRequiredError(
            'say which version you read: If-Match: "<version>" or expected_version (0 for a new parcel)'
        )
    return body_version


def _row_response(row: dict, response: Response) -> dict:
    response.headers["ETag"] = f'"{row["version"]}"'
    return row


@router.get("/states", response_model=dict, dependencies=[READ])
def states():
    """Lifecycle states (zh-CN names) and allowed transitions."""
    return {
        "states": [{"state": s, "zh": STATE_ZH[s], "next": list(TRANSITIONS[s])} for s in STATES]
    }


@router.get("", response_model=dict, dependencies=[RECORDS], responses=responses(401, 403))
def entries(s: StoreDep, state: Annotated[str | None, Query(max_length=40)] = None):
    frame = s.register().entries(state=state)
    return {
        "entries": json.loads(
            frame.to_json(orient="records", force_ascii=False, double_precision=15)
        )
    }


@router.get(
    "/{parcel_id}",
    response_model=RegisterRow,
    dependencies=[RECORDS],
    responses=responses(401, 403, 404),
)
def row(parcel_id: ParcelId, response: Response, s: StoreDep):
    current = s.register().get(parcel_id)
    if current is None:
        raise NotFoundError(f"parcel {parcel_id} is not in the register")
    return _row_response(current, response)


@router.post("/{parcel_id}/transitions", response_model=RegisterRow, responses=WRITE_ERRORS)
def transition(
    parcel_id: ParcelId,
    body: TransitionIn,
    response: Response,
    caller: Registrar,
    s: StoreDep,
    if_match: IfMatch = None,
):
    """Move a parcel to a new state (e.g. ``transferred`` = 出让) — one audited transaction."""
    version = _version(if_match, body.expected_version)
    new = s.register().record(
        parcel_id,
        to=body.to,
        by=caller.name,
        on=body.on,
        expected_version=version,
        fields=body.fields,
    )
    return _row_response(new, response)


@router.patch("/{parcel_id}", response_model=RegisterRow, responses=WRITE_ERRORS)
def update(
    parcel_id: ParcelId,
    body: UpdateIn,
    response: Response,
    caller: Registrar,
    s: StoreDep,
    if_match: IfMatch = None,
):
    """Change contract or progress fields without a state change."""
    version = _version(if_match, body.expected_version)
    new = s.register().update(
        parcel_id, by=caller.name, fields=body.fields, expected_version=version
    )
    return _row_response(new, response)


@router.get(
    "/{parcel_id}/audit",
    response_model=AuditOut,
    dependencies=[RECORDS],
    responses=responses(401, 403),
)
def parcel_audit(parcel_id: ParcelId, s: StoreDep):
    return {"audit": _audit(s, parcel_id)}


audit_router = APIRouter(tags=["Register"])


@audit_router.get(
    "/audit", response_model=AuditOut, dependencies=[RECORDS], responses=responses(401, 403)
)
def audit(
    s: StoreDep,
    parcel_id: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
):
    """Every register change: who, when (UTC), what, the row before and after."""
    return {"audit": _audit(s, parcel_id)}


def _audit(s, parcel_id: str | None) -> list[dict]:
    frame = s.register().audit(parcel_id=parcel_id)
    out = []
    for r in frame.to_dict(orient="records"):
        for side in ("before", "after"):
            r[side] = json.loads(r[side]) if isinstance(r.get(side), str) and r[side] else None
        r["at"] = str(r["at"])
        out.append(r)
    return out

"""API keys with roles, checked per route: ``Depends(require("registrar"))``.

Roles are not a ladder: a *planner* draws boundaries and scenarios, a *registrar* records
transfers, an *admin* may do both and upload layers; every role may read.  Keys arrive in the
``X-API-Key`` header and are compared by SHA-256 digest in constant time.

``public_read`` opens only ``read`` (published map and feature data) to callers without a
key.  The register and the audit trail (``records``: clerk names, contract prices) always
need a key, whatever ``public_read`` says.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from landplan.api.errors import ForbiddenError, UnauthorizedError

KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="API key (roles: viewer, planner, registrar, admin)",
)

#: which roles may do what
PERMITS: dict[str, frozenset[str]] = {
    "read": frozenset({"viewer", "planner", "registrar", "admin"}),
    "records": frozenset({"viewer", "planner", "registrar", "admin"}),
    "plan": frozenset({"planner", "admin"}),
    "register": frozenset({"registrar", "admin"}),
    "upload": frozenset({"admin"}),
    "admin": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


ANONYMOUS = Caller("anonymous", "anonymous")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


#: actions open to callers without a key when ``public_read`` is on
PUBLIC_ACTIONS = frozenset({"read"})


def identify(request: Request, key: str | None) -> Caller | None:
    if not key:
        return None
    digest = hash_key(key)
    for entry in request.app.state.settings.api_keys:
        if hmac.compare_digest(entry.sha256, digest):
            return Caller(entry.name, entry.role)
    raise UnauthorizedError("the API key is not known")


def require(action: str):
    """A dependency that returns the caller when its role permits ``action``."""
    roles = PERMITS[action]

    # async: a digest and a comparison, on the event loop (not a pool thread per request)
    async def check(request: Request, key: str | None = Depends(KEY_HEADER)) -> Caller:
        caller = identify(request, key)
        if caller is None:
            if action in PUBLIC_ACTIONS and request.app.state.settings.public_read:
                return ANONYMOUS
            raise UnauthorizedError(
                f"this request needs an API key with one of the roles {sorted(roles)}"
            )
        if caller.role not in roles:
            raise ForbiddenError(
                f"role {caller.role!r} may not {action}; needs one of {sorted(roles)}"
            )
        return caller

    return check

"""Request size limits, enforced while the body streams in (a lying Content-Length is caught too)."""

from __future__ import annotations

import json

UPLOAD_PREFIX = "/uploads"


class BodyLimit:
    """413 ``application/problem+json`` when a body exceeds its limit (uploads have their own)."""

    def __init__(self, app, *, default_mb: float, upload_mb: float) -> None:
        self.app = app
        self.default = int(default_mb * 1024 * 1024)
        self.upload = int(upload_mb * 1024 * 1024)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload if scope["path"].startswith(UPLOAD_PREFIX) else self.default
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit, scope["path"])
        seen = {"n": 0, "over": False}

        async def counted():
            message = await receive()
            if message["type"] == "http.request":
                seen["n"] += len(message.get("body", b""))
                if seen["n"] > limit:
                    seen["over"] = True
                    raise BodyTooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLargeError:
            await _too_large(send, limit, scope["path"])


class BodyTooLargeError(Exception):
    pass


async def _too_large(send, limit: int, path: str) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": f"the request body is larger than the limit of {limit / 1048576:.1f} MB",
            "instance": path,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

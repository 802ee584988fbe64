"""Request size and pace limits, enforced while the body streams in.

A declared ``Content-Length`` over the limit is refused at once; a chunked body (or a lying
``Content-Length``) is counted as it arrives and refused with 413 as soon as it passes the
limit.  A body that stops arriving for ``body_timeout_s`` is answered 408.  Both are raised
as HTTP errors from ``receive`` so FastAPI's body parsing passes them on unchanged and they
are answered as ``application/problem+json`` by :mod:`landplan.api.errors`.
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException

UPLOAD_PREFIX = "/uploads"


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than the limit of {limit / 1048576:.1f} MB"
        )


class BodyTimeoutError(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body stopped arriving for {seconds:g} s")


class BodyLimit:
    """413 when a body exceeds its limit (uploads have their own), 408 when it stalls."""

    def __init__(
        self, app, *, default_mb: float, upload_mb: float, timeout_s: float = 60.0
    ) -> None:
        self.app = app
        self.default = int(default_mb * 1024 * 1024)
        self.upload = int(upload_mb * 1024 * 1024)
        self.timeout_s = timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload if scope["path"].startswith(UPLOAD_PREFIX) else self.default
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _answer(send, BodyTooLargeError(limit), scope["path"])
        seen = {"n": 0, "started": False, "done": False}

        async def counted():
            if seen["done"]:  # the body is in: later reads wait for the disconnect, untimed
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise BodyTimeoutError(self.timeout_s) from None
            if message["type"] == "http.request":
                seen["done"] = not message.get("more_body", False)
                seen["n"] += len(message.get("body", b""))
                if seen["n"] > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def tracked(message):
            if message["type"] == "http.response.start":
                seen["started"] = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except (BodyTooLargeError, BodyTimeoutError) as exc:
            if not seen["started"]:
                await _answer(send, exc, scope["path"])


async def _answer(send, exc: HTTPException, path: str) -> None:
    from http import HTTPStatus

    body = json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(exc.status_code).phrase,
            "status": exc.status_code,
            "detail": exc.detail,
            "instance": path,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

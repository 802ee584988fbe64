"""Structured logs: one JSON line per request (method, path, status, ms, caller role)."""

from __future__ import annotations

import json
import logging
import time

log = logging.getLogger("landplan.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "t": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(record.msg, dict):
            body.update(record.msg)
        else:
            body["msg"] = record.getMessage()
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("landplan")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class AccessLog:
    """ASGI middleware writing the access log line after each HTTP response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}

        async def wrapped(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            log.info(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    # the query (CQL2 filters, bbox, paging) as sent, cut at 2,000 characters
                    "query": scope.get("query_string", b"").decode("latin-1")[:2000] or None,
                    "status": status["code"],
                    "ms": round((time.perf_counter() - start) * 1000, 1),
                }
            )

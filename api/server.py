"""How uvicorn runs the service: timeouts and a connection bound from :class:`Settings`.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 above
``limit_concurrency``, but it waits forever for the headers of a request that never
finishes arriving (a fresh connection that sends nothing, or half a request line).
:class:`GuardedH11Protocol` adds that missing timer: a connection must deliver complete
request headers within ``header_timeout_s`` of opening or of its previous response, or it
is closed.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

import h11
from landplan.api.settings import Settings
from uvicorn.protocols.http.h11_impl import H11Protocol


@lru_cache(maxsize=1)
def _header_timeout() -> float:
    return Settings().header_timeout_s


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header-read timeout."""

    header_timeout_s: float | None = None
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request headers are complete
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        timeout = self.header_timeout_s or _header_timeout()
        self._header_timer = self.loop.call_later(timeout, self._header_timeout_expired)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout_expired(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict:
    """Keyword arguments for ``uvicorn.run`` that bound connections and their timeouts."""
    return {
        "http": "landplan.api.server:GuardedH11Protocol",
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "backlog": settings.backlog,
        "h11_max_incomplete_event_size": settings.max_header_kb * 1024,
        "timeout_graceful_shutdown": 30,
    }

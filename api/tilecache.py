"""Encoded vector tiles kept in memory, per worker process, by data version.

A tile is keyed by the store's data token, the collection and z/x/y: a write to the workspace
changes the token, so a tile of older data is never served again (it ages out).  The least
recently used tiles go first once ``max_bytes`` is reached.  Map clients ask for the same
tiles again and again (panning back, several users, both tile paths); each is rendered once
per data version instead of once per request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class TileCache:
    """A thread-safe LRU of tile bodies, bounded by their total size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._tiles: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._tiles.get(key)
            if body is None:
                self.misses += 1
                return None
            self._tiles.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        """Keep ``body`` (not one over an eighth of the cache: it would push out many)."""
        if len(body) > self.max_bytes // 8:
            return
        with self._lock:
            if key in self._tiles:
                return
            self._tiles[key] = body
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, old = self._tiles.popitem(last=False)
                self._bytes -= len(old)

    def __len__(self) -> int:
        return len(self._tiles)

"""What the map pages draw, read from any store (large parcel layers are not read: tiles)."""

from __future__ import annotations

import hashlib
import hmac
import time

from geopandas import GeoDataFrame
from landplan.api.errors import ForbiddenError
from shapely import box

from landplan.store.protocol import ServiceStore

#: above this many parcels the pages draw vector tiles from the API
TILE_THRESHOLD = 20_000


def map_layers(
    store: ServiceStore, *, inline_always: bool = False, threshold: int = TILE_THRESHOLD
) -> dict:
    """Keyword arguments for :func:`maps.build_result_map` / :func:`maps.planner.build_planner_page`."""
    infos = {c.id: c for c in store.collections()}
    if "result_parcels" not in infos:
        from landplan.core.errors import NotFoundError

        raise NotFoundError("the workspace has no analysis results (result_parcels) to map")
    info = infos["result_parcels"]
    if info.count > threshold and not inline_always:
        frame = GeoDataFrame(
            {
                "parcel_id": ["extent"],
                "verdict": [""],
                "area_mu": [0.0],
                "net_available_mu": [0.0],
                "reasons": ["[]"],
            },
            geometry=[box(*info.bbox)],
            crs="OGC:CRS84",
        )
        tiles_above = 0
    else:
        frame, tiles_above = store.read_layer("result_parcels"), None
    constraints = {
        i.removeprefix("constraint_"): store.read_layer(i)
        for i in infos
        if i.startswith("constraint_") and i != "constraint_park_boundary"
    }
    networks = store.read_layer("networks") if "networks" in infos else None
    overlays = {n: p for n in ("slope", "suitability") if (p := store.raster_path(n)) is not None}
    return {
        "parcels": frame,
        "constraints": constraints,
        "networks": networks,
        "overlays": overlays,
        "vector_tile_threshold": tiles_above,
    }


def with_states(store: ServiceStore, parcels: GeoDataFrame) -> GeoDataFrame:
    """The parcels with their lifecycle ``state`` (NaN: not registered)."""
    entries = store.register().entries()[["parcel_id", "state"]]
    merged = parcels.drop(columns="state", errors="ignore").merge(
        entries, on="parcel_id", how="left"
    )
    return GeoDataFrame(merged, geometry=parcels.geometry.name, crs=parcels.crs)


def embed_token(secret: str, expires_at: int) -> str:
    mac = hmac.new(secret.encode(), f"embed|{expires_at}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{expires_at}.{mac}"


def check_embed_token(secret: str, token: str) -> None:
    """403 unless ``token`` is ``<expiry>.<mac>`` made with ``secret`` and not expired.

    Only ASCII digits count as an expiry (``str.isdigit`` also accepts ``²`` or ``١``), and
    the MACs are compared as bytes, so no token a client can send raises."""
    expires, _, _ = token.partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        raise ForbiddenError("the embed token is not valid")
    if not hmac.compare_digest(
        embed_token(secret, int(expires)).encode(), token.encode("utf-8", "replace")
    ):
        raise ForbiddenError("the embed token is not valid")
    if int(expires) < time.time():
        raise ForbiddenError("the embed token has expired; ask for a new one")

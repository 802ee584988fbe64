"""Service settings from ``LANDPLAN_*`` environment variables or a ``.env`` file.

API keys are configured hashed: ``LANDPLAN_API_KEYS`` is a JSON list of
``{"name": "clerk-li", "role": "registrar", "sha256": "<hex digest of the key>"}``
(``landplan serve hash-key KEY`` prints the digest).  Plain keys are never stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from landplan.core.parallel import default_read_threads

Role = Literal["viewer", "planner", "registrar", "admin"]


class ApiKey(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Settings(BaseSettings):
    """Everything the service reads at start-up (see docs/api.md)."""

    model_config = SettingsConfigDict(env_prefix="LANDPLAN_", env_file=".env", extra="ignore")

    store: str = Field(
        default="landplan-demo",
        description="workspace directory (embedded GeoPackage store) or postgresql:// DSN",
    )
    api_keys: list[ApiKey] = Field(default_factory=list)
    public_read: bool = Field(default=True, description="GET requests without a key allowed")
    cors_origins: list[str] = Field(default_factory=list)
    max_upload_mb: float = Field(default=200.0, gt=0)
    max_body_mb: float = Field(default=20.0, gt=0, description="non-upload request bodies")
    max_items_limit: int = Field(default=10_000, ge=1)
    default_items_limit: int = Field(default=10, ge=1)
    job_workers: int = Field(default=2, ge=1)
    read_threads: int = Field(
        default_factory=default_read_threads,
        ge=1,
        le=64,
        description="feature and tile reads served at once per worker process; more wait in "
        "line, first come first served (their Python work shares one core per process); "
        "default: the cores, at most 4",
    )
    upload_dir: Path | None = Field(default=None, description="scratch space for uploads")
    assets: Literal["offline", "cdn"] = "offline"
    assets_dir: Path | None = None
    offline: bool = Field(
        default=True,
        description="no page makes a request off this host: maps default to a local basemap "
        "(or none) and online basemaps (osm, tianditu, gaode) are refused",
    )
    basemap_dir: Path | None = Field(
        default=None, description="folder of MBTiles/PMTiles basemaps besides <workspace>/basemaps"
    )
    tianditu_tk: str | None = None
    embed_secret: str = Field(
        default_factory=lambda: __import__("secrets").token_hex(32),
        description="HMAC secret of embed tokens (set it, or tokens die with the process)",
    )
    map_tile_threshold: int = Field(
        default=20_000, ge=0, description="parcels above this are drawn as vector tiles"
    )
    embed_origins: list[str] = Field(default_factory=list, description="who may frame /maps/embed")
    log_level: str = "info"
    tile_max_age_s: int = Field(default=300, ge=0)
    tile_cache_mb: float = Field(
        default=64.0,
        ge=0,
        description="vector tiles kept in memory per worker process, by data version (0: none)",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="a connection must send complete headers within this",
    )
    keep_alive_s: int = Field(
        default=5, ge=1, le=600, description="idle keep-alive connections close"
    )
    body_timeout_s: float = Field(
        default=60.0, gt=0, description="longest wait for the next piece of a request body"
    )
    max_connections: int = Field(
        default=200, ge=1, description="open connections per worker; above it new requests get 503"
    )
    backlog: int = Field(default=512, ge=1, description="pending TCP connections the OS queues")
    max_header_kb: int = Field(default=16, ge=1, le=1024, description="request line + headers")
    job_files_ttl_s: int = Field(
        default=3600, ge=0, description="a finished job's files are deleted after this"
    )
    scratch_stale_s: int = Field(
        default=86_400, ge=0, description="scratch folders older than this are cleared at start-up"
    )

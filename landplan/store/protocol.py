"""What a served workspace offers, whichever store holds it (GeoPackage directory or PostGIS).

:func:`landplan.store.open.open_store` picks the store from ``LANDPLAN_STORE``: a directory path gives the
embedded :class:`landplan.store.gpkgstore.GpkgStore`, a ``postgresql://`` DSN gives
:class:`landplan.store.pgstore.PgStore`.  Both implement :class:`ServiceStore`; the API and its
tests only use this interface, so the same test suite runs against both.

Conventions every store keeps:

- A *collection* is a vector layer or an attribute table of the workspace
  (``parcels``, ``result_parcels``, ``constraint_red_line``, ``networks``, ``park_summary``, ...).
- Feature ids are ``parcel_id`` where a collection has that column, else the row's ``fid``.
- ``features`` returns GeoJSON Feature objects as JSON *text* (the store may build them in SQL),
  with geometry in ``out_epsg`` (``None`` = OGC CRS84, lon/lat) in the CRS's *authority* axis
  order when ``authority_axes`` is true (EPSG:4490 is lat/lon, the CGCS2000 GK zones are
  northing/easting), as OGC API Features Part 2 requires.
- ``bbox`` is always given to the store in CRS84 (the API converts ``bbox-crs``).
- ``filters`` are exact matches ``column → text value`` on columns the collection has; the API
  validates names, the store binds values as parameters (never pasted into SQL).
- ``token()`` changes whenever any data changes (used for ETags of tiles and items).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
from geopandas import GeoDataFrame


@dataclass(frozen=True)
class CollectionInfo:
    """One collection: ``geometry_type`` is None for attribute tables; ``bbox`` in CRS84."""

    id: str
    title: str
    geometry_type: str | None
    storage_epsg: int | None
    bbox: tuple[float, float, float, float] | None
    count: int
    columns: dict[str, str] = field(
        default_factory=dict
    )  # name → "string" | "number" | "integer" | "boolean"
    id_column: str = "fid"


@dataclass(frozen=True)
class FeaturePage:
    features: list[str]  # GeoJSON Feature objects as JSON text
    number_matched: int


class RegisterLike(Protocol):
    """The lifecycle register (see :class:`landplan.store.register.Register` for the semantics)."""

    def get(self, parcel_id: str, /) -> dict | None: ...

    def entries(self, *, state: str | None = None) -> pd.DataFrame: ...

    def audit(self, *, parcel_id: str | None = None) -> pd.DataFrame: ...

    def record(
        self,
        parcel_id: str,
        /,
        *,
        to: str,
        by: str,
        on=None,
        expected_version=None,
        fields: Mapping[str, object] | None = None,
        evidence=None,
    ) -> dict: ...

    def update(
        self,
        parcel_id: str,
        /,
        *,
        by: str,
        fields: Mapping[str, object],
        expected_version: int | None = None,
    ) -> dict: ...


class ServiceStore(Protocol):
    """The interface the API serves from."""

    name: str

    def metadata(self) -> dict: ...

    def collections(self) -> list[CollectionInfo]: ...

    def collection(self, collection_id: str, /) -> CollectionInfo: ...  # NotFoundError if absent

    def features(
        self,
        collection_id: str,
        /,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        filters: Mapping[str, str] | None = None,
        limit: int = 10,
        offset: int = 0,
        out_epsg: int | None = None,
        authority_axes: bool = True,
        cql=None,  # a checked landplan.store.cql2.Filter (CQL2 filter and/or datetime)
    ) -> FeaturePage: ...

    def feature(
        self,
        collection_id: str,
        feature_id: str,
        /,
        *,
        out_epsg: int | None = None,
        authority_axes: bool = True,
    ) -> str: ...  # one Feature as JSON text; NotFoundError if absent

    def tile(
        self, collection_id: str, z: int, x: int, y: int, /
    ) -> bytes: ...  # MVT, layer = collection id

    def read_layer(self, name: str, /) -> GeoDataFrame | pd.DataFrame: ...

    def replace_layer(self, name: str, frame: GeoDataFrame | pd.DataFrame, /) -> None: ...  # atomic

    def register(self) -> RegisterLike: ...

    def raster_path(self, name: str, /) -> Path | None: ...  # COG of rasters/{name}.tif, or None

    def token(self, *, max_age_s: float = 0.0) -> str: ...  # data version; may be max_age_s old

    def replace_raster(self, name: str, source: Path, /) -> None: ...  # atomic

    def policy_text(self) -> str | None: ...  # the policy TOML the results were computed with

    def save_scenario(
        self, name: str, geometry, evaluation, /
    ) -> None: ...  # atomic, replaces by name


# --------------------------------------------------------------------------- store-level services


def store_policy(store: ServiceStore, /):
    """The policy the workspace was analysed with (the national profile if none was stored)."""
    from landplan.core.policy import load_policy, parse_policy

    text = store.policy_text()
    return parse_policy(text, origin=f"{store.name}/policy.toml") if text else load_policy()


def scenarios_frame(store: ServiceStore, /):
    """Every saved scenario (empty frame when none)."""
    if "scenarios" not in [c.id for c in store.collections()]:
        return GeoDataFrame({"name": [], "created_at": [], "evaluation": []}, geometry=[])
    return store.read_layer("scenarios")

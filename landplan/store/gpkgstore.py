"""The embedded store served: a workspace directory (``workspace.gpkg`` + ``rasters/``).

Queries use the GeoPackage's R*-tree and refine with exact ``shapely.intersects`` so a bbox
selects the same features as PostGIS ``ST_Intersects``.  Feature pages are ordered by the id
column (``parcel_id`` in code-point order, else ``fid``) and read by ``fid``, so paging is
stable.  Tiles are encoded by :mod:`landplan.store.mvt` (vectorised).

The service's hot reads (bbox and paged items, single features, tiles) go straight to SQLite
(:mod:`landplan.store.gpkgread`: a read-only connection per worker thread, no GDAL open per
request, no pandas); filtered queries (property filters, CQL2) and layers with columns SQLite
alone cannot type (dates, blobs) read through pyogrio.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from geopandas import GeoDataFrame
from pyproj import CRS

from landplan.core.errors import NotFoundError, WorkspaceError
from landplan.core.features import (
    TILE_COLUMNS,
    bbox_polygon,
    feature_json,
    features_json,
    filter_mask,
    thinning_step,
    tile_bounds_3857,
    to_crs84_bbox,
)
from landplan.core.parallel import process_alive
from landplan.store.cql2_frame import filter_mask as cql_mask
from landplan.store.gpkgread import (
    DIRECT_ERRORS,
    GpkgReader,
    bounds_to,
    crs84,
    epsg_crs,
    geometries,
    render,
    to_mercator,
)
from landplan.store.mvt import encode_layer
from landplan.store.protocol import CollectionInfo, FeaturePage
from landplan.store.workspace import GpkgWorkspace

HIDDEN_PREFIXES = ("register", "rtree_", "gpkg_", "layer_styles")  # layer_styles: QGIS styles
_FIELD_TYPES = {"int": "integer", "float": "number", "bool": "boolean"}


def _json_type(dtype: str) -> str:
    for key, name in _FIELD_TYPES.items():
        if key in dtype:
            return name
    return "string"


TILE_EXTENT = 4096


def _pixels(transformer, bounds: tuple[float, float, float, float]):
    """``(x, y) -> (px, py)``: layer coordinates to tile pixels (y down, not rounded) of the
    tile with Web Mercator ``bounds``."""
    minx, miny, maxx, maxy = bounds
    sx, sy = TILE_EXTENT / (maxx - minx), TILE_EXTENT / (maxy - miny)

    def to_pixels(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mx, my = transformer.transform(x, y)
        return (np.asarray(mx) - minx) * sx, (maxy - np.asarray(my)) * sy

    return to_pixels


def _reference_tile(name: str, pixels: np.ndarray, props: dict) -> bytes:
    """The tile by ``mapbox_vector_tile`` (layers :func:`encode_layer` does not take: points):
    pixels rounded, exterior rings clockwise on screen (y down: math-positive)."""
    import mapbox_vector_tile

    pixels = shapely.transform(pixels, np.round)
    polygonal = shapely.get_type_id(pixels) >= 3
    pixels[polygonal] = shapely.orient_polygons(pixels[polygonal], exterior_cw=False)
    feats = [
        {"geometry": g, "properties": {c: v[i] for c, v in props.items() if v[i] is not None}}
        for i, g in enumerate(pixels)
        if not g.is_empty
    ]
    options = {"quantize_bounds": None, "extents": TILE_EXTENT, "y_coord_down": True}
    return mapbox_vector_tile.encode(
        [{"name": name, "features": feats}],
        default_options={**options, "check_winding_order": False},
    )


class GpkgStore:
    """A :class:`landplan.store.protocol.ServiceStore` over a workspace directory."""

    def __init__(self, path: str | Path, /) -> None:
        self.workspace = GpkgWorkspace(path)
        self.path = self.workspace.path
        self.name = str(self.workspace.metadata().get("name") or self.path.name)
        self._lock = threading.Lock()
        self._cache: tuple[str, dict[str, CollectionInfo]] | None = None
        #: collection → (data token, every row's fid + id in page order): unfiltered pages
        #: and their count without reading the id column again
        self._orders: dict[str, tuple[str, pd.DataFrame]] = {}
        #: the hot reads, straight from SQLite (per-thread connections)
        self._reader = GpkgReader(self.gpkg, self.token)

    # ------------------------------------------------------------------ state

    @property
    def gpkg(self) -> Path:
        return self.workspace.gpkg

    def token(self, *, max_age_s: float = 0.0) -> str:
        """The GeoPackage's inode, modification time and size: read each time (a ``stat``), so
        ``max_age_s`` is not needed here."""
        st = os.stat(self.gpkg)
        return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"

    def metadata(self) -> dict:
        return self.workspace.metadata()

    def crs(self) -> CRS:
        return CRS.from_user_input(self.metadata()["crs"])

    def policy_text(self) -> str | None:
        p = self.path / "policy.toml"
        return p.read_text(encoding="utf-8") if p.exists() else None

    # ------------------------------------------------------------------ collections

    def _infos(self) -> dict[str, CollectionInfo]:
        token = self.token()
        cache = self._cache
        if cache is not None and cache[0] == token:
            return cache[1]
        with self._lock:
            infos = {}
            for name, _ in pyogrio.list_layers(self.gpkg):
                if str(name).startswith(HIDDEN_PREFIXES):
                    continue
                infos[str(name)] = self._info(str(name))
            self._cache = (token, infos)
        return infos

    def _info(self, name: str) -> CollectionInfo:
        info = pyogrio.read_info(self.gpkg, layer=name, force_feature_count=True)
        columns = {
            str(f): _json_type(str(d)) for f, d in zip(info["fields"], info["dtypes"], strict=True)
        }
        gtype = info.get("geometry_type")
        epsg, bbox = None, None
        if gtype and info.get("crs"):
            crs = CRS.from_user_input(info["crs"])
            epsg = crs.to_epsg()
            bounds = info.get("total_bounds")
            if bounds is not None and info["features"] and np.all(np.isfinite(bounds)):
                bbox = to_crs84_bbox(tuple(bounds), crs)
        return CollectionInfo(
            id=name,
            title=name,
            geometry_type=gtype if gtype else None,
            storage_epsg=epsg,
            bbox=bbox,
            count=int(info["features"]),
            columns=columns,
            id_column="parcel_id" if "parcel_id" in columns else "fid",
        )

    def collections(self) -> list[CollectionInfo]:
        return list(self._infos().values())

    def collection(self, collection_id: str, /) -> CollectionInfo:
        info = self._infos().get(collection_id)
        if info is None:
            raise NotFoundError(f"no collection {collection_id!r} in workspace {self.name!r}")
        return info

    # ------------------------------------------------------------------ direct SQLite reads

    def _direct_page(
        self, info, lay, bbox, limit: int, offset: int, out_epsg, authority_axes
    ) -> FeaturePage | None:
        """A page read straight from SQLite, or None when this layer or query cannot be."""
        crs = self._layer_crs(info)
        if bbox is not None:
            if lay.rtree is None or crs is None:
                return None
            fids = self._reader.bbox_fids(info, lay, bbox, crs)
        else:
            fids = self._reader.all_fids(info, lay)
        rows = self._reader.rows(lay, fids[offset : offset + limit])
        return FeaturePage(render(info, lay, rows, crs, out_epsg, authority_axes), len(fids))

    # ------------------------------------------------------------------ features

    def _layer_crs(self, info: CollectionInfo) -> CRS | None:
        return epsg_crs(info.storage_epsg) if info.storage_epsg else None

    def _select(
        self,
        info: CollectionInfo,
        bbox: tuple[float, float, float, float] | None,
        filters: Mapping[str, str],
        cql=None,
    ) -> pd.DataFrame:
        """fid + id column of every matching row, in page order (the unfiltered order is
        cached per data token: paging and counts without reading the ids again)."""
        if bbox is not None or filters or cql is not None:
            return self._scan(info, bbox, filters, cql)
        token = self.token()
        hit = self._orders.get(info.id)
        if hit is not None and hit[0] == token:
            return hit[1]
        order = self._scan(info, None, {}, None)
        self._orders[info.id] = (token, order)
        return order

    def _scan(
        self,
        info: CollectionInfo,
        bbox: tuple[float, float, float, float] | None,
        filters: Mapping[str, str],
        cql=None,
    ) -> pd.DataFrame:
        """fid + id column of every matching row, in page order.

        ``cql`` is a checked :class:`landplan.store.cql2.Filter`, evaluated vectorised with
        SQL's three-valued logic (:mod:`landplan.store.cql2_frame`).
        """
        used = set(cql.used) if cql is not None else set()
        cols = sorted({c for c in (info.id_column, *filters, *used) if c != "fid"})
        kwargs: dict = {"columns": cols, "fid_as_index": True}
        crs = self._layer_crs(info)
        spatial = cql is not None and cql.spatial
        if info.geometry_type is None:
            frame = pyogrio.read_dataframe(self.gpkg, layer=info.id, read_geometry=False, **kwargs)
        elif bbox is not None and crs is not None:
            local = bounds_to(bbox, crs84(), crs)
            frame = pyogrio.read_dataframe(self.gpkg, layer=info.id, bbox=local, **kwargs)
            if len(frame):
                region = bbox_polygon(bbox, crs)
                geoms = frame.geometry.values
                frame = frame[shapely.intersects(np.asarray(geoms), region)]
        else:
            frame = pyogrio.read_dataframe(
                self.gpkg, layer=info.id, read_geometry=spatial, **kwargs
            )
        if spatial and len(frame):
            frame = frame[cql_mask(cql.tree, frame, crs)]
        frame = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        if filters and len(frame):
            frame = frame[filter_mask(frame, filters, info.columns)]
        if cql is not None and not spatial and len(frame):
            frame = frame[cql_mask(cql.tree, frame, crs)]
        frame["fid"] = frame.index.astype("int64")
        frame.index.name = None
        key = info.id_column
        return frame.sort_values(key, kind="stable") if key in frame else frame.sort_values("fid")

    def _read_fids(self, info: CollectionInfo, fids: np.ndarray) -> pd.DataFrame:
        if len(fids) == 0:
            return pd.DataFrame()
        frame = pyogrio.read_dataframe(
            self.gpkg,
            layer=info.id,
            fids=np.asarray(fids, dtype="int64"),
            fid_as_index=True,
            read_geometry=info.geometry_type is not None,
        )
        return frame.loc[list(fids)]

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
        cql=None,
    ) -> FeaturePage:
        info = self.collection(collection_id)
        lay = self._reader.layout(info) if not filters and cql is None else None
        if lay is not None:
            try:
                page = self._direct_page(info, lay, bbox, limit, offset, out_epsg, authority_axes)
            except DIRECT_ERRORS:
                page = None
            if page is not None:
                return page
        matched = self._select(info, bbox, dict(filters or {}), cql)
        page = matched.iloc[offset : offset + limit]
        rows = self._read_fids(info, page["fid"].to_numpy())
        texts = features_json(rows, info, self._layer_crs(info), out_epsg, authority_axes)
        return FeaturePage(texts, len(matched))

    def feature(
        self,
        collection_id: str,
        feature_id: str,
        /,
        *,
        out_epsg: int | None = None,
        authority_axes: bool = True,
    ) -> str:
        info = self.collection(collection_id)
        if info.id_column == "fid":
            digits = feature_id.isascii() and feature_id.isdigit() and len(feature_id) <= 19
            fid = int(feature_id) if digits else -1
            fids = np.array([fid] if 0 <= fid < 2**63 else [], dtype="int64")
        lay = self._reader.layout(info)
        if lay is not None:
            try:
                if info.id_column != "fid":
                    fids = self._reader.fid_of(info, lay, feature_id)
                rows = self._reader.rows(lay, fids)
                if not rows:
                    raise NotFoundError(
                        f"collection {collection_id!r} has no feature {feature_id!r}"
                    )
                crs = self._layer_crs(info)
                return render(info, lay, rows, crs, out_epsg, authority_axes)[0]
            except DIRECT_ERRORS:
                pass
        if info.id_column != "fid":
            found = self._select(info, None, {info.id_column: feature_id})
            fids = found["fid"].to_numpy()[:1]
        try:
            rows = self._read_fids(info, fids)
        except (KeyError, pyogrio.errors.DataSourceError, pyogrio.errors.FeatureError):
            rows = pd.DataFrame()
        if len(rows) == 0:
            raise NotFoundError(f"collection {collection_id!r} has no feature {feature_id!r}")
        return feature_json(rows, info, self._layer_crs(info), out_epsg, authority_axes)

    def tile(self, collection_id: str, z: int, x: int, y: int, /, columns=None) -> bytes:
        info = self.collection(collection_id)
        crs = self._layer_crs(info)
        if info.geometry_type is None or crs is None:
            raise NotFoundError(f"collection {collection_id!r} has no geometry to tile")
        bounds = minx, miny, maxx, maxy = tile_bounds_3857(z, x, y)
        buffer = 64 / TILE_EXTENT  # of the tile's width, on every side (as the PostGIS store)
        pad = (maxx - minx) * buffer
        region_3857 = (minx - pad, miny - pad, maxx + pad, maxy + pad)
        local = bounds_to(region_3857, epsg_crs(3857), crs)
        if not local[0] <= local[2]:  # the tile lies outside the area of the layer's CRS
            return b""
        wanted = [c for c in (columns or TILE_COLUMNS) if c in info.columns]
        fids, blobs, attrs = np.empty(0, dtype="int64"), None, {}
        lay = self._reader.layout(info)
        if lay is not None and lay.rtree is not None:
            try:
                fids, blobs, attrs = self._reader.tile_rows(lay, local, wanted)
            except DIRECT_ERRORS:
                blobs = None
        if blobs is None:
            frame = pyogrio.read_dataframe(
                self.gpkg, layer=info.id, bbox=local, columns=wanted, fid_as_index=True
            )
            fids, geoms = np.asarray(frame.index, dtype="int64"), frame.geometry.values
            records = json.loads(
                pd.DataFrame(frame[wanted]).to_json(orient="records", double_precision=15)
            )
            attrs = {c: [r.get(c) for r in records] for c in wanted}
        else:
            geoms = None
        if not len(fids):
            return b""
        step = thinning_step(len(fids))
        chosen = np.flatnonzero(fids % step == 0) if step > 1 else np.arange(len(fids))
        # (step > 1: a dense low-zoom tile keeps every k-th feature by fid, stable across tiles)
        if geoms is None:
            geoms = geometries([blobs[i] for i in chosen])
        else:
            geoms = np.asarray(geoms)[chosen]
        pad = TILE_EXTENT * buffer
        box = (-pad, -pad, TILE_EXTENT + pad, TILE_EXTENT + pad)
        props = {
            c: v[chosen] if isinstance(v, np.ndarray) else np.asarray(v, dtype=object)[chosen]
            for c, v in attrs.items()
        }
        to_pixels = _pixels(to_mercator(info.storage_epsg), bounds)
        tile = encode_layer(
            collection_id, geoms, props, extent=TILE_EXTENT, transform=to_pixels, clip=box
        )
        if tile is not None:
            return tile
        pixels = shapely.transform(geoms, lambda c: np.column_stack(to_pixels(c[:, 0], c[:, 1])))
        pixels = shapely.clip_by_rect(pixels, *box)
        keep = ~shapely.is_empty(pixels) & ~shapely.is_missing(pixels)
        props = {c: v[keep] for c, v in props.items()}
        return _reference_tile(collection_id, pixels[keep], props) if keep.any() else b""

    # ------------------------------------------------------------------ layers and files

    def read_layer(self, name: str, /) -> GeoDataFrame | pd.DataFrame:
        return self.workspace.read_layer(name)

    def replace_layer(self, name: str, frame: GeoDataFrame | pd.DataFrame, /) -> None:
        """Write ``name`` into a copy of ``workspace.gpkg`` and swap the copy in (one rename).

        The register lock is held from the copy to the rename, so no register write is lost;
        a crash at any point leaves the previous file intact (the copy is a stray temp file).
        """
        from landplan.store.register_sqlite import freeze_register
        from landplan.store.workspace import write_layer

        temp = self.gpkg.with_name(
            f".{self.gpkg.name}.upload-{os.getpid()}-{threading.get_ident()}"
        )
        try:
            with freeze_register(self.gpkg):
                shutil.copy2(self.gpkg, temp)
                write_layer(temp, name, frame)
                os.replace(temp, self.gpkg)
        except OSError as exc:
            raise WorkspaceError(f"cannot write layer {name!r} into {self.gpkg}: {exc}") from exc
        finally:
            temp.unlink(missing_ok=True)

    def save_scenario(self, name: str, geometry, evaluation, /) -> None:
        from landplan.store.gpkg_scenarios import write_scenario

        name = str(name).strip()
        if not name:
            raise WorkspaceError("a scenario needs a non-empty name")
        write_scenario(
            self.gpkg, name, geometry, self.crs(), evaluation.key_figures(), evaluation.to_json()
        )

    def replace_raster(self, name: str, source: Path, /) -> None:
        """Copy ``source`` beside ``rasters/{name}.tif`` and rename it over (atomic)."""
        folder = self.path / "rasters"
        folder.mkdir(exist_ok=True)
        temp = folder / f".{name}.tif.upload-{os.getpid()}-{threading.get_ident()}"
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, folder / f"{name}.tif")
        finally:
            temp.unlink(missing_ok=True)

    def clear_orphans(self) -> list[Path]:
        """Remove temp copies left by a process killed during ``replace_layer`` /
        ``replace_raster`` (``.workspace.gpkg.upload-<pid>-<tid>``); a live writer's stay."""
        removed = []
        for temp in [
            *self.path.glob(f".{self.gpkg.name}.upload-*"),
            *(self.path / "rasters").glob(".*.tif.upload-*"),
        ]:
            pid = temp.name.rsplit(".upload-", 1)[1].split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                temp.unlink(missing_ok=True)
                removed.append(temp)
        return removed

    def register(self):
        from landplan.store.register import Register

        return Register(self.path)

    def raster_path(self, name: str, /) -> Path | None:
        p = self.path / "rasters" / f"{name}.tif"
        return p if p.exists() else None

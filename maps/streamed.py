"""The transfer-result map built while the result parcels arrive in chunks.

``landplan analyze`` writes up to a million parcels in bounded memory: the result parcels come
chunk by chunk, and the map must not hold them all (a parcel's ``reasons`` JSON alone is about
2 KB).  :class:`ResultMapParts` keeps of every chunk only what the page embeds, in the compact
form of :mod:`maps.compact`:

- per parcel: the id (Arrow text), class and verdict index, the rounded area and distance
  columns, the quantised, delta-encoded geometry, and its reasons as references to rows;
- per distinct reason: codes into the chunk's tables of codes, units, bases, message templates
  and number texts, the unrounded value and threshold, and its message numbers;
- the chunk's bounds (EPSG:4326, and projected for the vector-tile case).

:meth:`ResultMapParts.build` merges the pieces: per-parcel arrays are concatenated (ring
vertices are delta-encoded within each ring, ring starts absolute, so geometry concatenates
as is), the tables are merged and their indexes remapped (:func:`merge_reason_rows`), and the
page's tables are laid out once, in the order the whole column gives
(:func:`maps.compact.lay_out_reasons`).  The page is the one :func:`maps.build_result_map`
draws for the concatenated chunks, byte for byte apart from folium's random element ids.

>>> parts = ResultMapParts(crs="EPSG:4542")  # doctest: +SKIP
>>> for chunk in chunks:  # doctest: +SKIP
...     parts.add(chunk)
>>> save_map(parts.build(title="某园区出让结论"), "map.html")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from landplan.maps.assets import AssetMode
from landplan.maps.classify import parcel_classes
from landplan.maps.compact import (
    NUMBERS,
    ReasonRows,
    _codes,
    _factorize_rows,
    _ragged,
    encode_geometries,
    lay_out_reasons,
    parcel_columns,
    payload,
    reason_rows,
)
from landplan.maps.layers import add_parcel_data, to_wgs84
from landplan.maps.result_map import (
    PARCEL_COLUMNS,
    check_map_arguments,
    compose_result_map,
    wgs84_box,
)
from landplan.maps.styles import Lang
from landplan.maps.vectortiles import use_vector_tiles

if TYPE_CHECKING:
    import folium
    from geopandas import GeoDataFrame

#: styles whose class is a function of the parcel's own value (kept as a class index per
#: parcel); any other ``style_by`` column is kept as is and classified at build (quantiles,
#: most frequent categories)
FIXED_STYLES = ("verdict", "state")
#: chunks kept apart before they are merged into one (bounds the per-chunk overhead)
MERGE_EVERY = 64


@dataclass
class _Part:
    """The compact pieces of one chunk, or of several merged."""

    n_given: int  # parcels given, drawn or not (the vector-tile threshold counts them)
    projected_bounds: np.ndarray | None  # total bounds in the parcels' CRS; None: no parcel
    bounds: np.ndarray | None  # total bounds of the drawn parcels in EPSG:4326; None: none drawn
    ids: pa.Array  # large_string, one per drawn parcel
    cls: np.ndarray | None  # class index (FIXED_STYLES)
    style: pd.Series | None  # the style column (other styles)
    v: np.ndarray
    num: dict[str, np.ndarray]
    dist: dict[str, np.ndarray]
    g: dict[str, np.ndarray]
    reasons: ReasonRows

    @property
    def nbytes(self) -> int:
        arrays = [self.ids, self.v, *self.num.values(), *self.dist.values(), *self.g.values()]
        arrays += [getattr(self.reasons, f.name) for f in fields(self.reasons)]
        total = sum(a.nbytes for a in arrays if isinstance(a, np.ndarray | pa.Array))
        total += 0 if self.cls is None else self.cls.nbytes
        return total + (0 if self.style is None else int(self.style.memory_usage(deep=True)))


#: the view of a map whose parcels have no extent (every geometry empty): China, CRS84
CHINA_CRS84 = (73.5, 18.0, 135.1, 53.6)


class ResultMapParts:
    """The result map's parcel data, gathered chunk by chunk.

    Parameters
    ----------
    crs
        The parcels' projected CRS; a chunk without a CRS is taken to be in it, a chunk in
        another CRS is refused.
    style_by : str
        What colours the parcels, as in :func:`maps.build_result_map` (default ``"verdict"``).

    Examples
    --------
    >>> parts = ResultMapParts(crs=result.crs)  # doctest: +SKIP
    >>> for chunk in result_chunks:  # doctest: +SKIP
    ...     parts.add(chunk)
    >>> m = parts.build(constraints=constraints, networks=networks, title="某园区")  # doctest: +SKIP
    """

    def __init__(self, *, crs: Any, style_by: str = "verdict", tiles_only: bool = False) -> None:
        from pyproj import CRS

        self.crs = None if crs is None else CRS.from_user_input(crs)
        self.style_by = style_by
        #: keep only the count and the extent: the page draws the parcels from the service's
        #: vector tiles (a county too large for one standalone page)
        self.tiles_only = tiles_only
        self._extent: tuple[int, np.ndarray | None] = (0, None)
        self._parts: list[_Part] = []
        self._columns: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._classes: Any = None  # the classes of a fixed style (the same for every chunk)

    def __len__(self) -> int:
        """Parcels added (drawn or not)."""
        return sum(p.n_given for p in self._parts) + self._extent[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (what grows with the parcels; Python objects aside)."""
        return sum(p.nbytes for p in self._parts)

    def add(self, parcels: GeoDataFrame, /) -> None:
        """One chunk of result parcels (the ``result_parcels`` columns), in order.

        Raises
        ------
        ValueError
            If a required column is missing, the chunk's CRS is not the parts' or its area
            and distance columns are not the first chunk's, or a ``reasons`` value is not a
            JSON list (naming the parcel).
        KeyError
            If the ``style_by`` column is missing.
        landplan.core.errors.CRSError
            If neither the chunk nor the parts have a CRS.
        """
        if self.tiles_only:
            n, box = self._extent
            if len(parcels) and np.isfinite(parcels.total_bounds).all():
                b = np.asarray(parcels.total_bounds, dtype=float)
                box = (
                    b
                    if box is None
                    else np.r_[np.minimum(box[:2], b[:2]), np.maximum(box[2:], b[2:])]
                )
            self._extent = (n + len(parcels), box)
            return
        missing = [c for c in PARCEL_COLUMNS if c not in parcels.columns]
        if missing:
            raise ValueError(
                f"parcels lack column(s) {missing}; pass the output of the transfer analysis"
            )
        if self.style_by not in parcels.columns:
            raise KeyError(
                f"parcels have no column {self.style_by!r}; "
                f"columns: {', '.join(map(str, parcels.columns))}"
            )
        if parcels.crs is None and self.crs is not None:
            parcels = parcels.set_crs(self.crs)
        elif parcels.crs is not None and self.crs is not None and parcels.crs != self.crs:
            raise ValueError(f"a chunk is in {parcels.crs.to_string()}, not {self.crs.to_string()}")
        part = self._part(parcels)
        names = (tuple(part.num), tuple(part.dist))
        if self._columns is None:
            self._columns = names
        elif names != self._columns:
            raise ValueError(
                f"a chunk has the area and distance columns {names}, the first had "
                f"{self._columns}; every chunk needs the same columns"
            )
        if parcels.crs is not None:
            self.crs = parcels.crs
        self._parts.append(part)
        if len(self._parts) >= MERGE_EVERY:
            self._parts = [_merge(self._parts)]

    def _part(self, parcels: GeoDataFrame) -> _Part:
        geoms = parcels.geometry.to_numpy()
        drawn = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        rows = parcels if drawn.all() else parcels.loc[drawn]
        # as build_result_map: the drawn parcels' reasons parsed in a thread (Arrow and GEOS
        # release the GIL) while the parcels, only the columns drawn, are reprojected
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landplan-reasons")
        try:
            ids = rows["parcel_id"].astype(str).tolist()
            future = pool.submit(reason_rows, rows["reasons"], ids)
        finally:
            pool.shutdown(wait=False)  # the thread ends after its one task
        drawn_columns = {"parcel_id", "verdict", self.style_by, *NUMBERS}
        wgs84 = to_wgs84(
            parcels[
                [
                    c
                    for c in parcels.columns
                    if c in drawn_columns
                    or (str(c).startswith("dist_") and str(c).endswith("_m"))
                    or c == parcels.geometry.name
                ]
            ]
        )
        columns = parcel_columns(wgs84)
        reasons = future.result()
        if self.style_by in FIXED_STYLES:
            classes = parcel_classes(wgs84, self.style_by)
            self._classes = classes
            cls, style = _small(classes.index), None
        else:
            cls, style = None, wgs84[self.style_by].reset_index(drop=True)
        g = encode_geometries(wgs84.geometry.to_numpy())
        return _Part(
            n_given=len(parcels),
            projected_bounds=np.asarray(parcels.total_bounds) if len(parcels) else None,
            bounds=np.asarray(wgs84.total_bounds) if len(wgs84) else None,
            ids=pa.array(columns["ids"], pa.large_string()),
            cls=cls,
            style=style,
            v=_small(columns["v"]),
            num=columns["num"],
            dist={k: _metres(a) for k, a in columns["dist"].items()},
            g={k: _small(a) for k, a in g.items()},
            reasons=_smaller(reasons),
        )

    def build(
        self,
        *,
        constraints: dict[str, GeoDataFrame] | None = None,
        networks: GeoDataFrame | None = None,
        lang: Lang = "zh",
        title: str | None = None,
        tiles: str | None = "OpenStreetMap",
        overlays: dict[str, str | os.PathLike[str]] | None = None,
        assets: AssetMode = "cdn",
        assets_base_url: str = "/assets",
        api_base: str = "",
        vector_tile_threshold: int | None = None,
        collapse_layers: bool = False,
    ) -> folium.Map:
        """The same map ``build_result_map(pd.concat(chunks), same arguments)`` gives.

        The parts stay usable: more chunks may be added and the map built again.  Without
        any chunk, the map of no parcels.

        Raises
        ------
        ValueError
            As :func:`maps.build_result_map` (unknown ``lang``, networks without ``kind`` /
            ``status``).
        """
        check_map_arguments(lang, networks)
        parcel_bounds, draw, classes = self._parcel_layer(vector_tile_threshold, lang)
        return compose_result_map(
            parcel_bounds,
            draw,
            classes,
            constraints=constraints,
            networks=networks,
            lang=lang,
            title=title,
            tiles=tiles,
            overlays=overlays,
            basemap=None,
            local_basemaps=(),
            tk=None,
            embed_key=False,
            assets=assets,
            assets_base_url=assets_base_url,
            api_base=api_base,
            collapse_layers=collapse_layers,
        )

    def _parcel_layer(self, vector_tile_threshold: int | None, lang: Lang):
        """The parcels' CRS84 bounds, the layer's drawing function (None: vector tiles), classes."""
        if self.tiles_only:
            box = self._extent[1]
            bounds = wgs84_box(self.crs, box) if box is not None else np.array(CHINA_CRS84)
            return bounds, None, None
        if len(self._parts) > 1:
            self._parts = [_merge(self._parts)]
        part = self._parts[0] if self._parts else self._part(self._empty_frame())
        if use_vector_tiles(part.n_given, threshold=vector_tile_threshold):
            return wgs84_box(self.crs, part.projected_bounds), None, None
        if part.cls is not None:
            classes = _with_index(self._classes, part.cls)
        else:
            classes = parcel_classes(pd.DataFrame({self.style_by: part.style}), self.style_by)
        columns = {"ids": part.ids.to_pylist(), "v": part.v, "num": part.num}
        dist = {k: a.astype(np.float64) for k, a in part.dist.items()}
        data = payload(
            {**columns, "dist": dist}, classes.index, lay_out_reasons(part.reasons), part.g
        )

        def draw(m: folium.Map) -> None:
            add_parcel_data(m, data, classes, lang=lang)

        return part.bounds, draw, classes

    def _empty_frame(self) -> GeoDataFrame:
        from geopandas import GeoDataFrame, GeoSeries

        cols = {c: pd.Series([], dtype=object) for c in (*PARCEL_COLUMNS, self.style_by)}
        return GeoDataFrame(cols, geometry=GeoSeries([], crs=self.crs), crs=self.crs)


def _with_index(classes: Any, index: np.ndarray) -> Any:
    from dataclasses import replace

    return replace(classes, index=np.asarray(index, dtype=np.int64))


def _small(a: Any) -> np.ndarray:
    """An integer array in the narrowest of int8/16/32/64 that holds its values."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        return a
    lo, hi = (int(a.min()), int(a.max())) if len(a) else (0, 0)
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return a.astype(t, copy=False)
    return a.astype(np.int64, copy=False)


def _metres(a: np.ndarray) -> np.ndarray:
    """Whole metres (NaN where missing) as float32 when every one is exact in it (below 2**24
    m); float64 otherwise."""
    exact = np.isnan(a) | (np.abs(a) <= 2**24)
    return a.astype(np.float32) if exact.all() else a.astype(np.float64)


def _smaller(rows: ReasonRows) -> ReasonRows:
    return ReasonRows(
        **{
            f.name: _small(v) if isinstance(v := getattr(rows, f.name), np.ndarray) else v
            for f in fields(rows)
        }
    )


def _union(bounds: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """The bounds spanning all given bounds (NaN ignored, as ``total_bounds`` ignores it)."""
    given = [b for b in bounds if b is not None]
    if not given:
        return None
    stacked = np.vstack(given)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: NaN, as total_bounds gives
        lo, hi = np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0)
    return np.array([lo[0], lo[1], hi[2], hi[3]])


def _cat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return _small(np.concatenate(arrays)) if arrays else np.zeros(0, dtype=np.int8)


def _merge(parts: Sequence[_Part]) -> _Part:
    """The parts as one (their parcels one after the other)."""
    first = parts[0]
    return _Part(
        n_given=sum(p.n_given for p in parts),
        projected_bounds=_union([p.projected_bounds for p in parts]),
        bounds=_union([p.bounds for p in parts]),
        ids=pa.concat_arrays([p.ids for p in parts]),
        cls=None if first.cls is None else _cat([p.cls for p in parts]),
        style=None
        if first.style is None
        else pd.concat([p.style for p in parts], ignore_index=True),
        v=_cat([p.v for p in parts]),
        num={k: np.concatenate([p.num[k] for p in parts]) for k in first.num},
        dist={k: _metres(np.concatenate([p.dist[k] for p in parts])) for k in first.dist},
        g={k: _cat([p.g[k] for p in parts]) for k in first.g},
        reasons=merge_reason_rows([p.reasons for p in parts]),
    )


def _vocabulary(tables: Sequence[pa.Array]) -> tuple[list[np.ndarray], pa.Array]:
    """The distinct texts of all tables (in order of first appearance) and, per table, the
    index of each of its texts among them."""
    texts = pa.concat_arrays([t.cast(pa.large_string()) for t in tables])
    codes, table = _codes(texts)
    return np.split(codes, np.cumsum([len(t) for t in tables])[:-1]), table


def merge_reason_rows(parts: Sequence[ReasonRows], /) -> ReasonRows:
    """The :class:`maps.compact.ReasonRows` of the parcels of ``parts``, one after the other.

    Rows equal in every field (code, severity, unrounded value and threshold, unit, basis, both
    messages) become one, in order of first appearance, as :func:`maps.compact.reason_rows`
    of the concatenated ``reasons`` makes them; tables are merged and indexes remapped.
    """
    if len(parts) == 1:
        return parts[0]
    i64 = np.int64

    def cat(values: Any) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=i64) for v in values])

    code_map, codes = _vocabulary([p.codes for p in parts])
    unit_map, units = _vocabulary([p.units for p in parts])
    basis_map, bases = _vocabulary([p.bases for p in parts])
    number_map, numbers = _vocabulary([p.numbers for p in parts])
    text_map, texts = _vocabulary([p.templates for p in parts])
    # a template is its text and how many numbers it takes
    t_text, t_k = np.concatenate(text_map), cat(p.template_k for p in parts)
    t_key, t_first = _factorize_rows(t_text, t_k)
    t_start = np.cumsum([0] + [len(p.template_k) for p in parts[:-1]])
    template_k = t_k[t_first]

    code = cat(m[p.code] for m, p in zip(code_map, parts, strict=True))
    unit = cat(m[p.unit] for m, p in zip(unit_map, parts, strict=True))
    basis = cat(m[p.basis] for m, p in zip(basis_map, parts, strict=True))
    zh = t_key[cat(s + np.asarray(p.zh, i64) for s, p in zip(t_start, parts, strict=True))]
    en = t_key[cat(s + np.asarray(p.en, i64) for s, p in zip(t_start, parts, strict=True))]
    block, q = cat(p.block for p in parts), cat(p.q for p in parts)
    value = np.concatenate([p.value for p in parts])
    threshold = np.concatenate([p.threshold for p in parts])
    args = cat(m[p.args] for m, p in zip(number_map, parts, strict=True))
    arg_len = template_k[zh] + np.where(q == 1, 0, template_k[en])
    if int(arg_len.sum()) != len(args):
        raise AssertionError("reason rows: numbers do not match their templates")

    # one key per row's numbers: its indexes as bytes, dictionary-encoded by Arrow
    offsets = np.concatenate(([0], np.cumsum(arg_len))) * 8
    numbers_key = pa.Array.from_buffers(
        pa.large_binary(),
        len(arg_len),
        [None, pa.py_buffer(offsets.astype(i64)), pa.py_buffer(args.astype("<i8").tobytes())],
    )
    row, first = _factorize_rows(
        code,
        block,
        np.unique(value, return_inverse=True)[1].ravel(),  # NaN once
        np.unique(threshold, return_inverse=True)[1].ravel(),
        unit,
        basis,
        zh,
        en,
        q,
        _codes(numbers_key)[0],
    )
    row_start = np.cumsum([0] + [len(p.code) for p in parts[:-1]])
    arg_start = offsets[:-1] // 8
    return _smaller(
        ReasonRows(
            rn=cat(p.rn for p in parts),
            r=row[cat(s + np.asarray(p.r, i64) for s, p in zip(row_start, parts, strict=True))],
            code=code[first],
            unit=unit[first],
            basis=basis[first],
            block=block[first].astype(np.int8),
            value=value[first],
            threshold=threshold[first],
            zh=zh[first],
            en=en[first],
            q=q[first].astype(np.int8),
            args=args[_ragged(arg_start[first], arg_len[first])],
            codes=codes,
            units=units,
            bases=bases,
            templates=texts.take(pa.array(t_text[t_first], pa.int64())),
            template_k=template_k,
            numbers=numbers,
        )
    )

"""What it takes to develop each parcel, when a DEM is given: terrain, suitability and cost.

Steps (all rasters on the DEM's grid in the workspace CRS, written block by block):

1. the DEM is warped into the workspace CRS (COG); slope (Horn, degrees) and relief follow, and
   the 双评价 城镇建设 land-resource class (1 高 … 5 低; ``land_grade.tif``, and per parcel the
   class covering most of its area, ``land_grade_majority``);
2. distance rasters to the built networks the suitability factors name (``dist:<kind>``);
3. the hard-constraint mask: land excluded by the policy's ``exclude`` layers, land outside every
   ``require_inside`` layer, and cells steeper than ``terrain.hard_slope_deg``;
4. the suitability surface from the policy's ``[suitability.*]`` factors (0–100; masked cells 0);
5. per parcel, with exact partial-cell coverage: slope mean/min/max, the share steeper than
   ``terrain.max_slope_deg``, mean suitability, and the balanced-pad earthwork — all from one
   exactextract pass over the parcels (:func:`landplan.raster.zonal.grid_cells`);
6. per parcel cost (万元)::

       earthwork_cost_wan = (cut_m3 · cut_yuan_per_m3 + fill_m3 · fill_yuan_per_m3) / 10 000
       extension_cost_wan = Σ_kinds  dist_<kind>_m · extension_yuan_per_m[kind] / 10 000
                            (each required network whose nearest built segment is farther than
                             its ``connected_m``; the straight-line distance is a lower bound of
                             the route, see ``landplan.raster.costdistance.least_cost_routes``)
       dev_cost_wan        = earthwork_cost_wan + extension_cost_wan
       dev_cost_wan_per_mu = dev_cost_wan / net_available_mu
       cost_weighted_suitability = suitability_mean / (1 + dev_cost_wan_per_mu / reference_cost_wan_per_mu)

   so a parcel whose development costs the reference amount per 亩 keeps half its suitability.
   Unit costs come from the policy's ``[costs]`` table (placeholders where no source exists).

The float rasters are written as plain, uncompressed tiled GeoTIFFs, which the later steps read
without decompressing; :class:`CogQueue` turns each into a COG in a background thread as soon as
it is complete (GDAL compresses without holding the GIL) and moves the COGs in place at the end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from landplan.core.parallel import trim_heap
from landplan.core.policy import Policy
from landplan.core.units import M2_PER_MU

if TYPE_CHECKING:
    from landplan.raster.zonal import GridCells

BLOCK_ROWS = 512
#: rows graded at a time: cache-sized temporaries (0.37 -> 0.28 s on 4000², the same classes)
GRADE_ROWS = 64
StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class DevelopmentResult:
    """Per-parcel columns (aligned with the parcels) and the rasters written."""

    columns: pd.DataFrame
    rasters: dict[str, Path]


@dataclass(frozen=True)
class DemView:
    """The DEM ``src`` as the job sees it: in ``crs``, warped on the fly exactly as
    :func:`warp_dem` writes it to ``like``.

    Its grid is known before the warped file exists, so the parcels' cells can be found
    (:meth:`locate`) while it is written; the cells then belong to ``like``'s grid."""

    src: Path
    crs: object
    like: Path

    @contextlib.contextmanager
    def open(self) -> Iterator:
        """The source dataset, or a warped VRT of it in :attr:`crs` (bilinear)."""
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        from landplan.raster.grid import open_raster

        with open_raster(self.src, projected=False) as ds:
            if ds.crs == self.crs:
                yield ds
            else:
                with WarpedVRT(ds, crs=self.crs, resampling=Resampling.bilinear) as vrt:
                    yield vrt

    def locate(self, parcels) -> GridCells:
        """:func:`~landplan.raster.zonal.locate_cells` of ``parcels`` on :attr:`like`'s grid."""
        from landplan.raster.zonal import locate_cells_on

        with self.open() as ref:
            return locate_cells_on(ref, parcels, like=self.like)


def warp_dem(src: Path, dst: Path, /, *, crs, cog: bool = True) -> Path:
    """The DEM in the workspace CRS (streamed through a warped VRT, bounded memory).

    A Cloud-Optimised GeoTIFF; ``cog=False``: a plain tiled, uncompressed GeoTIFF (fast to
    write and to read; :class:`CogQueue` turns it into a COG later).
    """
    import rasterio
    import rasterio.shutil

    from landplan.raster.grid import GDAL_CACHE_BYTES, TILED_OPTIONS, copy_to_cog

    dst.parent.mkdir(parents=True, exist_ok=True)
    view = DemView(Path(src), crs, Path(dst))
    with view.open() as ds:
        if cog:
            copy_to_cog(ds, dst)
        else:
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
                rasterio.shutil.copy(ds, dst, driver="GTiff", **TILED_OPTIONS)
    return dst


class CogQueue:
    """Turns finished plain GeoTIFFs into Cloud-Optimised ones in a background thread.

    Each COG is written beside its source and moves over it when the ``with`` block ends
    without an error, so code in the block reads the plain (uncompressed, quick) files while
    GDAL compresses in parallel (it releases the GIL).  On an error nothing is replaced and
    the temporary files are removed.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="landplan-cog")
        self._jobs: list[tuple[Path, Path, object]] = []

    def add(self, path: Path) -> Path:
        """Queue ``path`` for conversion; returns it."""
        path = Path(path)
        tmp = path.with_name(f".{path.stem}.cog.tmp.tif")
        self._jobs.append((path, tmp, self._pool.submit(_to_cog, path, tmp)))
        return path

    def __enter__(self) -> CogQueue:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
            if exc_type is None:
                for _, _, job in self._jobs:
                    job.result()  # a failed conversion raises here
                for path, tmp, _ in self._jobs:
                    os.replace(tmp, path)
        finally:
            for _, tmp, _ in self._jobs:
                tmp.unlink(missing_ok=True)


def _to_cog(src: Path, dst: Path) -> None:
    from landplan.raster.grid import copy_to_cog

    copy_to_cog(src, dst)


def constraint_mask(
    like: Path,
    out: Path,
    /,
    *,
    exclude: list,
    inside: list,
    slope: Path | None,
    hard_slope_deg: float,
) -> Path:
    """Write a uint8 mask (1 = hard constraint) on the grid of ``like``, block by block.

    ``exclude``: polygons whose cells are constrained (any number of layers' polygons, in any
    order: a cell whose centre is in one of them is masked).  ``inside``: one item per
    ``require_inside`` layer, a polygon or a sequence of the layer's polygons; a cell outside
    every polygon of such a layer is masked.
    """
    import rasterio
    from rasterio.features import rasterize
    from rasterio.windows import Window, bounds, transform

    # rasterize takes GeoJSON-like shapes: each polygon is converted once (not once per
    # block), and a block gets only the excluded polygons that reach it
    ex = _polygons(exclude)
    ex_tree = shapely.STRtree(ex) if len(ex) else None
    ex_shapes: dict[int, dict] = {}
    ins = []
    for layer in inside:
        polys = _polygons([layer] if isinstance(layer, shapely.Geometry) else layer)
        ins.append(_geojson(polys))
    with rasterio.open(like) as ref:
        profile = ref.profile | {
            "driver": "GTiff",
            "dtype": "uint8",
            "nodata": 255,
            "count": 1,
            "compress": "deflate",
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        slope_ds = rasterio.open(slope) if slope is not None else None
        try:
            with rasterio.open(out, "w", **profile) as dst:
                for top in range(0, ref.height, BLOCK_ROWS):
                    win = Window(0, top, ref.width, min(BLOCK_ROWS, ref.height - top))
                    tf, shape = transform(win, ref.transform), (int(win.height), int(win.width))
                    box = shapely.box(*bounds(win, ref.transform))
                    mask = np.zeros(shape, dtype="uint8")
                    if ex_tree is not None:
                        hits = ex_tree.query(box, predicate="intersects")
                        new = [i for i in hits if i not in ex_shapes]
                        ex_shapes.update(zip(new, _geojson(ex[new]), strict=True))
                        if len(hits):
                            mask |= rasterize(
                                [ex_shapes[i] for i in hits],
                                out_shape=shape,
                                transform=tf,
                                fill=0,
                                default_value=1,
                                dtype="uint8",
                            )
                    for shapes in ins:
                        if not shapes:  # an empty layer constrains nothing
                            continue
                        mask |= 1 - rasterize(
                            shapes,
                            out_shape=shape,
                            transform=tf,
                            fill=0,
                            default_value=1,
                            dtype="uint8",
                        )
                    if slope_ds is not None:
                        s = _floats(slope_ds, win)  # NaN where no data: never steep
                        mask |= (s > hard_slope_deg).view(np.uint8)
                    dst.write(mask, 1, window=win)
        finally:
            if slope_ds is not None:
                slope_ds.close()
    return out


def _polygons(geoms) -> np.ndarray:
    """The polygons of ``geoms`` (multi-polygons split into parts; empty and missing dropped)."""
    arr = np.asarray(list(geoms), dtype=object)
    if len(arr) == 0:
        return arr
    arr = shapely.get_parts(arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))])
    arr = arr[~shapely.is_empty(arr)]
    coords, index = shapely.get_coordinates(arr, return_index=True)
    finite = np.ones(len(arr), dtype=bool)
    np.logical_and.at(finite, index, np.isfinite(coords).all(axis=1))
    return arr[finite]  # a NaN coordinate cannot be burnt (nor was it a usable polygon)


def _geojson(geoms) -> list[dict]:
    """GeoJSON-like mappings for rasterio, converted in C (``shapely.to_geojson``)."""
    import json

    return [json.loads(text) for text in shapely.to_geojson(np.asarray(geoms, dtype=object))]


def grade_raster(dem: Path, slope: Path, relief: Path, out: Path, /) -> Path:
    """The 双评价 城镇建设 land-resource class (1 高 … 5 低, 0 = no data) on the DEM grid, block by block."""
    import rasterio
    from rasterio.windows import Window

    from landplan.raster.suitability import land_resource_grade

    with rasterio.open(dem) as z, rasterio.open(slope) as s, rasterio.open(relief) as r:
        profile = z.profile | {
            "driver": "GTiff",
            "dtype": "uint8",
            "nodata": 0,
            "count": 1,
            "compress": "deflate",
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(out, "w", **profile) as dst:
            for top in range(0, z.height, GRADE_ROWS):
                win = Window(0, top, z.width, min(GRADE_ROWS, z.height - top))
                dst.write(land_resource_grade(*(_floats(ds, win) for ds in (s, z, r))), 1,
                          window=win)  # fmt: skip
    return out


def _floats(ds, window) -> np.ndarray:
    """Band 1 in ``window`` as floats (float32 stays float32), NaN where the dataset masks it."""
    from rasterio.enums import MaskFlags

    flags = set(ds.mask_flag_enums[0])
    if flags <= {MaskFlags.nodata, MaskFlags.all_valid} and (ds.scales[0], ds.offsets[0]) == (1, 0):
        a = ds.read(1, window=window)
        if a.dtype.kind != "f":
            a = a.astype("float64")
        if MaskFlags.nodata in flags and ds.nodata is not None and not np.isnan(ds.nodata):
            a[a == a.dtype.type(ds.nodata)] = np.nan
        return a
    return ds.read(1, window=window, masked=True).astype("float64").filled(np.nan)


def _suitability_config(policy: Policy, rasters: dict[str, Path], mask: Path):
    from landplan.raster.suitability import SuitabilityConfig

    factors = []
    for name, rule in policy.suitability.items():
        path = rasters.get(rule.source.replace("dist:", "dist_"))
        if path is None:
            continue  # e.g. no network of that kind in the workspace
        factors.append(
            {"name": name, "raster": path, "rescale": rule.rescale, "weight": rule.weight}
        )
    return SuitabilityConfig(factors=factors, masks=[mask]) if factors else None


def _distance_rasters(
    networks: GeoDataFrame, dem: Path, folder: Path, policy: Policy
) -> dict[str, Path]:
    """Distance rasters (plain GeoTIFFs) to the built networks the suitability factors name."""
    from landplan.raster.distance import distance_raster

    out = {}
    kinds = {
        r.source.split(":", 1)[1]
        for r in policy.suitability.values()
        if r.source.startswith("dist:")
    }
    import rasterio

    with rasterio.open(dem) as ds:
        grid_box = shapely.box(*ds.bounds)
    for kind in sorted(kinds):
        built = networks[(networks["kind"] == kind) & (networks["status"] == "built")]
        if len(built):
            path = folder / f"dist_{kind}.tif"
            # a network wholly off the DEM (a main 200 km away) is never burnt into a tile:
            # measure to the vector geometry instead, so every cell gets its (large) distance
            off_grid = not shapely.intersects(np.asarray(built.geometry.values), grid_box).any()
            distance_raster(built, dem, path, exact=off_grid, cog=False)
            out[f"dist_{kind}"] = path
    return out


def analyze_development(
    parcels: GeoDataFrame,
    table: pd.DataFrame,
    *,
    dem_path: Path,
    constraints: dict,
    networks: GeoDataFrame,
    policy: Policy,
    folder: Path,
    on_step: StepCallback | None = None,
) -> DevelopmentResult:
    """Terrain, suitability and development cost per parcel (see the module docstring).

    ``table`` holds the parcels' ``net_available_mu`` and ``dist_<kind>_m`` columns.
    """
    cols, rasters = terrain_columns(
        parcels,
        usable_parcels(parcels, table),
        dem_path=dem_path,
        constraints=constraints,
        networks=networks,
        policy=policy,
        folder=folder,
        on_step=on_step,
    )
    cols = pd.concat([cols, development_costs(cols, table.reset_index(drop=True), policy)], axis=1)
    return DevelopmentResult(cols, rasters)


def terrain_columns(
    parcels: GeoDataFrame,
    usable: np.ndarray,
    *,
    dem_path: Path,
    constraints: dict,
    networks: GeoDataFrame,
    policy: Policy,
    folder: Path,
    on_step: StepCallback | None = None,
    locate=None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Steps 1–5 of the module docstring: the rasters, and per parcel the zonal columns.

    Only ``usable`` parcels (:func:`usable_parcels`) reach exactextract; the others get NaN.
    The columns depend on no other per-parcel figure, so the main job computes them once for
    every parcel and adds the costs (:func:`development_costs`) chunk by chunk.
    ``locate(view, parcels)`` (optional) returns a future of ``view.locate(parcels)``
    (:meth:`DemView.locate`) computed elsewhere (the main job's chunk worker, idle
    meanwhile), or None; by default the cells are found in a thread here.  Either way the
    search starts before the DEM is warped: it needs only the grid.
    """
    from landplan.raster.suitability import score_suitability
    from landplan.raster.terrain import relief, slope

    step = on_step or (lambda _: None)
    folder.mkdir(parents=True, exist_ok=True)
    sub = parcels.loc[usable].reset_index(drop=True)
    # Rasters are written plain (uncompressed) and read so by the steps below; CogQueue
    # compresses them into COGs alongside and puts the COGs in place at the end.  The cells
    # each parcel touches depend only on the DEM's grid: exactextract finds them in a thread
    # while the rasters are computed (it holds the GIL; they mostly do not).
    with CogQueue() as cogs, ThreadPoolExecutor(1, thread_name_prefix="landplan-cells") as pool:
        step("terrain")
        # the cells are asked for first: they need only the warped DEM's grid
        view = DemView(Path(dem_path), parcels.crs, folder / "dem.tif")
        located = locate(view, sub[[sub.geometry.name]]) if locate is not None else None
        if located is None:
            located = pool.submit(view.locate, sub)
        dem = cogs.add(warp_dem(dem_path, view.like, crs=parcels.crs, cog=False))
        rasters = {"dem": dem}
        rasters["slope"] = cogs.add(slope(dem, folder / "slope.tif", cog=False).path)
        rasters["relief"] = cogs.add(relief(dem, folder / "relief.tif", cog=False).path)
        rasters["land_grade"] = grade_raster(
            dem, rasters["slope"], rasters["relief"], folder / "land_grade.tif"
        )
        trim_heap()  # each step's freed memory goes back before the next (see trim_heap)
        for name, path in _distance_rasters(networks, dem, folder, policy).items():
            rasters[name] = cogs.add(path)
        # the layers' polygons as they are: rasterising them one by one marks the cells their
        # union would (no dissolve needed)
        exclude = [
            geom
            for k, g in constraints.items()
            if policy.rule_for(k).action == "exclude"
            for geom in g.geometry.values
        ]
        inside = [
            g.geometry.values
            for k, g in constraints.items()
            if policy.rule_for(k).action == "require_inside"
        ]
        rasters["constraint_mask"] = constraint_mask(
            dem,
            folder / "constraint_mask.tif",
            exclude=exclude,
            inside=inside,
            slope=rasters["slope"],
            hard_slope_deg=policy.terrain.hard_slope_deg,
        )
        trim_heap()
        step("suitability")
        config = _suitability_config(policy, rasters, rasters["constraint_mask"])
        if config is not None:
            path = score_suitability(config, folder / "suitability.tif", cog=False).path
            rasters["suitability"] = cogs.add(path)
        step("zonal")
        cols = _zonal_columns(located.result(), rasters, policy)
    cols = cols.set_index(np.flatnonzero(usable)).reindex(np.arange(len(parcels)))
    trim_heap()
    return cols, rasters


def usable_parcels(parcels: GeoDataFrame, table: pd.DataFrame | None = None) -> np.ndarray:
    """Parcels whose geometry exactextract can take: validation's verdict, and a check of our own."""
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ok[ok] &= shapely.is_valid(geoms[ok]) & (shapely.area(geoms[ok]) > 0)
    if table is not None and "geometry_empty" in table:
        ok &= ~table["geometry_empty"].to_numpy(dtype=bool)
    return ok


def _zonal_columns(located: GridCells, rasters, policy) -> pd.DataFrame:
    """Slope, land grade, suitability and earthwork per parcel, from the parcels' cells."""
    from landplan.raster.earthwork import earthwork_of_grid

    names = ["dem", "slope", "land_grade"] + (["suitability"] if "suitability" in rasters else [])
    cells = located.on({k: rasters[k] for k in names}, projected=True)
    slope = cells.stats("slope", ("mean", "min", "max"), above=policy.terrain.max_slope_deg)
    cols = pd.DataFrame(
        {
            "slope_mean_deg": slope["mean"],
            "slope_min_deg": slope["min"],
            "slope_max_deg": slope["max"],
            "steep_share": slope["share_above"],
            "land_grade_majority": cells.stats("land_grade", ("majority",))["majority"],
        }
    )
    if "suitability" in rasters:
        cols["suitability_mean"] = cells.stats("suitability", ("mean",))["mean"]
    work = earthwork_of_grid(cells, "dem")
    cols["balanced_elevation_m"] = work["balanced_elevation_m"].to_numpy()
    cols["cut_m3"] = work["balanced_cut_m3"].to_numpy()
    cols["fill_m3"] = work["balanced_fill_m3"].to_numpy()
    cols["max_cut_m"] = work["balanced_max_cut_m"].to_numpy()
    cols["max_fill_m"] = work["balanced_max_fill_m"].to_numpy()
    return cols


def development_costs(
    terrain: pd.DataFrame, table: pd.DataFrame, policy: Policy, /
) -> pd.DataFrame:
    """Earthwork, network-extension and total development cost (万元, 万元/亩) per parcel."""
    c = policy.costs
    earth = (
        terrain["cut_m3"].fillna(0) * c.cut_yuan_per_m3()
        + terrain["fill_m3"].fillna(0) * c.fill_yuan_per_m3
    )
    extension = np.zeros(len(table))
    for kind in policy.required_networks():
        col = f"dist_{kind}_m"
        unit = c.extension_yuan_per_m.get(kind)
        if col not in table or unit is None:
            continue
        dist = table[col].to_numpy(dtype="float64")
        far = np.nan_to_num(dist, nan=0.0) > policy.networks[kind].connected_m
        extension += np.where(far, np.nan_to_num(dist) * unit, 0.0)
    out = pd.DataFrame(
        {"earthwork_cost_wan": earth.to_numpy() / 1e4, "extension_cost_wan": extension / 1e4}
    )
    out["dev_cost_wan"] = out["earthwork_cost_wan"] + out["extension_cost_wan"]
    net_mu = table["net_available_mu"].to_numpy(dtype="float64")
    # per 亩 is undefined without available land (the parcel's NO_AVAILABLE_LAND reason says why):
    # NaN, never the 1e11 万元/亩 of a 1e-10 m² leftover
    floor_mu = policy.tolerances.min_net_available_m2 / M2_PER_MU
    with np.errstate(divide="ignore", invalid="ignore"):
        out["dev_cost_wan_per_mu"] = np.where(
            net_mu >= max(floor_mu, 1e-12), out["dev_cost_wan"] / net_mu, np.nan
        )
    if "suitability_mean" in terrain:
        out["cost_weighted_suitability"] = terrain["suitability_mean"].to_numpy() / (
            1.0 + out["dev_cost_wan_per_mu"].to_numpy() / c.reference_cost_wan_per_mu
        )
    return out

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
   ``terrain.max_slope_deg``, mean suitability, and the balanced-pad earthwork;
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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from landplan.core.policy import Policy
from landplan.core.units import M2_PER_MU

BLOCK_ROWS = 512
StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class DevelopmentResult:
    """Per-parcel columns (aligned with the parcels) and the rasters written."""

    columns: pd.DataFrame
    rasters: dict[str, Path]


def warp_dem(src: Path, dst: Path, /, *, crs) -> Path:
    """The DEM as a COG in the workspace CRS (streamed through a warped VRT, bounded memory)."""
    import rasterio
    import rasterio.shutil
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    from landplan.raster.grid import open_raster

    dst.parent.mkdir(parents=True, exist_ok=True)
    with open_raster(src, projected=False) as ds:
        if ds.crs == crs:
            rasterio.shutil.copy(ds, dst, driver="COG", compress="DEFLATE")
        else:
            with WarpedVRT(ds, crs=crs, resampling=Resampling.bilinear) as vrt:
                rasterio.shutil.copy(vrt, dst, driver="COG", compress="DEFLATE")
    return dst


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
    """Write a uint8 mask (1 = hard constraint) on the grid of ``like``, block by block."""
    import rasterio
    from rasterio.features import rasterize
    from rasterio.windows import Window, bounds, transform

    ex = np.asarray([g for g in exclude if g is not None and not g.is_empty], dtype=object)
    ins = [g for g in inside if g is not None and not g.is_empty]
    ex_tree = shapely.STRtree(ex) if len(ex) else None
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
                        hits = ex[ex_tree.query(box, predicate="intersects")]
                        if len(hits):
                            mask |= rasterize(
                                hits,
                                out_shape=shape,
                                transform=tf,
                                fill=0,
                                default_value=1,
                                dtype="uint8",
                            )
                    for g in ins:
                        mask |= 1 - rasterize(
                            [g],
                            out_shape=shape,
                            transform=tf,
                            fill=0,
                            default_value=1,
                            dtype="uint8",
                        )
                    if slope_ds is not None:
                        s = slope_ds.read(1, window=win, masked=True)
                        mask |= (s.filled(0) > hard_slope_deg).astype("uint8")
                    dst.write(mask, 1, window=win)
        finally:
            if slope_ds is not None:
                slope_ds.close()
    return out


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
            for top in range(0, z.height, BLOCK_ROWS):
                win = Window(0, top, z.width, min(BLOCK_ROWS, z.height - top))
                bands = [
                    ds.read(1, window=win, masked=True).astype("float64").filled(np.nan)
                    for ds in (s, z, r)
                ]
                dst.write(land_resource_grade(*bands), 1, window=win)
    return out


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
            distance_raster(built, dem, path, exact=off_grid)
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
    from landplan.analysis.constraints import dissolve
    from landplan.raster.earthwork import earthwork
    from landplan.raster.suitability import score_suitability
    from landplan.raster.terrain import relief, slope
    from landplan.raster.zonal import share_above, zonal_stats

    step = on_step or (lambda _: None)
    folder.mkdir(parents=True, exist_ok=True)
    step("terrain")
    rasters = {"dem": warp_dem(dem_path, folder / "dem.tif", crs=parcels.crs)}
    rasters["slope"] = slope(rasters["dem"], folder / "slope.tif").path
    rasters["relief"] = relief(rasters["dem"], folder / "relief.tif").path
    rasters["land_grade"] = grade_raster(
        rasters["dem"], rasters["slope"], rasters["relief"], folder / "land_grade.tif"
    )
    rasters |= _distance_rasters(networks, rasters["dem"], folder, policy)
    exclude = [
        dissolve(g.geometry.values)
        for k, g in constraints.items()
        if policy.rule_for(k).action == "exclude"
    ]
    inside = [
        dissolve(g.geometry.values)
        for k, g in constraints.items()
        if policy.rule_for(k).action == "require_inside"
    ]
    rasters["constraint_mask"] = constraint_mask(
        rasters["dem"],
        folder / "constraint_mask.tif",
        exclude=exclude,
        inside=inside,
        slope=rasters["slope"],
        hard_slope_deg=policy.terrain.hard_slope_deg,
    )
    step("suitability")
    config = _suitability_config(policy, rasters, rasters["constraint_mask"])
    if config is not None:
        rasters["suitability"] = score_suitability(config, folder / "suitability.tif").path
    step("zonal")
    # only parcels with a usable geometry reach exactextract; the others get NaN (GEOMETRY_EMPTY)
    usable = _usable(parcels, table)
    sub = parcels.loc[usable].reset_index(drop=True)
    cols = _zonal_columns(sub, rasters, policy, zonal_stats, share_above)
    work = earthwork(rasters["dem"], sub)
    cols["balanced_elevation_m"] = work["balanced_elevation_m"].to_numpy()
    cols["cut_m3"] = work["balanced_cut_m3"].to_numpy()
    cols["fill_m3"] = work["balanced_fill_m3"].to_numpy()
    cols["max_cut_m"] = work["balanced_max_cut_m"].to_numpy()
    cols["max_fill_m"] = work["balanced_max_fill_m"].to_numpy()
    cols = cols.set_index(np.flatnonzero(usable)).reindex(np.arange(len(parcels)))
    cols = pd.concat([cols, development_costs(cols, table.reset_index(drop=True), policy)], axis=1)
    return DevelopmentResult(cols, rasters)


def _usable(parcels: GeoDataFrame, table: pd.DataFrame) -> np.ndarray:
    """Parcels whose geometry exactextract can take: validation's verdict, and a check of our own."""
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ok[ok] &= shapely.is_valid(geoms[ok]) & (shapely.area(geoms[ok]) > 0)
    if "geometry_empty" in table:
        ok &= ~table["geometry_empty"].to_numpy(dtype=bool)
    return ok


def _zonal_columns(parcels, rasters, policy, zonal_stats, share_above) -> pd.DataFrame:
    stats = zonal_stats(rasters["slope"], parcels, stats=("mean", "min", "max"))
    cols = pd.DataFrame(
        {
            "slope_mean_deg": stats["mean"].to_numpy(),
            "slope_min_deg": stats["min"].to_numpy(),
            "slope_max_deg": stats["max"].to_numpy(),
            "steep_share": share_above(
                rasters["slope"], parcels, policy.terrain.max_slope_deg
            ).to_numpy(),
        }
    )
    grade = zonal_stats(rasters["land_grade"], parcels, stats=("majority",))["majority"]
    cols["land_grade_majority"] = grade.to_numpy()
    if "suitability" in rasters:
        cols["suitability_mean"] = zonal_stats(rasters["suitability"], parcels, stats=("mean",))[
            "mean"
        ].to_numpy()
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

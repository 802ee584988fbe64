"""Terrain, suitability and development cost per parcel, end to end and by hand."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from landplan.analysis.transfer import decide
from landplan.core.policy import load_policy
from landplan.raster.development import analyze_development, constraint_mask, development_costs
from tests.helpers import GK, X0, Y0, box


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _tilted_dem(path, *, rise_per_m=0.2, n=60, cell=10.0):
    """A plane rising 0.2 m per metre eastwards (slope atan 0.2 = 11.31°) over the test parcels."""
    x = (np.arange(n) + 0.5) * cell
    z = np.tile(2400 + rise_per_m * x, (n, 1)).astype("float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=GK,
        transform=from_origin(X0 - 100, Y0 + 400, cell, cell),
        nodata=-9999,
    ) as ds:
        ds.write(z, 1)
    return path


def test_steep_parcels_get_a_slope_reason_and_an_earthwork_cost(tmp_path, three_parcels, policy):
    dem = _tilted_dem(tmp_path / "dem.tif")
    table = pd.DataFrame(
        {
            "net_available_mu": [15.0, 15.0, 0.0],
            "dist_water_m": [10.0, 500.0, np.nan],
            "dist_road_m": [0.0] * 3,
            "dist_power_m": [0.0] * 3,
        }
    )
    nets = gpd.GeoDataFrame(
        {"kind": ["road"], "status": ["built"]}, geometry=[box(-50, -50, 1, 400).boundary], crs=GK
    )
    dev = analyze_development(
        three_parcels,
        table,
        dem_path=dem,
        constraints={},
        networks=nets,
        policy=policy,
        folder=tmp_path / "r",
    )
    c = dev.columns
    np.testing.assert_allclose(c["slope_mean_deg"], np.degrees(np.arctan(0.2)), atol=1e-4)
    np.testing.assert_allclose(c["steep_share"], 1.0)
    # 11.31° is in the 双评价 8–15° class (3); relief over a 15×15 window is 28 m < 100 m: no downgrade
    assert c["land_grade_majority"].tolist() == [3, 3, 3]
    # a 100 m wide parcel on a 0.2 m/m plane, levelled to its mean: the upper half (100 m × 50 m) is cut by
    # 5 m on average (0 to 10 m), so cut = fill = 5000 m² × 5 m = 25 000 m³
    np.testing.assert_allclose(c["cut_m3"], 25_000, rtol=1e-6)
    np.testing.assert_allclose(c["fill_m3"], c["cut_m3"], rtol=1e-9)
    cost = policy.costs
    expected_earth = 25_000 * (cost.cut_yuan_per_m3() + cost.fill_yuan_per_m3) / 1e4
    np.testing.assert_allclose(c["earthwork_cost_wan"], expected_earth, rtol=1e-3)
    assert c["extension_cost_wan"].tolist() == pytest.approx(
        [0, 500 * cost.extension_yuan_per_m["water"] / 1e4, 0]
    )
    assert np.isnan(c["dev_cost_wan_per_mu"].iat[2])  # no available land: no per-mu cost
    assert set(dev.rasters) >= {
        "dem",
        "slope",
        "relief",
        "dist_road",
        "constraint_mask",
        "suitability",
    }
    verdict = decide(
        pd.concat([_plain_table(), c], axis=1), policy, constraint_kinds=[], network_kinds=[]
    )
    reason = json.loads(verdict["reasons"].iat[0])[0]
    assert reason["code"] == "SLOPE_TOO_STEEP" and reason["severity"] == "warn"
    assert (
        reason["value"] == pytest.approx(1.0)
        and reason["threshold"] == policy.terrain.max_steep_share
    )
    assert "8.53°" in reason["message_zh"] and "11.3°" in reason["message_en"]


def _plain_table():
    return pd.DataFrame(
        {"area_m2": [10_000.0] * 3, "geometry_empty": [False] * 3, "net_available_m2": [1e4] * 3}
    )


def test_development_costs_by_hand(policy):
    terrain = pd.DataFrame({"cut_m3": [1000.0], "fill_m3": [400.0], "suitability_mean": [80.0]})
    table = pd.DataFrame(
        {
            "net_available_mu": [10.0],
            "dist_road_m": [25.0],
            "dist_water_m": [330.0],
            "dist_power_m": [np.nan],
        }
    )
    out = development_costs(terrain, table, policy).iloc[0]
    c = policy.costs
    earth = (1000 * (0.7 * 44.39 + 0.3 * 87.64) + 400 * c.fill_yuan_per_m3) / 1e4
    ext = 330 * c.extension_yuan_per_m["water"] / 1e4  # road is within connected_m, power absent
    assert out["earthwork_cost_wan"] == pytest.approx(earth)
    assert out["extension_cost_wan"] == pytest.approx(ext)
    assert out["dev_cost_wan_per_mu"] == pytest.approx((earth + ext) / 10)
    assert out["cost_weighted_suitability"] == pytest.approx(
        80 / (1 + (earth + ext) / 10 / c.reference_cost_wan_per_mu)
    )


def test_constraint_mask_marks_exclusions_outside_and_steep_cells(tmp_path):
    dem = _tilted_dem(tmp_path / "dem.tif", rise_per_m=0.0)
    out = constraint_mask(
        dem,
        tmp_path / "mask.tif",
        exclude=[box(0, 0, 100, 100)],
        inside=[box(-100, -200, 500, 600)],
        slope=None,
        hard_slope_deg=25,
    )
    with rasterio.open(out) as ds:
        m = ds.read(1)
        t = ds.transform
    # the grid spans x X0−100…X0+500; the inside-boundary ends at X0+400, so its last 10 columns are outside
    assert [m[rasterio.transform.rowcol(t, X0 + dx, Y0 + 50)] for dx in (50, 300, 450)] == [1, 0, 1]
    assert m.sum() == 10 * 10 + 10 * 60  # the excluded box (10 × 10 cells) + 10 columns outside


def test_sample_rasters_and_columns(sample_result):
    r = sample_result.rasters
    assert {"slope", "suitability", "constraint_mask", "land_grade"} <= set(r)
    with rasterio.open(r["suitability"]) as s, rasterio.open(r["constraint_mask"]) as m:
        suit = s.read(1, masked=True)
        mask = m.read(1)
    assert 0 <= suit.min() and suit.max() <= 100
    assert (suit[mask == 1] == 0).all() and (mask == 1).any()
    p = sample_result.parcels
    assert p["suitability_mean"].between(0, 100).all()
    assert (p["dev_cost_wan"] >= p["earthwork_cost_wan"]).all()


def test_per_mu_costs_are_nan_without_available_land(policy):
    """A 1e-10 m² leftover of a parcel inside a red line must not give 1e11 万元/亩."""
    terrain = pd.DataFrame(
        {"cut_m3": [1000.0] * 3, "fill_m3": [400.0] * 3, "suitability_mean": [80.0] * 3}
    )
    table = pd.DataFrame({"net_available_mu": [1e-10 * 1.5e-3, 0.0, 10.0]})
    out = development_costs(terrain, table, policy)
    per_mu = out["dev_cost_wan_per_mu"].to_numpy()
    assert np.isnan(per_mu[:2]).all() and per_mu[2] == pytest.approx(
        out["dev_cost_wan"].iloc[2] / 10
    )
    assert np.isnan(out["cost_weighted_suitability"].to_numpy()[:2]).all()
    assert (out["earthwork_cost_wan"] > 0).all()  # the cost itself is still stated


def test_rasters_end_as_cogs_and_no_stage_file_is_left(tmp_path, three_parcels, policy):
    dem = _tilted_dem(tmp_path / "dem.tif")
    table = pd.DataFrame({"net_available_mu": [15.0] * 3})
    nets = gpd.GeoDataFrame(
        {"kind": ["road"], "status": ["built"]}, geometry=[box(-50, -50, 1, 400).boundary], crs=GK
    )
    dev = analyze_development(three_parcels, table, dem_path=dem, constraints={}, networks=nets,
                              policy=policy, folder=tmp_path / "r")  # fmt: skip
    for name in ("dem", "slope", "relief", "dist_road", "suitability"):
        with rasterio.open(dev.rasters[name]) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", name
            assert ds.profile["compress"] is not None, name
    assert sorted(p.name for p in (tmp_path / "r").iterdir() if p.name.startswith(".")) == []


def test_constraint_mask_of_raw_layers_equals_the_mask_of_their_union(tmp_path):
    """Overlapping polygons of several layers burn the cells their dissolved union would."""
    import shapely

    dem = _tilted_dem(tmp_path / "dem.tif", rise_per_m=0.0)
    rng = np.random.default_rng(2)
    a = [box(rng.uniform(-100, 400), rng.uniform(-200, 300), 60, 45).buffer(rng.uniform(0, 20))
         for _ in range(25)]  # fmt: skip
    b = [shapely.Point(X0 + rng.uniform(-100, 500), Y0 + rng.uniform(-200, 400)).buffer(30)
         for _ in range(25)]  # fmt: skip
    inside = [box(-90, -190, 250, 300), box(100, 50, 390, 340)]
    raw = constraint_mask(dem, tmp_path / "raw.tif", exclude=[*a, *b], inside=[inside],
                          slope=None, hard_slope_deg=25)  # fmt: skip
    union = constraint_mask(dem, tmp_path / "union.tif",
                            exclude=[shapely.union_all(a), shapely.union_all(b)],
                            inside=[shapely.union_all(inside)], slope=None, hard_slope_deg=25)  # fmt: skip
    with rasterio.open(raw) as r, rasterio.open(union) as u:
        m = r.read(1)
        np.testing.assert_array_equal(m, u.read(1))
    assert 0 < m.mean() < 1


@pytest.mark.parametrize("dem_crs", ["EPSG:4490", GK])
def test_dem_cells_found_before_the_warp_equal_those_on_the_warped_file(tmp_path, dem_crs):
    """The main job looks for the parcels' DEM cells while the DEM is being warped, on a warped
    VRT (:class:`DemView`): the cells, fractions and grid equal those found on the warped file."""
    import rasterio.shutil
    from rasterio.vrt import WarpedVRT

    from landplan.raster.development import DemView, warp_dem
    from landplan.raster.zonal import locate_cells

    src = _tilted_dem(tmp_path / "gk.tif", n=80, cell=7.5)
    if dem_crs != GK:  # the DEM as a user may bring it: in geographic CGCS2000
        with rasterio.open(src) as ds, WarpedVRT(ds, crs=dem_crs) as vrt:
            rasterio.shutil.copy(vrt, tmp_path / "geo.tif", driver="GTiff")
        src = tmp_path / "geo.tif"
    rng = np.random.default_rng(7)
    corners = rng.uniform(-60, 420, (120, 2))
    sizes = rng.uniform(3, 90, (120, 2))
    parcels = gpd.GeoDataFrame(
        geometry=[box(x, y, w, h) for (x, y), (w, h) in zip(corners, sizes, strict=True)],
        crs=GK,
    )
    view = DemView(src, parcels.crs, tmp_path / "dem.tif")
    early = view.locate(parcels)
    warped = warp_dem(src, view.like, crs=parcels.crs, cog=False)
    late = locate_cells(warped, parcels, projected=True)
    assert early.shape == late.shape and early.transform == late.transform
    for name in ("offsets", "cell", "coverage", "sent"):
        np.testing.assert_array_equal(getattr(early, name), getattr(late, name))
    assert early.offsets[-1] > 1000  # the parcels reach many cells
    got = early.on({"dem": warped}, projected=True).stats("dem", ("mean",))["mean"]
    want = late.on({"dem": warped}, projected=True).stats("dem", ("mean",))["mean"]
    np.testing.assert_array_equal(got, want)

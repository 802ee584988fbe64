"""Corpus cases about data: ids and columns, geometry, CRS and extents, plausibility, DEMs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from tests.landplan.corpus import (
    GK,
    MU,
    NETS,
    UNSTATED,
    X0,
    Y0,
    Case,
    Upload,
    _all,
    baseline,
    box,
    codes,
    col,
    dem,
    issues,
    line,
    manifest,
    network,
    parcels,
    red_line,
    refusal,
    result,
    scene,
    write,
)


def id_cases() -> Iterator[Case]:
    def pid_as_id(res) -> None:
        baseline(res)
        assert col(res, "src_parcel_id") == {"A": "A", "B": "B", "C": "C"}

    yield Case("id_field_named_parcel_id",
               lambda f: scene(f, p=parcels(parcel_id=["A", "B", "C"]), id_field="parcel_id"),
               result(pid_as_id), Upload("parcels", "parcels.gpkg", {"id_field": "parcel_id"}))  # fmt: skip

    def pid_other(res) -> None:
        baseline(res)
        assert col(res, "src_parcel_id") == {"A": "x1", "B": "x2", "C": "x3"}

    yield Case("source_parcel_id_not_the_id",
               lambda f: scene(f, p=parcels(parcel_id=["x1", "x2", "x3"])), result(pid_other),
               Upload("parcels", "parcels.gpkg", {"id_field": "DKBH"}))  # fmt: skip

    def clash(res) -> None:
        baseline(res)
        # area_m2 → src_area_m2 is taken by a source field, so → src_src_area_m2
        assert col(res, "src_src_area_m2") == {"A": 1.0, "B": 2.0, "C": 3.0}
        assert col(res, "src_verdict") == {"A": "ok", "B": "ok", "C": "no"}
        assert col(res, "src_area_m2") == {"A": "s", "B": "s", "C": "s"}
        assert col(res, "area_m2")["A"] == 10000.0

    yield Case("source_columns_clash_with_output",
               lambda f: scene(f, p=parcels(area_m2=[1.0, 2.0, 3.0], verdict=["ok", "ok", "no"],
                                             src_area_m2=["s", "s", "s"])),
               result(clash))  # fmt: skip

    def group_pid(res) -> None:
        baseline(res)
        s = res.summary.set_index("group")
        assert s.loc["g1", "parcels"] == 2 and s.loc["g2", "parcels"] == 1

    yield Case("group_field_named_parcel_id",
               lambda f: scene(f, p=parcels(parcel_id=["g1", "g1", "g2"]), parcels_extra='group_field = "parcel_id"'),
               result(group_pid))  # fmt: skip

    def dup_suffix(res) -> None:
        assert sorted(res.parcels["parcel_id"]) == ["A", "A-2", "C"]
        assert res.parcels["DKBH"].tolist() == ["A", "A", "C"]
        assert res.parcels["DLMC"].tolist() == ["工业用地", "工业用地", "仓储用地"]
        assert "DUPLICATE_ID" in issues(res, "parcels")

    yield Case("duplicate_ids_suffixed",
               lambda f: scene(f, p=parcels(DKBH=["A", "A", "C"]), parcels_extra='duplicate_ids = "suffix"'),
               result(dup_suffix))  # fmt: skip
    yield Case("duplicate_ids_refused", lambda f: scene(f, p=parcels(DKBH=["A", "A", "C"])),
               refusal("DuplicateIdError", r"A ×2", r'duplicate_ids = "suffix"'),
               Upload("parcels", "parcels.gpkg", {"id_field": "DKBH"}, refused=True))  # fmt: skip
    yield Case("null_ids", lambda f: scene(f, p=parcels(DKBH=["A", None, "C"])),
               refusal("DuplicateIdError", r"1 parcels have no DKBH"))  # fmt: skip
    yield Case("blank_ids", lambda f: scene(f, p=parcels(DKBH=["A", "  ", "C"])),
               refusal("DuplicateIdError", r"1 parcels have no DKBH"))  # fmt: skip
    yield Case("id_field_absent", lambda f: scene(f, id_field="BH"),
               refusal("ManifestError", r"no field 'BH'", r"DKBH"))  # fmt: skip
    yield Case("group_field_absent", lambda f: scene(f, parcels_extra='group_field = "PQ"'),
               refusal("ManifestError", r"group_field 'PQ'"))  # fmt: skip

    def numeric_ids(res) -> None:
        assert sorted(res.parcels["parcel_id"]) == ["101", "102", "103"]

    yield Case(
        "numeric_ids", lambda f: scene(f, p=parcels(DKBH=[101, 102, 103])), result(numeric_ids)
    )


def geometry_cases() -> Iterator[Case]:
    def bad_b(geom, code: str, with_dem: bool = False):
        def build(f: Path) -> Path:
            f.mkdir(parents=True, exist_ok=True)
            p = parcels()
            p.loc[1, "geometry"] = geom
            name = dem(f) if with_dem else None
            return scene(f, p=p, dem=name)

        def check(res) -> None:
            v = col(res, "verdict")
            assert v["A"] == "blocked" and v["C"] == "transferable_with_warnings"
            assert codes(res)["B"] == {code}
            assert col(res, "geometry_status")["B"] in ("empty", "degenerate", "invalid")
            if with_dem:
                slope = col(res, "slope_mean_deg")
                assert math.isnan(slope["B"])
                assert 2.7 < slope["C"] < 3.0  # atan(0.05) = 2.86°

        return build, result(check)

    nan_poly = shapely.Polygon(
        [(X0 + 100, Y0), (np.nan, Y0), (X0 + 200, Y0 + 100), (X0 + 100, Y0 + 100)]
    )
    inf_poly = shapely.Polygon(
        [(X0 + 100, Y0), (np.inf, Y0), (X0 + 200, Y0 + 100), (X0 + 100, Y0 + 100)]
    )
    huge = shapely.box(1e300, 1e300, 2e300, 2e300)
    flat = shapely.Polygon([(X0 + 100, Y0), (X0 + 150, Y0), (X0 + 200, Y0)])
    spike = shapely.Polygon([(X0 + 100, Y0), (X0 + 200, Y0), (X0 + 100, Y0)])
    for tag, geom, code in (
        ("empty", shapely.Polygon(), "GEOMETRY_EMPTY"),
        ("null", None, "GEOMETRY_EMPTY"),
        ("zero_area", flat, "GEOMETRY_EMPTY"),
        ("nan_coordinate", nan_poly, "GEOMETRY_INVALID"),
        ("inf_coordinate", inf_poly, "GEOMETRY_INVALID"),
        ("huge_coordinates", huge, "GEOMETRY_INVALID"),
        ("collapsed_spike", spike, "GEOMETRY_EMPTY"),
    ):
        for with_dem in (False, True):
            build, exp = bad_b(geom, code, with_dem)
            up = Upload("parcels", "parcels.gpkg", {"id_field": "DKBH"}) if not with_dem else None
            yield Case(f"parcel_{tag}{'_with_dem' if with_dem else ''}", build, exp, up)

    def bowtie(res) -> None:
        assert "INVALID_GEOMETRY" in issues(res, "parcels")
        assert math.isclose(col(res, "area_m2")["C"], 5000.0, rel_tol=1e-9)

    bt = shapely.Polygon(
        [(X0 + 200, Y0), (X0 + 300, Y0 + 100), (X0 + 300, Y0), (X0 + 200, Y0 + 100)]
    )
    yield Case("parcel_bowtie_repaired",
               lambda f: scene(f, p=parcels(geometry=[box(0, 0, 100, 100), box(100, 0, 100, 100), bt])),
               result(bowtie))  # fmt: skip

    def all_bad(f: Path) -> Path:
        return scene(f, p=parcels(geometry=[huge, huge, huge]))

    yield Case("all_parcels_huge_coordinates", all_bad,
               refusal("CRSError", r"parcels\.gpkg", r"no parcel .* finite, plausible coordinates"))  # fmt: skip
    yield Case("parcels_are_points",
               lambda f: scene(f, p=parcels(geometry=[shapely.Point(X0, Y0)] * 3)),
               refusal("GeometryError", r"parcels\.gpkg", r"must hold polygons", r"POINT"),
               Upload("parcels", "parcels.gpkg", {"id_field": "DKBH"}, refused=True))  # fmt: skip

    def poly_net(f: Path) -> Path:
        roads = gpd.GeoDataFrame({"ZT": ["已建"]}, geometry=[box(-10, -20, 320, 10)], crs=GK)
        return scene(f, nets={"road": roads, "water": network(-20), "power": network(-50)})

    yield Case("network_of_polygons", poly_net,
               refusal("GeometryError", r"road\.gpkg", r"network:road", r"polygons", r"must be lines"),
               Upload("road", "road.gpkg", refused=True))  # fmt: skip

    def nan_red(f: Path) -> Path:
        red = gpd.GeoDataFrame(
            {"MC": ["a", "b"]}, geometry=[box(50, 0, 100, 100), nan_poly], crs=GK
        )
        return scene(f, red=red)

    yield Case("constraint_with_nan_coordinates", nan_red,
               refusal("GeometryError", r"red\.gpkg", r"non-finite", r"constraint"))  # fmt: skip

    def nan_road(f: Path) -> Path:
        road = gpd.GeoDataFrame({"ZT": ["已建", "已建"]}, crs=GK,
                                geometry=[line(-10), shapely.LineString([(X0, Y0), (np.nan, np.nan)])])  # fmt: skip
        return scene(f, nets={"road": road, "water": network(-20), "power": network(-50)})

    yield Case("network_with_nan_feature", nan_road,
               result(_all(baseline, lambda r: "BAD_COORDINATES" in issues(r, "network:road"))))  # fmt: skip

    def overlapping(f: Path) -> Path:
        geoms = [
            box(0, 0, 100, 100),
            box(100, 0, 100, 100),
            box(150, 0, 150, 100),
        ]  # C overlaps B by 50×100
        return scene(f, p=parcels(geometry=geoms))

    def overlap_check(res) -> None:
        assert "PARCELS_OVERLAP" in issues(res, "parcels")
        msg = next(
            i.message for r in res.inputs.reports for i in r.issues if i.code == "PARCELS_OVERLAP"
        )
        assert "5000.00 m²" in msg and "B/C" in msg
        assert math.isclose(
            res.summary["gross_mu"].iloc[0], 30_000 * MU, rel_tol=1e-9
        )  # not 35 000 m²
        assert math.isclose(res.summary["overlap_mu"].iloc[0], 5000 * MU, rel_tol=1e-9)
        assert col(res, "area_m2")["C"] == 15000.0  # each parcel keeps its full area

    yield Case("overlapping_parcels", overlapping, result(overlap_check))

    def twins(f: Path) -> Path:
        return scene(
            f, p=parcels(geometry=[box(0, 0, 100, 100), box(0, 0, 100, 100), box(200, 0, 100, 100)])
        )

    def twins_check(res) -> None:
        assert math.isclose(res.summary["gross_mu"].iloc[0], 20_000 * MU, rel_tol=1e-9)

    yield Case("identical_twin_parcels", twins, result(twins_check))

    def three_deep(f: Path) -> Path:  # the same 100 × 100 box three times
        return scene(f, p=parcels(geometry=[box(0, 0, 100, 100)] * 3))

    yield Case("triple_stacked_parcels", three_deep,
               result(lambda r: math.isclose(r.summary["gross_mu"].iloc[0], 10_000 * MU, rel_tol=1e-9)))  # fmt: skip

    def z_coords(f: Path) -> Path:
        p = parcels()
        p["geometry"] = shapely.force_3d(p.geometry.values, 1800.0)
        return scene(f, p=p)

    yield Case(
        "parcels_with_z",
        z_coords,
        result(_all(baseline, lambda r: "Z_DROPPED" in issues(r, "parcels"))),
    )


def crs_cases() -> Iterator[Case]:
    def no_crs(f: Path) -> Path:
        p = parcels()
        p = p.set_crs(None, allow_override=True)
        return scene(f, p=p)

    yield Case("gpkg_without_crs", no_crs, refusal("CRSError", r"parcels\.gpkg", r"no CRS"))
    yield Case("degrees_labelled_as_metres",
               lambda f: scene(f, p=parcels().to_crs(4490).set_crs(GK, allow_override=True)),
               refusal("CRSError", r"parcels", r"look like degrees", r"EPSG:4490"))  # fmt: skip
    yield Case("metres_labelled_as_degrees",
               lambda f: scene(f, p=parcels().set_crs(4490, allow_override=True)),
               refusal("CRSError", r"parcels", r"metres of a projected CRS"))  # fmt: skip

    def prefixed(f: Path) -> Path:
        p = parcels()
        p["geometry"] = shapely.transform(
            p.geometry.values, lambda c: c + np.array([33_000_000.0, 0.0])
        )
        return scene(f, p=p)  # 8-digit eastings, labelled with the CM form EPSG:4542

    def prefixed_check(res) -> None:
        baseline(res)
        assert "ZONE_PREFIXED_EASTING" in issues(res, "parcels") and res.crs.to_epsg() == 4542

    yield Case("zone_prefixed_eastings_cm_label", prefixed, result(prefixed_check))

    def prefixed_wrong_zone(f: Path) -> Path:
        p = parcels()
        p["geometry"] = shapely.transform(
            p.geometry.values, lambda c: c + np.array([34_000_000.0, 0.0])
        )
        return scene(f, p=p)

    yield Case("zone_prefix_contradicts_label", prefixed_wrong_zone,
               refusal("CRSError", r"parcels\.gpkg", r"zone prefix 34", r"zone 33"))  # fmt: skip

    def cm_with_prefixed_label(f: Path) -> Path:
        return scene(f, p=parcels().set_crs("EPSG:4521", allow_override=True))

    yield Case("six_digit_eastings_prefixed_label", cm_with_prefixed_label,
               result(_all(baseline, lambda r: "ZONE_PREFIX_MISSING" in issues(r, "parcels"))))  # fmt: skip

    def wrong_zone(layer: str):
        def build(f: Path) -> Path:
            nets = {k: network(-y) for k, y in NETS.items()}
            p, red = parcels(), red_line()
            if layer == "road":
                nets["road"] = nets["road"].set_crs("EPSG:4543", allow_override=True)
            elif layer == "red":
                red = red.set_crs("EPSG:4543", allow_override=True)
            else:  # the parcels carry the wrong label, the others are right
                p = p.set_crs("EPSG:4543", allow_override=True)
            return scene(f, p=p, red=red, nets=nets)

        return build

    yield Case("network_wrong_gk_zone_label", wrong_zone("road"),
               refusal("CRSError", r"network:road", r"road\.gpkg", r"does not overlap", r"lon \d+\.\d+",
                       r"EPSG:4542", r"wrong CRS or Gauss-Krüger zone"))  # fmt: skip
    yield Case("constraint_wrong_gk_zone_label", wrong_zone("red"),
               refusal("CRSError", r"constraint:red_line", r"red\.gpkg", r"does not overlap", r"EPSG:4542"))  # fmt: skip
    yield Case("parcels_wrong_gk_zone_label", wrong_zone("parcels"),
               refusal("CRSError", r"does not overlap", r"Gauss-Krüger zone"))  # fmt: skip

    def far_network(f: Path) -> Path:
        nets = {k: network(-y) for k, y in NETS.items()}
        nets["water"] = network(200_000)  # a real water main 200 km north: far, but plausible
        return scene(f, nets=nets)

    def far_check(res) -> None:
        assert codes(res)["C"] == {"NETWORK_MISSING:water"} | UNSTATED
        assert math.isclose(col(res, "dist_water_m")["C"], 200_000 - 100, rel_tol=1e-9)
        assert "LAYER_FAR" in issues(res, "network:water")

    yield Case("network_200_km_away", far_network, result(far_check))

    def far_with_dem(f: Path) -> Path:
        f.mkdir(parents=True, exist_ok=True)
        nets = {k: network(-y) for k, y in NETS.items()}
        nets["road"] = network(-200_000)  # off the DEM: its distance raster is still complete
        return scene(f, nets=nets, dem=dem(f))

    def far_dem_check(res) -> None:
        assert codes(res)["C"] == {"NETWORK_MISSING:road"} | UNSTATED
        assert col(res, "dist_road_m") == {"A": 200_000.0, "B": 200_000.0, "C": 200_000.0}
        suit = col(res, "suitability_mean")
        assert all(math.isfinite(v) and 0 < v < 100 for v in suit.values())
        assert all(v > 0 for v in col(res, "extension_cost_wan").values())

    yield Case("network_200_km_away_with_dem", far_with_dem, result(far_dem_check))

    def far_red(f: Path) -> Path:
        return scene(
            f, red=gpd.GeoDataFrame({"MC": ["远"]}, geometry=[box(80_000, 0, 100, 100)], crs=GK)
        )

    def far_red_check(res) -> None:
        assert col(res, "transferable") == {"A": True, "B": True, "C": True}
        assert "LAYER_FAR" in issues(res, "constraint:red_line")

    yield Case("constraint_80_km_away", far_red, result(far_red_check))
    yield Case(
        "constraint_in_degrees", lambda f: scene(f, red=red_line().to_crs(4490)), result(baseline)
    )
    yield Case("parcels_in_degrees", lambda f: scene(f, p=parcels().to_crs(4490)), result(baseline))
    yield Case("manifest_crs_unparsable", lambda f: scene(f, top='crs = "EPSG:99999999"'),
               refusal("CRSError", r"EPSG:99999999"))  # fmt: skip
    yield Case("manifest_crs_geographic", lambda f: scene(f, top='crs = "EPSG:4490"'),
               refusal("CRSError", r"must be projected"))  # fmt: skip

    def europe(f: Path) -> Path:
        p = gpd.GeoDataFrame(
            {"DKBH": ["A"]}, geometry=[shapely.box(10.0, 50.0, 10.001, 50.001)], crs=4326
        )
        return scene(f, p=p)

    yield Case(
        "parcels_outside_china_auto_crs",
        europe,
        refusal("CRSError", r"parcels\.gpkg", r"zones 25–45", r'crs = "EPSG'),
    )


def plausibility_cases() -> Iterator[Case]:
    def inside_red(net: bool, with_dem: bool):
        def build(f: Path) -> Path:
            f.mkdir(parents=True, exist_ok=True)
            p = parcels(parcel_id=["p1", "p2", "p3"])
            # a red line drawn separately: it holds the parcels with floating-point slack
            red = gpd.GeoDataFrame({"MC": ["红线"]}, crs=GK,
                                   geometry=[shapely.box(X0 - 1e-7, Y0 - 1e-7, X0 + 300.0000001, Y0 + 100.0000001)])  # fmt: skip
            write(p, f / "parcels.gpkg")
            write(red, f / "red.gpkg")
            for kind, y in NETS.items():
                write(network(-y), f / f"{kind}.gpkg")
            return manifest(f, id_field="parcel_id", networks=() if not net else
                            (("road", "road.gpkg", ""), ("water", "water.gpkg", ""), ("power", "power.gpkg", "")),
                            dem=dem(f) if with_dem else None)  # fmt: skip

        def check(res) -> None:
            assert set(col(res, "net_available_m2").values()) == {0.0}
            assert all(v == "blocked" for v in col(res, "verdict").values())
            assert all(
                "NO_AVAILABLE_LAND" in c and "RED_LINE_OVERLAP" in c for c in codes(res).values()
            )
            if not net:
                assert all("NETWORK_DATA_NOT_PROVIDED:water" in c for c in codes(res).values())
                assert not any(
                    k.startswith("NETWORK_MISSING") for c in codes(res).values() for k in c
                )
                zh = res.parcels["reasons_zh"].iloc[0]
                assert "数据未提供" in zh and "没有已建" not in zh
            if with_dem:
                assert all(math.isnan(v) for v in col(res, "dev_cost_wan_per_mu").values())
            assert col(res, "src_parcel_id") == {"p1": "p1", "p2": "p2", "p3": "p3"}

        return build, result(check)

    for net in (True, False):
        for with_dem in (False, True):
            build, exp = inside_red(net, with_dem)
            name = (
                "parcels_inside_red_line"
                + ("" if net else "_no_networks")
                + ("_with_dem" if with_dem else "")
            )
            yield Case(name, build, exp)

    def no_nets(res) -> None:
        c = codes(res)
        assert c["C"] == {
            f"NETWORK_DATA_NOT_PROVIDED:{k}"
            for k in ("road", "water", "power", "sewer", "telecom", "gas")
        }
        assert col(res, "net_road_status")["C"] == "not_provided"

    yield Case("no_network_layers", lambda f: scene(f, networks=()), result(no_nets))

    def road_only(res) -> None:
        c = codes(res)["C"]
        assert "NETWORK_DATA_NOT_PROVIDED:water" in c and not any(x.endswith(":road") for x in c)

    yield Case(
        "road_layer_only",
        lambda f: scene(f, networks=(("road", "road.gpkg", ""),)),
        result(road_only),
    )

    def nearly_whole(
        f: Path,
    ) -> Path:  # a red line leaving a 2 m² corner: real land, tiny, not noise
        red = gpd.GeoDataFrame({"MC": ["红线"]}, geometry=[box(200, 0, 100, 100).difference(box(298, 99, 2, 1))],
                               crs=GK)  # fmt: skip
        f.mkdir(parents=True, exist_ok=True)
        return scene(f, red=red, dem=dem(f))

    def nearly_check(res) -> None:
        assert math.isclose(col(res, "net_available_m2")["C"], 2.0, rel_tol=1e-6)
        per_mu = col(res, "dev_cost_wan_per_mu")["C"]
        assert math.isfinite(per_mu) and per_mu < 1e6

    yield Case("red_line_leaves_two_square_metres", nearly_whole, result(nearly_check))

    # ---- DEMs
    def with_dem(**kw):
        def build(f: Path) -> Path:
            f.mkdir(parents=True, exist_ok=True)
            return scene(f, dem=dem(f, **kw))

        return build

    def dem_ok(res) -> None:
        baseline(res)
        slope = col(res, "slope_mean_deg")
        assert all(2.7 < v < 3.0 for v in slope.values())

    yield Case("dem_plain", with_dem(), result(dem_ok), Upload("dem", "dem.tif"))
    rng = np.random.default_rng(7)
    ratio = rng.uniform(0.07, 0.098, (30, 50))
    ratio[rng.random((30, 50)) < 0.56] = -9999.0
    yield Case("dem_of_ratios_with_56pct_nodata", with_dem(values=ratio),
               refusal("RasterError", r"dem\.tif", r"not a plausible elevation model", r"0\.07\d*–0\.09\d*",
                       r"\d\d% nodata"))  # fmt: skip
    undeclared = np.full((30, 50), 1200.0)
    undeclared[:, 12:20] = -32768.0  # under parcel A
    yield Case("dem_nodata_not_declared", with_dem(values=undeclared, declare_nodata=False),
               refusal("RasterError", r"dem\.tif", r"-3\.277e\+04", r"declare the nodata value"))  # fmt: skip
    yield Case("dem_not_overlapping", with_dem(x0=50_000.0),
               refusal("RasterError", r"dem\.tif", r"does not overlap the parcels", r"lon \d+\.\d+"))  # fmt: skip
    yield Case("dem_without_crs", with_dem(crs=None), refusal("CRSError", r"dem\.tif", r"no CRS"))
    yield Case("dem_wrong_zone_label", with_dem(crs="EPSG:4543"),
               refusal("RasterError", r"dem\.tif", r"does not overlap", r"EPSG:4542"))  # fmt: skip
    half = np.full((30, 50), 1100.0)
    half[:, 25:] = -9999.0
    yield Case("dem_nodata_over_part_of_park", with_dem(values=half),
               result(lambda r: "DEM_NODATA" in issues(r, "dem") and math.isnan(col(r, "slope_mean_deg")["C"])))  # fmt: skip

    def partial(res) -> None:
        assert "DEM_PARTIAL" in issues(res, "dem")
        assert math.isnan(col(res, "slope_mean_deg")["C"])

    yield Case("dem_covering_part_of_park", with_dem(cells=(30, 25)), result(partial))

    def garbage_dem(f: Path) -> Path:
        f.mkdir(parents=True, exist_ok=True)
        (f / "dem.tif").write_bytes(b"II*\x00" + bytes(200))
        return scene(f, dem="dem.tif")

    yield Case("dem_garbage_bytes", garbage_dem, refusal("DataSourceError", r"dem\.tif"),
               Upload("dem", "dem.tif", refused=True))  # fmt: skip
    yield Case("dem_missing", lambda f: scene(f, dem="nowhere.tif"),
               refusal("DataSourceError", r"nowhere\.tif", r"not found"))  # fmt: skip
    everest = np.full((30, 50), 9500.0)
    yield Case("dem_above_everest", with_dem(values=everest),
               refusal("RasterError", r"dem\.tif", r"9500", r"not elevations on Earth"))  # fmt: skip

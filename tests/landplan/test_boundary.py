"""evaluate_boundary: hand-computed areas on three parcels, CRS round trips, the sample park."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from landplan.analysis.constraints import compute_exclusions
from landplan.analysis.job import analyze
from landplan.analysis.pipeline import Inputs
from landplan.core.errors import CRSError, GeometryError, InputTableError
from landplan.core.policy import load_policy
from landplan.core.units import m2_to_mu
from landplan.planning.boundary import INSIDE_SHARE, evaluate_boundary, load_context
from landplan.store.workspace import GpkgWorkspace
from tests.helpers import GK, X0, Y0, box


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory):
    """Three 100 m parcels A, B, C in a row with the conftest constraint layers (hand-computable)."""
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["A", "B", "C"], "DKBH": ["A", "B", "C"], "HY": ["C13", "C14", "C39"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 100, 100), box(200, 0, 100, 100)],
        crs=GK,
    )
    layers = {
        "red_line": gpd.GeoDataFrame(geometry=[box(50, 0, 100, 100), box(60, 0, 80, 100)], crs=GK),
        "basic_farmland": gpd.GeoDataFrame(geometry=[box(100, 0, 100, 50)], crs=GK),
        "urban_boundary": gpd.GeoDataFrame(geometry=[box(-10, -10, 260, 210)], crs=GK),
    }
    networks = gpd.GeoDataFrame(
        {"kind": [], "status": [], "status_source": []}, geometry=[], crs=GK
    )
    inputs = Inputs("三地块", parcels.crs, parcels, layers, networks, [])
    path = tmp_path_factory.mktemp("small") / "ws"
    GpkgWorkspace(path).write_result(analyze(inputs, load_policy()))
    return path


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory, sample_result):
    path = tmp_path_factory.mktemp("sample-ws") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    return path


def test_hand_computed_box_over_three_parcels(small_ws):
    ev = evaluate_boundary(gpd.GeoSeries([box(0, 0, 300, 100)], crs=GK), small_ws)
    assert ev.gross_m2 == pytest.approx(30_000.0)
    # red line x 50–150; farmland x 100–200, y 0–50; UDB ends at x = 250
    assert ev.excluded_by_kind_m2["red_line"] == pytest.approx(10_000.0)
    assert ev.excluded_by_kind_m2["basic_farmland"] == pytest.approx(5_000.0)
    assert ev.excluded_by_kind_m2["urban_boundary"] == pytest.approx(5_000.0)
    assert ev.excluded_m2 == pytest.approx(10_000 + 2_500 + 5_000)  # the union, not the sum
    assert ev.net_available_m2 == pytest.approx(12_500.0)
    assert ev.urban_boundary_share == pytest.approx(25_000 / 30_000)
    assert ev.parcels_inside["count"] == 3
    assert ev.parcels_inside["by_verdict"]["blocked"]["count"] == 3
    assert ev.parcels_inside["area_mu"] == pytest.approx(45.0)
    codes = {r.code: r for r in ev.reasons}
    assert set(codes) == {
        "BOUNDARY_RED_LINE_OVERLAP",
        "BOUNDARY_BASIC_FARMLAND_OVERLAP",
        "BOUNDARY_OUTSIDE_URBAN_BOUNDARY",
    }
    assert codes["BOUNDARY_RED_LINE_OVERLAP"].value == pytest.approx(15.0)  # 10 000 m² in 亩
    assert codes["BOUNDARY_OUTSIDE_URBAN_BOUNDARY"].severity == "block"
    assert codes["BOUNDARY_OUTSIDE_URBAN_BOUNDARY"].unit == "亩"
    assert not ev.compliant
    assert ev.park_boundary["present"] is False
    assert ev.industries["computable"] is False
    assert ev.cost.get("mean_cost_weighted_suitability") is None  # no DEM in this workspace


def test_exclusions_agree_with_compute_exclusions(small_ws):
    poly = shapely.Polygon(
        [(X0 + 20, Y0 - 30), (X0 + 270, Y0 + 10), (X0 + 230, Y0 + 140), (X0 + 40, Y0 + 90)]
    )
    ctx = load_context(small_ws)
    ev = evaluate_boundary(gpd.GeoSeries([poly], crs=GK), ctx)
    ref = compute_exclusions(gpd.GeoSeries([poly], crs=GK), ctx.constraints, ctx.policy)
    for kind, v in ref.by_kind_m2.items():
        assert ev.excluded_by_kind_m2[kind] == pytest.approx(float(v[0]), abs=1e-6)
    assert ev.net_available_m2 == pytest.approx(float(ref.net_available_m2[0]), abs=1e-6)


def test_half_inside_parcel_counts_and_just_under_does_not(small_ws):
    half = evaluate_boundary(gpd.GeoSeries([box(0, 0, 150, 100)], crs=GK), small_ws)
    assert INSIDE_SHARE == 0.5
    assert half.parcels_inside["parcel_ids"] == ["A", "B"]
    under = evaluate_boundary(gpd.GeoSeries([box(0, 0, 149, 100)], crs=GK), small_ws)
    assert under.parcels_inside["parcel_ids"] == ["A"]


def test_multipolygon_and_industries(small_ws):
    two = shapely.MultiPolygon([box(0, 0, 40, 100), box(210, 0, 30, 100)])
    ev = evaluate_boundary(gpd.GeoSeries([two], crs=GK), small_ws, industry_field="HY")
    assert ev.n_parts == 2
    assert ev.gross_m2 == pytest.approx(7_000.0)
    assert ev.excluded_m2 == pytest.approx(0.0)
    assert ev.compliant
    assert ev.industries["count"] == 0  # no parcel ≥ 50 % inside
    with pytest.raises(InputTableError, match="NOPE"):
        evaluate_boundary(
            gpd.GeoSeries([box(0, 0, 300, 100)], crs=GK), small_ws, industry_field="NOPE"
        )


def test_epsg4490_equals_gk(sample_ws, tmp_path):
    gk = gpd.GeoSeries([shapely.box(618_500, 2_976_000, 619_700, 2_977_100)], crs=GK)
    a = evaluate_boundary(gk, sample_ws)
    geo = gk.to_crs(4490)
    b = evaluate_boundary(geo, sample_ws)
    assert b.gross_m2 == pytest.approx(a.gross_m2, abs=0.01)
    assert b.gross_ellipsoidal_m2 == pytest.approx(a.gross_ellipsoidal_m2, abs=0.01)
    for kind in a.excluded_by_kind_m2:
        assert b.excluded_by_kind_m2[kind] == pytest.approx(a.excluded_by_kind_m2[kind], abs=0.01)
    # the same through a file and through GeoJSON with a stated CRS
    path = tmp_path / "b.geojson"
    gpd.GeoDataFrame(geometry=geo).to_file(path, driver="GeoJSON")
    c = evaluate_boundary(path, sample_ws)
    assert c.gross_m2 == pytest.approx(a.gross_m2, abs=0.01)
    mapping = json.loads(gpd.GeoDataFrame(geometry=geo).to_json())
    d = evaluate_boundary(mapping, sample_ws, crs="EPSG:4490")
    assert d.gross_m2 == pytest.approx(a.gross_m2, abs=0.01)
    assert a.gross_ellipsoidal_m2 != pytest.approx(a.gross_m2, abs=1.0)  # planar ≠ ellipsoidal


def test_no_crs_is_refused(sample_ws):
    with pytest.raises(CRSError, match="no CRS"):
        evaluate_boundary(shapely.box(618_500, 2_976_000, 619_700, 2_977_100), sample_ws)
    with pytest.raises(CRSError):
        evaluate_boundary(gpd.GeoSeries([shapely.box(0, 0, 1, 1)]), sample_ws)
    with pytest.raises(GeometryError):
        evaluate_boundary(gpd.GeoSeries([shapely.LineString([(0, 0), (1, 1)])], crs=GK), sample_ws)


def test_sample_park_cost_networks_and_industries(sample_ws):
    ev = evaluate_boundary(
        gpd.GeoSeries([shapely.box(618_000, 2_975_500, 620_000, 2_977_500)], crs=GK),
        sample_ws,
        industry_field="DLBM",
    )
    parcels = pyogrio.read_dataframe(sample_ws / "workspace.gpkg", layer="result_parcels")
    inside = parcels[parcels["parcel_id"].isin(ev.parcels_inside["parcel_ids"])]
    assert ev.parcels_inside["count"] == len(inside) > 0
    assert ev.cost["dev_cost_wan"] == pytest.approx(float(inside["dev_cost_wan"].sum()))
    w = inside["area_mu"].to_numpy()
    cws = inside["cost_weighted_suitability"].to_numpy()
    ok = np.isfinite(cws)
    assert ev.cost["mean_cost_weighted_suitability"] == pytest.approx(
        float(np.average(cws[ok], weights=w[ok]))
    )
    n_missing = sum(
        code.startswith("NETWORK_MISSING") for code in ";".join(inside["reason_codes"]).split(";")
    )
    assert sum(v["parcels"] for v in ev.missing_networks.values()) == n_missing
    n_ind = inside["DLBM"].dropna().nunique()
    assert ev.industries["count"] == n_ind
    too_many = [r for r in ev.reasons if r.code == "TOO_MANY_LEADING_INDUSTRIES"]
    assert bool(too_many) == (n_ind > 3)
    if too_many:
        assert too_many[0].severity == "warn" and too_many[0].threshold == 3
    by_verdict = ev.parcels_inside["by_verdict"]
    assert sum(v["count"] for v in by_verdict.values()) == len(inside)
    assert ev.key_figures()["gross_mu"] == pytest.approx(m2_to_mu(4_000_000.0))
    json.loads(ev.to_json())


def test_park_boundary_is_informational(sample_ws, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(sample_ws, ws)
    park = gpd.GeoDataFrame(geometry=[shapely.box(618_000, 2_976_000, 619_000, 2_977_000)], crs=GK)
    pyogrio.write_dataframe(park, ws / "workspace.gpkg", layer="constraint_park_boundary")
    boundary = gpd.GeoSeries([shapely.box(618_500, 2_976_000, 619_500, 2_977_000)], crs=GK)
    before = evaluate_boundary(boundary, sample_ws)
    after = evaluate_boundary(boundary, ws)
    assert after.park_boundary["present"] is True
    assert after.park_boundary["overlap_mu"] == pytest.approx(m2_to_mu(500_000.0))
    assert after.park_boundary["share_of_park_covered"] == pytest.approx(0.5)
    assert after.net_available_m2 == pytest.approx(before.net_available_m2)
    assert "park_boundary" not in after.excluded_by_kind_m2

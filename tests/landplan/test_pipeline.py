"""The main job end to end on real files: the sample park and small hand-built folders."""

import json
import textwrap

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from landplan.analysis.job import run_manifest
from landplan.core.errors import CRSError, ManifestError
from landplan.core.units import m2_to_mu
from tests.helpers import GK, box

REQUIRED = [
    "parcel_id",
    "area_m2",
    "area_mu",
    "area_ellipsoidal_m2",
    "area_ellipsoidal_mu",
    "excluded_mu",
    "net_available_mu",
    "transferable",
    "reasons",
]


def test_result_columns_units_and_invariants(sample_result):
    p = sample_result.parcels
    for col in REQUIRED:
        assert col in p.columns
    for kind in ("red_line", "basic_farmland", "urban_boundary", "inundation"):
        assert f"excluded_{kind}_mu" in p.columns
    for kind in ("road", "water", "sewer", "power", "gas", "telecom"):
        assert f"dist_{kind}_m" in p.columns
    np.testing.assert_allclose(p["area_mu"], p["area_m2"] * 3 / 2000)
    np.testing.assert_allclose(p["excluded_mu"] + p["net_available_mu"], p["area_mu"], atol=1e-9)
    # the union is never larger than the sum of its parts, nor smaller than the largest part
    kinds = [
        c
        for c in p.columns
        if c.startswith("excluded_") and c.endswith("_mu") and c != "excluded_mu"
    ]
    assert (p["excluded_mu"] <= p[kinds].sum(axis=1) + 1e-9).all()
    assert (p["excluded_mu"] >= p[kinds].max(axis=1) - 1e-9).all()
    assert p["parcel_id"].is_unique
    # source attributes survive, Chinese intact
    assert p["DKMC"].str.contains("地块").any()


def test_every_blocked_parcel_has_a_reason_and_vice_versa(sample_result):
    p = sample_result.parcels
    for transferable, text in zip(p["transferable"], p["reasons"], strict=True):
        reasons = json.loads(text)
        assert transferable == (not any(r["severity"] == "block" for r in reasons))
        for r in reasons:
            assert set(r) == {
                "code",
                "severity",
                "value",
                "threshold",
                "unit",
                "basis",
                "message_zh",
                "message_en",
            }


def test_the_dongshan_standard_land_is_only_partly_transferable(sample_result):
    p = sample_result.parcels
    std = p[p["ZT"] == "标准地"]
    total = std["area_mu"].sum()
    assert 380 <= total <= 420
    sold_now = std.loc[std["transferable"], "net_available_mu"].sum()
    assert 0.1 * total < sold_now < 0.9 * total
    codes = ";".join(std.loc[~std["transferable"], "reason_codes"])
    assert "NETWORK_MISSING:water" in codes


def test_summary_totals_match_the_parcels(sample_result):
    s = sample_result.summary.iloc[0]
    p = sample_result.parcels
    assert s["parcels"] == len(p)
    assert s["gross_mu"] == pytest.approx(p["area_mu"].sum())
    assert s["net_available_mu"] == pytest.approx(p["net_available_mu"].sum())
    assert s["transferable_net_mu"] == pytest.approx(
        p.loc[p["transferable"], "net_available_mu"].sum()
    )
    assert s["blocked_by_RED_LINE_OVERLAP"] > 0
    assert s["planar_vs_ellipsoidal_pct"] > 0  # 1.2° east of the CM the GK plane enlarges areas


def _write_folder(folder, parcels_crs):
    parcels = gpd.GeoDataFrame(
        {"BH": ["P1", "P2", "P3"], "MC": ["甲", "乙", "丙"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 100, 100), box(200, 0, 100, 100)],
        crs=GK,
    )
    pyogrio.write_dataframe(parcels.to_crs(parcels_crs), folder / "parcels.gpkg")
    red = gpd.GeoDataFrame(
        {"n": ["红线"]}, geometry=[box(50, 0, 100, 100).difference(box(60, 40, 10, 10))], crs=GK
    )
    pyogrio.write_dataframe(red.to_crs(4490), folder / "eco.gpkg", layer="redline")
    roads = gpd.GeoDataFrame(
        {"zt": ["已建", "规划"]},
        crs=GK,
        geometry=[
            shapely.LineString([(619_000 - 10, 2_976_990), (619_300, 2_976_990)]),
            shapely.LineString([(619_000, 2_977_500), (619_300, 2_977_500)]),
        ],
    )
    pyogrio.write_dataframe(roads, folder / "roads.geojson", driver="GeoJSON")
    (folder / "m.toml").write_text(
        textwrap.dedent("""
        crs = "auto"
        [parcels]
        path = "parcels.gpkg"
        id_field = "BH"
        [[constraints]]
        kind = "red_line"
        path = "eco.gpkg"
        layer = "redline"
        [[networks]]
        kind = "road"
        path = "roads.geojson"
        status_field = "zt"
        built_values = ["已建"]
    """),
        encoding="utf-8",
    )
    return folder / "m.toml"


def test_geographic_and_gauss_kruger_inputs_agree_within_a_hundredth_of_a_square_metre(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = run_manifest(_write_folder(tmp_path / "a", 4490)).parcels
    b = run_manifest(_write_folder(tmp_path / "b", GK)).parcels
    for col in (
        "area_m2",
        "area_ellipsoidal_m2",
        "excluded_red_line_m2",
        "net_available_m2",
        "dist_road_m",
    ):
        np.testing.assert_allclose(a[col], b[col], atol=0.01)
    # hand check: red line x 50–150 with a 10 m × 10 m hole inside P1
    np.testing.assert_allclose(b["excluded_red_line_m2"], [4900, 5000, 0], atol=1e-6)
    np.testing.assert_allclose(
        b["net_available_mu"], m2_to_mu(np.array([5100, 5000, 10000])), atol=1e-9
    )
    assert b["verdict"].tolist() == [
        "blocked",
        "blocked",
        "blocked",
    ]  # no water/power network at all
    assert b["dist_road_m"].tolist() == pytest.approx([10, 10, 10])
    assert b["dist_planned_road_m"].tolist() == pytest.approx([400, 400, 400])


def test_workspace_crs_is_the_gk_zone_of_the_data(tmp_path):
    result = run_manifest(_write_folder(tmp_path, 4490))
    assert result.crs.to_epsg() == 4542


def test_manifest_errors_are_clear(tmp_path):
    (tmp_path / "m.toml").write_text('[parcels]\npath = "x.gpkg"\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"parcels\.id_field"):
        run_manifest(tmp_path / "m.toml")
    (tmp_path / "n.toml").write_text(
        'crs = "EPSG:4490"\n[parcels]\npath = "x.gpkg"\nid_field = "a"\n', encoding="utf-8"
    )
    with pytest.raises(CRSError, match="projected"):
        run_manifest(tmp_path / "n.toml")

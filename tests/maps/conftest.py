"""Fixtures of the map tests: tiny result layers, a tiny workspace, installed Leaflet assets."""

from __future__ import annotations

import json
import os

import geopandas as gpd
import pytest
from shapely.geometry import LineString, box

CRS = "EPSG:4542"  # CGCS2000 3-degree Gauss-Krüger CM 99E, near Lijiang
X0, Y0 = 619_000.0, 2_977_000.0
REASON = {
    "code": "RED_LINE_OVERLAP",
    "severity": "block",
    "value": 812.5,
    "threshold": 0.0,
    "unit": "m²",
    "basis": "《生态保护红线管理办法》",
    "message_zh": "地块位于生态保护红线内",
    "message_en": "Parcel lies inside the ecological red line",
}


def make_parcels() -> gpd.GeoDataFrame:
    """Four 100 m parcels (15 亩 each) with verdicts, reasons and area columns."""
    geoms = [
        box(X0, Y0, X0 + 100, Y0 + 100),
        box(X0 + 120, Y0, X0 + 220, Y0 + 100),
        box(X0, Y0 + 120, X0 + 100, Y0 + 220),
        box(X0 + 120, Y0 + 120, X0 + 220, Y0 + 220),
    ]
    gdf = gpd.GeoDataFrame(
        {
            "parcel_id": ["P-001", "P-002", "P-003", "P-004"],
            "verdict": ["transferable", "transferable_with_warnings", "blocked", "transferable"],
            "transferable": [True, True, False, True],
            "reasons": ["[]", "[]", json.dumps([REASON], ensure_ascii=False), "[]"],
        },
        geometry=geoms,
        crs=CRS,
    )
    gdf["area_m2"] = gdf.area
    gdf["area_mu"] = gdf["area_m2"] * 3 / 2000
    gdf["excluded_mu"] = [0.0, 0.0, 1.22, 0.0]
    gdf["net_available_mu"] = gdf["area_mu"] - gdf["excluded_mu"]
    return gdf


def make_constraints() -> dict[str, gpd.GeoDataFrame]:
    return {
        "red_line": gpd.GeoDataFrame(geometry=[box(X0 - 20, Y0 + 150, X0 + 60, Y0 + 260)], crs=CRS),
        "basic_farmland": gpd.GeoDataFrame(
            geometry=[box(X0 + 240, Y0, X0 + 320, Y0 + 80)], crs=CRS
        ),
    }


def make_networks() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["road", "road"], "status": ["built", "planned"]},
        geometry=[
            LineString([(X0 - 30, Y0 - 10), (X0 + 330, Y0 - 10)]),
            LineString([(X0 + 110, Y0 - 30), (X0 + 110, Y0 + 280)]),
        ],
        crs=CRS,
    )


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    return make_parcels()


@pytest.fixture
def constraints() -> dict[str, gpd.GeoDataFrame]:
    return make_constraints()


@pytest.fixture
def networks() -> gpd.GeoDataFrame:
    return make_networks()


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory):
    """A workspace directory as ``landplan analyze`` writes it, with the layers maps read."""
    from landplan.store.workspace import MARKER, write_layer

    folder = tmp_path_factory.mktemp("ws") / "示例园区"
    folder.mkdir()
    gpkg = folder / "workspace.gpkg"
    write_layer(gpkg, "result_parcels", make_parcels())
    for kind, layer in make_constraints().items():
        write_layer(gpkg, f"constraint_{kind}", layer)
    write_layer(gpkg, "networks", make_networks())
    meta = {"name": "示例园区", "crs": CRS, "written_at": "2026-01-02T03:04:05+00:00"}
    (folder / MARKER).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def asset_dir(tmp_path_factory):
    """The Leaflet assets installed from the npm registry once per session."""
    from landplan.maps.assets import AssetError, install_assets

    folder = tmp_path_factory.mktemp("assets")
    try:
        install_assets(folder)
    except AssetError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"npm registry not reachable here: {exc}")
    return folder

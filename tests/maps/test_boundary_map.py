"""maps.boundary_map: scenario outlines in distinct colours, legend, bilingual escaped popups."""

from __future__ import annotations

import pytest

folium = pytest.importorskip("folium")
gpd = pytest.importorskip("geopandas")

from landplan.maps import save_map  # noqa: E402
from landplan.maps.boundary_map import build_boundary_map, scenario_color, scenario_popup_html  # noqa: E402
from shapely.geometry import box  # noqa: E402

CRS = "EPSG:4542"
X0, Y0 = 619_000.0, 2_977_000.0


@pytest.fixture
def parcels():
    return gpd.GeoDataFrame(
        {
            "parcel_id": ["P-1", "P-2"],
            "verdict": ["transferable", "blocked"],
            "area_mu": [15.0, 15.0],
            "net_available_mu": [15.0, 0.0],
            "reasons": ["", ""],
        },
        geometry=[box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 200, Y0 + 100)],
        crs=CRS,
    )


@pytest.fixture
def scen():
    return gpd.GeoDataFrame(
        {
            "name": ["方案一", "<b>two</b>"],
            "gross_mu": [30.0, 45.5],
            "net_available_mu": [15.0, 40.0],
            "reason_codes": ["BOUNDARY_RED_LINE_OVERLAP", ""],
        },
        geometry=[box(X0 - 10, Y0 - 10, X0 + 210, Y0 + 110), box(X0, Y0, X0 + 150, Y0 + 100)],
        crs=CRS,
    )


def test_map_has_distinct_outlines_legend_and_popups(parcels, scen, tmp_path):
    m = build_boundary_map(parcels, scen, lang="en", title="compare")
    html = save_map(m, tmp_path / "map.html").read_text(encoding="utf-8")
    assert scenario_color(0) != scenario_color(1)
    assert scenario_color(0) in html and scenario_color(1) in html
    assert "Boundary scenarios 边界方案" in html
    assert "方案一" in html
    assert "<b>two</b>" not in html and "&lt;b&gt;two&lt;/b&gt;" in html
    assert "Gross area" in html and "45.50" in html  # popup HTML (JSON-encoded in the page)
    assert "Transferable 可出让" in html  # parcels by verdict in the legend


def test_popup_is_bilingual_in_order():
    zh = scenario_popup_html({"name": "A", "gross_mu": 1500.0}, "zh")
    en = scenario_popup_html({"name": "A", "gross_mu": 1500.0}, "en")
    assert "毛面积 Gross area" in zh and "Gross area 毛面积" in en
    assert "1,500.00 亩 mu" in zh


def test_map_without_parcels_and_bad_lang(scen):
    assert build_boundary_map(None, scen) is not None
    with pytest.raises(ValueError, match="lang"):
        build_boundary_map(None, scen, lang="fr")

"""GCJ-02: published reference values, vectorised round trip, geometry shifting."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod

from landplan.core.errors import CRSError
from landplan.core.gcj02 import gcj02_to_wgs84, in_china, shift_geometries, wgs84_to_gcj02

GEOD = Geod(ellps="GRS80")

# DOMAIN.md §11: WGS84 → GCJ-02 (lon, lat) from open-source converters' test suites
REFERENCE = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]


@pytest.mark.parametrize(("wgs84", "gcj02"), REFERENCE)
def test_forward_matches_reference_values(wgs84, gcj02):
    lon, lat = wgs84_to_gcj02(*wgs84)
    assert abs(float(lon) - gcj02[0]) < 1e-9
    assert abs(float(lat) - gcj02[1]) < 1e-9


def test_forward_is_vectorised_and_matches_scalars():
    lons = np.array([w[0] for w, _ in REFERENCE])
    lats = np.array([w[1] for w, _ in REFERENCE])
    glon, glat = wgs84_to_gcj02(lons, lats)
    assert glon.shape == (3,)
    np.testing.assert_allclose(glon, [g[0] for _, g in REFERENCE], atol=1e-9, rtol=0)
    np.testing.assert_allclose(glat, [g[1] for _, g in REFERENCE], atol=1e-9, rtol=0)


def _china_grid():
    lon, lat = np.meshgrid(np.arange(75.5, 134.6, 1.7), np.arange(18.3, 53.4, 1.3))
    return lon.ravel(), lat.ravel()


def test_inverse_round_trip_within_1_m_over_china():
    lon, lat = _china_grid()
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    _, _, dist_m = GEOD.inv(lon, lat, back_lon, back_lat)
    assert np.max(dist_m) < 1.0
    assert np.max(np.abs(back_lon - lon)) < 1e-7 and np.max(np.abs(back_lat - lat)) < 1e-7


def test_inverse_of_reference_values():
    for wgs84, gcj02 in REFERENCE:
        lon, lat = gcj02_to_wgs84(*gcj02)
        _, _, dist_m = GEOD.inv(wgs84[0], wgs84[1], float(lon), float(lat))
        assert dist_m < 0.05


def test_shift_is_hundreds_of_metres_in_china():
    lon, lat = _china_grid()
    glon, glat = wgs84_to_gcj02(lon, lat)
    _, _, shift_m = GEOD.inv(lon, lat, glon, glat)
    assert 10.0 < np.min(shift_m) and np.max(shift_m) < 1000.0
    assert 300.0 < np.median(shift_m) < 700.0
    for (x, y), (gx, gy) in REFERENCE:  # the three cities: a few hundred metres each
        assert 100.0 < GEOD.inv(x, y, gx, gy)[2] < 1000.0


def test_no_shift_outside_china():
    lon, lat = np.array([2.35, -74.0, 151.2]), np.array([48.85, 40.7, -33.9])  # Paris, NY, Sydney
    assert not in_china(lon, lat).any()
    glon, glat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(glon, lon)
    np.testing.assert_array_equal(glat, lat)
    np.testing.assert_array_equal(gcj02_to_wgs84(lon, lat)[0], lon)


def test_shift_geometries_on_geoseries_and_arrays():
    (x, y), (gx, gy) = REFERENCE[0]
    poly = shapely.box(x, y, x + 0.001, y + 0.001)
    series = gpd.GeoSeries([poly, shapely.Point(x, y)], index=[7, 9], crs=4326)
    shifted = shift_geometries(series)
    assert list(shifted.index) == [7, 9] and shifted.crs == series.crs
    assert shifted.iloc[1].x == pytest.approx(gx, abs=1e-9)
    assert shifted.iloc[1].y == pytest.approx(gy, abs=1e-9)
    out = shift_geometries(np.array([poly], dtype=object))
    assert isinstance(out, np.ndarray)
    first = shapely.get_coordinates(out[0])[0]
    np.testing.assert_allclose(first, wgs84_to_gcj02(*shapely.get_coordinates(poly)[0]))


def test_shift_geometries_refuses_projected_crs():
    series = gpd.GeoSeries([shapely.Point(619_000, 2_977_000)], crs="EPSG:4542")
    with pytest.raises(CRSError, match="to_crs"):
        shift_geometries(series)

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from landplan.core.crs import gk_zone_crs
from landplan.core.errors import CRSError
from landplan.core.units import (
    M2_PER_MU,
    ellipsoidal_area_m2,
    m2_to_ha,
    m2_to_mu,
    mu_to_m2,
    planar_area_m2,
)


def test_mu_is_exactly_ten_thousand_fifteenths_of_a_square_metre():
    assert M2_PER_MU == pytest.approx(10000 / 15)
    assert m2_to_mu(666.6666666667) == pytest.approx(1.0)
    assert m2_to_ha(10_000.0) == 1.0
    assert m2_to_mu(10_000.0) == pytest.approx(15.0)  # 1 ha = 15 亩


@given(st.floats(0, 1e9))
def test_mu_round_trip(x):
    assert mu_to_m2(m2_to_mu(x)) == pytest.approx(x, rel=1e-12, abs=1e-9)


def test_planar_area_refuses_geographic_layers():
    g = gpd.GeoSeries([shapely.box(100, 26, 100.1, 26.1)], crs=4490)
    with pytest.raises(CRSError, match="projected"):
        planar_area_m2(g)
    with pytest.raises(CRSError, match="no"):
        planar_area_m2(gpd.GeoSeries([shapely.box(0, 0, 1, 1)]))


def _geod_area_of_lonlat_ring(lons, lats):
    geod = Geod(a=6378137.0, rf=298.257222101)
    return abs(geod.polygon_area_perimeter(lons, lats)[0])


@pytest.mark.parametrize(
    "lon", [99.0, 100.2, 100.45]
)  # central meridian, Lijiang, near the zone edge (±1.5°)
def test_ellipsoidal_area_matches_geod_on_the_densified_true_outline(lon):
    crs = gk_zone_crs(lon)
    g = gpd.GeoSeries.from_xy([lon], [26.9], crs=4490).to_crs(crs)
    x, y = g.x.iat[0], g.y.iat[0]
    square = gpd.GeoSeries([shapely.box(x, y, x + 1000, y + 1000)], crs=crs)
    # oracle: the same outline densified to 1 m, transformed by pyproj, measured by Geod directly
    ring = shapely.segmentize(square.iat[0].exterior, 1.0)
    lonlat = gpd.GeoSeries([shapely.Polygon(ring)], crs=crs).to_crs(4490).iat[0].exterior
    lons, lats = np.asarray(lonlat.xy)
    expected = _geod_area_of_lonlat_ring(lons, lats)
    got = ellipsoidal_area_m2(square)[0]
    assert got == pytest.approx(expected, abs=0.01)
    # the GK scale factor is ≥ 1, so the planar area is never below the ellipsoidal one
    assert 1_000_000 >= got * (1 - 1e-9)


def test_planar_vs_ellipsoidal_difference_grows_towards_the_zone_edge():
    def pct(lon):
        crs = gk_zone_crs(lon)
        p = gpd.GeoSeries.from_xy([lon], [26.9], crs=4490).to_crs(crs)
        sq = gpd.GeoSeries(
            [shapely.box(p.x.iat[0], p.y.iat[0], p.x.iat[0] + 500, p.y.iat[0] + 500)], crs=crs
        )
        ell = ellipsoidal_area_m2(sq)[0]
        return 100 * (planar_area_m2(sq)[0] - ell) / ell

    centre, edge = pct(99.0), pct(100.49)
    assert abs(centre) < 0.001
    # k ≈ 1 + (Δλ cos φ)²/2 → area factor ≈ 1 + (Δλ cos φ)²; at Δλ = 1.49°, φ = 26.9°: ≈ 0.054 %
    assert 0.04 < edge < 0.07
    assert edge > centre


def test_ellipsoidal_area_handles_holes_multiparts_and_empties():
    x, y = 619_000.0, 2_977_000.0
    outer = shapely.box(x, y, x + 200, y + 200)
    holed = outer.difference(shapely.box(x + 50, y + 50, x + 150, y + 150))
    multi = shapely.MultiPolygon(
        [shapely.box(x, y, x + 10, y + 10), shapely.box(x + 20, y, x + 30, y + 10)]
    )
    s = gpd.GeoSeries([outer, holed, multi, shapely.Polygon()], crs=4542)
    a = ellipsoidal_area_m2(s)
    ratio = a[0] / 40_000
    assert a[1] == pytest.approx(30_000 * ratio, rel=1e-6)
    assert a[2] == pytest.approx(200 * ratio, rel=1e-6)
    assert a[3] == 0.0


@settings(max_examples=25, deadline=None)
@given(st.floats(10, 2000), st.floats(10, 2000))
def test_ellipsoidal_area_is_positive_and_close_to_planar_near_the_cm(w, h):
    s = gpd.GeoSeries([shapely.box(500_000, 2_977_000, 500_000 + w, 2_977_000 + h)], crs=4542)
    assert ellipsoidal_area_m2(s)[0] == pytest.approx(w * h, rel=1e-5)


@pytest.mark.parametrize("lon", [97.6, 99.0, 100.45, 117.3])
def test_vectorised_ellipsoidal_area_agrees_with_geod_per_polygon(lon):
    """Random parcels, holes and multi-parts over 100 km, near the CM and the zone edge."""
    from landplan.core.units import geod_area_m2

    crs = gk_zone_crs(lon)
    c = gpd.GeoSeries.from_xy([lon], [31.0], crs=4490).to_crs(crs)
    rng = np.random.default_rng(int(lon * 10))
    x = rng.uniform(c.x.iat[0] - 50_000, c.x.iat[0] + 50_000, 300)
    y = rng.uniform(c.y.iat[0] - 50_000, c.y.iat[0] + 50_000, 300)
    r = rng.uniform(5, 2_000, 300)
    geoms = shapely.buffer(shapely.points(x, y), r, quad_segs=int(rng.integers(1, 8)))
    geoms[::7] = shapely.difference(
        geoms[::7], shapely.buffer(shapely.points(x, y)[::7], r[::7] / 3)
    )
    geoms[1::11] = shapely.multipolygons(
        [
            [g, shapely.box(a + 3 * s, b, a + 4 * s, b + s)]
            for g, a, b, s in zip(geoms[1::11], x[1::11], y[1::11], r[1::11], strict=True)
        ]
    )
    s = gpd.GeoSeries([*geoms, shapely.Polygon(), None], crs=crs)
    got, ref = ellipsoidal_area_m2(s), geod_area_m2(s)
    assert np.abs(got - ref).max() <= 0.01
    assert got[-1] == got[-2] == 0.0

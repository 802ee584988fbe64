import pytest
from pyproj import CRS

from landplan.core import crs as c
from landplan.core.errors import CRSError


@pytest.mark.parametrize(
    ("lon", "zone", "cm_epsg", "prefixed_epsg"),
    [
        (100.2, 33, 4542, 4521),
        (75.0, 25, 4534, 4513),
        (116.4, 39, 4548, 4527),
        (135.0, 45, 4554, 4533),
        (97.49, 32, 4541, 4520),
        (97.51, 33, 4542, 4521),
    ],
)
def test_zone_arithmetic_matches_the_epsg_names(lon, zone, cm_epsg, prefixed_epsg):
    assert c.gk3_zone(lon) == zone
    cm = c.gk_zone_crs(lon)
    assert cm.to_epsg() == cm_epsg
    assert f"CM {3 * zone}E" in cm.name
    pre = c.gk_zone_crs(lon, prefixed=True)
    assert pre.to_epsg() == prefixed_epsg
    assert f"zone {zone}" in pre.name
    assert c.gk3_zone_of_crs(cm) == (zone, False)
    assert c.gk3_zone_of_crs(pre) == (zone, True)


def test_longitudes_outside_china_are_refused_with_a_fix():
    with pytest.raises(CRSError, match="state the workspace CRS"):
        c.gk3_zone(10.0)


def test_guards():
    assert c.looks_like_degrees((100.1, 26.8, 100.3, 27.0))
    assert not c.looks_like_degrees((619_000, 2_977_000, 620_000, 2_978_000))
    assert c.prefixed_zone_of_easting(33_619_000.0) == 33
    assert c.prefixed_zone_of_easting(619_000.0) is None
    assert (
        c.outside_area_of_use((619_000, 2_977_000, 620_000, 2_978_000), CRS.from_epsg(4542))
        is False
    )
    assert (
        c.outside_area_of_use((5_000_000, 2_977_000, 5_000_100, 2_977_100), CRS.from_epsg(4542))
        is True
    )
    with pytest.raises(CRSError, match="EPSG:4542"):
        c.parse_crs("not a crs")


@pytest.mark.parametrize("lon", [float("nan"), float("inf"), -float("inf"), 1e308 * 10])
def test_non_finite_longitudes_are_a_crs_error_not_an_overflow(lon):
    with pytest.raises(CRSError, match="not a finite number"):
        c.gk3_zone(lon)

import geopandas as gpd
import numpy as np
import pytest
import shapely

from landplan.analysis.networks import network_distances, network_status, readiness_frame
from landplan.core.policy import load_policy
from tests.helpers import GK, X0, Y0


def test_distances_to_built_and_planned_segments(three_parcels):
    line = lambda x: shapely.LineString([(X0 + x, Y0 - 500), (X0 + x, Y0 + 500)])  # noqa: E731
    nets = gpd.GeoDataFrame(
        {"kind": ["road", "road", "water"], "status": ["built", "planned", "built"]},
        geometry=[line(-20), line(320), line(450)],
        crs=GK,
    )
    d = network_distances(three_parcels, nets, kinds=["road", "water", "gas"])
    np.testing.assert_allclose(d["dist_road_m"], [20, 120, 220])
    np.testing.assert_allclose(d["dist_planned_road_m"], [220, 120, 20])
    np.testing.assert_allclose(d["dist_water_m"], [350, 250, 150])
    assert d["dist_gas_m"].isna().all()
    status = readiness_frame(d, load_policy(), kinds=["road", "water", "gas"])
    assert status["net_road_status"].tolist() == ["connected", "connectable", "needs_extension"]
    assert status["net_gas_status"].tolist() == ["absent"] * 3


def test_status_thresholds_are_inclusive():
    s = network_status(
        np.array([30.0, 30.0001, 200.0, 200.0001]), connected_m=30, connectable_m=200
    )
    assert s.tolist() == ["connected", "connectable", "connectable", "needs_extension"]


def test_empty_parcel_has_no_distance(three_parcels):
    parcels = three_parcels.copy()
    parcels.loc[0, "geometry"] = shapely.Polygon()
    nets = gpd.GeoDataFrame(
        {"kind": ["road"], "status": ["built"]}, geometry=[shapely.Point(X0, Y0 - 10)], crs=GK
    )
    d = network_distances(parcels, nets, kinds=["road"])
    assert np.isnan(d["dist_road_m"].iat[0])
    assert d["dist_road_m"].iat[1] == pytest.approx(np.hypot(100, 10))


def _random_layers(seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 5000, (300, 2))
    parcels = list(shapely.buffer(shapely.points(centres), rng.uniform(5, 60, 300), quad_segs=2))
    parcels += [shapely.Polygon(), None, shapely.MultiPolygon(parcels[:2])]
    lines = [
        shapely.LineString(
            np.cumsum(rng.normal(0, 400, (int(rng.integers(2, 60)), 2)), axis=0) + 2500
        )
        for _ in range(12)
    ]
    feats = [
        *lines,
        shapely.MultiLineString(lines[:2]),
        shapely.LinearRing([(100, 100), (300, 100), (300, 300)]),
        shapely.Point(4000, 4000),
        shapely.Point(10, 4900).buffer(30),
        shapely.GeometryCollection([shapely.Point(2000, 10), lines[3]]),
        shapely.LineString(),
        None,
    ]
    return np.array(parcels, dtype=object), np.array(feats, dtype=object)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_segment_search_gives_the_brute_force_distances(seed):
    from landplan.analysis.networks import nearest_distance_m, segments

    parcels, feats = _random_layers(seed)
    got = nearest_distance_m(parcels, feats)
    ok = ~(shapely.is_missing(feats) | shapely.is_empty(feats))
    real = ~(shapely.is_missing(parcels) | shapely.is_empty(parcels))
    brute = np.full(len(parcels), np.nan)
    brute[real] = shapely.distance(parcels[real][:, None], feats[ok][None, :]).min(axis=1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(brute))
    np.testing.assert_allclose(got[real], brute[real], rtol=0, atol=1e-9)
    assert (
        shapely.get_num_coordinates(segments(feats)[shapely.get_type_id(segments(feats)) == 1]) == 2
    ).all()


def test_no_features_gives_nan():
    from landplan.analysis.networks import nearest_distance_m

    parcels, _ = _random_layers(4)
    assert np.isnan(nearest_distance_m(parcels, np.array([], dtype=object))).all()
    assert np.isnan(nearest_distance_m(parcels, np.array([None, shapely.LineString()]))).all()

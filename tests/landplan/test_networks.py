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

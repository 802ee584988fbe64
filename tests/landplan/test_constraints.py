import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from landplan.analysis.constraints import compute_exclusions, covered_area_m2, subdivide
from landplan.core.errors import CRSError
from landplan.core.policy import load_policy
from tests.helpers import GK, box


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def test_hand_computed_exclusions_never_double_count(three_parcels, layers, policy):
    e = compute_exclusions(three_parcels, layers, policy).frame()
    np.testing.assert_allclose(e["excluded_red_line_m2"], [5000, 5000, 0], atol=1e-6)
    np.testing.assert_allclose(e["excluded_basic_farmland_m2"], [0, 5000, 0], atol=1e-6)
    np.testing.assert_allclose(
        e["excluded_urban_boundary_m2"], [0, 0, 5000], atol=1e-6
    )  # area outside
    # B: red line x 100–150 (5000) ∪ farmland y 0–50 (5000) overlap 2500 → 7500 excluded, not 10000
    np.testing.assert_allclose(e["excluded_m2"], [5000, 7500, 5000], atol=1e-6)
    np.testing.assert_allclose(e["net_available_m2"], [5000, 2500, 5000], atol=1e-6)


def test_warn_kinds_are_reported_but_not_excluded(three_parcels, policy):
    from landplan.core.policy import parse_policy
    from landplan.store.workspace import policy_text

    text = policy_text(policy).replace(
        '[custom_constraint]\naction = "exclude"', '[custom_constraint]\naction = "warn"'
    )
    warn_policy = parse_policy(text)
    airport = gpd.GeoDataFrame(geometry=[box(0, 0, 300, 10)], crs=GK)
    e = compute_exclusions(three_parcels, {"airport": airport}, warn_policy).frame()
    np.testing.assert_allclose(e["excluded_airport_m2"], [1000, 1000, 1000])
    np.testing.assert_allclose(e["net_available_m2"], [10000] * 3)


def test_no_constraints_leaves_everything_available(three_parcels, policy):
    e = compute_exclusions(three_parcels, {}, policy).frame()
    np.testing.assert_allclose(e["net_available_m2"], 10000)
    assert (e["excluded_m2"] == 0).all()


def test_empty_parcels_get_zero_areas(three_parcels, layers, policy):
    parcels = three_parcels.copy()
    parcels.loc[1, "geometry"] = shapely.Polygon()
    e = compute_exclusions(parcels, layers, policy).frame()
    assert e.loc[1, "net_available_m2"] == 0 and e.loc[1, "excluded_m2"] == 0


def test_layers_in_another_crs_are_refused(three_parcels, layers, policy):
    wrong = {"red_line": layers["red_line"].to_crs(4490)}
    with pytest.raises(CRSError, match="reproject"):
        compute_exclusions(three_parcels, wrong, policy)


def test_subdivide_preserves_area_and_bounds_vertex_counts():
    wavy = (
        shapely.Point(0, 0)
        .buffer(1000, quad_segs=2000)
        .difference(shapely.Point(300, 0).buffer(200, quad_segs=500))
    )
    pieces = subdivide(np.array([wavy]), max_vertices=100)
    assert len(pieces) > 10
    assert (shapely.get_num_coordinates(pieces) <= 100).all()
    assert shapely.area(pieces).sum() == pytest.approx(wavy.area, rel=1e-12)
    # the pieces do not overlap: their union has the same area as their sum
    assert shapely.union_all(pieces).area == pytest.approx(wavy.area, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 900), st.floats(0, 900), st.floats(5, 300)), min_size=1, max_size=12
    ),
)
def test_covered_area_matches_a_direct_intersection(circles):
    """Property: summing over disjoint subdivided pieces equals intersecting with the union directly."""
    union = shapely.union_all([shapely.Point(x, y).buffer(r, quad_segs=64) for x, y, r in circles])
    grid = np.array(
        [
            shapely.box(x, y, x + 100, y + 100)
            for x in range(0, 1000, 100)
            for y in range(0, 1000, 100)
        ]
    )
    got = covered_area_m2(grid, subdivide(np.array([union]), max_vertices=32))
    expected = shapely.area(shapely.intersection(grid, union))
    np.testing.assert_allclose(got, expected, atol=1e-6)

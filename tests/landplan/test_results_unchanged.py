"""The faster main job gives the results of the previous implementation, column by column.

The previous implementation is rebuilt here from its parts: network distances from an STRtree
over the whole (unsplit) lines, ellipsoidal areas from one ``pyproj.Geod`` call per polygon
(:func:`landplan.core.units.geod_area_m2`), and verdicts from the per-parcel reason logic
(``old_decide`` in ``test_rules``).  Both run on the sample park and on a random scenario;
areas agree within 0.01 m², everything else exactly.
"""

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from landplan.analysis import job, pipeline
from landplan.analysis import networks as networks_mod
from landplan.analysis.job import analyze
from landplan.analysis.pipeline import Inputs, load_inputs
from landplan.core.policy import load_policy
from landplan.core.units import geod_area_m2
from landplan.io.manifest import load_manifest
from tests.landplan.test_rules import old_decide

GK = "EPSG:4542"


def _old_nearest(parcels, features):
    out = np.full(len(parcels), np.nan)
    features = features[~(shapely.is_missing(features) | shapely.is_empty(features))]
    if len(features) == 0 or len(parcels) == 0:
        return out
    (idx, _), dist = shapely.STRtree(features).query_nearest(
        parcels, return_distance=True, all_matches=False
    )
    out[idx] = dist
    return out


def _old_assess(table, policy, *, constraint_kinds, network_kinds):
    return old_decide(table, policy, list(constraint_kinds), list(network_kinds))


def _whole_lines(features):
    """The previous index: every feature whole (no two-point segments), empties dropped."""
    features = np.asarray(features, dtype=object)
    return features[~(shapely.is_missing(features) | shapely.is_empty(features))]


def previous(inputs: Inputs, policy, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(networks_mod, "nearest_distance_m", _old_nearest)
        m.setattr(networks_mod, "segments", _whole_lines)
        m.setattr(pipeline, "ellipsoidal_area_m2", geod_area_m2)
        m.setattr(job, "assess", _old_assess)
        old = analyze(inputs, policy)
    patched = (networks_mod.segments, pipeline.ellipsoidal_area_m2, job.assess)
    assert _whole_lines not in patched and geod_area_m2 not in patched  # put back
    return old


def test_the_previous_implementation_is_really_a_different_path(
    sample_manifest, policy, monkeypatch
):
    """A check that cannot fail is no check: the patched parts are the ones the job calls."""
    calls = []
    inputs = dataclasses.replace(load_inputs(load_manifest(sample_manifest)), dem_path=None)
    with monkeypatch.context() as m:
        m.setattr(networks_mod, "segments", lambda f: calls.append("lines") or _whole_lines(f))
        m.setattr(
            pipeline, "ellipsoidal_area_m2", lambda g: calls.append("geod") or geod_area_m2(g)
        )
        m.setattr(job, "assess", lambda *a, **k: calls.append("old") or _old_assess(*a, **k))
        analyze(inputs, policy)
    assert {"lines", "geod", "old"} <= set(calls)


def assert_same(new, old):
    a, b = new.parcels, old.parcels
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        if c == "geometry":
            assert a.geometry.geom_equals_exact(b.geometry, 0).all()
        elif pd.api.types.is_float_dtype(a[c]):
            x, y = a[c].to_numpy(float), b[c].to_numpy(float)
            assert (np.isnan(x) == np.isnan(y)).all(), c
            scale = 1.0 if c.endswith("_m2") or c.endswith("_m") else 1e-3  # 亩 / ha / % / shares
            assert np.nanmax(np.abs(x - y), initial=0.0) <= 0.01 * scale, c
        else:
            assert a[c].tolist() == b[c].tolist(), c
    pd.testing.assert_frame_equal(new.summary, old.summary, check_exact=False, atol=1e-4)
    pd.testing.assert_frame_equal(new.reasons, old.reasons, check_exact=False, atol=1e-6)


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def test_sample_park_results_are_unchanged(sample_manifest, policy, monkeypatch):
    inputs = dataclasses.replace(load_inputs(load_manifest(sample_manifest)), dem_path=None)
    new = analyze(inputs, policy)
    old = previous(inputs, policy, monkeypatch)
    assert_same(new, old)
    assert set(new.parcels["verdict"]) == {"transferable", "transferable_with_warnings", "blocked"}


def _random_inputs(seed: int, n_side: int = 45) -> Inputs:
    rng = np.random.default_rng(seed)
    x0, y0, cell = 619_000.0, 2_977_000.0, 45.0
    gx, gy = np.meshgrid(np.arange(n_side + 1) * cell + x0, np.arange(n_side + 1) * cell + y0)
    gx, gy = gx + rng.uniform(-7, 7, gx.shape), gy + rng.uniform(-7, 7, gy.shape)
    c = np.stack([gx, gy], axis=-1)
    rings = np.stack([c[:-1, :-1], c[:-1, 1:], c[1:, 1:], c[1:, :-1], c[:-1, :-1]], axis=2)
    parcels = shapely.polygons(rings.reshape(-1, 5, 2))
    n = len(parcels)
    side = n_side * cell

    def blobs(count, r):
        pts = shapely.points(rng.uniform(x0, x0 + side, count), rng.uniform(y0, y0 + side, count))
        return shapely.buffer(pts, rng.uniform(r / 3, r, count), quad_segs=int(rng.integers(2, 9)))

    layer = lambda g: gpd.GeoDataFrame(geometry=g, crs=GK)  # noqa: E731
    constraints = {
        "red_line": layer(blobs(12, 200)),
        "basic_farmland": layer(blobs(40, 60)),
        "urban_boundary": layer([shapely.box(x0 + 100, y0 + 100, x0 + side - 80, y0 + side - 150)]),
    }
    lines, kinds, status = [], [], []
    for kind in ("road", "water", "power"):
        for _ in range(3):
            t = np.linspace(0, 1, 60)
            lines.append(
                shapely.LineString(
                    np.column_stack(
                        [
                            x0 - 300 + t * (side + 600),
                            rng.uniform(y0, y0 + side) + 300 * np.sin(7 * t),
                        ]
                    )
                )
            )
            kinds.append(kind)
            status.append("planned" if rng.random() < 0.3 else "built")
    networks = gpd.GeoDataFrame(
        {"kind": kinds, "status": status, "status_source": status}, geometry=lines, crs=GK
    )
    frame = gpd.GeoDataFrame(
        {
            "parcel_id": [f"R{i:05d}" for i in range(n)],
            "QY": np.where(np.arange(n) % 3, "东", "西"),
        },
        geometry=parcels,
        crs=GK,
    )
    return Inputs(f"random {seed}", CRS.from_user_input(GK), frame, constraints, networks, [], "QY")


@pytest.mark.parametrize("seed", [7, 8])
def test_random_scenario_results_are_unchanged(seed, policy, monkeypatch):
    inputs = _random_inputs(seed)
    new = analyze(inputs, policy)
    old = previous(inputs, policy, monkeypatch)
    assert_same(new, old)
    assert new.parcels["reason_codes"].str.contains("RED_LINE_OVERLAP").any()
    assert new.parcels["reason_codes"].str.contains("NETWORK_MISSING").any()

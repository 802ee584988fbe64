"""suggest_regions / snap_to_parcels on the analysed Lijiang sample (it has a DEM, so rasters)."""

from __future__ import annotations

import math
import shutil
import warnings

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from scipy.ndimage import label

from landplan.core.errors import DataSourceError, RegionError
from landplan.core.units import MU_PER_M2
from landplan.planning.regions import snap_to_parcels, suggest_regions
from landplan.store.workspace import GpkgWorkspace
from tests.helpers import GK

TARGET = 300.0


@pytest.fixture(scope="module")
def ws(tmp_path_factory, sample_result):
    path = tmp_path_factory.mktemp("regions") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    return path


@pytest.fixture(scope="module")
def grid(ws):
    with rasterio.open(ws / "rasters" / "constraint_mask.tif") as m:
        return m.read(1), m.transform, abs(m.transform.a * m.transform.e)


@pytest.fixture(scope="module")
def three(ws):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return suggest_regions(ws, target_mu=TARGET, n_regions=3, min_distance_m=250.0, seed=0)


def test_regions_never_touch_masked_cells(three, grid):
    mask, tf, cell_m2 = grid
    for r in three:
        assert (mask[r.cells[:, 0], r.cells[:, 1]] == 0).all()
        burnt = rasterize([r.geometry], out_shape=mask.shape, transform=tf, dtype="uint8")
        assert int(burnt.sum()) == r.n_cells  # the polygon is exactly the cells
        assert not (mask[burnt == 1] != 0).any()
        assert r.geometry.area == pytest.approx(r.n_cells * cell_m2)
        # the stricter vector test: no overlap with any hard-constraint polygon
        assert r.evaluation.excluded_m2 == pytest.approx(0.0, abs=0.01)
        assert r.evaluation.compliant


def test_regions_are_4_connected_and_hit_the_target(three, grid):
    _, _, cell_m2 = grid
    cell_mu = cell_m2 * MU_PER_M2
    for r in three:
        img = np.zeros((r.cells[:, 0].max() + 1, r.cells[:, 1].max() + 1), dtype=bool)
        img[r.cells[:, 0], r.cells[:, 1]] = True
        _, n = label(img, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
        assert n == 1
        assert r.geometry.geom_type == "Polygon"
        assert abs(r.area_mu - TARGET) <= cell_mu
        assert abs(m2_mu(r.geometry.area) - TARGET) <= cell_mu


def m2_mu(m2: float) -> float:
    return m2 * MU_PER_M2


def test_min_distance_between_regions(three):
    assert len(three) == 3
    for i in range(3):
        for j in range(i):
            assert three[i].geometry.distance(three[j].geometry) >= 250.0 - 1e-6


def test_deterministic_for_a_seed_and_different_for_others(ws, three):
    again = suggest_regions(ws, target_mu=TARGET, n_regions=3, min_distance_m=250.0, seed=0)
    for a, b in zip(three, again, strict=True):
        assert a.geometry.equals(b.geometry)
    others = [
        suggest_regions(ws, target_mu=TARGET, seed=s, evaluate=False)[0].geometry for s in (1, 2, 3)
    ]
    assert any(not g.equals(three[0].geometry) for g in others)


def test_compactness_makes_rounder_regions(ws):
    def roundness(g):
        return 4 * math.pi * g.area / g.length**2

    loose = suggest_regions(ws, target_mu=TARGET, compactness=0.0, evaluate=False)[0]
    tight = suggest_regions(ws, target_mu=TARGET, compactness=1.0, evaluate=False)[0]
    assert roundness(tight.geometry) > roundness(loose.geometry)
    assert loose.mean_suitability >= tight.mean_suitability - 1e-9


def test_prefer_touch_park(ws, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    park = gpd.GeoDataFrame(geometry=[shapely.box(618_000, 2_976_000, 619_000, 2_977_000)], crs=GK)
    pyogrio.write_dataframe(park, copy / "workspace.gpkg", layer="constraint_park_boundary")
    r = suggest_regions(copy, target_mu=100.0, prefer_touch_park=True, evaluate=False)[0]
    assert r.touches_park is True
    assert r.geometry.distance(park.geometry.iloc[0]) <= 10.0 + 1e-6  # within one cell
    with pytest.raises(RegionError, match="park_boundary"):
        suggest_regions(ws, target_mu=100.0, prefer_touch_park=True)


def test_clear_errors(ws, tmp_path):
    with pytest.raises(RegionError, match="exceeds all free land"):
        suggest_regions(ws, target_mu=10_000_000.0)
    with pytest.raises(RegionError, match="smaller than one cell"):
        suggest_regions(ws, target_mu=0.01)
    bare = tmp_path / "bare"
    shutil.copytree(ws, bare)
    shutil.rmtree(bare / "rasters")
    with pytest.raises(DataSourceError, match="analyze with a \\[dem\\]"):
        suggest_regions(bare, target_mu=TARGET)


def test_snap_reports_the_difference(ws, three):
    snap = snap_to_parcels(three[0], ws)
    assert len(snap.parcel_ids) > 0
    parcels = pyogrio.read_dataframe(ws / "workspace.gpkg", layer="result_parcels")
    taken = parcels[parcels["parcel_id"].isin(snap.parcel_ids)]
    share = taken.geometry.intersection(three[0].geometry).area / taken.geometry.area
    assert (share >= 0.5 - 1e-9).all()
    assert snap.snapped_mu == pytest.approx(m2_mu(shapely.union_all(taken.geometry.values).area))
    assert snap.region_mu == pytest.approx(m2_mu(three[0].geometry.area))
    assert snap.difference_mu == pytest.approx(snap.snapped_mu - snap.region_mu)
    assert snap.added_mu - snap.dropped_mu == pytest.approx(snap.difference_mu)
    strict = snap_to_parcels(three[0], ws, min_share=1.0, evaluate=False)
    assert set(strict.parcel_ids) <= set(snap.parcel_ids)

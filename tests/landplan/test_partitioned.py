"""The analysis on a local Dask cluster gives exactly the single-process result."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from landplan.analysis.job import analyze
from landplan.analysis.partitioned import analyze_partitioned
from landplan.analysis.pipeline import Inputs, load_inputs
from landplan.core.policy import load_policy
from landplan.io.manifest import load_manifest
from tests.helpers import GK, X0, Y0, box

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            memory_limit="2GiB",
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def sample_inputs(sample_manifest) -> Inputs:
    return dataclasses.replace(load_inputs(load_manifest(sample_manifest)), dem_path=None)


def assert_same_result(a, b) -> None:
    pa, pb = a.parcels, b.parcels
    assert pa["parcel_id"].tolist() == pb["parcel_id"].tolist()
    assert list(pa.columns) == list(pb.columns)
    for col in pa.columns:
        if col == pa.geometry.name:
            assert pa.geometry.geom_equals_exact(pb.geometry, 0.0).all()
        elif pd.api.types.is_float_dtype(pa[col]):
            atol = 0.01 if col.endswith("_m2") else 0.0
            np.testing.assert_allclose(pb[col], pa[col], rtol=1e-9, atol=atol, err_msg=col)
        else:
            assert pa[col].tolist() == pb[col].tolist(), col
    assert pa["reasons"].tolist() == pb["reasons"].tolist()
    assert pa["verdict"].tolist() == pb["verdict"].tolist()
    pd.testing.assert_frame_equal(a.summary, b.summary, rtol=1e-9)
    pd.testing.assert_frame_equal(a.reasons, b.reasons, rtol=1e-9)


def test_sample_park_matches_analyze(sample_inputs, client):
    policy = load_policy()
    single = analyze(sample_inputs, policy)
    steps = []
    parted = analyze_partitioned(
        sample_inputs, policy, client=client, npartitions=5, on_step=steps.append
    )
    assert_same_result(single, parted)
    assert steps == ["verdicts"]  # the chunks' steps run on the workers
    assert parted.parcels["transferable"].any() and not parted.parcels["transferable"].all()


def test_hand_built_case_matches_analyze_and_hand_values(three_parcels, layers, client):
    """Five parcels (one empty, one far away) in more partitions than a spatial sort keeps in order."""
    parcels = gpd.GeoDataFrame(
        {"DKBH": ["A", "B", "C", "D", "E"]},
        geometry=[
            *three_parcels.geometry,
            shapely.Polygon(),
            box(5000, 5000, 100, 100),
        ],
        crs=GK,
    )
    parcels.insert(0, "parcel_id", parcels["DKBH"])
    networks = gpd.GeoDataFrame(
        {"kind": ["road", "road"], "status": ["built", "planned"], "status_source": ["", ""]},
        geometry=[
            shapely.LineString([(X0, Y0 + 120), (X0 + 300, Y0 + 120)]),  # 20 m north of A–C
            shapely.LineString([(X0 + 5000, Y0 + 5300), (X0 + 5200, Y0 + 5300)]),
        ],
        crs=GK,
    )
    inputs = Inputs("hand", parcels.crs, parcels, layers, networks, [])
    policy = load_policy()
    single = analyze(inputs, policy)
    parted = analyze_partitioned(inputs, policy, client=client, npartitions=4)
    assert_same_result(single, parted)
    p = parted.parcels.set_index("parcel_id")
    # red line x 50–150 + farmland x 100–200 / y 0–50; outside the urban boundary: C 5000 (x 250–300), E all
    np.testing.assert_allclose(p.loc[["A", "B", "C"], "excluded_red_line_m2"], [5000, 5000, 0])
    np.testing.assert_allclose(p.loc[["A", "B", "C"], "net_available_m2"], [5000, 2500, 5000])
    assert p.loc["D", "area_m2"] == 0 and p.loc["E", "net_available_m2"] == 0
    np.testing.assert_allclose(p.loc[["A", "B", "C"], "dist_road_m"], [20, 20, 20])


def _landplan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "landplan", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_workers_gives_the_single_process_results(sample_manifest, tmp_path):
    # the sample without its DEM, paths made absolute so the manifest can live in tmp_path
    text = sample_manifest.read_text(encoding="utf-8").split("[dem]")[0]
    text = re.sub(r'path = "', f'path = "{sample_manifest.parent.as_posix()}/', text)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(text, encoding="utf-8")
    single = _landplan("analyze", str(manifest), "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    parted = _landplan("analyze", str(manifest), "--out", str(tmp_path / "dask"), "--workers", "2")
    assert parted.returncode == 0, parted.stderr
    assert "dask dashboard" in parted.stdout
    cols = ["parcel_id", "area_m2", "net_available_m2", "reasons"]
    a = pyogrio.read_dataframe(tmp_path / "single" / "results.gpkg", layer="parcels", columns=cols)
    b = pyogrio.read_dataframe(tmp_path / "dask" / "results.gpkg", layer="parcels", columns=cols)
    assert len(a) > 100
    assert a["parcel_id"].tolist() == b["parcel_id"].tolist()
    assert a["reasons"].tolist() == b["reasons"].tolist()
    np.testing.assert_allclose(b["area_m2"], a["area_m2"], atol=0.01)
    np.testing.assert_allclose(b["net_available_m2"], a["net_available_m2"], atol=0.01)

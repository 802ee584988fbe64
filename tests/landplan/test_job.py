"""The streamed main job writes the workspace the in-memory job writes, whatever the chunks.

``landplan analyze --out`` runs :func:`landplan.store.model.write_streamed`: chunks of parcels
computed here or by a worker process, appended to the GeoPackages, fed to the workbook (in a
second process from a threshold) and dropped.  Every layer, table and sheet must equal what
:func:`landplan.analysis.job.analyze` + :func:`landplan.store.model.write_result` give.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely

from landplan.analysis.job import analyze, chunk_bounds
from landplan.analysis.pipeline import load_inputs
from landplan.analysis.run import build_manifest
from landplan.core.policy import load_policy
from landplan.io.manifest import load_manifest
from landplan.store.model import write_result, write_streamed

GK = "EPSG:4542"
LAYERS = {
    "results.gpkg": ("parcels", "park_summary"),
    "workspace.gpkg": (
        "parcels",
        "result_parcels",
        "park_summary",
        "reason_counts",
        "networks",
    ),
}


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _assert_frames(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns), what
    assert len(a) == len(b), what
    for c in a.columns:
        if c == "geometry":
            assert a.geometry.geom_equals_exact(b.geometry, 0).all(), what
        elif pd.api.types.is_float_dtype(a[c]):
            # sums over chunks may differ in the last bits from one sum over the park
            np.testing.assert_allclose(
                a[c].to_numpy(float),
                b[c].to_numpy(float),
                rtol=1e-9,
                atol=1e-9,
                err_msg=f"{what}.{c}",
            )
        else:
            assert a[c].tolist() == b[c].tolist(), f"{what}.{c}"


def assert_same_workspace(one, other) -> None:
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in other.iterdir())
    for gpkg, layers in LAYERS.items():
        present = set(pyogrio.list_layers(one / gpkg)[:, 0])
        assert present == set(pyogrio.list_layers(other / gpkg)[:, 0]), gpkg
        for layer in layers:
            if layer in present:
                a = pyogrio.read_dataframe(one / gpkg, layer=layer)
                b = pyogrio.read_dataframe(other / gpkg, layer=layer)
                _assert_frames(a, b, f"{gpkg}:{layer}")
    wa = openpyxl.load_workbook(one / "park_summary.xlsx")
    wb = openpyxl.load_workbook(other / "park_summary.xlsx")
    assert wa.sheetnames == wb.sheetnames
    for name in wa.sheetnames:
        ra = [[c.value for c in r] for r in wa[name].iter_rows()]
        rb = [[c.value for c in r] for r in wb[name].iter_rows()]
        assert len(ra) == len(rb), name
        for x, y in zip(ra, rb, strict=True):
            for u, v in zip(x, y, strict=True):
                if isinstance(u, float) and isinstance(v, float):
                    assert u == pytest.approx(v, rel=1e-9, abs=1e-9), name
                else:
                    assert u == v, name
        assert [wa[name].column_dimensions[k].width for k in "ABCDEF"] == [
            wb[name].column_dimensions[k].width for k in "ABCDEF"
        ], name
    for name in ("validation_report.json", "policy.toml"):
        assert (one / name).read_bytes() == (other / name).read_bytes(), name


def _reference(inputs, policy, folder):
    write_result(folder, analyze(inputs, policy))
    return folder


@pytest.mark.parametrize(
    ("size", "workers", "background"),
    [(997, "0", "0"), (1_000, "1", "1"), (100_000, "1", "0")],
    ids=["3-chunks-here", "3-chunks-worker-and-workbook-process", "one-chunk"],
)
def test_sample_park_streamed_equals_in_memory(
    sample_manifest, policy, tmp_path, monkeypatch, size, workers, background
):
    inputs = load_inputs(load_manifest(sample_manifest))
    whole = _reference(inputs, policy, tmp_path / "whole")
    monkeypatch.setenv("LANDPLAN_CHUNK_PARCELS", str(size))
    monkeypatch.setenv("LANDPLAN_CHUNK_WORKERS", workers)
    monkeypatch.setenv("LANDPLAN_BACKGROUND_WORKBOOK_PARCELS", background)
    seen = []
    result = write_streamed(tmp_path / "streamed", inputs, policy, sinks=[seen.append])
    assert [len(c) for c in seen] == [b - a for a, b in chunk_bounds(len(inputs.parcels), size)]
    assert len(result.parcels) == len(inputs.parcels)
    assert "reasons" not in result.parcels.columns  # only the summary's columns are kept
    assert_same_workspace(whole, tmp_path / "streamed")


def _scenario(n: int = 60, seed: int = 7) -> dict:
    """Squares on a grid, some overlapping their neighbours across chunk boundaries, one empty."""
    rng = np.random.default_rng(seed)
    x0, y0 = 500_000.0, 2_950_000.0
    geoms = []
    for i in range(n):
        x, y = x0 + (i % 10) * 90.0, y0 + (i // 10) * 90.0
        size = 100.0 if i % 7 == 0 else 80.0  # every 7th square overlaps the next ones
        geoms.append(shapely.box(x, y, x + size, y + size))
    geoms[13] = shapely.Polygon()
    # the first chunks hold polygons only, later ones multipolygons: the layers must come out
    # as one write of all rows gives them (MultiPolygon, every polygon promoted)
    geoms[40:] = [shapely.MultiPolygon([g]) for g in geoms[40:]]
    parcels = gpd.GeoDataFrame(
        {
            "地块编号": [f"P{i:03d}" for i in range(n)],
            "QY": rng.choice(["东区", "西区"], n),
            "verdict": "user column of the same name",  # renamed to src_verdict
        },
        geometry=geoms,
        crs=GK,
    )
    red = gpd.GeoDataFrame(geometry=[shapely.box(x0 + 200, y0 + 100, x0 + 420, y0 + 330)], crs=GK)
    road = gpd.GeoDataFrame(
        {"status": ["已建", "规划"]},
        geometry=[
            shapely.LineString([(x0 - 50, y0 - 50), (x0 + 950, y0 + 300)]),
            shapely.LineString([(x0, y0 + 600), (x0 + 900, y0 + 650)]),
        ],
        crs=GK,
    )
    return {"parcels": parcels, "red": red, "road": road}


@pytest.mark.parametrize("size", [1, 7, 59])
def test_random_scenario_any_chunk_size(policy, tmp_path, monkeypatch, size):
    data = _scenario()
    manifest = build_manifest(
        data["parcels"],
        id_field="地块编号",
        constraints={"red_line": data["red"]},
        networks={"road": data["road"]},
        group_field="QY",
        crs=GK,
    )
    inputs = load_inputs(manifest)
    whole = _reference(inputs, policy, tmp_path / "whole")
    monkeypatch.setenv("LANDPLAN_CHUNK_PARCELS", str(size))
    monkeypatch.setenv("LANDPLAN_CHUNK_WORKERS", "1" if size == 7 else "0")
    monkeypatch.setenv("LANDPLAN_BACKGROUND_WORKBOOK_PARCELS", "0")
    result = write_streamed(tmp_path / "streamed", inputs, policy)
    assert_same_workspace(whole, tmp_path / "streamed")
    rows = pyogrio.read_dataframe(tmp_path / "streamed" / "results.gpkg", layer="parcels")
    assert (rows["overlap_counted_m2"] > 0).sum() >= 5  # overlaps across chunk boundaries
    assert "src_verdict" in rows.columns and result.summary["overlap_mu"].iloc[0] > 0
    for name, layer in (("results.gpkg", "parcels"), ("workspace.gpkg", "result_parcels")):
        info = pyogrio.read_info(tmp_path / "streamed" / name, layer=layer)
        assert info["geometry_type"] == "MultiPolygon", (name, info["geometry_type"])
    assert set(rows.geometry.geom_type.dropna()) == {"MultiPolygon"}


def test_a_failure_midway_leaves_the_previous_workspace(
    sample_manifest, policy, tmp_path, monkeypatch
):
    inputs = load_inputs(load_manifest(sample_manifest))
    inputs = dataclasses.replace(inputs, dem_path=None)
    target = tmp_path / "ws"
    write_result(target, analyze(inputs, policy))
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    monkeypatch.setenv("LANDPLAN_CHUNK_PARCELS", "1000")
    monkeypatch.setenv("LANDPLAN_CHUNK_WORKERS", "1")
    monkeypatch.setenv("LANDPLAN_BACKGROUND_WORKBOOK_PARCELS", "1")
    calls = []

    def boom(rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="disk full"):
        write_streamed(target, inputs, policy, sinks=[boom])
    assert calls == [b - a for a, b in chunk_bounds(len(inputs.parcels), 1000)][:2]  # 250, 1000
    after = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]  # no stage left behind


def test_a_pool_started_before_the_inputs_gives_the_same_workspace(
    sample_manifest, policy, tmp_path, monkeypatch
):
    """``landplan analyze`` starts its chunk worker first and hands the layers over as soon as
    they are read (``load_inputs(on_layers=)``), before the parcels are validated."""
    from landplan.analysis.chunkpool import ChunkPool, early_pool

    manifest = load_manifest(sample_manifest)
    whole = _reference(load_inputs(manifest), policy, tmp_path / "whole")
    monkeypatch.setenv("LANDPLAN_CHUNK_PARCELS", "700")
    monkeypatch.setenv("LANDPLAN_BACKGROUND_WORKBOOK_PARCELS", "0")
    with early_pool(manifest) as pool:  # the sample's ~2,000 parcels make several chunks
        assert isinstance(pool, ChunkPool) and pool.workers >= 1
        inputs = load_inputs(manifest, on_layers=lambda layers: pool.start(layers, policy))
        seen = []
        write_streamed(tmp_path / "early", inputs, policy, sinks=[seen.append], chunks=pool)
    assert len(seen) == len(chunk_bounds(len(inputs.parcels), 700)) > 1
    assert_same_workspace(whole, tmp_path / "early")


def test_a_pool_closed_before_its_inputs_came_does_not_hang(monkeypatch):
    """An input error after the worker started: closing the pool lets the waiting worker go."""
    import threading

    from landplan.analysis.chunkpool import ChunkPool

    pool = ChunkPool(workers=1)
    closer = threading.Thread(target=pool.close, daemon=True)
    closer.start()
    closer.join(120)
    assert not closer.is_alive(), "closing a pool that never got its inputs hung"


def test_early_pool_only_for_several_chunks(sample_manifest, tmp_path, monkeypatch):
    from landplan.analysis.chunkpool import early_pool

    manifest = load_manifest(sample_manifest)
    assert early_pool(manifest) is None  # one chunk of the default size: no worker
    monkeypatch.setenv("LANDPLAN_CHUNK_WORKERS", "0")
    monkeypatch.setenv("LANDPLAN_CHUNK_PARCELS", "700")
    assert early_pool(manifest) is None  # workers turned off
    monkeypatch.delenv("LANDPLAN_CHUNK_WORKERS")
    broken = manifest.model_copy(
        update={"parcels": manifest.parcels.model_copy(update={"path": tmp_path / "no.gpkg"})}
    )
    assert early_pool(broken) is None  # unreadable: load_inputs will say why


def test_layers_first_reads_the_same_inputs(sample_manifest):
    manifest = load_manifest(sample_manifest)
    plain = load_inputs(manifest)
    handed = []
    first = load_inputs(manifest, on_layers=handed.append)
    (layers,) = handed
    assert len(layers.parcels) == 0 and layers.crs == plain.crs
    assert list(layers.constraints) == list(plain.constraints)
    for kind, frame in plain.constraints.items():
        assert frame.geometry.geom_equals_exact(layers.constraints[kind].geometry, 0).all()
    pd.testing.assert_frame_equal(
        pd.DataFrame(layers.networks.drop(columns="geometry")),
        pd.DataFrame(plain.networks.drop(columns="geometry")),
    )
    assert [r.name for r in first.reports] == [r.name for r in plain.reports]
    assert first.reports[0].name == "parcels"
    pd.testing.assert_frame_equal(
        pd.DataFrame(first.parcels.drop(columns="geometry")),
        pd.DataFrame(plain.parcels.drop(columns="geometry")),
    )


def test_the_chunk_worker_finds_the_dem_cells(sample_manifest, policy, tmp_path, monkeypatch):
    """With a DEM, exactextract's cell search runs in the chunk worker (idle during the DEM
    step) instead of a thread here; the workspace is the same."""
    from landplan.analysis import chunkpool

    inputs = load_inputs(load_manifest(sample_manifest))
    assert inputs.dem_path is not None
    whole = _reference(inputs, policy, tmp_path / "whole")
    monkeypatch.setenv("LANDPLAN_CHUNK_PARCELS", "700")
    monkeypatch.setenv("LANDPLAN_CHUNK_WORKERS", "1")
    monkeypatch.setenv("LANDPLAN_BACKGROUND_WORKBOOK_PARCELS", "0")
    asked = []
    real = chunkpool.ChunkPool.locate
    monkeypatch.setattr(
        chunkpool.ChunkPool,
        "locate",
        lambda self, dem, parcels: asked.append(len(parcels)) or real(self, dem, parcels),
    )
    told = []

    def on_rasters(rasters):  # told as soon as they are in place; its error is not the job's
        told.append({k: p.exists() for k, p in rasters.items()})
        raise RuntimeError("a hook that fails")

    write_streamed(tmp_path / "dem", inputs, policy, on_rasters=on_rasters)
    assert asked and asked[0] > 0, "the DEM cells were not asked of the worker"
    assert len(told) == 1 and told[0]["slope"] and told[0]["suitability"], told
    assert all(told[0].values())
    assert_same_workspace(whole, tmp_path / "dem")


def test_dem_cells_are_found_here_when_the_worker_died(sample_manifest):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from landplan.analysis.chunkpool import _Located
    from landplan.raster.development import DemView
    from landplan.raster.zonal import locate_cells

    inputs = load_inputs(load_manifest(sample_manifest))
    parcels = inputs.parcels[[inputs.parcels.geometry.name]].iloc[:50]
    dead = Future()
    dead.set_exception(BrokenProcessPool("killed"))
    view = DemView(inputs.dem_path, parcels.crs, inputs.dem_path)
    got = _Located(dead, view, parcels).result()
    want = locate_cells(inputs.dem_path, parcels, projected=True)
    np.testing.assert_array_equal(got.offsets, want.offsets)
    np.testing.assert_array_equal(got.cell, want.cell)
    np.testing.assert_array_equal(got.coverage, want.coverage)


def test_a_failed_input_write_leaves_the_previous_workspace(
    sample_manifest, policy, tmp_path, monkeypatch
):
    """The inputs are written in a thread while the chunks are computed and written: its
    failure still fails the job, and the previous workspace stays."""
    import landplan.store.streamed as streamed

    inputs = dataclasses.replace(load_inputs(load_manifest(sample_manifest)), dem_path=None)
    target = tmp_path / "ws"
    write_result(target, analyze(inputs, policy))
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    monkeypatch.setenv("LANDPLAN_CHUNK_PARCELS", "1000")
    monkeypatch.setenv("LANDPLAN_CHUNK_WORKERS", "1")

    def no_room(gpkg, inputs):
        raise OSError("disk full (simulated) writing the inputs")

    monkeypatch.setattr(streamed, "write_inputs", no_room)
    with pytest.raises(OSError, match="writing the inputs"):
        write_streamed(target, inputs, policy)
    after = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


def test_a_worker_result_comes_back_as_a_file_or_as_itself(tmp_path, monkeypatch):
    import landplan.analysis.chunkpool as cp

    frame = pd.DataFrame({"a": np.arange(5), "reasons": ["[]"] * 5})
    monkeypatch.setattr(cp, "_FOLDER", str(tmp_path))
    spilled = cp._spill(frame)
    assert isinstance(spilled, cp._Spilled) and list(tmp_path.iterdir())
    pd.testing.assert_frame_equal(cp._unspill(spilled), frame)
    assert list(tmp_path.iterdir()) == []  # read once, then removed
    monkeypatch.setattr(cp, "_FOLDER", str(tmp_path / "gone"))  # cannot be written: as itself
    assert cp._spill(frame) is frame and cp._unspill(frame) is frame


def test_first_halves_go_one_per_worker_until_the_dem_columns_are_ready(sample_manifest, policy):
    """While the DEM step runs the worker makes the chunks' first halves, one at a time: once
    the step is done, the chunks themselves must not queue behind a backlog of first halves."""
    from concurrent.futures import Future

    from landplan.analysis.chunkpool import ChunkPool, _prepare
    from landplan.analysis.job import Pending

    inputs = load_inputs(load_manifest(sample_manifest))
    bounds = chunk_bounds(len(inputs.parcels), 300)
    assert len(bounds) > 4

    def recorded(pool, step: Future):
        """Prefetch with ``step`` as the DEM step; the first halves sent and the most at once."""
        sent, futures, most = [], [], 0
        real = pool._pool.submit

        def submit(fn, *args):
            nonlocal most
            future = real(fn, *args)
            if fn is _prepare:
                sent.append(args[0])
                futures.append(future)
                most = max(most, sum(not f.done() for f in futures))
            return future

        pool._pool.submit = submit
        try:
            pool._prefetch(inputs, bounds, Pending(step))
        finally:
            pool._pool.submit = real
        for f in futures:
            f.result()
        return sent, most

    with ChunkPool(inputs, policy, workers=1) as pool:
        never = Future()  # the DEM step outlasts every first half: all are made, one at a time
        assert recorded(pool, never) == (list(range(len(bounds))), 1)
        soon = Future()  # done when the first first half is: nothing is sent after that one
        real = pool._pool.submit

        def first_done(fn, *args):
            future = real(fn, *args)
            future.add_done_callback(lambda _: soon.done() or soon.set_result((None, {})))
            return future

        pool._pool.submit = first_done
        assert recorded(pool, soon) == ([0], 1)

"""The embedded store: QGIS-readable GeoPackages, atomic replacement, no lost data."""

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from landplan.core.errors import WorkspaceError
from landplan.core.policy import parse_policy
from landplan.store.workspace import MARKER, GpkgWorkspace


def test_workspace_contents(sample_result, tmp_path):
    out = tmp_path / "ws"
    GpkgWorkspace(out).write_result(sample_result)
    for name in (
        MARKER,
        "workspace.gpkg",
        "results.gpkg",
        "park_summary.csv",
        "park_summary.xlsx",
        "validation_report.json",
        "policy.toml",
        "rasters/dem.tif",
    ):
        assert (out / name).exists(), name
    layers = set(pyogrio.list_layers(out / "workspace.gpkg")[:, 0])
    assert {
        "parcels",
        "constraint_red_line",
        "networks",
        "result_parcels",
        "park_summary",
    } <= layers
    parcels = pyogrio.read_dataframe(out / "results.gpkg", layer="parcels")
    assert len(parcels) == len(sample_result.parcels)
    assert parcels["transferable"].dtype == bool
    assert parcels["DKMC"].tolist() == sample_result.parcels["DKMC"].tolist()
    pd.testing.assert_series_equal(
        parcels["area_m2"], sample_result.parcels["area_m2"], check_names=False
    )
    assert json.loads(parcels["reasons"].iat[0]) == json.loads(
        sample_result.parcels["reasons"].iat[0]
    )
    assert parse_policy((out / "policy.toml").read_text(encoding="utf-8")) == sample_result.policy
    csv = pd.read_csv(out / "park_summary.csv", encoding="utf-8-sig")
    assert csv["gross_mu"].iat[0] == pytest.approx(
        sample_result.summary["gross_mu"].iat[0], abs=1e-4
    )
    xlsx = pd.read_excel(out / "park_summary.xlsx", sheet_name=None, header=1)
    assert {"汇总", "原因统计", "数据检查", "地块"} <= set(xlsx)
    assert len(xlsx["地块"]) == len(sample_result.parcels)
    import rasterio

    with rasterio.open(out / "rasters" / "dem.tif") as ds:
        assert ds.crs.to_epsg() == 4542 and ds.overviews(1)  # COG with overviews


def test_a_failed_write_leaves_the_previous_workspace_intact(sample_result, tmp_path):
    out = tmp_path / "ws"
    GpkgWorkspace(out).write_result(sample_result)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    def boom(stage):
        (stage / "half-written.tmp").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        GpkgWorkspace(out).write_result(sample_result, extras={"map": boom})
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]  # no staging directory left behind


def test_other_directories_are_never_overwritten(sample_result, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    with pytest.raises(WorkspaceError, match="not a landplan workspace"):
        GpkgWorkspace(tmp_path / "mine").write_result(sample_result)
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"


def test_read_back(sample_result, tmp_path):
    ws = GpkgWorkspace(tmp_path / "ws")
    ws.write_result(sample_result)
    assert ws.metadata()["crs"] == "EPSG:4542"
    assert len(ws.read_layer("result_parcels")) == len(sample_result.parcels)
    with pytest.raises(WorkspaceError, match="no layer"):
        ws.read_layer("nope")


def test_a_write_killed_between_its_renames_is_recovered(sample_result, tmp_path):
    out = tmp_path / "ws"
    GpkgWorkspace(out).write_result(sample_result)
    # what a kill -9 between "target → previous" and "stage → target" leaves behind
    out.rename(tmp_path / ".ws.previous-deadbeef")
    (tmp_path / ".ws.staging-deadbeef").mkdir()
    ws = GpkgWorkspace(out)
    assert ws.metadata()["parcels"] == len(sample_result.parcels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


def test_large_results_write_the_workbook_in_a_second_process(sample_result, tmp_path, monkeypatch):
    """The background workbook (a spawned process) gives the same tables as the in-process one."""
    import openpyxl

    from landplan.store import workbook_feed

    here, there = tmp_path / "here", tmp_path / "there"
    GpkgWorkspace(here).write_result(sample_result)
    monkeypatch.setattr(workbook_feed, "BACKGROUND_WORKBOOK_PARCELS", 1)
    spawned = []
    real = workbook_feed.WorkbookFeed._start
    monkeypatch.setattr(
        workbook_feed.WorkbookFeed,
        "_start",
        lambda self, lang: spawned.append(1) or real(self, lang),
    )
    GpkgWorkspace(there).write_result(sample_result)
    assert spawned, "the workbook was not handed to a second process"
    assert sorted(p.name for p in there.iterdir()) == sorted(p.name for p in here.iterdir())
    a = openpyxl.load_workbook(here / "park_summary.xlsx")
    b = openpyxl.load_workbook(there / "park_summary.xlsx")
    assert a.sheetnames == b.sheetnames
    for name in a.sheetnames:
        rows_a = [[c.value for c in r] for r in a[name].iter_rows()]
        rows_b = [[c.value for c in r] for r in b[name].iter_rows()]
        assert rows_a == rows_b, name
    assert (here / "park_summary.csv").read_bytes() == (there / "park_summary.csv").read_bytes()


def test_a_failing_background_workbook_leaves_the_previous_workspace(
    sample_result, tmp_path, monkeypatch
):
    from landplan.store import workbook_feed

    target = tmp_path / "ws"
    GpkgWorkspace(target).write_result(sample_result)
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    monkeypatch.setattr(workbook_feed, "BACKGROUND_WORKBOOK_PARCELS", 1)
    with pytest.raises(ValueError, match="lang must be"):  # raised in the child, seen here
        GpkgWorkspace(target).write_result(sample_result, lang="fr")
    after = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    assert after == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd through /proc (Linux)")
def test_every_staged_file_is_synced_before_it_replaces_the_workspace(tmp_path, monkeypatch):
    """The stage is on disk (file by file, then its folders) before the rename, so a crash
    or power loss leaves the previous workspace or the whole new one."""
    import os

    import landplan.store.workspace as ws

    synced, dirs = [], []
    real_fsync = os.fsync

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        (dirs if os.path.isdir(path) else synced).append(path)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "ws"
    with ws.staged_directory(target) as stage:
        (stage / "a.txt").write_text("a")
        (stage / "rasters").mkdir()
        (stage / "rasters" / "dem.tif").write_bytes(b"x")
        staged = {str(stage / "a.txt"), str(stage / "rasters" / "dem.tif")}
    assert staged <= set(synced)
    assert str(stage) in dirs and str(stage / "rasters") in dirs  # their entries too
    assert str(tmp_path) in dirs  # and the rename, before the previous one is removed
    assert (target / "a.txt").read_text() == "a"


def test_the_jobs_own_rasters_are_linked_into_the_workspace_others_copied(tmp_path):
    """A county's rasters are hundreds of MB: the job's own temporary ones are linked into the
    stage, not copied; a raster the caller keeps elsewhere is copied (the workspace never
    shares a file with it)."""
    from landplan.core.types import JOB_RASTERS
    from landplan.store.workspace import _link_or_copy

    ours = tmp_path / f".{JOB_RASTERS}abc"
    theirs = tmp_path / "my_rasters"
    stage = tmp_path / "stage"
    for folder in (ours, theirs, stage):
        folder.mkdir()
    (ours / "slope.tif").write_bytes(b"slope")
    (theirs / "dem.tif").write_bytes(b"dem")
    _link_or_copy(ours / "slope.tif", stage / "slope.tif")
    _link_or_copy(theirs / "dem.tif", stage / "dem.tif")
    assert (stage / "slope.tif").stat().st_ino == (ours / "slope.tif").stat().st_ino
    assert (stage / "dem.tif").stat().st_ino != (theirs / "dem.tif").stat().st_ino
    assert (stage / "dem.tif").read_bytes() == b"dem"

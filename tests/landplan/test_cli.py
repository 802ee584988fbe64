"""The real ``landplan`` command in a subprocess."""

import os
import subprocess
import sys

import pyogrio
import rasterio


def _landplan(*args, cwd):
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "landplan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_demo_writes_a_workspace_and_says_where(tmp_path):
    run = _landplan("demo", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert str(tmp_path / "demo" / "results.gpkg") in run.stdout
    assert str(tmp_path / "demo" / "map.html") in run.stdout
    assert "RED_LINE_OVERLAP" in run.stdout
    html = (tmp_path / "demo" / "map.html").read_text(encoding="utf-8")
    assert "leaflet" in html.lower()
    assert (
        len(
            pyogrio.read_dataframe(
                tmp_path / "demo" / "results.gpkg", layer="parcels", max_features=5
            )
        )
        == 5
    )


def test_analyze_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path):
    (tmp_path / "m.toml").write_text(
        '[parcels]\npath = "missing.shp"\nid_field = "DKBH"\n', encoding="utf-8"
    )
    run = _landplan("analyze", "m.toml", "--out", "out", cwd=tmp_path)
    assert run.returncode == 2
    assert "missing.shp" in run.stderr
    assert not (tmp_path / "out").exists()


def test_validate_prints_findings(sample_manifest, tmp_path):
    run = _landplan("validate", str(sample_manifest), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "ENCODING_DETECTED" in run.stdout and "EPSG:4542" in run.stdout


def test_help_on_every_level(tmp_path):
    assert "analyze" in _landplan("--help", cwd=tmp_path).stdout
    assert "--policy" in _landplan("analyze", "--help", cwd=tmp_path).stdout


def test_analyze_in_chunks_with_a_worker_and_a_county_sized_map(sample_manifest, tmp_path):
    """The CLI's streamed job with small chunks and a worker process; above the map limit
    map.html draws the parcels from ``landplan serve`` and says so."""
    env = {
        **os.environ,
        "COLUMNS": "200",
        "LANDPLAN_CHUNK_PARCELS": "1000",
        "LANDPLAN_CHUNK_WORKERS": "1",
        "LANDPLAN_MAP_INLINE_PARCELS": "100",
    }
    out = tmp_path / "ws"
    run = subprocess.run(
        [sys.executable, "-m", "landplan", "analyze", str(sample_manifest), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "landplan serve --store" in run.stdout
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "http://127.0.0.1:8000/collections/result_parcels/tiles/" in html
    rows = pyogrio.read_dataframe(out / "results.gpkg", layer="parcels", read_geometry=False)
    assert rows["parcel_id"].is_unique and len(rows) > 2000  # every chunk's rows, once
    # the DEM's rasters were made beside the workspace and moved in; nothing is left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    with rasterio.open(out / "rasters" / "slope.tif") as ds:
        assert ds.profile["compress"] == "deflate" and ds.overviews(1)


def test_the_command_starts_numpy_without_blas_threads():
    """landplan calls no threaded BLAS; OpenBLAS's threads would only spin in every process of
    a job.  The command sets OPENBLAS_NUM_THREADS=1 (unless the user set it) before numpy loads."""
    count = "import numpy, os; print(len(os.listdir('/proc/self/task')))"
    limits = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")  # what OpenBLAS reads
    env = {k: v for k, v in os.environ.items() if k not in limits}  # (dask's workers set OMP_...)

    def threads(code: str, **extra) -> int:
        run = subprocess.run([sys.executable, "-c", code], env={**env, **extra},
                             capture_output=True, text=True, check=True)  # fmt: skip
        return int(run.stdout)

    assert threads("import landplan.cli.main; " + count) == 1
    if (os.cpu_count() or 1) > 1:
        assert threads(count) > 1  # the control: numpy alone starts OpenBLAS's threads
        # a user's own setting is kept
        assert threads("import landplan.cli.main; " + count, OPENBLAS_NUM_THREADS="2") == 2

"""``landplan validate`` checks what ``analyze`` reads (the DEM too); no command shows a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from landplan.cli.main import app
from tests.landplan.corpus import dem, scene


def _run(*args):
    return CliRunner().invoke(app, [*args], env={"COLUMNS": "200"})


def test_validate_opens_the_dem_and_lists_missing_network_layers(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    half = [[1100.0] * 25 + [-9999.0] * 25] * 30  # the east half is nodata
    m = scene(tmp_path, networks=(("road", "road.gpkg", ""),), dem=dem(tmp_path, values=half))
    run = _run("validate", str(m))
    assert run.exit_code == 0, run.output
    out = " ".join(run.output.split())
    assert "DEM_NODATA" in out and "50% of the DEM" in out
    assert "missing required network layers" in out
    for kind in ("water", "power", "sewer", "telecom", "gas"):
        assert kind in out.split("missing required network layers")[1]
    assert "road (" not in out.split("missing required network layers")[1]


def test_validate_refuses_a_dem_that_is_no_dem(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    m = scene(tmp_path, dem=dem(tmp_path, values=[[0.08] * 50] * 30))
    run = _run("validate", str(m))
    assert run.exit_code == 2
    assert "dem.tif" in run.output and "not a plausible elevation model" in run.output
    assert "Traceback" not in run.output


def test_an_unexpected_failure_is_one_line_and_exit_2(tmp_path, monkeypatch):
    import landplan.analysis.pipeline as pipeline

    def boom(*_a, **_k):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(pipeline, "load_inputs", boom)
    m = scene(tmp_path)
    for cmd in (["validate", str(m)], ["analyze", str(m), "--out", str(tmp_path / "out")]):
        run = _run(*cmd)
        assert run.exit_code == 2, run.output
        assert "RuntimeError: something nobody foresaw" in run.output
        assert "Traceback" not in run.output
    assert not (tmp_path / "out").exists()

"""A PostGIS workspace analysed, planned and served in place: ``analyze --out postgresql://...``."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import geopandas as gpd
import pyogrio
import pytest
import shapely

from landplan.store.model import open_workspace

psycopg = pytest.importorskip("psycopg")

from landplan.store.pgtransfer import drop_workspace  # noqa: E402

pytestmark = pytest.mark.postgis


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "landplan", *map(str, args)], capture_output=True, text=True
    )


def _with_workspace(dsn: str, name: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}workspace={name}"


@pytest.fixture
def no_dem_manifest(sample_manifest, tmp_path):
    """The sample manifest without its DEM (the vector job only, to stay quick)."""
    text = sample_manifest.read_text(encoding="utf-8")
    head, _, _ = text.partition("[dem]")
    manifest = sample_manifest.parent / f"manifest-nodem-{uuid.uuid4().hex[:6]}.toml"
    manifest.write_text(head, encoding="utf-8")
    return manifest


def _served_parcels(target: str, expected: int) -> None:
    """The service opens the same PostGIS workspace directly and serves every parcel."""
    from fastapi.testclient import TestClient
    from landplan.api.app import create_app
    from landplan.api.settings import Settings

    with TestClient(create_app(Settings(store=target, public_read=True))) as client:
        page = client.get("/collections/result_parcels/items", params={"limit": 1})
        assert page.status_code == 200, page.text
        assert page.json()["numberMatched"] == expected


def test_analyze_into_postgis_then_boundary_unlock_and_reanalyze(
    postgis_dsn, no_dem_manifest, tmp_path
):
    name = f"lp_ws_{uuid.uuid4().hex[:8]}"
    target = _with_workspace(postgis_dsn, name)
    try:
        run = _cli("analyze", no_dem_manifest, "--out", target)
        assert run.returncode == 0, run.stderr
        assert "landplan serve --store" in run.stdout
        ws = open_workspace(target)
        parcels = ws.result_parcels()
        files = pyogrio.read_dataframe(
            no_dem_manifest.parent / "parcels" / "parcels.shp", columns=["DKBH"]
        )
        assert len(parcels) == len(files)
        assert set(ws.constraints()) >= {"red_line", "basic_farmland"}
        assert set(ws.networks()["kind"]) >= {"road", "water", "power"}

        # a boundary evaluated on the PostGIS workspace itself, saved as a scenario there
        hull = shapely.box(*parcels.total_bounds).buffer(-200)
        boundary = tmp_path / "b.geojson"
        gpd.GeoDataFrame(geometry=[hull], crs=parcels.crs).to_file(boundary)
        run = _cli("boundary", "evaluate", target, boundary, "--save-as", "方案A")
        assert run.returncode == 0, run.stderr
        assert list(ws.scenarios()["name"]) == ["方案A"]

        _served_parcels(target, len(files))

        run = _cli("unlock", target, "--out", tmp_path / "unlock")
        assert run.returncode == 0, run.stderr
        assert (tmp_path / "unlock" / "unlock.csv").exists()

        # the register and scenarios survive a re-analysis into the same workspace
        pid = parcels.loc[parcels["transferable"].astype(bool), "parcel_id"].iloc[0]
        ws.register().record(pid, to="ready", by="张三")
        run = _cli("analyze", no_dem_manifest, "--out", target)
        assert run.returncode == 0, run.stderr
        again = open_workspace(target)
        assert again.register().get(pid)["state"] == "ready"
        assert list(again.scenarios()["name"]) == ["方案A"]
        assert json.loads(again.scenarios()["evaluation"].iloc[0])["gross_mu"] > 0
    finally:
        drop_workspace(target)

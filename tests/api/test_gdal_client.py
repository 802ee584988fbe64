"""A real OGC API Features client connects: GDAL's OAPIF driver (the one QGIS builds on).

``ogrinfo`` lists the collections and ``ogr2ogr`` pages through every parcel over HTTP; the
copy must equal the workspace layer (ids, attributes, geometry within the 7-decimal output).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pyogrio
import pytest
import shapely


def _gdal(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} (Debian gdal-bin) is missing: .ci/run must install it")
        pytest.skip(f"install gdal-bin for {tool}")
    return path


def test_ogrinfo_lists_the_collections(live_server):
    out = subprocess.run(
        [_gdal("ogrinfo"), "-ro", "-so", f"OAPIF:{live_server.url}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "result_parcels (title: 地块出让判定" in out.stdout and "networks" in out.stdout


def test_ogr2ogr_copies_every_parcel(live_server, workspace_template, tmp_path):
    target = tmp_path / "copy.gpkg"
    out = subprocess.run(
        [
            _gdal("ogr2ogr"),
            "-f",
            "GPKG",
            str(target),
            f"OAPIF:{live_server.url}",
            "result_parcels",
            "-oo",
            "PAGE_SIZE=1000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    copy = pyogrio.read_dataframe(target).sort_values("parcel_id").reset_index(drop=True)
    oracle = pyogrio.read_dataframe(workspace_template / "workspace.gpkg", layer="result_parcels")
    oracle = oracle.to_crs("OGC:CRS84").sort_values("parcel_id").reset_index(drop=True)
    assert len(copy) == len(oracle)
    assert copy["parcel_id"].tolist() == oracle["parcel_id"].tolist()
    assert copy["reasons_zh"].fillna("").tolist() == oracle["reasons_zh"].fillna("").tolist()
    assert np.allclose(copy["area_mu"], oracle["area_mu"], rtol=1e-12)
    dist = shapely.hausdorff_distance(copy.geometry.values, oracle.geometry.values)
    assert np.nanmax(dist) < 1e-6  # degrees: the wire's 7 decimals

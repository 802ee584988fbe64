"""A feature table copied between GeoPackages inside SQLite is the table GDAL wrote, R-tree and all."""

import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from landplan.core.errors import WorkspaceError
from landplan.store import gpkg_copy
from landplan.store.gpkg_copy import CopyUnsupportedError, copy_feature_table, copy_rows

CRS = "EPSG:4543"


def _frame(n: int = 300, seed: int = 3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(500_000, 510_000, n), rng.uniform(3_000_000, 3_010_000, n)
    geoms = [shapely.box(a, b, a + 50, b + 40) for a, b in zip(x, y, strict=True)]
    geoms[1] = shapely.MultiPolygon([geoms[1], shapely.box(x[1] + 60, y[1], x[1] + 70, y[1] + 9)])
    geoms[2] = None
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"地块-{i}" for i in range(n)],
            "parcels_note": ["含 \"引号\" 与 'parcels'"] * n,  # the table's name inside a column
            "area_m2": rng.uniform(1, 1e5, n),
            "transferable": rng.integers(0, 2, n).astype(bool),
            "reasons_zh": [None if i % 7 == 0 else "道路未通；供电未通" for i in range(n)],
        },
        geometry=geoms,
        crs=CRS,
    )


def _gpkg(path, frame, layer="parcels", **options):
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", **options)
    return path


def _target(tmp_path, name="workspace.gpkg"):
    other = gpd.GeoDataFrame({"k": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=CRS)
    return _gpkg(tmp_path / name, other, layer="parcels")  # a layer of the source's name


def _schema(path):
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall())


@pytest.mark.parametrize("version", ["1.3", "1.4"])
def test_the_copy_reads_back_as_the_source_with_a_working_index(tmp_path, version):
    src = _gpkg(
        tmp_path / "results.gpkg",
        _frame(),
        promote_to_multi=True,
        dataset_options={"VERSION": version},
    )
    dst = _target(tmp_path)
    assert copy_feature_table(src, "parcels", dst, "result_parcels") == 300
    a = pyogrio.read_dataframe(src, layer="parcels")
    b = pyogrio.read_dataframe(dst, layer="result_parcels")
    pd.testing.assert_frame_equal(a, b)
    ia, ib = (pyogrio.read_info(p, layer=n) for p, n in ((src, "parcels"), (dst, "result_parcels")))
    for key in ("crs", "fields", "geometry_type", "features", "total_bounds", "fid_column"):
        assert np.array_equal(ia[key], ib[key]) if key == "fields" else ia[key] == ib[key], key
    assert ib["capabilities"]["fast_spatial_filter"]
    window = (502_000, 3_002_000, 506_000, 3_007_000)
    inside = pyogrio.read_dataframe(dst, layer="result_parcels", bbox=window)
    brute = b[b.intersects(shapely.box(*window))]  # the index finds what brute force finds
    assert sorted(inside["parcel_id"]) == sorted(brute["parcel_id"]) and len(inside) > 10
    with sqlite3.connect(dst) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT rtreecheck('rtree_result_parcels_geom')").fetchone() == ("ok",)
    # the target's own layer of the source's name is untouched
    assert pyogrio.read_dataframe(dst, layer="parcels")["k"].tolist() == [1]
    # GDAL keeps the copy up to date afterwards: its triggers were carried, renamed
    extra = _frame(5, seed=9).iloc[[0]].copy()
    extra.geometry = [shapely.box(505_000, 3_005_000, 505_010, 3_005_010)]
    pyogrio.write_dataframe(extra, dst, layer="result_parcels", append=True)
    again = pyogrio.read_dataframe(
        dst, layer="result_parcels", bbox=(504_999, 3_004_999, 505_011, 3_005_011)
    )
    assert extra["parcel_id"].iloc[0] in again["parcel_id"].tolist()
    assert pyogrio.read_info(dst, layer="result_parcels")["features"] == 301
    assert pyogrio.read_info(dst, layer="parcels")["features"] == 1


def test_an_empty_table_is_copied(tmp_path):
    src = _gpkg(tmp_path / "results.gpkg", _frame().iloc[:0], geometry_type="Polygon")
    dst = _target(tmp_path)
    assert copy_feature_table(src, "parcels", dst, "result_parcels") == 0
    out = pyogrio.read_info(dst, layer="result_parcels")
    assert out["features"] == 0 and out["geometry_type"] == "Polygon"


def test_what_the_copy_does_not_carry_goes_through_gdal(tmp_path):
    src = _gpkg(tmp_path / "results.gpkg", _frame(), promote_to_multi=True)
    with sqlite3.connect(src) as conn:  # an index the copy would have to rename: refused
        conn.execute('CREATE INDEX "ix_parcels_area" ON "parcels" ("area_m2")')
    dst = _target(tmp_path)
    before = _schema(dst)
    with pytest.raises(CopyUnsupportedError, match="index"):
        copy_feature_table(src, "parcels", dst, "result_parcels")
    assert _schema(dst) == before  # nothing of it stays
    copy_rows(src, "parcels", dst, "result_parcels")  # the same rows, written by GDAL
    pd.testing.assert_frame_equal(
        pyogrio.read_dataframe(src, layer="parcels"),
        pyogrio.read_dataframe(dst, layer="result_parcels"),
    )


def test_the_gdal_path_writes_in_bounded_batches(tmp_path, monkeypatch):
    src = _gpkg(tmp_path / "results.gpkg", _frame(), promote_to_multi=True)
    dst = _target(tmp_path)

    def refuse(*args):
        raise CopyUnsupportedError("refused (test)")

    monkeypatch.setattr(gpkg_copy, "copy_feature_table", refuse)
    monkeypatch.setattr(gpkg_copy, "COPY_BATCH_ROWS", 70)
    copy_rows(src, "parcels", dst, "result_parcels")
    a = pyogrio.read_dataframe(src, layer="parcels")
    b = pyogrio.read_dataframe(dst, layer="result_parcels")
    pd.testing.assert_frame_equal(a, b)
    assert pyogrio.read_info(dst, layer="result_parcels")["geometry_type"] == "MultiPolygon"


def test_a_different_spatial_reference_or_a_taken_name_is_refused(tmp_path):
    src = _gpkg(tmp_path / "results.gpkg", _frame())
    dst = _target(tmp_path)
    with sqlite3.connect(dst) as conn:
        srs = conn.execute("SELECT srs_id FROM gpkg_geometry_columns").fetchone()[0]
        conn.execute(
            "UPDATE gpkg_spatial_ref_sys SET definition = 'other' WHERE srs_id = ?", (srs,)
        )
    with pytest.raises(CopyUnsupportedError, match="spatial reference"):
        copy_feature_table(src, "parcels", dst, "result_parcels")
    dst2 = _target(tmp_path, "second.gpkg")
    with pytest.raises(CopyUnsupportedError, match="already has"):
        copy_feature_table(src, "parcels", dst2, "parcels")


def test_a_failure_midway_leaves_the_target_as_it_was(tmp_path, monkeypatch):
    src = _gpkg(tmp_path / "results.gpkg", _frame())
    dst = _target(tmp_path)
    before = _schema(dst)

    def full(*args):
        raise sqlite3.OperationalError("database or disk is full (simulated)")

    monkeypatch.setattr(gpkg_copy, "_copy_metadata_rows", full)  # after the rows and the R-tree
    with pytest.raises(WorkspaceError, match=r"results\.gpkg.*workspace\.gpkg.*disk is full"):
        copy_rows(src, "parcels", dst, "result_parcels")
    assert _schema(dst) == before
    assert [str(n) for n in pyogrio.list_layers(dst)[:, 0]] == ["parcels"]


def test_a_target_that_is_missing_or_no_geopackage_gets_the_rows_through_gdal(tmp_path):
    src = _gpkg(tmp_path / "results.gpkg", _frame())
    missing = tmp_path / "new.gpkg"
    with pytest.raises(CopyUnsupportedError, match="does not exist"):
        copy_feature_table(src, "parcels", missing, "result_parcels")
    assert not missing.exists()
    copy_rows(src, "parcels", missing, "result_parcels")  # GDAL creates the file
    plain = tmp_path / "plain.sqlite"
    sqlite3.connect(plain).execute("CREATE TABLE t (a)").connection.close()
    with pytest.raises(CopyUnsupportedError, match="not a GeoPackage"):
        copy_feature_table(src, "parcels", plain, "result_parcels")
    pd.testing.assert_frame_equal(
        pyogrio.read_dataframe(src, layer="parcels"),
        pyogrio.read_dataframe(missing, layer="result_parcels"),
    )

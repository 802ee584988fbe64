"""The parcel table is written once: workspace.gpkg's result layer is a table copy of results.gpkg's."""

import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from landplan.store.workspace import copy_layer, write_layer

GK = "EPSG:4542"


def _frame(n: int = 500, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(619_000, 629_000, n), rng.uniform(2_977_000, 2_987_000, n)
    geoms = shapely.buffer(shapely.points(x, y), rng.uniform(5, 50, n), quad_segs=2)
    geoms[3] = shapely.MultiPolygon(
        [geoms[3], shapely.box(x[3] + 100, y[3], x[3] + 110, y[3] + 10)]
    )
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"P{i}" for i in range(n)],
            "area_m2": shapely.area(geoms),
            "transferable": rng.random(n) < 0.5,
            "reasons": ['[{"code": "RED_LINE_OVERLAP", "message_zh": "红线"}]'] * n,
            "dist_road_m": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 900, n)),
            "QY": rng.choice(["东区", "西区", None], n),
        },
        geometry=geoms,
        crs=GK,
    )


def test_copied_layer_reads_back_like_the_written_one(tmp_path):
    frame = _frame()
    results, ws = tmp_path / "results.gpkg", tmp_path / "workspace.gpkg"
    write_layer(results, "parcels", frame)
    write_layer(ws, "parcels_input", frame[["parcel_id", "geometry"]])
    copy_layer(results, "parcels", ws, "result_parcels", frame)
    a = pyogrio.read_dataframe(results, layer="parcels")
    b = pyogrio.read_dataframe(ws, layer="result_parcels")
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
    )
    assert a.geometry.geom_equals_exact(b.geometry, 0).all()
    ia, ib = (
        pyogrio.read_info(results, layer="parcels"),
        pyogrio.read_info(ws, layer="result_parcels"),
    )
    assert ib["features"] == len(frame) and ib["geometry_type"] == ia["geometry_type"]
    np.testing.assert_allclose(ib["total_bounds"], frame.total_bounds)
    # the copied R-tree answers spatial filters like the written one
    box = (621_000, 2_979_000, 624_000, 2_982_000)
    ids_a = set(pyogrio.read_dataframe(results, layer="parcels", bbox=box)["parcel_id"])
    ids_b = set(pyogrio.read_dataframe(ws, layer="result_parcels", bbox=box)["parcel_id"])
    assert ids_a == ids_b and 0 < len(ids_a) < len(frame)
    with sqlite3.connect(ws) as con:  # the R-tree triggers are back: later edits keep it current
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    assert any(n.startswith("rtree_result_parcels_geom_") for n in names)
    assert len(pyogrio.list_layers(ws)) == 2


def test_a_layer_written_by_arrow_reads_back_like_the_row_path(tmp_path):
    frame = _frame(seed=1)
    write_layer(tmp_path / "a.gpkg", "x", frame)
    pyogrio.write_dataframe(frame, tmp_path / "b.gpkg", layer="x", driver="GPKG")
    a = pyogrio.read_dataframe(tmp_path / "a.gpkg", layer="x")
    b = pyogrio.read_dataframe(tmp_path / "b.gpkg", layer="x")
    pd.testing.assert_frame_equal(a, b)


def test_mixed_object_columns_fall_back_to_the_row_path(tmp_path):
    frame = _frame(50).assign(mixed=[1, "a"] * 25)
    write_layer(tmp_path / "m.gpkg", "x", frame)
    back = pyogrio.read_dataframe(tmp_path / "m.gpkg", layer="x")
    assert len(back) == 50 and back["mixed"].astype(str).tolist()[:2] == ["1", "a"]


def test_a_schema_mismatch_is_written_instead(tmp_path):
    frame = _frame(40)
    write_layer(tmp_path / "r.gpkg", "parcels", frame.drop(columns="QY"))
    copy_layer(tmp_path / "r.gpkg", "parcels", tmp_path / "w.gpkg", "result_parcels", frame)
    back = pyogrio.read_dataframe(tmp_path / "w.gpkg", layer="result_parcels")
    assert len(back) == 40 and "QY" in back.columns

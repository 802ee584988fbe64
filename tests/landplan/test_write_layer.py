"""GeoPackage layers are written through pyogrio's Arrow path, with the row path as the fallback."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from landplan.store.workspace import write_layer

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

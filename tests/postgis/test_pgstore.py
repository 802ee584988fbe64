"""PgStore on a real PostGIS: collections, features (bbox, filters, paging, CRS and axes), tiles,
layers, atomic replacement, tokens, rasters, DSN handling and schema migrations."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pytest
import shapely

from landplan.core.errors import DataSourceError, NotFoundError, WorkspaceError
from landplan.store.register import Register
from landplan.store.workspace import GpkgWorkspace

psycopg = pytest.importorskip("psycopg")

from landplan.store import pgschema  # noqa: E402
from landplan.store.pgstore import PgStore  # noqa: E402
from landplan.store.pgtransfer import drop_workspace, push  # noqa: E402

pytestmark = pytest.mark.postgis

CONTRACT = {
    "agreed_start_date": "2023-03-01",
    "agreed_completion_date": "2025-03-01",
    "land_price_wan": 1000,
    "committed": {"tax_wan_per_mu": 30, "invest_wan_per_mu": 300},
}


# ----------------------------------------------------------------------------- shared builders


def types_table() -> pa.Table:
    """A layer exercising every type a workspace holds: NULLs in each, 中文, '' vs NULL."""
    geoms = [
        shapely.box(619_000, 2_977_000, 619_100, 2_977_100),
        None,
        shapely.Point(619_050, 2_977_050),
    ]
    return pa.table(
        {
            "fid": pa.array([3, 7, 11], pa.int64()),
            "名称": pa.array(["甲地块", "", None]),
            "n64": pa.array([2**40, None, -1], pa.int64()),
            "n32": pa.array([1, None, 3], pa.int32()),
            "ok": pa.array([True, None, False]),
            "x": pa.array([0.1 + 0.2, None, 1e-300]),
            "x32": pa.array([1.1, 2.5, None], pa.float32()),
            "day": pa.array([dt.date(2024, 2, 29), None, dt.date(1999, 12, 31)], pa.date32()),
            "geom": pa.array(list(shapely.to_wkb(geoms, flavor="iso")), pa.binary()),
        }
    )


def build_sample_workspace(path: Path, sample_result) -> Path:
    """The sample park written as a workspace, plus register rows, a scenario and odd-typed layers."""
    from landplan.planning.scenarios import save_scenario

    GpkgWorkspace(path).write_result(sample_result)
    gpkg = path / "workspace.gpkg"
    pyogrio.write_arrow(
        types_table(),
        gpkg,
        layer="types_demo",
        driver="GPKG",
        geometry_name="geom",
        geometry_type="Unknown",
        crs="EPSG:4542",
    )
    pyogrio.write_arrow(
        types_table().drop_columns(["geom"]), gpkg, layer="types_table", driver="GPKG"
    )
    parcels = sample_result.parcels
    ok = parcels.loc[parcels["transferable"], "parcel_id"].tolist()
    reg = Register(path)
    reg.record(ok[0], to="planned", by="张三", on="2022-01-05")
    reg.record(ok[0], to="ready", by="张三", on="2022-02-01")
    reg.record(ok[0], to="listed", by="张三", on="2022-03-01")
    reg.record(ok[0], to="transferred", by="李四", on="2022-04-01", fields=CONTRACT)
    reg.record(ok[1], to="planned", by="王五", fields={"note": "备注：待征收"})
    bounds = parcels.total_bounds
    centre = shapely.box(
        bounds[0], bounds[1], (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    )
    save_scenario(path, "方案一", gpd.GeoSeries([centre], crs=parcels.crs))
    return path


@pytest.fixture(scope="module")
def raster_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("raster-root")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANDPLAN_RASTER_ROOT", str(root))
        yield root


def workspace_dsn(postgis_dsn: str, label: str) -> str:
    """A DSN naming a workspace unique to this module and process (tests run with xdist)."""
    return f"{postgis_dsn}?workspace=t_{label}_{os.getpid()}"


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory, sample_result) -> Path:
    return build_sample_workspace(tmp_path_factory.mktemp("pgstore") / "ws", sample_result)


@pytest.fixture(scope="module")
def dsn(postgis_dsn, sample_ws, raster_root):
    dsn = workspace_dsn(postgis_dsn, "pgstore")
    drop_workspace(dsn)
    push(sample_ws, dsn)
    yield dsn
    drop_workspace(dsn)


@pytest.fixture(scope="module")
def store(dsn) -> PgStore:
    return PgStore.from_dsn(dsn)


@pytest.fixture(scope="module")
def parcels(sample_ws) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(sample_ws / "workspace.gpkg", layer="result_parcels")


# ----------------------------------------------------------------------------- metadata, collections


def test_metadata_and_policy_are_the_pushed_ones(store, sample_ws):
    marker = json.loads((sample_ws / "landplan-workspace.json").read_text(encoding="utf-8"))
    assert store.metadata() == marker
    assert store.policy_text() == (sample_ws / "policy.toml").read_text(encoding="utf-8")


def test_collections_match_the_geopackage(store, sample_ws):
    gpkg = sample_ws / "workspace.gpkg"
    hidden = ("register", "layer_styles")  # the register has its own API; QGIS styles are no data
    expected = [n for n, _ in pyogrio.list_layers(gpkg) if not n.startswith(hidden)]
    infos = {c.id: c for c in store.collections()}
    assert list(infos) == expected
    for name in expected:
        assert infos[name].count == pyogrio.read_info(gpkg, layer=name)["features"], name
    rp = infos["result_parcels"]
    assert rp.id_column == "parcel_id" and infos["networks"].id_column == "fid"
    assert rp.geometry_type == "Polygon" and rp.storage_epsg == 4542
    assert infos["park_summary"].geometry_type is None and infos["park_summary"].bbox is None
    assert rp.columns["transferable"] == "boolean"
    assert rp.columns["land_grade_majority"] == "integer"
    assert rp.columns["area_mu"] == "number" and rp.columns["verdict"] == "string"
    assert "geom" not in rp.columns and "fid" not in rp.columns


def test_collection_bbox_is_crs84_and_covers_every_feature(store, parcels):
    lon_lat = parcels.to_crs(4326).total_bounds
    bbox = store.collection("result_parcels").bbox
    assert bbox[0] <= lon_lat[0] and bbox[1] <= lon_lat[1]
    assert bbox[2] >= lon_lat[2] and bbox[3] >= lon_lat[3]
    np.testing.assert_allclose(bbox, lon_lat, atol=1e-9)


def test_unknown_collection_and_workspace_are_not_found(store, postgis_dsn):
    with pytest.raises(NotFoundError, match="nope"):
        store.collection("nope")
    with pytest.raises(NotFoundError, match="push one"):
        PgStore.from_dsn(f"{postgis_dsn}?workspace=t_absent_{os.getpid()}")


# ----------------------------------------------------------------------------- features


def _ids(page) -> list:
    return [json.loads(f)["id"] for f in page.features]


def test_paging_is_stable_and_complete(store, parcels):
    seen = []
    for offset in range(0, len(parcels), 1000):
        page = store.features("result_parcels", limit=1000, offset=offset)
        assert page.number_matched == len(parcels)
        seen += _ids(page)
    assert seen == sorted(parcels["parcel_id"])
    again = store.features("result_parcels", limit=7, offset=1000)
    assert _ids(again) == seen[1000:1007]


def test_bbox_filter_matches_a_geopandas_oracle(store, parcels):
    lon_lat = parcels.to_crs(4326)
    x0, y0, x1, y1 = lon_lat.total_bounds
    box = (x0 + (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.2, x0 + (x1 - x0) * 0.6, y0 + (y1 - y0) * 0.55)
    page = store.features("result_parcels", bbox=box, limit=10_000)
    got = set(_ids(page))
    eps = 1e-6  # ~0.1 m: the oracle's own reprojection may differ at the edges
    inner = shapely.box(box[0] + eps, box[1] + eps, box[2] - eps, box[3] - eps)
    outer = shapely.box(box[0] - eps, box[1] - eps, box[2] + eps, box[3] + eps)
    surely = set(lon_lat.loc[lon_lat.intersects(inner), "parcel_id"])
    maybe = set(lon_lat.loc[lon_lat.intersects(outer), "parcel_id"])
    assert surely <= got <= maybe
    assert page.number_matched == len(got) > 100


def test_bbox_far_away_or_world_wide(store, parcels):
    assert store.features("result_parcels", bbox=(-10, -10, 10, 10)).number_matched == 0
    world = store.features("result_parcels", bbox=(-180, -90, 180, 90), limit=1)
    assert world.number_matched == len(parcels)


def test_filters_are_exact_typed_and_bound(store, parcels):
    blocked = store.features("result_parcels", filters={"verdict": "blocked"}, limit=5000)
    assert blocked.number_matched == int((parcels["verdict"] == "blocked").sum()) > 0
    assert all(json.loads(f)["properties"]["verdict"] == "blocked" for f in blocked.features)
    yes = store.features("result_parcels", filters={"transferable": "true"}, limit=1)
    assert yes.number_matched == int(parcels["transferable"].sum())
    grade = int(parcels["land_grade_majority"].iloc[0])
    n = store.features("result_parcels", filters={"land_grade_majority": str(grade)}).number_matched
    assert n == int((parcels["land_grade_majority"] == grade).sum())
    both = store.features(
        "result_parcels", filters={"verdict": "blocked", "transferable": "false"}
    ).number_matched
    assert both == blocked.number_matched
    evil = store.features("result_parcels", filters={"verdict": "x' OR '1'='1"})
    assert evil.number_matched == 0 and evil.features == []
    with pytest.raises(NotFoundError):
        store.features("result_parcels", filters={"no_such_column": "1"})


def test_feature_geometry_in_crs84_4490_and_gk(store, parcels):
    row = parcels.sort_values("parcel_id").iloc[0]
    pid = row["parcel_id"]
    ring = np.asarray(row.geometry.exterior.coords)
    lonlat = np.asarray(
        gpd.GeoSeries([row.geometry], crs=parcels.crs).to_crs(4326).iloc[0].exterior.coords
    )

    def coords(text):
        return np.asarray(json.loads(text)["geometry"]["coordinates"][0])

    crs84 = store.feature("result_parcels", pid)
    np.testing.assert_allclose(coords(crs84), lonlat, atol=1.5e-7)
    assert coords(crs84)[0, 0] > 90  # lon first
    cgcs = coords(store.feature("result_parcels", pid, out_epsg=4490))
    np.testing.assert_allclose(cgcs[:, ::-1], lonlat, atol=1e-6)  # lat first (authority order)
    xy = coords(store.feature("result_parcels", pid, out_epsg=4490, authority_axes=False))
    np.testing.assert_allclose(xy, lonlat, atol=1e-6)
    gk = coords(store.feature("result_parcels", pid, out_epsg=4542))
    np.testing.assert_allclose(gk[:, ::-1], ring, atol=5e-4)  # northing first, 3 decimals
    assert "crs" not in json.loads(crs84)["geometry"]


def test_feature_properties_are_json_with_chinese_nulls_and_dates(store, parcels):
    feature = json.loads(store.feature("result_parcels", parcels["parcel_id"].iloc[0]))
    assert feature["type"] == "Feature" and feature["id"] == parcels["parcel_id"].iloc[0]
    props = feature["properties"]
    assert set(props) == set(parcels.columns) - {"geometry"}
    assert isinstance(props["transferable"], bool)
    odd = json.loads(store.feature("types_demo", "3"))
    assert odd["id"] == 3
    assert odd["properties"] == {
        "名称": "甲地块",
        "n64": 2**40,
        "n32": 1,
        "ok": True,
        "x": 0.30000000000000004,
        "x32": pytest.approx(1.1),
        "day": "2024-02-29",
    }
    empty = json.loads(store.feature("types_demo", "7"))
    assert empty["geometry"] is None and empty["properties"]["名称"] == ""
    assert empty["properties"]["n64"] is None and empty["properties"]["ok"] is None
    summary = json.loads(store.feature("park_summary", "1"))
    assert summary["geometry"] is None


def test_missing_feature_is_not_found(store):
    with pytest.raises(NotFoundError):
        store.feature("result_parcels", "no-such-parcel")
    with pytest.raises(NotFoundError):
        store.feature("networks", "abc")
    with pytest.raises(NotFoundError):
        store.feature("networks", "999999")


# ----------------------------------------------------------------------------- tiles


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    return z, x, y


def test_tiles_are_light_mvt(store, parcels):
    x0, y0, x1, y1 = parcels.to_crs(4326).total_bounds
    z, x, y = _tile_of((x0 + x1) / 2, (y0 + y1) / 2, 15)
    tile = store.tile("result_parcels", z, x, y)
    assert len(tile) > 100
    assert b"result_parcels" in tile and b"verdict" in tile and b"parcel_id" in tile
    assert b"reasons_zh" not in tile and b"slope_mean_deg" not in tile
    custom = store.tile("result_parcels", z, x, y, columns=("slope_mean_deg",))
    assert b"slope_mean_deg" in custom and b"verdict" not in custom
    low = _tile_of((x0 + x1) / 2, (y0 + y1) / 2, 6)
    assert len(store.tile("constraint_urban_boundary", *low)) > 0  # a low zoom: no blow-up
    assert isinstance(store.tile("result_parcels", 0, 0, 0), bytes)  # parcels < 1 pixel: dropped
    assert store.tile("result_parcels", 15, 0, 0) == b""  # far away
    with pytest.raises(NotFoundError):
        store.tile("result_parcels", 3, 8, 0)
    with pytest.raises(NotFoundError):
        store.tile("park_summary", 0, 0, 0)


# ----------------------------------------------------------------------------- layers


def test_read_layer_equals_the_geopackage(store, sample_ws):
    gpkg = sample_ws / "workspace.gpkg"
    for name in ("result_parcels", "networks", "park_summary"):
        want = pyogrio.read_dataframe(gpkg, layer=name)
        got = store.read_layer(name)
        if isinstance(want, gpd.GeoDataFrame):
            assert got.crs == want.crs
            assert shapely.equals_exact(
                got.geometry.values, want.geometry.values, tolerance=0
            ).all()
            got, want = (
                pd.DataFrame(got.drop(columns="geometry")),
                pd.DataFrame(want.drop(columns="geometry")),
            )
        pd.testing.assert_frame_equal(got, want, check_dtype=True)
    with pytest.raises(NotFoundError):
        store.read_layer("nope")


def test_replace_layer_is_atomic_and_changes_the_token(store, parcels):
    before = store.token()
    small = parcels.iloc[:10][["parcel_id", "verdict", "geometry"]]
    store.replace_layer("extra_layer", small)
    assert store.token() != before
    assert store.collection("extra_layer").count == 10
    big = parcels[["parcel_id", "verdict", "geometry"]]
    counts: list[int] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            counts.append(store.features("extra_layer", limit=1).number_matched)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(3):
            store.replace_layer("extra_layer", big)
            store.replace_layer("extra_layer", small)
    finally:
        stop.set()
        thread.join()
    assert counts and set(counts) <= {10, len(parcels)}  # never a partial layer
    token = store.token()
    bad = small.assign(verdict=[{"a": 1}] * 10)  # a column of dicts cannot be stored
    with pytest.raises(WorkspaceError):
        store.replace_layer("extra_layer", bad)
    assert store.token() == token and store.collection("extra_layer").count == 10
    assert store.read_layer("extra_layer")["verdict"].tolist() == small["verdict"].tolist()


def test_replace_layer_reprojects_to_the_workspace_crs(store, parcels):
    lonlat = parcels.iloc[:3][["parcel_id", "geometry"]].to_crs(4326)
    store.replace_layer("extra_lonlat", lonlat)
    back = store.read_layer("extra_lonlat")
    assert back.crs.to_epsg() == 4542
    np.testing.assert_allclose(back.total_bounds, parcels.iloc[:3].total_bounds, atol=1e-3)


def test_bulk_load_uses_copy(store):
    n = 100_000
    x = np.repeat(np.arange(400) * 30.0, 250)[:n] + 600_000
    y = np.tile(np.arange(250) * 30.0, 400)[:n] + 2_970_000
    frame = gpd.GeoDataFrame(
        {"parcel_id": [f"P{i:07d}" for i in range(n)], "area_mu": np.full(n, 1.35)},
        geometry=shapely.box(x, y, x + 25, y + 25),
        crs="EPSG:4542",
    )
    start = time.perf_counter()
    store.replace_layer("bulk", frame)
    elapsed = time.perf_counter() - start
    assert store.collection("bulk").count == n
    assert elapsed < 60, f"{n} parcels took {elapsed:.1f} s"


def test_register_tables_are_not_collections(store):
    ids = {c.id for c in store.collections()}
    assert not ids & {"register", "register_audit", "register_meta", "landplan_meta"}
    assert store.register().get("no-such") is None


def test_raster_paths(store, sample_ws, raster_root):
    path = store.raster_path("dem")
    assert path == raster_root / store.name / "dem.tif"
    assert path.read_bytes() == (sample_ws / "rasters" / "dem.tif").read_bytes()
    assert store.raster_path("nope") is None
    assert store.raster_path("../dem") is None


# ----------------------------------------------------------------------------- DSN, names, errors


def test_dsn_workspace_parameter_is_stripped():
    from psycopg.conninfo import conninfo_to_dict

    conninfo, name = pgschema.split_dsn("postgresql://u@h:5432/db?sslmode=disable&workspace=park_1")
    assert name == "park_1"
    assert conninfo_to_dict(conninfo) == {
        "user": "u",
        "host": "h",
        "port": "5432",
        "dbname": "db",
        "sslmode": "disable",
    }
    assert pgschema.split_dsn("postgresql://u@h/db")[1] == "landplan"


@pytest.mark.parametrize(
    "name",
    ["public", "pg_catalog", "Park", "a-b", 'x"; DROP SCHEMA public; --', "", "1abc", "x" * 49],
)
def test_unsafe_workspace_names_are_refused(name):
    with pytest.raises(WorkspaceError, match="not allowed"):
        pgschema.split_dsn(f"postgresql://u@h/db?workspace={name}")


def test_connection_failure_names_the_server_not_the_password():
    with pytest.raises(DataSourceError) as info:
        PgStore.from_dsn("postgresql://someone:s3cretpw@127.0.0.1:1/nodb?workspace=x")
    text = str(info.value)
    assert "cannot connect to PostGIS at 127.0.0.1:1/nodb" in text
    assert "s3cretpw" not in text


# ----------------------------------------------------------------------------- migrations


def test_an_old_schema_is_migrated_and_keeps_its_data(postgis_dsn):
    conninfo, name = pgschema.split_dsn(workspace_dsn(postgis_dsn, "migrate"))
    ident = psycopg.sql.Identifier(name)
    with pgschema.connect(conninfo) as conn:
        conn.execute(psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
        conn.commit()
        with conn.transaction():
            assert pgschema.migrate(conn, name, target=1) == 0
            conn.execute(
                psycopg.sql.SQL(
                    "INSERT INTO {}.register (parcel_id, state, version, updated_at, updated_by) "
                    "VALUES ('A', 'planned', 1, now(), '张三')"
                ).format(ident)
            )
        assert pgschema.schema_version(conn, name) == 1
        assert not pgschema.table_exists(conn, name, "landplan_files")
    try:
        store = PgStore.from_dsn(f"{postgis_dsn}?workspace={name}")  # opening migrates
        with pgschema.connect(conninfo) as conn:
            assert pgschema.schema_version(conn, name) == pgschema.SCHEMA_VERSION == 2
            assert pgschema.table_exists(conn, name, "landplan_files")
        assert store.register().get("A")["updated_by"] == "张三"
        with pgschema.connect(conninfo) as conn, conn.transaction():
            pgschema.set_meta(conn, name, "schema_version", "99")
        with pytest.raises(WorkspaceError, match="newer landplan"):
            PgStore.from_dsn(f"{postgis_dsn}?workspace={name}")
    finally:
        with pgschema.connect(conninfo) as conn:
            conn.execute(psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))

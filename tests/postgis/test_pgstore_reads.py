"""PgStore reads on one connection: pool checkouts per read and per items request, the token
after writes (this process's and another's), numberMatched from the catalogue and from
``count(*)``, and the pool's size for command lines and services."""

from __future__ import annotations

import os
import threading

import numpy as np
import pyogrio
import pytest
import shapely

psycopg = pytest.importorskip("psycopg")

from landplan.core.parallel import default_read_threads  # noqa: E402
from landplan.store import pgschema, pgstore  # noqa: E402
from landplan.store.pgcopy import frame_layer, load_layer  # noqa: E402
from landplan.store.pgstore import PgStore  # noqa: E402
from landplan.store.pgtransfer import drop_workspace, push  # noqa: E402

pytestmark = pytest.mark.postgis

LAYER = "result_parcels"


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory, sample_result):
    from landplan.store.workspace import GpkgWorkspace

    path = tmp_path_factory.mktemp("pgreads") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    return path


@pytest.fixture(scope="module")
def dsn(postgis_dsn, sample_ws, tmp_path_factory):
    dsn = f"{postgis_dsn}?workspace=t_pgreads_{os.getpid()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANDPLAN_RASTER_ROOT", str(tmp_path_factory.mktemp("rasters")))
        drop_workspace(dsn)
        push(sample_ws, dsn)
        yield dsn
        drop_workspace(dsn)


@pytest.fixture(scope="module")
def store(dsn) -> PgStore:
    return PgStore.from_dsn(dsn)


@pytest.fixture(scope="module")
def parcels(sample_ws):
    return pyogrio.read_dataframe(sample_ws / "workspace.gpkg", layer=LAYER)


def checkouts(store: PgStore) -> int:
    """Connections handed out so far by the pool ``store`` reads through."""
    return pgschema._pool(store.conninfo).get_stats().get("requests_num", 0)


def crs84_box(parcels, fraction: float = 0.5) -> tuple[float, float, float, float]:
    """A CRS84 box over the south-west ``fraction`` of the parcels' extent."""
    west, south, east, north = parcels.to_crs(4326).total_bounds
    return (west, south, west + (east - west) * fraction, south + (north - south) * fraction)


# ----------------------------------------------------------------------------- one checkout


def test_each_read_checks_out_one_connection(store, parcels):
    box = crs84_box(parcels)
    first = parcels["parcel_id"].iloc[0]
    reads = {
        "page": lambda: store.features(LAYER, limit=5),
        "bbox page": lambda: store.features(LAYER, bbox=box, limit=5),
        "filtered page": lambda: store.features(LAYER, filters={"verdict": "blocked"}),
        "feature": lambda: store.feature(LAYER, first),
        "tile": lambda: store.tile(LAYER, 14, 13_000, 7_000),
    }
    store.token()  # the pool exists
    for name, read in reads.items():
        before = checkouts(store)
        read()
        assert checkouts(store) - before == 1, name


def test_an_items_request_checks_out_one_connection(dsn, parcels, monkeypatch):
    """The API looks the collection up, then reads the page: one checkout for both while the
    token was checked within INFO_FRESH_S (made long here, so a slow machine cannot fail it)."""
    from fastapi.testclient import TestClient
    from landplan.api.app import create_app
    from landplan.api.settings import Settings

    monkeypatch.setattr(pgstore, "INFO_FRESH_S", 3600.0)
    box = ",".join(repr(float(v)) for v in crs84_box(parcels))
    with TestClient(create_app(Settings(store=dsn))) as client:
        store = client.app.state.store
        url = f"/collections/{LAYER}/items"
        assert client.get(url, params={"limit": 3}).status_code == 200
        for params in ({"limit": 3}, {"bbox": box, "limit": 3}, {"verdict": "blocked"}):
            before = checkouts(store)
            response = client.get(url, params=params)
            assert response.status_code == 200, response.text
            assert checkouts(store) - before == 1, params


# ----------------------------------------------------------------------------- numberMatched


def _matched(store: PgStore, layer: str, **kw) -> int:
    return store.features(layer, limit=1, **kw).number_matched


def test_number_matched_is_exact_with_and_without_filters_after_writes(store, parcels):
    box = crs84_box(parcels)
    columns = ["parcel_id", "verdict", "geometry"]
    for frame in (parcels.iloc[:40][columns], parcels[columns], parcels.iloc[::3][columns]):
        store.replace_layer("reads_layer", frame)
        in_box = frame.to_crs(4326).intersects(shapely.box(*box))
        blocked = frame["verdict"] == "blocked"
        assert _matched(store, "reads_layer") == len(frame)
        assert store.collection("reads_layer").count == len(frame)
        assert _matched(store, "reads_layer", bbox=box) == int(in_box.sum())
        assert _matched(store, "reads_layer", filters={"verdict": "blocked"}) == blocked.sum()
        both = _matched(store, "reads_layer", bbox=box, filters={"verdict": "blocked"})
        assert both == int((in_box & blocked).sum())
    page = store.features("reads_layer", limit=10_000)
    assert len(page.features) == page.number_matched == len(parcels.iloc[::3])


def test_a_write_by_another_process_shows_in_the_next_read(store, parcels):
    """Written on a connection of its own, outside this process's pool and bookkeeping (as
    another process writes): the token and every page read see it at once."""
    columns = ["parcel_id", "verdict", "geometry"]
    store.replace_layer("reads_other", parcels.iloc[:7][columns])
    assert _matched(store, "reads_other") == 7
    token = store.token()
    epoch = pgschema.write_epoch()
    layer = frame_layer(parcels.iloc[:19][columns], 4542)
    with psycopg.connect(store.conninfo) as conn, conn.transaction():
        load_layer(conn, store.name, "reads_other", layer)
        pgschema.bump_data_version(conn, store.name)
    assert pgschema.write_epoch() == epoch  # this process did not see it write
    assert store.token() != token
    assert _matched(store, "reads_other") == 19
    assert len(store.features("reads_other", limit=100).features) == 19
    blocked = int((parcels.iloc[:19]["verdict"] == "blocked").sum())
    assert _matched(store, "reads_other", filters={"verdict": "blocked"}) == blocked


def test_a_token_allowed_to_be_old_asks_no_query_and_still_sees_own_writes(store, parcels):
    """``token(max_age_s=)`` (what keys the tile cache): the last token read, without a pool
    checkout, while it is younger than that; another process's write shows in it once the
    token is read again; this process's own write shows at once."""
    columns = ["parcel_id", "geometry"]
    store.replace_layer("reads_aged", parcels.iloc[:3][columns])
    first = store.token()
    asked = checkouts(store)
    assert store.token(max_age_s=3600) == first and checkouts(store) == asked
    layer = frame_layer(parcels.iloc[:5][columns], 4542)
    with psycopg.connect(store.conninfo) as conn, conn.transaction():  # another process writes
        load_layer(conn, store.name, "reads_aged", layer)
        pgschema.bump_data_version(conn, store.name)
    assert store.token(max_age_s=3600) == first  # allowed to be old: not asked
    fresh = store.token()  # asked of the database
    assert fresh != first and checkouts(store) == asked + 1
    assert store.token(max_age_s=3600) == fresh  # the newer read is the one kept
    assert store.token(max_age_s=0) == fresh and checkouts(store) == asked + 2
    store.replace_layer("reads_aged", parcels.iloc[:2][columns])  # this process writes
    own = store.token(max_age_s=3600)
    assert own != fresh and own == store.token()


def test_a_write_by_this_process_shows_in_collections_at_once(store, parcels, monkeypatch):
    monkeypatch.setattr(pgstore, "INFO_FRESH_S", 3600.0)  # only this process's writes count
    columns = ["parcel_id", "geometry"]
    assert "reads_new" not in {c.id for c in store.collections()}
    store.replace_layer("reads_new", parcels.iloc[:3][columns])
    assert store.collection("reads_new").count == 3
    store.replace_layer("reads_new", parcels.iloc[:5][columns])
    assert store.collection("reads_new").count == 5
    other = PgStore(store.conninfo, store.name)  # another store of this process writes
    other.replace_layer("reads_new", parcels.iloc[:2][columns])
    assert store.collection("reads_new").count == 2


def test_a_collection_added_elsewhere_is_found_not_404(store, parcels, monkeypatch):
    monkeypatch.setattr(pgstore, "INFO_FRESH_S", 3600.0)
    store.collections()
    layer = frame_layer(parcels.iloc[:4][["parcel_id", "geometry"]], 4542)
    with psycopg.connect(store.conninfo) as conn, conn.transaction():
        load_layer(conn, store.name, "reads_elsewhere", layer)
        pgschema.bump_data_version(conn, store.name)
    assert store.collection("reads_elsewhere").count == 4


# ----------------------------------------------------------------------------- pool size


def test_a_command_line_keeps_one_connection_and_a_service_opens_its_read_threads(
    postgis_dsn, monkeypatch
):
    """Reads from one thread keep the pool at one connection; the first read that starts
    while another holds a connection opens the service's read threads plus spares at once."""
    monkeypatch.setenv("LANDPLAN_READ_THREADS", "3")
    conninfo, _ = pgschema.split_dsn(f"{postgis_dsn}?application_name=lp_pool_{os.getpid()}")
    for _ in range(5):
        with pgschema.connect(conninfo) as conn:
            conn.execute("SELECT 1")
    pool = pgschema._pool(conninfo)
    assert pool.get_stats()["pool_min"] == 1
    held, release = threading.Event(), threading.Event()

    def hold():
        with pgschema.connect(conninfo) as conn:
            conn.execute("SELECT 1")
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(30)
        with pgschema.connect(conninfo) as conn:
            assert conn.execute("SELECT 2").fetchone()[0] == 2
    finally:
        release.set()
        thread.join()
    assert pool.get_stats()["pool_min"] == pgschema.serving_pool_min() == 3 + pgschema.POOL_SPARE
    key = (os.getpid(), conninfo)
    assert pgschema._IN_USE[key] == 0
    pgschema._POOLS.pop(key).close()
    pgschema._SERVING.discard(key)


def test_serving_pool_min_follows_the_read_threads(monkeypatch):
    monkeypatch.delenv("LANDPLAN_READ_THREADS", raising=False)
    cores = max(1, min(4, os.cpu_count() or 1))  # the service's default read threads
    assert default_read_threads() == cores
    assert pgschema.serving_pool_min() == cores + pgschema.POOL_SPARE
    monkeypatch.setenv("LANDPLAN_READ_THREADS", "64")
    assert pgschema.serving_pool_min() == pgschema.POOL_MAX
    monkeypatch.setenv("LANDPLAN_READ_THREADS", "many")
    assert pgschema.serving_pool_min() == cores + pgschema.POOL_SPARE


def test_token_is_one_query_and_changes_with_each_write(store, parcels):
    token = store.token()
    store.replace_layer("reads_token", parcels.iloc[:2][["parcel_id", "geometry"]])
    after = store.token()
    assert after != token and after.startswith(f"{store.name}:")
    with pgschema.connect(store.conninfo) as conn:
        meta = pgschema.get_metas(conn, store.name, ["push_id", "data_version", "absent"])
    assert set(meta) == {"push_id", "data_version"}
    assert after == f"{store.name}:{meta['push_id']}:{meta['data_version']}"
    assert np.int64(meta["data_version"]) > 0


def test_new_pooled_connections_set_up_the_layers_transformations(store, postgis_dsn):
    """The catalogue read registers one CRS84 point per storage CRS; a new connection's
    configure step transforms it (and stays usable when a CRS cannot be set up)."""
    store.collections()
    points = pgschema._WARM[store.conninfo]
    srid = store.collection(LAYER).storage_epsg
    lon, lat = points[srid]
    west, south, east, north = store.collection(LAYER).bbox
    assert west <= lon <= east and south <= lat <= north
    pgschema.warm_transforms(store.conninfo, {999_999: (0.0, 0.0)})  # not a CRS
    try:
        with psycopg.connect(store.conninfo) as conn:
            pgschema._configure(conn, conninfo=store.conninfo)
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert conn.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
    finally:
        pgschema._WARM[store.conninfo].pop(999_999)

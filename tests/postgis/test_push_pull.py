"""push / pull between a GeoPackage workspace directory and PostGIS: lossless round trip,
all-or-nothing replacement, and the ``landplan workspace`` commands."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

from landplan.cli.main import app
from landplan.core.errors import WorkspaceError
from landplan.planning.scenarios import read_scenarios
from landplan.store.register import Register
from landplan.store.workspace import MARKER, write_layer
from tests.postgis.test_pgstore import build_sample_workspace, raster_root  # noqa: F401

psycopg = pytest.importorskip("psycopg")

from landplan.store import pgschema  # noqa: E402
from landplan.store.pgstore import PgStore  # noqa: E402
from landplan.store.pgtransfer import drop_workspace, pull, push  # noqa: E402

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory, sample_result) -> Path:
    return build_sample_workspace(tmp_path_factory.mktemp("push") / "ws", sample_result)


@pytest.fixture(scope="module")
def names(postgis_dsn, raster_root):  # noqa: F811
    """Workspace names of this module (unique per process); all dropped at the end."""
    made: list[str] = []

    def name(label: str) -> str:
        made.append(f"t_push_{label}_{os.getpid()}")
        return made[-1]

    yield name
    for n in made:
        drop_workspace(f"{postgis_dsn}?workspace={n}")


@pytest.fixture(scope="module")
def pushed(postgis_dsn, sample_ws, names) -> str:
    dsn = f"{postgis_dsn}?workspace={names('main')}"
    drop_workspace(dsn)
    push(sample_ws, dsn)
    return dsn


@pytest.fixture(scope="module")
def pulled(pushed, tmp_path_factory) -> Path:
    return pull(pushed, tmp_path_factory.mktemp("pull") / "ws")


# ----------------------------------------------------------------------------- round trip


def _declared_types(gpkg: Path, table: str) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(gpkg)) as conn:
        return [(r[1], r[2]) for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _rows(gpkg: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(gpkg)) as conn:
        return conn.execute(query).fetchall()


def test_every_layer_round_trips_losslessly(sample_ws, pulled):
    src, dst = sample_ws / "workspace.gpkg", pulled / "workspace.gpkg"

    def layers(gpkg):  # QGIS styles are rebuilt on pull, after the data layers
        return [tuple(x) for x in pyogrio.list_layers(gpkg) if x[0] != "layer_styles"]

    assert layers(dst) == layers(src)
    assert "layer_styles" in pyogrio.list_layers(dst)[:, 0]
    for name, geometry_type in pyogrio.list_layers(src):
        if name.startswith("register") or name == "layer_styles":  # styles: rebuilt on pull
            continue
        assert _declared_types(dst, name) == _declared_types(src, name), name
        meta_a, a = pyogrio.read_arrow(src, layer=name, return_fids=True)
        meta_b, b = pyogrio.read_arrow(dst, layer=name, return_fids=True)
        assert meta_b["crs"] == meta_a["crs"] and meta_b["geometry_type"] == meta_a["geometry_type"]
        assert [f.type for f in b.schema] == [f.type for f in a.schema], name
        if geometry_type is not None:
            ga = shapely.from_wkb(a.column("geom").to_pylist())
            gb = shapely.from_wkb(b.column("geom").to_pylist())
            assert shapely.equals_exact(ga, gb, tolerance=0)[~shapely.is_missing(ga)].all(), name
            assert (shapely.is_missing(ga) == shapely.is_missing(gb)).all()
            a, b = a.drop_columns(["geom"]), b.drop_columns(["geom"])
        assert b.equals(a), name  # values, NULLs, fids and Arrow types


def test_odd_types_survive(pulled):
    _, table = pyogrio.read_arrow(pulled / "workspace.gpkg", layer="types_demo", return_fids=True)
    data = table.to_pydict()
    assert data["fid"] == [3, 7, 11]
    assert data["名称"] == ["甲地块", "", None]
    assert data["n64"] == [2**40, None, -1] and data["ok"] == [True, None, False]
    assert data["x"][0] == 0.1 + 0.2 and data["x"][2] == 1e-300
    assert str(data["day"][0]) == "2024-02-29" and data["geom"][1] is None
    assert dict(_declared_types(pulled / "workspace.gpkg", "types_table"))["n32"] == "MEDIUMINT"


def test_register_and_audit_rows_are_identical(sample_ws, pulled):
    for query in (
        "SELECT * FROM register ORDER BY fid",
        "SELECT * FROM register_audit ORDER BY id",
        "SELECT * FROM register_meta ORDER BY key",
    ):
        want = _rows(sample_ws / "workspace.gpkg", query)
        assert _rows(pulled / "workspace.gpkg", query) == want and want, query
    assert _declared_types(pulled / "workspace.gpkg", "register") == _declared_types(
        sample_ws / "workspace.gpkg", "register"
    )


def test_the_pulled_register_keeps_working(sample_ws, pulled, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(pulled, copy)
    reg = Register(copy)
    row = reg.entries(state="transferred").iloc[0]
    moved = reg.record(
        row["parcel_id"], to="started", by="王五", expected_version=int(row["version"])
    )
    assert moved["version"] == row["version"] + 1
    assert len(reg.audit()) == len(Register(sample_ws).audit()) + 1


def test_scenarios_files_policy_marker_and_rasters_are_identical(sample_ws, pulled):
    want, got = read_scenarios(sample_ws), read_scenarios(pulled)
    assert got.drop(columns="geometry").equals(want.drop(columns="geometry"))
    assert got.geometry.geom_equals_exact(want.geometry, tolerance=0).all()
    for name in (MARKER, "policy.toml", "validation_report.json", "park_summary.csv", "map.html"):
        if (sample_ws / name).exists():
            assert (pulled / name).read_bytes() == (sample_ws / name).read_bytes(), name
    tifs = sorted(p.name for p in (sample_ws / "rasters").glob("*.tif"))
    assert tifs and sorted(p.name for p in (pulled / "rasters").glob("*.tif")) == tifs
    for tif in tifs:
        assert (pulled / "rasters" / tif).read_bytes() == (sample_ws / "rasters" / tif).read_bytes()
    for layer in ("parcels", "park_summary"):
        a = pyogrio.read_dataframe(sample_ws / "results.gpkg", layer=layer)
        b = pyogrio.read_dataframe(pulled / "results.gpkg", layer=layer)
        assert b.equals(a), layer


# ----------------------------------------------------------------------------- replace, failures


def _staging_schemas(postgis_dsn: str, name: str) -> list[str]:
    with psycopg.connect(postgis_dsn) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{name}__push_%",)
        ).fetchall()
    return [r[0] for r in rows]


def test_existing_workspace_needs_replace_and_replace_swaps(
    postgis_dsn, sample_ws, names, tmp_path
):
    name = names("replace")
    dsn = f"{postgis_dsn}?workspace={name}"
    push(sample_ws, dsn)
    with pytest.raises(WorkspaceError, match="already exists"):
        push(sample_ws, dsn)
    store = PgStore.from_dsn(dsn)
    token = store.token()
    changed = tmp_path / "ws"
    shutil.copytree(sample_ws, changed)
    pid = Register(changed).entries(state="planned")["parcel_id"].iloc[0]
    Register(changed).record(pid, to="ready", by="李四")
    report = push(changed, dsn, replace=True)
    assert report.name == name and report.register_rows == len(Register(changed).entries())
    assert store.register().get(pid)["state"] == "ready"
    assert store.token() != token
    assert _staging_schemas(postgis_dsn, name) == []


def test_a_failed_push_leaves_the_previous_workspace(postgis_dsn, sample_ws, names, tmp_path):
    name = names("failed")
    dsn = f"{postgis_dsn}?workspace={name}"
    push(sample_ws, dsn)
    store = PgStore.from_dsn(dsn)
    token, layers = store.token(), store.layers()
    rasters = sorted(p.name for p in (store.raster_path("dem").parent).iterdir())
    broken = tmp_path / "ws"
    shutil.copytree(sample_ws, broken)
    parcels = pyogrio.read_dataframe(broken / "workspace.gpkg", layer="parcels")
    write_layer(broken / "workspace.gpkg", "x" * 70, parcels)  # too long for PostgreSQL
    with pytest.raises(WorkspaceError, match="cannot be stored in PostGIS"):
        push(broken, dsn, replace=True)
    assert store.token() == token and store.layers() == layers
    assert _staging_schemas(postgis_dsn, name) == []
    assert sorted(p.name for p in (store.raster_path("dem").parent).iterdir()) == rasters
    assert not list(store.raster_path("dem").parent.parent.glob(f".{name}.staging-*"))


def test_pulls_during_layer_replacements_see_whole_layers(pushed, tmp_path):
    store = PgStore.from_dsn(pushed)
    parcels = store.read_layer("parcels")
    sizes = {len(parcels), 5}
    stop = threading.Event()

    def replace_again_and_again():
        while not stop.is_set():
            store.replace_layer("parcels", parcels.iloc[:5])
            store.replace_layer("parcels", parcels)

    writer = threading.Thread(target=replace_again_and_again)
    writer.start()
    try:
        seen = []
        for i in range(4):
            out = pull(pushed, tmp_path / f"ws{i}")
            seen.append(pyogrio.read_info(out / "workspace.gpkg", layer="parcels")["features"])
    finally:
        stop.set()
        writer.join()
    store.replace_layer("parcels", parcels)
    assert set(seen) <= sizes


def test_pull_refuses_a_directory_that_is_not_a_workspace(pushed, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="not a landplan workspace"):
        pull(pushed, tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_default_name_comes_from_the_dsn_or_the_directory(postgis_dsn, sample_ws, names, tmp_path):
    name = names("dirname")
    copy = tmp_path / name
    shutil.copytree(sample_ws, copy)
    assert push(copy, postgis_dsn).name == name
    assert pgschema.split_dsn(f"{postgis_dsn}?workspace={name}")[1] == name


# ----------------------------------------------------------------------------- CLI


def _run(*args):
    return CliRunner().invoke(app, ["workspace", *map(str, args)])


def test_cli_push_and_pull(postgis_dsn, sample_ws, names, tmp_path):
    name = names("cli")
    r = _run("push", sample_ws, "--to", postgis_dsn, "--name", name)
    assert r.exit_code == 0, r.stderr
    assert f"workspace {name}" in r.stdout and "register rows" in r.stdout
    again = _run("push", sample_ws, "--to", postgis_dsn, "--name", name)
    assert again.exit_code == 2 and "already exists" in again.stderr and "--replace" in again.stderr
    r = _run("push", sample_ws, "--to", postgis_dsn, "--name", name, "--replace")
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "pulled"
    r = _run("pull", f"{postgis_dsn}?workspace={name}", "--to", out)
    assert r.exit_code == 0, r.stderr
    assert (out / MARKER).read_bytes() == (sample_ws / MARKER).read_bytes()


def test_cli_errors_exit_2_without_secrets(sample_ws, tmp_path):
    r = _run("push", sample_ws, "--to", "postgresql://u:s3cretpw@127.0.0.1:1/db", "--name", "x")
    assert r.exit_code == 2
    assert "cannot connect to PostGIS at 127.0.0.1:1/db" in r.stderr
    assert "s3cretpw" not in r.stderr + r.stdout
    r = _run("pull", "postgresql://u@127.0.0.1:1/db?workspace=Bad-Name", "--to", tmp_path / "o")
    assert r.exit_code == 2 and "not allowed" in r.stderr
    r = _run("push", tmp_path, "--to", "postgresql://u@127.0.0.1:1/db")
    assert r.exit_code == 2 and "not a landplan workspace" in r.stderr


# ----------------------------------------------------------------------------- DSN forms


def _socket_dsns(postgis_dsn: str, name: str) -> list[str]:
    """The same database in every libpq form: URI with host and port, the local socket
    (``postgresql:///db``), a socket directory, ``?options``, and key=value."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(postgis_dsn)
    db, user = info["dbname"], info.get("user", "postgres")
    with psycopg.connect(postgis_dsn) as conn:
        socket_dir = conn.execute("SHOW unix_socket_directories").fetchone()[0].split(",")[0]
    host, port = info.get("host", "127.0.0.1"), info.get("port", "5432")
    quoted_dir = socket_dir.replace("/", "%2F")
    return [
        f"postgresql://{user}@{host}:{port}/{db}?workspace={name}",
        f"postgresql:///{db}?user={user}&workspace={name}",
        f"postgres://{user}@/{db}?workspace={name}",
        f"postgresql://{user}@{quoted_dir}/{db}?workspace={name}",
        f"postgresql:///{db}?host={socket_dir}&user={user}&workspace={name}",
        f"postgresql:///{db}?user={user}&options=-c%20statement_timeout%3D60000"
        f"&application_name=landplan%20test&workspace={name}",
        f"host={socket_dir} dbname={db} user={user} workspace={name}",
        f"host={host} port={port} dbname={db} user={user} workspace={name}",
        f"dbname={db} user={user} workspace={name} connect_timeout=5",
    ]


def test_every_libpq_dsn_form_opens_the_workspace(postgis_dsn, pushed):
    from landplan.store.open import open_store

    name = pgschema.split_dsn(pushed)[1]
    expected = PgStore.from_dsn(pushed).collection("result_parcels").count
    for dsn in _socket_dsns(postgis_dsn, name):
        store = open_store(dsn)
        assert isinstance(store, PgStore) and store.name == name, dsn
        assert store.collection("result_parcels").count == expected, dsn


def test_split_dsn_parses_with_libpq_and_keeps_every_part():
    from psycopg.conninfo import conninfo_to_dict

    cases = {
        "postgresql:///db": ({"dbname": "db"}, "landplan"),
        "postgresql:///db?workspace=w1": ({"dbname": "db"}, "w1"),
        "postgresql://%2Fvar%2Frun%2Fpostgresql/db": (
            {"dbname": "db", "host": "/var/run/postgresql"},
            "landplan",
        ),
        "postgresql://u:p%40ss@h:5433/db?sslmode=disable&options=-c%20search_path%3Dx"
        "&workspace=w2": (
            {
                "user": "u",
                "password": "p@ss",
                "host": "h",
                "port": "5433",
                "dbname": "db",
                "sslmode": "disable",
                "options": "-c search_path=x",
            },
            "w2",
        ),
        "host=/tmp dbname=db workspace=w3": ({"host": "/tmp", "dbname": "db"}, "w3"),
        "host='/a b' dbname=db": ({"host": "/a b", "dbname": "db"}, "landplan"),
    }
    for dsn, (params, name) in cases.items():
        conninfo, got = pgschema.split_dsn(dsn)
        assert (conninfo_to_dict(conninfo), got) == (params, name), dsn
        again = pgschema.with_workspace(dsn, "other")
        assert pgschema.split_dsn(again) == (conninfo, "other"), (dsn, again)


def test_a_dsn_libpq_refuses_is_a_clear_error():
    from landplan.core.errors import DataSourceError

    with pytest.raises(DataSourceError, match="not a PostgreSQL connection string"):
        pgschema.split_dsn("postgresql://h/db?no_such_option=1")


def test_push_to_the_local_socket_prints_the_serve_command_that_serves_it(
    postgis_dsn, sample_ws, names, tmp_path
):
    """``landplan workspace push DIR --to postgresql:///db``, then the printed command, run
    as printed, serves the pushed workspace on 127.0.0.1 over the local socket."""
    import shlex
    import subprocess
    import sys
    import time

    import httpx
    from psycopg.conninfo import conninfo_to_dict

    from tests.api.conftest import free_port

    info = conninfo_to_dict(postgis_dsn)
    target = f"postgresql:///{info['dbname']}"
    try:  # the OS user may have no role of its own (CI): then name the role, still the socket
        psycopg.connect(target, connect_timeout=5).close()
    except psycopg.OperationalError:
        target += f"?user={info.get('user', 'postgres')}"
    name = names("socket")
    copy = tmp_path / name  # push names the workspace after the folder
    shutil.copytree(sample_ws, copy)
    r = _run("push", copy, "--to", target)
    assert r.exit_code == 0, r.stderr
    command = r.stdout.strip().splitlines()[-1].strip()
    assert pgschema.with_workspace(target, name) in command, command
    argv = shlex.split(command)
    env = dict(os.environ)
    while "=" in argv[0]:  # LANDPLAN_RASTER_ROOT=... prefix
        key, value = argv.pop(0).split("=", 1)
        env[key] = value
    assert argv[:2] == ["landplan", "serve"]
    port = free_port()
    exe = str(Path(sys.executable).with_name("landplan"))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, *argv[1:], "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert body is not None, log.read_text()
        assert body["status"] == "ok" and body["workspace"] == name
        items = httpx.get(f"http://127.0.0.1:{port}/collections/result_parcels/items?limit=1")
        assert items.status_code == 200 and items.json()["numberMatched"] > 0
        assert httpx.get(f"http://127.0.0.1:{port}/rasters").json()["rasters"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_with_a_missing_workspace_lists_the_ones_there(postgis_dsn, pushed):
    from landplan.cli.main import app as main_app

    name = pgschema.split_dsn(pushed)[1]
    absent = f"t_absent_{os.getpid()}"
    r = CliRunner().invoke(main_app, ["serve", "--store", f"{postgis_dsn}?workspace={absent}"])
    assert r.exit_code == 2, r.output
    assert f"no landplan workspace {absent!r}" in r.stderr
    assert name in r.stderr and "?workspace=" in r.stderr

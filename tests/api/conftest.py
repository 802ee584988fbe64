"""The API under test, on both stores: the embedded GeoPackage directory and PostGIS.

``store_spec`` is parametrised: every test that takes ``client`` runs once per store.  Each
test module gets its own copy of the sample workspace (a directory copy, or a PostGIS
workspace pushed under a unique name), so tests that write do not disturb each other.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from landplan.api.app import create_app
from landplan.api.auth import hash_key
from landplan.api.settings import ApiKey, Settings

KEYS = {
    "viewer": "viewer-key-1",
    "planner": "planner-key-2",
    "registrar": "registrar-key-3",
    "admin": "admin-key-4",
}
STORES = ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)]


def auth(role: str) -> dict:
    return {"X-API-Key": KEYS[role]}


@pytest.fixture(scope="session")
def workspace_template(tmp_path_factory, sample_result):
    from landplan.store.workspace import GpkgWorkspace

    path = tmp_path_factory.mktemp("api-template") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    return path


def _pg_dsn() -> str:
    dsn = os.environ.get("LANDPLAN_TEST_DSN")
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail(
                "LANDPLAN_TEST_DSN is not set in CI: .ci/run must create the PostGIS database"
            )
        pytest.skip("set LANDPLAN_TEST_DSN to run the API tests on PostGIS")
    return dsn


@pytest.fixture(scope="module", params=STORES)
def store_spec(request, workspace_template, tmp_path_factory):
    """A fresh copy of the sample workspace in the parametrised store; yields LANDPLAN_STORE."""
    if request.param == "gpkg":
        path = tmp_path_factory.mktemp("api-ws") / "ws"
        shutil.copytree(workspace_template, path)
        yield str(path)
        return
    from landplan.store.pgtransfer import drop_workspace, push

    dsn = _pg_dsn()
    name = f"t{uuid.uuid4().hex[:10]}"
    os.environ.setdefault("LANDPLAN_RASTER_ROOT", str(tmp_path_factory.mktemp("rasters")))
    push(workspace_template, dsn, name=name)
    try:
        yield f"{dsn}?workspace={name}"
    finally:
        drop_workspace(f"{dsn}?workspace={name}")


def make_settings(store: str, **overrides) -> Settings:
    keys = [ApiKey(name=f"{role}-user", role=role, sha256=hash_key(k)) for role, k in KEYS.items()]
    return Settings(store=store, api_keys=keys, **overrides)


@pytest.fixture(scope="module")
def app(store_spec):
    return create_app(make_settings(store_spec))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``landplan serve`` in a child process on 127.0.0.1 (a real HTTP server)."""

    def __init__(self, store: str, tmp_path, **env) -> None:
        import json
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        keys = [
            {"name": f"{role}-user", "role": role, "sha256": hash_key(k)}
            for role, k in KEYS.items()
        ]
        environ = dict(os.environ, LANDPLAN_STORE=store, LANDPLAN_API_KEYS=json.dumps(keys), **env)
        self.log = open(tmp_path / f"server-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("landplan")),
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=environ,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self) -> None:
        import time

        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.log.name}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start within 60 s")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except Exception:
                self.kill()
        self.log.close()


@pytest.fixture(scope="module")
def live_server(store_spec, tmp_path_factory):
    server = LiveServer(store_spec, tmp_path_factory.mktemp("server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def assets_dir():
    """Leaflet and plugins installed from the npm registry (idempotent; verified by sha512)."""
    from landplan.maps.assets import default_asset_dir, install_assets

    install_assets()
    return default_asset_dir()

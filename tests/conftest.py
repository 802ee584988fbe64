"""Shared fixtures: tiny hand-computable layers in EPSG:4542 and the PostGIS DSN."""

from __future__ import annotations

import os

import geopandas as gpd
import pytest

from tests.helpers import GK, box


@pytest.fixture
def three_parcels() -> gpd.GeoDataFrame:
    """Three 100 m × 100 m parcels in a row (10 000 m² = 15 亩 each)."""
    return gpd.GeoDataFrame(
        {"DKBH": ["A", "B", "C"], "名称": ["甲地块", "乙地块", "丙地块"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 100, 100), box(200, 0, 100, 100)],
        crs=GK,
    )


@pytest.fixture
def layers() -> dict[str, gpd.GeoDataFrame]:
    """Constraint layers with overlaps, hand-computed in the tests.

    red_line: two overlapping boxes covering x 50–150 (full height) → A 5000, B 5000.
    basic_farmland: x 100–200, y 0–50 → B 5000 (2500 of it also red line).
    urban_boundary: x −10–250 → C has 5000 outside.
    """
    return {
        "red_line": gpd.GeoDataFrame(geometry=[box(50, 0, 100, 100), box(60, 0, 80, 100)], crs=GK),
        "basic_farmland": gpd.GeoDataFrame(geometry=[box(100, 0, 100, 50)], crs=GK),
        "urban_boundary": gpd.GeoDataFrame(geometry=[box(-10, -10, 260, 210)], crs=GK),
    }


DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_DB = "landplan_test"


def _provision_postgis() -> str | None:
    """Create the test database with PostGIS on the local server; None when that is not possible."""
    try:
        import psycopg
    except ImportError:
        return None
    try:
        with psycopg.connect(DEFAULT_SERVER, autocommit=True, connect_timeout=3) as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (TEST_DB,)
            ).fetchone():
                conn.execute(f"CREATE DATABASE {TEST_DB}")
        dsn = DEFAULT_SERVER.rsplit("/", 1)[0] + "/" + TEST_DB
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return dsn
    except psycopg.Error:
        return None


def pytest_configure(config):
    """On the controller only: find or create a PostGIS database and pass its DSN to the workers."""
    if hasattr(config, "workerinput") or os.environ.get("LANDPLAN_TEST_DSN"):
        return
    dsn = _provision_postgis()
    if dsn:
        os.environ["LANDPLAN_TEST_DSN"] = dsn


@pytest.fixture(scope="session")
def postgis_dsn() -> str:
    """DSN of a PostGIS database; in CI its absence is a failure, not a skip."""
    dsn = os.environ.get("LANDPLAN_TEST_DSN")
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail(
                "LANDPLAN_TEST_DSN is not set in CI: .ci/run must create the PostGIS database"
            )
        pytest.skip("set LANDPLAN_TEST_DSN=postgresql://... to run the PostGIS oracle tests")
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return dsn


@pytest.fixture(scope="session")
def sample_manifest(tmp_path_factory):
    """The bundled Lijiang sample, generated once per test session."""
    from landplan.data.sample import generate_sample

    return generate_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def sample_result(sample_manifest):
    from landplan.analysis.job import run_manifest

    return run_manifest(sample_manifest)


@pytest.fixture(scope="session")
def playwright_session():
    """One Playwright driver per test process: every browser test launches its Chromium from it
    (a second ``sync_playwright()`` in the same process fails inside the first one's loop)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _sigint_ignored() -> bool:
    """Whether this process ignores SIGINT at the OS level (what a child started now inherits)."""
    try:
        with open("/proc/self/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    except (OSError, StopIteration, ValueError):
        return False
    return bool(mask & (1 << (2 - 1)))  # SIGINT is signal 2


@pytest.fixture(autouse=True)
def _ctrl_c_left_as_found(request):
    """A test that leaves this process ignoring Ctrl-C is named (a warning) and undone.

    Once in a full run a spawned child inherited SIGINT ignored from an xdist worker where no
    test of ours had asked for it; this finds the test that leaves it so."""
    import signal
    import warnings

    before = _sigint_ignored()
    yield
    if _sigint_ignored() and not before:
        warnings.warn(
            f"{request.node.nodeid} left SIGINT ignored in the test process; undone", stacklevel=2
        )
        signal.signal(signal.SIGINT, signal.default_int_handler)

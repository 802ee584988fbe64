"""A real headless Chromium (Debian's ``chromium``, driven by Playwright; no browser download)
against ``landplan serve`` on 127.0.0.1.  Screenshots go to ``$LANDPLAN_TEST_ARTIFACTS``
(default ``test-artifacts/`` in the working directory)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import LiveServer, assets_dir, workspace_template  # noqa: F401 - fixtures

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str:
    for c in (os.environ.get("LANDPLAN_CHROMIUM"), *CHROMIUM_CANDIDATES):
        if c and Path(c).exists():
            return c
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed: .ci/run must apt-get install chromium")
    pytest.skip("install Debian's chromium to run the browser tests")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("LANDPLAN_TEST_ARTIFACTS", "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser(playwright_session):
    path = chromium_path()
    b = playwright_session.chromium.launch(
        executable_path=path, args=["--no-sandbox", "--disable-gpu"]
    )
    yield b
    b.close()


@pytest.fixture(scope="module")
def server(workspace_template, assets_dir, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("browser-ws") / "ws"
    shutil.copytree(workspace_template, folder)
    s = LiveServer(
        str(folder), tmp_path_factory.mktemp("browser-log"), LANDPLAN_ASSETS_DIR=str(assets_dir)
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tiled_server(workspace_template, assets_dir, tmp_path_factory):  # noqa: F811
    """The same workspace, but every parcel layer above 100 features drawn as vector tiles."""
    folder = tmp_path_factory.mktemp("browser-ws-tiles") / "ws"
    shutil.copytree(workspace_template, folder)
    s = LiveServer(
        str(folder),
        tmp_path_factory.mktemp("browser-log"),
        LANDPLAN_ASSETS_DIR=str(assets_dir),
        LANDPLAN_MAP_TILE_THRESHOLD="100",
    )
    yield s
    s.stop()


class PageWatch:
    """Console errors, page errors and every requested URL of a page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", self._failed)
        page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
        )

    def _failed(self, request) -> None:
        # Leaflet cancels the tiles of a zoom it leaves (the page opens at folium's zoom, then
        # fits the data): an aborted request is not an error; anything else is
        if (request.failure or "") != "net::ERR_ABORTED" or request.resource_type != "image":
            self.errors.append(f"failed: {request.url} ({request.failure})")


def block_outside(context, blocked: list[str]) -> None:
    """Abort every request that would leave 127.0.0.1 (recorded in ``blocked``)."""

    def route(r):
        url = r.request.url
        if url.startswith(("http:", "https:", "ws:", "wss:")) and urlsplit(url).hostname != (
            "127.0.0.1"
        ):
            blocked.append(url)
            return r.abort()
        return r.continue_()

    context.route("**/*", route)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    p = context.new_page()
    p.watch = PageWatch(p)
    p.blocked = []
    block_outside(context, p.blocked)
    yield p
    context.close()

"""Leaflet JS/CSS for the maps: from a CDN, from a local asset directory, or inlined.

The assets (``maps/assets.toml``) are npm packages pinned by version and by the tarball's
``dist.integrity`` (sha512).  :func:`install_assets` downloads each tarball from the npm
registry, checks the hash, and extracts the listed files into
``<asset dir>/<package>@<version>/`` through a staging directory and a rename, so a
package directory is either complete and verified or absent.

Pages choose one of three ``assets`` modes (:func:`apply_assets`):

``"cdn"``
    folium's behaviour: ``<script src="https://cdn...">``.
``"offline"``
    every ``<script>``/``<link>`` points to ``{base_url}/<package>@<version>/<file>``, which
    the API serves from the asset directory; the page loads nothing from outside (the
    basemap tiles excepted, which are data).
``"inline"``
    every asset is copied into the single HTML file, CSS images as ``data:`` URIs: a
    standalone export that opens without any server, years later.

The asset directory is ``$LANDPLAN_ASSETS_DIR`` or ``<sys.prefix>/share/landplan/assets``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import mimetypes
import os
import re
import shutil
import sys
import tarfile
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from landplan.core.errors import LandplanError

AssetMode = Literal["cdn", "offline", "inline"]
ASSET_MODES: tuple[str, ...] = ("cdn", "offline", "inline")
ENV_ASSETS_DIR = "LANDPLAN_ASSETS_DIR"
ENV_REGISTRY = "LANDPLAN_NPM_REGISTRY"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
MARKER = ".landplan-asset.json"
MANIFEST_PATH = Path(__file__).with_name("assets.toml")


class AssetError(LandplanError, OSError):
    """An asset is missing, fails its integrity check, or cannot be downloaded."""


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files taken from it."""

    name: str
    version: str
    integrity: str
    license: str
    files: tuple[str, ...]

    @property
    def dirname(self) -> str:
        return f"{self.name}@{self.version}"

    def tarball_url(self, registry: str = DEFAULT_REGISTRY) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.name}-{self.version}.tgz"


@dataclass(frozen=True)
class Manifest:
    """The packages, folium's resource names mapped to files, and names left out."""

    packages: dict[str, Package]
    js: dict[str, str]
    css: dict[str, str]
    drop: frozenset[str]

    def relative_path(self, ref: str, /) -> str:
        """``"leaflet/dist/leaflet.js"`` → ``"leaflet@1.9.4/dist/leaflet.js"``."""
        name, _, file = ref.partition("/")
        return f"{self.packages[name].dirname}/{file}"


@dataclass(frozen=True)
class PackageStatus:
    """Whether one package is installed and verified in an asset directory."""

    name: str
    version: str
    path: Path
    ok: bool
    detail: str


@cache
def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Read and check ``assets.toml`` (every referenced file must be listed)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    packages = {
        name: Package(name, p["version"], p["integrity"], p.get("license", ""), tuple(p["files"]))
        for name, p in data["packages"].items()
    }
    manifest = Manifest(
        packages, dict(data["js"]), dict(data["css"]), frozenset(data["drop"]["names"])
    )
    for ref in [*manifest.js.values(), *manifest.css.values()]:
        name, _, file = ref.partition("/")
        if name not in packages or file not in packages[name].files:
            raise AssetError(f"{path}: {ref!r} is not a listed file of a listed package")
    return manifest


def default_asset_dir() -> Path:
    """``$LANDPLAN_ASSETS_DIR``, else ``<sys.prefix>/share/landplan/assets``."""
    env = os.environ.get(ENV_ASSETS_DIR)
    return Path(env) if env else Path(sys.prefix) / "share" / "landplan" / "assets"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_package(pkg: Package, root: Path) -> PackageStatus:
    target = root / pkg.dirname
    marker = target / MARKER
    if not marker.is_file():
        return PackageStatus(pkg.name, pkg.version, target, False, "not installed")
    record = json.loads(marker.read_text(encoding="utf-8"))
    if record.get("integrity") != pkg.integrity or set(record.get("files", {})) != set(pkg.files):
        return PackageStatus(pkg.name, pkg.version, target, False, "installed from another pin")
    for file, digest in record["files"].items():
        path = target / file
        if not path.is_file() or _sha256(path) != digest:
            return PackageStatus(pkg.name, pkg.version, target, False, f"{file} changed or missing")
    return PackageStatus(pkg.name, pkg.version, target, True, "verified")


def assets_status(asset_dir: str | os.PathLike[str] | None = None, /) -> list[PackageStatus]:
    """The state of every manifest package in ``asset_dir`` (re-hashing its files)."""
    root = Path(asset_dir) if asset_dir is not None else default_asset_dir()
    return [_check_package(p, root) for p in load_manifest().packages.values()]


def assets_installed(asset_dir: str | os.PathLike[str] | None = None, /) -> bool:
    """True when every package is present and verified."""
    return all(s.ok for s in assets_status(asset_dir))


def _download(url: str) -> bytes:
    from urllib.error import URLError
    from urllib.request import urlopen

    try:
        with urlopen(url, timeout=60) as response:
            return response.read()
    except (URLError, OSError) as exc:
        raise AssetError(
            f"could not download {url}: {exc}; check the network or set "
            f"{ENV_REGISTRY} to a reachable npm mirror (e.g. https://registry.npmmirror.com)"
        ) from exc


def verify_integrity(data: bytes, integrity: str, /, *, what: str = "tarball") -> None:
    """Raise :class:`AssetError` unless ``data`` matches an npm ``sha512-<base64>`` string."""
    algo, _, expected = integrity.partition("-")
    if algo != "sha512":
        raise AssetError(f"{what}: only sha512 integrity is accepted, got {algo!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if actual != expected:
        raise AssetError(f"{what}: sha512 mismatch (expected {expected[:16]}…, got {actual[:16]}…)")


def _extract(pkg: Package, data: bytes, stage: Path) -> dict[str, str]:
    wanted = set(pkg.files)
    digests: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if rel not in wanted or not member.isfile():
                continue
            fh = tar.extractfile(member)
            assert fh is not None  # a regular file always has content
            out = stage / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(fh.read())
            digests[rel] = _sha256(out)
    missing = wanted - set(digests)
    if missing:
        raise AssetError(f"{pkg.dirname}: tarball lacks {sorted(missing)}")
    return digests


def _install_package(pkg: Package, root: Path, registry: str) -> None:
    url = pkg.tarball_url(registry)
    data = _download(url)
    verify_integrity(data, pkg.integrity, what=url)
    token = uuid.uuid4().hex[:8]
    stage = root / f".stage-{pkg.dirname}-{token}"
    stage.mkdir(parents=True)
    try:
        digests = _extract(pkg, data, stage)
        record = {"name": pkg.name, "version": pkg.version, "integrity": pkg.integrity}
        (stage / MARKER).write_text(
            json.dumps({**record, "source": url, "files": digests}, indent=2), encoding="utf-8"
        )
        target = root / pkg.dirname
        old = root / f".old-{pkg.dirname}-{token}"
        if target.exists():
            target.rename(old)
        stage.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def install_assets(
    asset_dir: str | os.PathLike[str] | None = None,
    /,
    *,
    registry: str | None = None,
    force: bool = False,
    on_package: Callable[[PackageStatus, str], None] | None = None,
) -> list[PackageStatus]:
    """Download, verify and extract every manifest package into ``asset_dir``.

    Packages already present and verified are skipped unless ``force``.  ``on_package`` is
    called with each package's final status and ``"installed"`` or ``"skipped"``.

    Raises
    ------
    AssetError
        If a download fails or a tarball does not match its pinned sha512.
    """
    root = Path(asset_dir) if asset_dir is not None else default_asset_dir()
    root.mkdir(parents=True, exist_ok=True)
    registry = registry or os.environ.get(ENV_REGISTRY) or DEFAULT_REGISTRY
    out = []
    for pkg in load_manifest().packages.values():
        status = _check_package(pkg, root)
        action = "skipped"
        if force or not status.ok:
            _install_package(pkg, root, registry)
            status, action = _check_package(pkg, root), "installed"
        if on_package is not None:
            on_package(status, action)
        out.append(status)
    return out


def asset_urls(mode: AssetMode, /, *, base_url: str = "/assets") -> dict[str, dict[str, str]]:
    """``{"js": {name: url}, "css": {name: url}}`` for ``"offline"`` (or ``"cdn"``: jsDelivr)."""
    if mode not in ("cdn", "offline"):
        raise ValueError(f"asset_urls takes 'cdn' or 'offline', got {mode!r}")
    manifest = load_manifest()
    prefix = base_url.rstrip("/") if mode == "offline" else "https://cdn.jsdelivr.net/npm"
    return {
        kind: {name: f"{prefix}/{manifest.relative_path(ref)}" for name, ref in table.items()}
        for kind, table in (("js", manifest.js), ("css", manifest.css))
    }


def package_file_url(package: str, file: str, /, *, base_url: str = "/assets") -> str:
    """The offline URL of one listed file of a manifest package, e.g. Swagger UI's bundle."""
    pkg = load_manifest().packages[package]
    if file not in pkg.files:
        raise AssetError(f"{file!r} is not a listed file of {pkg.dirname} in maps/assets.toml")
    return f"{base_url.rstrip('/')}/{pkg.dirname}/{file}"


_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def inline_css(css_path: Path, /) -> str:
    """The CSS text with every relative ``url(...)`` replaced by a ``data:`` URI."""

    def replace(match: re.Match[str]) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("data:", "#", "http:", "https:", "//")):
            return match.group(0)
        target = css_path.parent / ref.split("?")[0].split("#")[0]
        if not target.is_file():
            raise AssetError(f"{css_path.name} refers to {ref}, which is not installed")
        return f'url("{_data_uri(target)}")'

    return _CSS_URL.sub(replace, css_path.read_text(encoding="utf-8"))


@cache
def _raw_element_class() -> type:
    from branca.element import Element
    from jinja2 import Template

    class RawHTML(Element):
        """HTML written as is: the text is a value of the template, never template source."""

        _template = Template("{{ this.html }}")

        def __init__(self, html: str) -> None:
            super().__init__()
            self.html = html

    return RawHTML


def raw_html(html: str, /) -> Any:
    """A branca element that renders ``html`` unchanged.

    ``branca.element.Element(text)`` makes the text a Jinja template: parsing 150 kB of
    Leaflet (or megabytes of map data) takes a second, and a ``{{`` or ``{#`` in it would be
    read as Jinja.
    """
    return _raw_element_class()(html)


def _inline_element(kind: str, text: str) -> Any:
    tag = "script" if kind == "js" else "style"
    body = re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.I)
    return raw_html(f"<{tag}>{body}</{tag}>")


def _make_header(mode: AssetMode, base_url: str, asset_dir: Path | None) -> Any:
    from branca.element import CssLink, Element, JavascriptLink

    manifest = load_manifest()
    root = asset_dir if asset_dir is not None else default_asset_dir()
    if mode == "inline" and not assets_installed(root):
        raise AssetError(
            f"inline maps need the assets installed in {root}; run `landplan assets install`"
        )

    class AssetHeader(Element):
        """The page <head>: rewrites folium's script/style links as the page is rendered."""

        def render(self, **kwargs: Any) -> str:
            for name, child in list(self._children.items()):
                if isinstance(child, JavascriptLink | CssLink):
                    kind = "js" if isinstance(child, JavascriptLink) else "css"
                    self._children[name] = self._rewrite(name, kind, child.url)
            self._children = {k: v for k, v in self._children.items() if v is not None}
            return super().render(**kwargs)

        @staticmethod
        def _rewrite(name: str, kind: str, url: str) -> Any:
            if name in manifest.drop:
                return None
            ref = (manifest.js if kind == "js" else manifest.css).get(name)
            if ref is None:
                raise AssetError(
                    f"no offline copy of the {kind} asset {name!r} ({url}); add its npm package "
                    "to maps/assets.toml or use assets='cdn'"
                )
            rel = manifest.relative_path(ref)
            if mode == "offline":
                link = f"{base_url.rstrip('/')}/{rel}"
                return JavascriptLink(link) if kind == "js" else CssLink(link)
            path = root / rel
            text = inline_css(path) if kind == "css" else path.read_text(encoding="utf-8")
            return _inline_element(kind, text)

    return AssetHeader


def apply_assets(
    m: Any,
    mode: AssetMode = "cdn",
    /,
    *,
    base_url: str = "/assets",
    asset_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """Make the page of map ``m`` load its JS/CSS per ``mode`` (see the module docstring).

    The page header is replaced by one that rewrites folium's links when the page is
    rendered, so elements added later are covered too.  ``"cdn"`` leaves the page alone.

    Raises
    ------
    ValueError
        If ``mode`` is unknown.
    AssetError
        ``"inline"`` without installed assets; or, at render time, an asset with no
        offline copy in the manifest.
    """
    if mode not in ASSET_MODES:
        raise ValueError(f"assets must be one of {ASSET_MODES}, got {mode!r}")
    if mode == "cdn":
        return m
    figure = m.get_root()
    header_cls = _make_header(mode, base_url, Path(asset_dir) if asset_dir else None)
    header = header_cls()
    header._children = figure.header._children
    header._parent = figure
    figure.header = header
    return m

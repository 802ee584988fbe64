"""The house keeps its rooms: import graph and module sizes of the installed packages.

- zero import cycles between modules of ``landplan`` (function-level imports count too);
- nothing in ``landplan`` outside ``landplan.cli`` imports ``landplan.maps`` or ``landplan.api``;
- ``landplan.maps`` never imports ``landplan.api``;
- the library core never imports the CLI; nobody imports the bare top-level names ``maps``/``api``;
- no module over 800 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder → installed package name (pyproject's package-dir)
PACKAGES = {
    "landplan": "landplan",
    "maps": "landplan.maps",
    "api": "landplan.api",
    "data": "landplan.data",
}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, package in PACKAGES.items():
        for f in (ROOT / folder).rglob("*.py"):
            rel = f.relative_to(ROOT / folder).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([package, *parts])] = f
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    is_pkg = path.name == "__init__.py"
    base = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                mod = ".".join([*parts, mod] if mod else parts)
            targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    g.add_nodes_from(mods)
    for name, path in mods.items():
        for target in _imports(name, path, set(mods)):
            # a package's __init__ re-exporting its own modules is not a cycle of rooms
            if not target.startswith(name + ".") and not name.startswith(target + "."):
                g.add_edge(name, target)
    return g


def test_no_import_cycles(graph):
    cycles = [c for c in nx.simple_cycles(graph) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles[:5]}"


def _edges(graph, src_prefix: str, dst_prefix: str, *, exempt: str | None = None):
    return sorted(
        (a, b)
        for a, b in graph.edges
        if (a == src_prefix or a.startswith(src_prefix + "."))
        and (b == dst_prefix or b.startswith(dst_prefix + "."))
        and not (exempt and (a == exempt or a.startswith(exempt + ".")))
    )


def test_library_never_imports_maps_or_api(graph):
    library = [
        (a, b)
        for a, b in graph.edges
        if a.startswith("landplan.")
        and not a.startswith(("landplan.cli", "landplan.maps", "landplan.api"))
        and b.startswith(("landplan.maps", "landplan.api"))
    ]
    assert library == []
    assert _edges(graph, "landplan.maps", "landplan.api") == []


def test_only_the_cli_imports_the_cli(graph):
    users = [
        a
        for a, b in graph.edges
        if b.startswith("landplan.cli") and not a.startswith("landplan.cli")
    ]
    assert set(users) <= {"landplan.__main__"}


def test_no_bare_top_level_imports():
    bad = []
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            bad += [f"{path}: {n}" for n in names if n.split(".")[0] in ("maps", "api", "data")]
    assert bad == []


def test_no_module_over_800_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules().values()
        if (n := len(p.read_text("utf-8").splitlines())) > 800
    }
    assert long == {}


def test_every_room_says_what_it_holds():
    for room in ("core", "io", "analysis", "raster", "indicators", "planning", "store", "cli"):
        init = ROOT / "landplan" / room / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text("utf-8"))), room

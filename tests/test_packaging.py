"""The wheel: every room is in it, and no generic top-level name (``api``, ``maps``, ``data``)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = {"maps": "landplan.maps", "api": "landplan.api", "data": "landplan.data"}


def _source_packages() -> set[str]:
    found = set()
    for init in ROOT.glob("*/**/__init__.py"):
        rel = init.parent.relative_to(ROOT)
        top = rel.parts[0]
        if top == "landplan":
            found.add(".".join(rel.parts))
        elif top in PACKAGE_DIR:
            found.add(".".join([PACKAGE_DIR[top], *rel.parts[1:]]))
    return found


def test_every_source_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _source_packages() == listed
    assert config["tool"]["setuptools"]["package-dir"] == {v: k for k, v in PACKAGE_DIR.items()}


def test_wheel_has_no_generic_top_level_names(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(ROOT), "-w", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    (wheel,) = tmp_path.glob("landplan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"landplan"}
    for must in ("landplan/maps/assets.toml", "landplan/api/app.py", "landplan/data/sample.py",
                 "landplan/profiles/national.toml", "landplan/py.typed"):  # fmt: skip
        assert must in names

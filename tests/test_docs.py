"""The docs site builds from the docstrings with warnings as errors (mkdocs --strict)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path):
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    reasons = (tmp_path / "site" / "reasons" / "index.html").read_text(encoding="utf-8")
    for code in ("RED_LINE_OVERLAP", "NETWORK_MISSING:water", "GEOMETRY_EMPTY"):
        assert code in reasons
    reference = (tmp_path / "site" / "reference" / "index.html").read_text(encoding="utf-8")
    assert "to_workspace" in reference and "open_workspace" in reference

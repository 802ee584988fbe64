"""``landplan unlock``, the real command in a subprocess, on the sample workspace."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest


def _landplan(*args, cwd):
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "landplan", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def workspace(sample_result, tmp_path_factory):
    from landplan.store.workspace import GpkgWorkspace

    path = tmp_path_factory.mktemp("unlock") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    return path


def test_unlock_writes_everything_and_answers(workspace, tmp_path):
    run = _landplan("unlock", workspace, "--out", tmp_path / "u", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("建设以下 ") and "其中标准地" in first
    assert "Build these" in run.stdout
    out = tmp_path / "u"
    for name in ("unlock.csv", "unlock.xlsx", "unlock_curve.png", "unlock_map.html"):
        assert (out / name).stat().st_size > 0
    assert (out / "unlock.csv").read_bytes()[:3] == b"\xef\xbb\xbf"  # UTF-8 BOM for Excel
    sheets = pd.read_excel(out / "unlock.xlsx", sheet_name=None, header=1)  # row 2: column names
    assert {"排序", "释放曲线", "选定方案", "地块"} <= set(sheets)
    sheets["chosen"] = sheets["选定方案"]
    ranking = pd.read_csv(out / "unlock.csv", encoding="utf-8-sig")
    assert ranking["rank"].tolist() == list(range(1, len(ranking) + 1))
    assert ranking["cum_mu"].iat[-1] == pytest.approx(
        sheets["chosen"]["mu_unlocked"].sum(), abs=1e-3
    )


def test_unlock_budget_too_small(workspace, tmp_path):
    run = _landplan(
        "unlock", workspace, "--out", tmp_path / "u", "--budget-wan", "0.5", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert "不足以建设任何一段" in run.stdout


def test_unlock_bad_input_exit_2(tmp_path):
    run = _landplan("unlock", tmp_path, "--out", tmp_path / "u", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and "not a landplan workspace" in run.stderr

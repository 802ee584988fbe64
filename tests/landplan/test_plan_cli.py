"""``landplan plan`` and ``landplan match``: the real commands in a subprocess, on the sample."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest

PLAN_COLUMNS = ["year", "segments", "spent_wan", "budget_wan", "new_transferable_mu",
                "cumulative_transferable_mu", "target_share"]  # fmt: skip


def _landplan(*args, cwd):
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "landplan", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def workspace(sample_result, tmp_path_factory):
    from landplan.store.workspace import GpkgWorkspace

    path = tmp_path_factory.mktemp("plancli") / "ws"
    GpkgWorkspace(path).write_result(sample_result)
    return path


@pytest.fixture(scope="module")
def planned(workspace, tmp_path_factory):
    out = tmp_path_factory.mktemp("planout") / "p"
    run = _landplan("plan", workspace, "--budget", "2026:150", "--budget", "2027:150",
                    "--budget", "2028:150", "--scope", "ZT=标准地", "--out", out,
                    cwd=workspace.parent)  # fmt: skip
    return run, out


def test_plan_writes_everything_and_answers(planned):
    run, out = planned
    assert run.returncode == 0, run.stderr
    for name in ("plan.csv", "plan.xlsx", "plan_curve.png", "plan_map.html", "answer.txt"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "plan.csv", encoding="utf-8-sig")
    assert table.columns.tolist()[: len(PLAN_COLUMNS)] == PLAN_COLUMNS
    assert table["year"].tolist() == [2026, 2027, 2028]
    assert (table["spent_wan"] <= table["available_wan"] + 1e-3).all()
    zh = run.stdout.splitlines()[0]
    assert zh == (out / "answer.txt").read_text(encoding="utf-8").splitlines()[0]
    m = re.search(r"2028 年底标准地可出让 ([\d,.]+) 亩（([\d.]+)%，目标 100%）", zh)
    assert m, zh
    last = table.iloc[-1]
    assert float(m.group(1).replace(",", "")) == pytest.approx(
        last["cumulative_transferable_mu"], abs=0.005
    )
    assert float(m.group(2)) == pytest.approx(100 * last["cumulative_share"], abs=0.05)
    from landplan.export.xlsx import read_sheet

    sheets = pd.read_excel(out / "plan.xlsx", sheet_name=None)
    assert {"分年计划", "投资安排", "地块", "说明"} <= set(sheets)
    back = read_sheet(out / "plan.xlsx", "分年计划")
    assert back["cumulative_transferable_mu"].tolist() == pytest.approx(
        table["cumulative_transferable_mu"].tolist(), abs=1e-3
    )
    assert (out / "plan_parcels.csv").stat().st_size > 0
    html = (out / "plan_map.html").read_text(encoding="utf-8")
    assert "<span>2026</span>" in html and "年份 Year" in html  # the legend
    for sid in ";".join(table["segment_ids"].fillna("")).split(";"):
        assert not sid or f"({sid})" in html  # every funded segment is drawn with its popup


def test_plan_bad_input_exit_2(workspace, tmp_path):
    run = _landplan("plan", workspace, "--budget", "2026", "--out", tmp_path / "p", cwd=tmp_path)
    assert run.returncode == 2 and "YEAR:WAN" in run.stderr
    assert not (tmp_path / "p").exists()
    run = _landplan("plan", tmp_path, "--budget", "2026:1", "--out", tmp_path / "p", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith("error: ")


def test_match_with_a_plan(workspace, planned, tmp_path):
    _, plan_out = planned
    projects = tmp_path / "projects.csv"
    projects.write_text(
        "project_id,industry_code,min_mu,max_mu,invest_wan,tax_wan_per_year,"
        "revenue_wan_per_year,networks,max_slope_deg,zone\n"
        "A,C2661,40,60,24000,900,30000,road;water;power,8,金山片区\n"
        "B,C3985,10,15,4000,200,5000,road;water,10,\n",
        encoding="utf-8",
    )
    out = tmp_path / "m"
    run = _landplan("match", projects, workspace, "--by", "2028", "--plan", plan_out,
                    "--out", out, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "joint MILP" in run.stdout
    m = pd.read_csv(out / "match.csv", encoding="utf-8-sig", dtype={"parcel_ids": str})
    assert {"project_id", "rank", "parcel_ids", "area_mu", "assigned"} <= set(m.columns)
    a = m[m["assigned"]]
    ids = [p for s in a["parcel_ids"] for p in s.split(";")]
    assert len(ids) == len(set(ids))
    u = pd.read_csv(out / "unmatched_reasons.csv", encoding="utf-8-sig")
    assert {"project_id", "parcel_id", "code", "reason_zh", "reason_en"} <= set(u.columns)
    assert u["reason_zh"].str.len().gt(0).all()
    assert (out / "match.xlsx").stat().st_size > 0
    html = (out / "match_map.html").read_text(encoding="utf-8")
    assert all(pid in html for pid in a["parcel_ids"].str.split(";").explode()) or len(a) == 0


def test_match_bad_projects_exit_2(workspace, tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("project_id,min_mu\nA,5\n", encoding="utf-8")
    run = _landplan("match", bad, workspace, "--out", tmp_path / "m", cwd=tmp_path)
    assert run.returncode == 2 and "max_mu" in run.stderr
    assert "Traceback" not in run.stderr

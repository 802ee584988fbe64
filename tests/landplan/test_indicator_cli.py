"""``landplan indicators check`` and ``landplan mujun evaluate`` end to end, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

PROJECTS = pd.DataFrame(
    {
        "project_id": ["金山-01", "东山-02"],
        "park": ["金山", "金山"],
        "industry_code": ["13", "35"],
        "land_area_m2": [24735.0, 6000.0],
        "fixed_investment_wan": [12985.88, 2000.0],
        "floor_area_m2": [26000.0, 5000.0],
        "floor_area_over_8m_m2": [0.0, 0.0],
        "footprint_m2": [9000.0, 2400.0],
        "admin_land_m2": [1500.0, 300.0],
        "green_area_m2": [2000.0, 500.0],
        "annual_tax_wan": [800.0, 100.0],
        "revenue_wan": [15000.0, 3000.0],
        "req_invest_wan_per_mu": [350.0, None],
    }
)


def _landplan(*args, cwd):
    env = {**os.environ, "COLUMNS": "140"}
    return subprocess.run(
        [sys.executable, "-m", "landplan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _firms(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "firm_id": [f"企业{i:02d}" for i in range(n)],
            "park": ["华坪" if i % 2 else "金山" for i in range(n)],
            "scale": ["规上" if i % 3 else "规下" for i in range(n)],
            "land_area_mu": [10.0 + i for i in range(n)],
            "tax_wan": [50.0 + 20 * i for i in range(n)],
            "revenue_wan": [2000.0 + 300 * i for i in range(n)],
            "value_added_wan": [500.0 + 50 * i for i in range(n)],
            "energy_tce": [300.0] * n,
            "emissions_t": [0.4] * n,
            "employees": [40.0 + i for i in range(n)],
            "rd_wan": [60.0] * n,
            "electricity_kwh": [2_000_000.0 + 1000 * i for i in range(n)],
        }
    )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_indicators_check_writes_csv_and_xlsx(tmp_path, encoding):
    PROJECTS.to_csv(tmp_path / "projects.csv", index=False, encoding=encoding)
    run = _landplan(
        "indicators", "check", "projects.csv", "--policy", "national-2008", "--out", "out/r.csv",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "金山-01" in run.stdout and "12,985.88" in run.stdout
    assert (tmp_path / "out" / "r.xlsx").exists()
    r = pd.read_csv(tmp_path / "out" / "r.csv", encoding="utf-8-sig", dtype={"project_id": str})
    assert r["project_id"].tolist() == ["金山-01", "东山-02"]
    assert r.loc[0, "min_investment_wan"] == 12985.88
    assert bool(r.loc[0, "pass"])  # FAR 1.05 ≥ 1.0 (13), coverage 36 %, admin 6 %, 350 万元/亩
    assert json.loads(r.loc[0, "reasons"]) == []  # the notice sets the investment threshold
    # the 2008 Table 1 investment intensity is not set: a warning, never a silent pass
    assert [x["code"] for x in json.loads(r.loc[1, "reasons"])] == ["INDICATORS_NOT_SET"]
    assert r["verdict"].tolist() == ["pass", "pass_with_warnings"]
    xl = pd.read_excel(tmp_path / "out" / "r.xlsx", sheet_name=None, header=1)  # row 2: names
    assert set(xl) == {"项目", "原因", "指标表"}
    assert xl["原因"]["project_id"].tolist() == ["东山-02"]


def test_indicators_check_with_peers_and_a_local_table(tmp_path):
    PROJECTS.to_csv(tmp_path / "projects.csv", index=False, encoding="gbk")
    pd.DataFrame(
        {
            "firm_id": ["老厂1", "老厂2"],
            "park": ["金山", "金山"],
            "industry_code": ["13", "13"],
            "land_area_mu": [10.0, 10.0],
            "fixed_investment_wan": [3000.0, 5000.0],  # mean 400 万元/亩
            "revenue_wan": [4000.0, 6000.0],
        }
    ).to_csv(tmp_path / "peers.csv", index=False, encoding="gbk")
    run = _landplan(
        "indicators", "check", "projects.csv", "--policy", "tieshangang", "--peers", "peers.csv",
        "--out", "r.csv", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "national-2008" in run.stderr and "far_min" in run.stderr  # looser-than-national warning
    r = pd.read_csv(tmp_path / "r.csv", encoding="utf-8-sig")
    codes = r.loc[0, "reason_codes"].split(";")
    assert "BELOW_PEER_AVERAGE:invest" in codes
    assert r.loc[0, "min_investment_wan"] == pytest.approx(37.1025 * 400)


def test_indicators_check_bad_units_exit_2_naming_row_and_column(tmp_path):
    bad = PROJECTS.copy()
    bad.loc[1, "fixed_investment_wan"] = 20_000_000.0  # 元
    bad.to_csv(tmp_path / "projects.csv", index=False, encoding="utf-8")
    run = _landplan("indicators", "check", "projects.csv", "--out", "r.csv", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ")
    assert "fixed_investment_wan row 2 (project_id 东山-02) looks like 元" in run.stderr
    assert "divide by 10000" in run.stderr
    assert not (tmp_path / "r.csv").exists()


def test_indicators_check_unknown_table_and_missing_file_exit_2(tmp_path):
    PROJECTS.to_csv(tmp_path / "projects.csv", index=False)
    run = _landplan(
        "indicators", "check", "projects.csv", "--policy", "nope", "--out", "r.csv", cwd=tmp_path
    )
    assert run.returncode == 2 and "national-2008" in run.stderr
    run = _landplan("indicators", "check", "missing.csv", "--out", "r.csv", cwd=tmp_path)
    assert run.returncode == 2 and "missing.csv" in run.stderr


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_mujun_evaluate_writes_csv_xlsx_and_chart(tmp_path, encoding):
    _firms().to_csv(tmp_path / "firms.csv", index=False, encoding=encoding)
    run = _landplan(
        "mujun", "evaluate", "firms.csv", "--policy", "huaian-2024", "--out", "m.csv", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    r = pd.read_csv(tmp_path / "m.csv", encoding="utf-8-sig")
    assert {"firm_id", "score", "class", "tax_wan_per_mu", "score_tax_wan_per_mu"} <= set(r.columns)
    assert r["firm_id"].str.startswith("企业").all()
    assert set(r["class"]) <= {"A", "B", "C", "D"}
    xl = pd.read_excel(tmp_path / "m.xlsx", sheet_name=None, header=1)  # row 2: column names
    assert {"企业", "园区汇总", "基准值", "评价办法"} <= set(xl)
    assert set(xl["园区汇总"]["park"]) == {"金山", "华坪"}
    if "chart skipped" not in run.stdout:
        assert (tmp_path / "m_classes.png").read_bytes()[:4] == b"\x89PNG"


def test_mujun_huangyan_with_cutoffs_and_bad_input(tmp_path):
    _firms().to_csv(tmp_path / "firms.csv", index=False)
    run = _landplan(
        "mujun", "evaluate", "firms.csv", "--policy", "huangyan-2023", "--cutoffs", "20,60,95",
        "--out", "m.csv", "--no-chart", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    r = pd.read_csv(tmp_path / "m.csv", encoding="utf-8-sig")
    assert set(r["group"]) == {"above", "below"}
    assert (r.groupby("group")["class"].first() == "A").all()
    bad = _firms()
    bad.loc[3, "tax_wan"] = 5_000_000.0
    bad.to_csv(tmp_path / "bad.csv", index=False)
    run = _landplan(
        "mujun", "evaluate", "bad.csv", "--policy", "huangyan-2023", "--out", "b.csv", cwd=tmp_path
    )
    assert run.returncode == 2
    assert "tax_wan row 4 (firm_id 企业03) looks like 元" in run.stderr

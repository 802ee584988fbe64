"""landplan.indicators.review: the efficiency loop on the sample with a real register, parks, feedback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from landplan.core.policy import load_policy
from landplan.indicators.review import efficiency_review, leading_industries, park_ranking
from landplan.planning.matching import match_projects, validate_projects
from landplan.planning.supply_plan import build_problem, plan_supply
from tests.helpers import GK, box


def _firm(fid, parcel, park, code, tax, revenue, land=10.0):
    return {"firm_id": fid, "parcel_id": parcel, "park": park, "industry_code": code,
            "scale": "above", "land_area_mu": land, "tax_wan": tax, "revenue_wan": revenue,
            "value_added_wan": revenue / 4, "energy_tce": 100.0, "employees": 50.0,
            "rd_wan": revenue / 50, "electricity_kwh": 1e6, "emissions_t": 1.0}  # fmt: skip


def test_leading_industries_rule():
    s = pd.Series({"26": 50.0, "31": 30.0, "13": 15.0, "39": 5.0})
    assert leading_industries(s, share=0.7) == ["26", "31"]  # 50 % + 30 % ≥ 70 %
    assert leading_industries(s, share=0.8) == ["26", "31"]  # exactly 80 %
    assert leading_industries(s, share=0.9) == ["26", "31", "13"]
    assert leading_industries(pd.Series({"26": 0.0})) == []


def test_park_ranking_by_tax_per_mu():
    firms = pd.DataFrame([
        _firm("a1", "x", "甲", "C2611", 100, 1000), _firm("a2", "x", "甲", "C3011", 100, 1000),
        _firm("a3", "x", "甲", "C1311", 100, 1000), _firm("a4", "x", "甲", "C3911", 100, 1000),
        _firm("b1", "y", "乙", "C2611", 500, 9000), _firm("b2", "y", "乙", "C2612", 100, 1000),
    ])  # fmt: skip
    graded = pd.DataFrame({"firm_id": firms["firm_id"], "score": np.arange(6.0)})
    parks = park_ranking(firms, graded, {}).set_index("park")
    assert parks.loc["乙", "rank"] == 1 and parks.loc["甲", "rank"] == 2
    assert parks.loc["乙", "tax_wan_per_mu"] == pytest.approx(600 / 20)
    assert parks.loc["甲", "tax_wan_per_mu"] == pytest.approx(400 / 40)
    # 甲: four divisions of 25 % each → three reach 75 % ≥ 70 %: passes; 乙: one division (26)
    assert parks.loc["甲", "n_leading"] == 3 and parks.loc["甲", "leading_ok"]
    assert parks.loc["乙", "leading_industries"] == "26"
    firms.loc[firms["park"] == "甲", "revenue_wan"] = [1000, 1000, 1000, 1000]
    firms = pd.concat([firms, pd.DataFrame([_firm("a5", "x", "甲", "C1411", 100, 1000)])])
    graded = pd.DataFrame({"firm_id": firms["firm_id"], "score": 1.0})
    parks = park_ranking(firms, graded, {}).set_index("park")
    assert parks.loc["甲", "n_leading"] == 4 and not parks.loc["甲", "leading_ok"]
    assert "超过 3 个" in parks.loc["甲", "leading_check_zh"]


@pytest.fixture(scope="module")
def registered(sample_result, tmp_path_factory):
    """The sample workspace with a register: two idle parcels, a shortfall, a verified one."""
    from landplan.store.register import Register
    from landplan.store.workspace import GpkgWorkspace

    path = tmp_path_factory.mktemp("review") / "ws"
    ws = GpkgWorkspace(path)
    ws.write_result(sample_result)
    parcels = ws.read_layer("result_parcels")
    ok = parcels[parcels["transferable"]]["parcel_id"].tolist()
    reg = Register(path)
    contract = {"agreed_completion_date": "2028-06-30", "land_price_wan": 500.0}
    idle2, idle1, short, fine = ok[:4]
    reg.record(idle2, to="transferred", by="test", on="2023-03-01",
               fields={**contract, "agreed_start_date": "2023-06-01"})  # fmt: skip
    reg.record(idle1, to="transferred", by="test", on="2025-01-10",
               fields={**contract, "agreed_start_date": "2025-09-01"})  # fmt: skip
    for pid, actual in ((short, 10.0), (fine, 40.0)):
        reg.record(pid, to="completed", by="test", on="2025-05-01",
                   fields={**contract, "agreed_start_date": "2023-01-01",
                           "committed": json.dumps({"tax_wan_per_mu": 30.0})})  # fmt: skip
        reg.check_output(pid, actual={"tax_wan_per_mu": actual}, by="test", on="2026-06-01")
    return path, parcels, reg, (idle2, idle1, short, fine)


def test_review_lists_what_the_register_knows(registered):
    _path, parcels, reg, (idle2, idle1, short, fine) = registered
    res = efficiency_review(parcels, year=2026, entries=reg.entries(), audit=reg.audit())
    f = res.findings.set_index("parcel_id")
    idle = reg.idle(as_of="2026-12-31")
    assert set(f.index[f["source"] == "idle"]) == set(idle["parcel_id"]) == {idle2, idle1}
    assert f.loc[idle2, "action"] == "reclaim" and f.loc[idle1, "action"] == "idle_fee"
    assert f.loc[short, "source"] == "output" and f.loc[short, "action"] == "reallocate"
    assert "tax_wan_per_mu" in f.loc[short, "reason_zh"]
    assert fine not in f.index
    assert f.loc[idle2, "area_mu"] == pytest.approx(
        parcels.set_index("parcel_id").at[idle2, "area_mu"]
    )
    assert set(res.supply["parcel_id"]) == {idle2, short}
    assert (res.supply["available_year"] == 2027).all()
    assert "闲置土地处置办法" in f.loc[idle2, "basis"]


def test_review_with_firms_and_feedback(registered, tmp_path):
    _path, parcels, reg, (idle2, _, _short, _) = registered
    ids = parcels["parcel_id"].tolist()
    firms = pd.DataFrame([
        _firm(f"f{i:02d}", ids[100 + i], "金山" if i < 10 else "玉龙", f"C{26 + i % 3}11",
              10.0 * (i + 1), 100.0 * (i + 1)) for i in range(20)
    ])  # fmt: skip
    res = efficiency_review(parcels, year=2026, entries=reg.entries(), audit=reg.audit(),
                            firms=firms)  # fmt: skip
    d = res.findings[res.findings["source"] == "mujun"]
    assert d["firm_id"].tolist() == ["f00"] and d["parcel_id"].tolist() == [ids[100]]
    assert list(res.parks["park"]) == ["玉龙", "金山"]  # more tax per 亩
    assert res.parks["leading_ok"].all()
    # fed back: match takes reclaimed land, flagged, even though it is 已出让 in ZT
    sup = res.supply
    p = parcels.copy()
    p.loc[p["parcel_id"].isin(sup["parcel_id"]), "ZT"] = "已出让"
    mu = float(p.set_index("parcel_id").at[idle2, "net_available_mu"])
    projects = validate_projects(pd.DataFrame({
        "project_id": ["R"], "min_mu": [mu], "max_mu": [mu], "invest_wan": [100.0],
        "networks": ["road"]}))  # fmt: skip
    got = match_projects(projects, p, reclaimed=set(sup["parcel_id"]), status_field="ZT")
    hit = got.matches[got.matches["parcel_ids"] == idle2]
    assert len(hit) == 1 and hit["reclaimed"].iat[0]


def test_plan_lists_reclaimed_supply_and_counts_only_new_land():
    reasons = json.dumps([{"code": "RED_LINE_OVERLAP", "severity": "block", "value": None,
                           "threshold": None, "unit": "", "basis": "", "message_zh": "",
                           "message_en": ""}])  # fmt: skip
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["A", "B"], "net_available_mu": [10.0, 7.0], "transferable": [True, False],
         "reasons": [json.dumps([]), reasons]},
        geometry=[box(0, 0, 100, 100), box(200, 0, 100, 100)], crs=GK,
    )  # fmt: skip
    extra = pd.DataFrame({"parcel_id": ["A", "B"], "mu": [10.0, 7.0], "year": [2027, 2027]})
    pb = build_problem(parcels, None, load_policy("national"), budgets={2026: 0, 2027: 0},
                       extra_supply=extra)  # fmt: skip
    t = plan_supply(pb).table
    assert t["reclaimed_mu"].tolist() == [0.0, 17.0]
    assert t["cumulative_transferable_mu"].tolist() == [10.0, 17.0]  # A was counted already
    assert any("already count as transferable" in n for n in pb.notes)


def test_review_cli(registered, tmp_path):
    path = registered[0]
    env = {**os.environ, "COLUMNS": "120"}
    run = subprocess.run(
        [sys.executable, "-m", "landplan", "efficiency", "review", str(path), "--year", "2026",
         "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "2026 年效率复核" in run.stdout
    rec = pd.read_csv(tmp_path / "r" / "reclaim.csv", encoding="utf-8-sig")
    assert len(rec) == 2 and {"parcel_id", "area_mu", "available_year"} <= set(rec.columns)
    bad = subprocess.run(
        [sys.executable, "-m", "landplan", "efficiency", "review", str(tmp_path), "--year",
         "2026", "--out", str(tmp_path / "r2")], capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")

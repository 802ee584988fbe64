"""标准地 indicator calculator and project check, on real public cases (sources in each test)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from landplan.core.errors import (
    EncodingError,
    IndicatorTableError,
    InputTableError,
    LandplanError,
    UnitsError,
    UnknownIndustryError,
)
from landplan.indicators.check import (
    check_projects,
    compute_indicators,
    floor_area_ratio,
    investment_intensity_wan_per_mu,
    min_investment_wan,
    read_input_table,
)
from landplan.indicators.tables import (
    INDICATORS,
    SHIPPED_TABLES,
    load_indicator_table,
    normalize_industry_code,
    summarize_violations,
)

REASON_KEYS = {
    "code",
    "severity",
    "value",
    "threshold",
    "unit",
    "basis",
    "message_zh",
    "message_en",
}


def _project(**kw) -> pd.DataFrame:
    base = {"project_id": "P1", "land_area_m2": 10_000.0, "fixed_investment_wan": 5_000.0}
    base.update(kw)
    return pd.DataFrame([base])


def _reasons(result: pd.DataFrame, i: int = 0) -> list[dict]:
    return json.loads(result["reasons"].iloc[i])


def _codes(result: pd.DataFrame, i: int = 0) -> list[str]:
    return [r["code"] for r in _reasons(result, i)]


# ---------------------------------------------------------------- formulas


def test_issue_case_24735_m2_at_350_wan_per_mu_needs_12985_88_wan():
    # the issue's own case: 24735 × 3/2000 × 350 = 12985.875 → 12985.88 万元 (rounded up to the cent)
    assert min_investment_wan(24735.0, 350.0) == 12985.88
    df = pd.DataFrame(
        {
            "project_id": ["short", "enough"],
            "land_area_m2": [24735.0, 24735.0],
            "fixed_investment_wan": [12985.87, 12985.88],
            "req_invest_wan_per_mu": [350.0, 350.0],
        }
    )
    r = check_projects(df, table="national-2023")
    assert r["land_area_mu"].tolist() == pytest.approx([37.1025, 37.1025], abs=1e-12)
    assert r["min_investment_wan"].tolist() == [12985.88, 12985.88]
    assert "INVEST_BELOW_MIN" in _codes(r, 0) and not r["pass"][0]
    assert "INVEST_BELOW_MIN" not in _codes(r, 1) and r["pass"][1]
    invest = next(x for x in _reasons(r, 0) if x["code"] == "INVEST_BELOW_MIN")
    assert invest["severity"] == "block" and invest["threshold"] == 350.0
    assert invest["value"] == round(12985.87 / 37.1025, 4)


def test_units_of_the_formulas_by_hand():
    # 1 亩 = 2000/3 m²: 6000 m² = 9 亩; 2700 万元 / 9 亩 = 300 万元/亩
    assert investment_intensity_wan_per_mu(2700.0, 6000.0) == pytest.approx(300.0)
    # storeys over 8 m count twice: (10000 + 2000) / 10000
    assert floor_area_ratio(10_000.0, 10_000.0, floor_area_over_8m_m2=2_000.0) == pytest.approx(1.2)
    df = pd.DataFrame(
        {
            "project_id": ["a"],
            "land_area_m2": [6000.0],
            "fixed_investment_wan": [2700.0],
            "floor_area_m2": [7200.0],
            "floor_area_over_8m_m2": [1800.0],
            "footprint_m2": [2400.0],
            "admin_land_m2": [300.0],
            "admin_floor_m2": [720.0],
            "green_area_m2": [600.0],
            "annual_tax_wan": [180.0],
            "revenue_wan": [3600.0],
            "value_added_wan": [900.0],
            "energy_tce": [300.0],
            "emissions_t": [0.5],
            "employees": [45.0],
            "rd_wan": [108.0],
        }
    )
    ind = compute_indicators(df).iloc[0]
    assert ind["land_area_mu"] == pytest.approx(9.0)
    assert ind["far"] == pytest.approx((7200 + 1800) / 6000)
    assert ind["coverage"] == pytest.approx(0.4)
    assert ind["admin_share"] == pytest.approx(0.05) and ind["admin_share_method"] == "land"
    assert ind["admin_floor_share"] == pytest.approx(0.1)
    assert ind["green_ratio"] == pytest.approx(0.1)
    assert ind["tax_wan_per_mu"] == pytest.approx(20.0)
    assert ind["revenue_wan_per_mu"] == pytest.approx(400.0)
    assert ind["value_added_wan_per_mu"] == pytest.approx(100.0)
    assert ind["va_wan_per_tce"] == pytest.approx(3.0)
    assert ind["va_wan_per_t_emission"] == pytest.approx(1800.0)
    assert ind["labour_productivity_wan_per_person"] == pytest.approx(20.0)
    assert ind["rd_share"] == pytest.approx(0.03)


def test_admin_share_falls_back_to_the_floor_area_share():
    df = _project(floor_area_m2=10_000.0, admin_floor_m2=800.0)
    ind = compute_indicators(df).iloc[0]
    assert ind["admin_share"] == pytest.approx(0.08)
    assert ind["admin_share_method"] == "floor_share"


# ---------------------------------------------------------------- tables


def test_every_shipped_table_loads_and_names_its_sources():
    for name in SHIPPED_TABLES:
        t = load_indicator_table(name)
        assert t.name == name
        assert t.spec.table.sources, name
        assert set(t.spec.indicators) <= set(INDICATORS)


def test_national_2008_far_table_matches_domain_1_3():
    # DOMAIN §1.3 (S4, two consistent reposts), GB/T 4754-2002 codes
    expected = {
        "13": 1.0, "14": 1.0, "15": 1.0, "16": 1.0, "17": 0.8, "18": 1.0, "19": 1.0,
        "20": 0.8, "21": 0.8, "22": 0.8, "23": 0.8, "24": 1.0, "25": 0.5, "26": 0.6,
        "27": 0.7, "28": 0.8, "29": 0.8, "30": 1.0, "31": 0.7, "32": 0.6, "33": 0.6,
        "34": 0.7, "35": 0.7, "36": 0.7, "37": 0.7, "39": 0.7, "40": 1.0, "41": 1.0,
        "42": 1.0, "43": 0.7,
    }  # fmt: skip
    t = load_indicator_table("national-2008")
    assert t.spec.table.code_version == "GB/T 4754-2002"
    got = {code: t.thresholds_for(code)["far_min"].value for code in expected}
    assert got == expected
    th = t.thresholds_for("13")
    assert th["coverage_min"].value == 0.30 and th["coverage_min"].binding
    assert th["admin_share_max"].value == 0.07 and th["admin_share_max"].binding
    assert th["invest_wan_per_mu_min"].value is None  # Table 1 not retrieved


def test_national_2008_far_by_industry_and_the_over_8m_doubling():
    df = pd.DataFrame(
        {
            "project_id": ["food", "minerals", "food_tall"],
            "industry_code": ["13", "31", "13"],
            "land_area_m2": [10_000.0] * 3,
            "fixed_investment_wan": [5_000.0] * 3,
            "floor_area_m2": [9_000.0, 9_000.0, 9_000.0],
            "floor_area_over_8m_m2": [0.0, 0.0, 1_500.0],
            "footprint_m2": [4_000.0] * 3,
            "admin_land_m2": [500.0] * 3,
        }
    )
    r = check_projects(df, table="national-2008")
    far = next(x for x in _reasons(r, 0) if x["code"] == "FAR_BELOW_MIN")
    assert far["value"] == 0.9 and far["threshold"] == 1.0 and far["severity"] == "block"
    assert "FAR_BELOW_MIN" not in _codes(r, 1)  # 非金属矿物制品 0.7
    assert r["far"][2] == pytest.approx(1.05) and "FAR_BELOW_MIN" not in _codes(r, 2)
    # Table 1 investment intensity is not set: a warning, never a silent pass
    assert all("INDICATORS_NOT_SET" in _codes(r, i) for i in range(3))
    assert r["pass"].tolist() == [False, True, True]


def test_national_2023_ships_binding_and_recommended_indicators_as_not_set():
    t = load_indicator_table("national-2023")
    rules = t.spec.indicators
    assert {k for k, r in rules.items() if r.binding} == {
        "far_min",
        "coverage_min",
        "admin_share_max",
    }
    assert rules["invest_wan_per_mu_min"].binding is False
    assert all(r.value is None for r in rules.values())
    r = check_projects(
        _project(floor_area_m2=12_000.0, footprint_m2=5_000.0), table="national-2023"
    )
    [ns] = [x for x in _reasons(r) if x["code"] == "INDICATORS_NOT_SET"]
    assert ns["severity"] == "warn" and ns["value"] == 4.0 and ns["threshold"] is None
    assert "容积率" in ns["message_zh"] and "not set" in ns["message_en"]
    assert bool(r["pass"][0]) and r["verdict"][0] == "pass_with_warnings"


def test_wenling_2021_thresholds_match_the_notice():
    # DOMAIN §1.2, 温岭日报 2021-02-05 (S11): 270 万元/亩 for every parcel, rows per industry
    t = load_indicator_table("wenling-2021")
    rows = {
        "38": (130.9, 33.2, 16.9, 4.1, 13848.4, 0.022),
        "34": (100.2, 22.6, 17.7, 3.9, 10571.4, 0.026),
        "36": (154.5, 32.5, 26.6, 4.5, 10058.6, 0.0372),
    }
    keys = (
        "value_added_wan_per_mu_min",
        "tax_wan_per_mu_min",
        "labour_productivity_wan_per_person_min",
        "va_wan_per_tce_min",
        "va_wan_per_t_emission_min",
        "rd_share_min",
    )
    for code, values in rows.items():
        th = t.thresholds_for(code)
        assert th["invest_wan_per_mu_min"].value == 270.0
        assert tuple(th[k].value for k in keys) == values
    assert t.violations == ()


def test_wenling_tax_threshold_depends_on_the_industry():
    # 20 亩 parcel (40000/3 m²) paying 33.1 万元/亩: below 电气机械's 33.2, above 通用设备's 22.6
    df = pd.DataFrame(
        {
            "project_id": ["elec", "general"],
            "industry_code": ["38", "34"],
            "land_area_m2": [40_000.0 / 3] * 2,
            "fixed_investment_wan": [5_400.0, 5_399.0],  # 270.0 and 269.95 万元/亩
            "annual_tax_wan": [662.0] * 2,
        }
    )
    r = check_projects(df, table="wenling-2021")
    assert "TAX_BELOW_MIN" in _codes(r, 0) and "TAX_BELOW_MIN" not in _codes(r, 1)
    assert "INVEST_BELOW_MIN" not in _codes(r, 0) and "INVEST_BELOW_MIN" in _codes(r, 1)
    assert r["min_investment_wan"].tolist() == [5400.0, 5400.0]


def test_wenzhou_parcel_9_831_mu_at_240_wan_per_mu():
    # DOMAIN §1.2 (S13): 9.831 亩, 固投 ≥ 240 万元/亩, 亩均税收 ≥ 9.6 → at least 2359.44 万元
    land_m2 = 9.831 * 2000 / 3
    r = check_projects(
        _project(land_area_m2=land_m2, fixed_investment_wan=2359.44, annual_tax_wan=9.831 * 9.5),
        table="wenzhou-coastal-food",
    )
    assert r["land_area_mu"][0] == pytest.approx(9.831)
    assert r["min_investment_wan"][0] == 2359.44
    codes = _codes(r)
    assert "INVEST_BELOW_MIN" not in codes and "TAX_BELOW_MIN" in codes


def test_tieshangang_ranges_and_the_national_floor():
    # DOMAIN §1.2 (S14): FAR 0.7–1.8, density 35–65 %, green ≤ 20 %, admin ≤ 7 % land / ≤ 15 % floor,
    # invest ≥ 250, output ≥ 400, tax ≥ 20 万元/亩
    t = load_indicator_table("tieshangang")
    th = t.thresholds_for("34")
    assert (th["far_min"].value, th["far_max"].value) == (0.7, 1.8)
    assert (th["coverage_min"].value, th["coverage_max"].value) == (0.35, 0.65)
    assert th["green_ratio_max"].value == 0.20
    assert (th["admin_share_max"].value, th["admin_floor_share_max"].value) == (0.07, 0.15)
    assert th["invest_wan_per_mu_min"].value == 250.0
    assert th["revenue_wan_per_mu_min"].value == 400.0 and th["tax_wan_per_mu_min"].value == 20.0
    # its uniform FAR 0.7 is looser than the 2008 national 1.0 of 农副食品加工 (13): reported, national applied
    assert any(v.key == "far_min" and v.industry_code == "13" for v in t.violations)
    assert "13 (1)" in summarize_violations(t.violations)[0]
    assert t.thresholds_for("13")["far_min"].value == 1.0
    with pytest.raises(IndicatorTableError, match="looser"):
        load_indicator_table("tieshangang", strict=True)

    df = pd.DataFrame(
        {
            "project_id": ["dense", "food"],
            "industry_code": ["34", "13"],
            "land_area_m2": [10_000.0, 10_000.0],
            "fixed_investment_wan": [3_735.0, 3_750.0],  # 249 and 250 万元/亩 (15 亩)
            "floor_area_m2": [19_000.0, 8_000.0],
            "footprint_m2": [3_000.0, 4_000.0],
            "green_area_m2": [2_500.0, 1_000.0],
            "admin_land_m2": [800.0, 500.0],
            "admin_floor_m2": [3_040.0, 800.0],
            "annual_tax_wan": [300.0, 300.0],
            "revenue_wan": [6_000.0, 6_000.0],
        }
    )
    r = check_projects(df, table=t)
    assert set(_codes(r, 0)) == {
        "FAR_ABOVE_MAX",
        "COVERAGE_BELOW_MIN",
        "GREEN_ABOVE_MAX",
        "ADMIN_SHARE_ABOVE_MAX",
        "ADMIN_FLOOR_SHARE_ABOVE_MAX",
        "INVEST_BELOW_MIN",
    }
    assert _codes(r, 1) == ["FAR_BELOW_MIN"]  # 0.8 < national 1.0 although ≥ local 0.7
    assert all(x["severity"] == "block" for x in _reasons(r, 0))


def test_notice_values_take_precedence_over_the_table():
    df = _project(industry_code="13", floor_area_m2=11_000.0, footprint_m2=4_000.0, req_far_min=1.2)
    r = check_projects(df, table="national-2008")
    far = next(x for x in _reasons(r) if x["code"] == "FAR_BELOW_MIN")
    assert (
        far["threshold"] == 1.2
        and "req_far_min" in far["basis"]
        and "出让公告" in far["message_zh"]
    )


def test_langxi_style_table_ships_structure_with_values_not_set():
    t = load_indicator_table("langxi-uniform")
    assert t.base.name == "national-2023"
    assert all(r.value is None for r in t.spec.indicators.values())
    r = check_projects(_project(), table=t)
    assert _codes(r) == ["INDICATORS_NOT_SET"]


def test_reasons_use_exactly_the_verdict_reason_format():
    r = check_projects(_project(industry_code="13", floor_area_m2=5_000.0), table="tieshangang")
    reasons = _reasons(r)
    assert reasons
    for x in reasons:
        assert set(x) == REASON_KEYS and x["severity"] in ("block", "warn")
    assert r["reason_codes"][0] == ";".join(x["code"] for x in reasons)
    for col in ("project_id", "land_area_mu", "invest_wan_per_mu", "far", "coverage", "green_ratio",
                "admin_share", "tax_wan_per_mu", "min_investment_wan", "pass", "reasons"):  # fmt: skip
        assert col in r.columns


# ---------------------------------------------------------------- peers (Yunnan 2026)


def test_new_projects_may_not_be_below_the_peer_average():
    peers = pd.DataFrame(
        {
            "firm_id": ["e1", "e2", "e3", "e4"],
            "park": ["金山", "金山", "金山", "华坪"],
            "industry_code": ["13", "1310", "34", "13"],
            "land_area_mu": [10.0, 20.0, 10.0, 10.0],
            "fixed_investment_wan": [3_000.0, 8_000.0, 1_000.0, 9_000.0],  # 300, 400 | 100 | 900
            "revenue_wan": [5_000.0, 12_000.0, 1_000.0, 1.0],  # 500, 600
        }
    )
    projects = pd.DataFrame(
        {
            "project_id": ["low", "ok", "other-park"],
            "park": ["金山", "金山", "华坪"],
            "industry_code": ["13", "13", "13"],
            "land_area_m2": [6_000.0] * 3,  # 9 亩
            "fixed_investment_wan": [9 * 340.0, 9 * 350.0, 9 * 899.0],
            "revenue_wan": [9 * 500.0, 9 * 560.0, 9 * 1.0],
        }
    )
    r = check_projects(projects, table="national-2023", peers_df=peers)
    assert r["peer_invest_wan_per_mu"].tolist() == pytest.approx([350.0, 350.0, 900.0])
    assert r["peer_revenue_wan_per_mu"].tolist() == pytest.approx([550.0, 550.0, 0.1])
    assert r["peer_n"].tolist() == [2, 2, 1]
    low = {x["code"]: x for x in _reasons(r, 0)}
    assert low["BELOW_PEER_AVERAGE:invest"]["threshold"] == 350.0
    assert low["BELOW_PEER_AVERAGE:revenue"]["threshold"] == 550.0
    assert low["BELOW_PEER_AVERAGE:invest"]["severity"] == "block" and not r["pass"][0]
    assert r["pass"][1]
    assert "BELOW_PEER_AVERAGE:invest" in _codes(r, 2)
    # the least investment meets the peer average when it is the highest threshold
    assert r["min_investment_wan"].tolist() == [3150.0, 3150.0, 8100.0]
    warn = check_projects(projects, table="national-2023", peers_df=peers, peer_severity="warn")
    assert warn["pass"][0]


# ---------------------------------------------------------------- bad input


def test_missing_required_column_is_named():
    with pytest.raises(InputTableError, match="fixed_investment_wan"):
        check_projects(pd.DataFrame({"project_id": ["a"], "land_area_m2": [1000.0]}))


@pytest.mark.parametrize("area", [0.0, -5.0])
def test_zero_or_negative_area_names_row_and_column(area):
    df = pd.DataFrame(
        {
            "project_id": ["ok", "bad"],
            "land_area_m2": [1000.0, area],
            "fixed_investment_wan": [10.0, 10.0],
        }
    )
    with pytest.raises(InputTableError, match=r"land_area_m2 row 2 \(project_id bad\).*positive"):
        check_projects(df)


def test_investment_in_yuan_is_detected():
    # 3 亩 with 9 000 000 "万元" = 3 000 000 万元/亩: really 元
    df = pd.DataFrame(
        {
            "project_id": ["a", "b"],
            "land_area_m2": [2000.0, 2000.0],
            "fixed_investment_wan": [900.0, 9e6],
        }
    )
    with pytest.raises(UnitsError) as exc:
        check_projects(df)
    msg = str(exc.value)
    assert "fixed_investment_wan row 2 (project_id b)" in msg
    assert "looks like 元, not 万元" in msg and "divide by 10000" in msg


def test_tax_in_yuan_is_detected():
    df = _project(annual_tax_wan=2_000_000.0)  # 133 333 万元/亩
    with pytest.raises(UnitsError, match=r"annual_tax_wan row 1 \(project_id P1\) looks like 元"):
        check_projects(df)


def test_area_in_mu_and_percent_ratios_are_refused():
    with pytest.raises(UnitsError, match="looks like 亩"):
        check_projects(_project(land_area_m2=37.1))
    with pytest.raises(UnitsError, match=r"req_coverage_min.*percentage"):
        check_projects(_project(req_coverage_min=30.0))
    r = check_projects(_project(req_coverage_min="30%", footprint_m2=2500.0), table="national-2023")
    assert next(x for x in _reasons(r) if x["code"] == "COVERAGE_BELOW_MIN")["threshold"] == 0.3


def test_part_larger_than_whole_is_refused():
    with pytest.raises(InputTableError, match=r"footprint_m2 row 1.*exceeds land_area_m2"):
        check_projects(_project(footprint_m2=12_000.0))


def test_unknown_industry_code_names_the_project():
    df = pd.DataFrame(
        {
            "project_id": ["a", "b"],
            "industry_code": ["13", "38"],  # 38 is not a 2002 division
            "land_area_m2": [1000.0, 1000.0],
            "fixed_investment_wan": [10.0, 10.0],
        }
    )
    with pytest.raises(UnknownIndustryError, match=r"row 2 \(project_id b\).*industry_code.*'38'"):
        check_projects(df, table="national-2008")
    df["industry_code"] = ["13", "13"]
    df["industry_code_version"] = ["GB/T 4754-2017"] * 2
    with pytest.raises(UnknownIndustryError, match=r"GB/T 4754-2017.*GB/T 4754-2002"):
        check_projects(df, table="national-2008")


def test_every_error_is_a_landplan_error():
    for cls in (InputTableError, UnitsError, UnknownIndustryError, IndicatorTableError):
        assert issubclass(cls, LandplanError) and issubclass(cls, ValueError)


def test_industry_codes_are_normalised():
    assert [
        normalize_industry_code(x) for x in (13, 13.0, "C13", " 1310 ", 6, None, np.nan, "")
    ] == [
        "13",
        "13",
        "13",
        "1310",
        "06",
        None,
        None,
        None,
    ]


# ---------------------------------------------------------------- user tables


def test_user_table_looser_than_its_base_is_reported(tmp_path):
    (tmp_path / "county.toml").write_text(
        """
[table]
name = "county"
jurisdiction = "某县"
level = "county"
edition = "2025"
code_version = "GB/T 4754-2002"
base = "national-2008"

[indicators.coverage_min]
binding = true
value = 0.25
basis = "某县规定"

[indicators.admin_share_max]
binding = true
value = 0.10
basis = "某县规定"
""",
        encoding="utf-8",
    )
    t = load_indicator_table(tmp_path / "county.toml")
    assert {(v.key, v.local_value, v.base_value) for v in t.violations} == {
        ("coverage_min", 0.25, 0.30),
        ("admin_share_max", 0.10, 0.07),
    }
    th = t.thresholds_for(None)
    assert th["coverage_min"].value == 0.30 and th["admin_share_max"].value == 0.07
    with pytest.raises(IndicatorTableError, match="coverage_min"):
        load_indicator_table(tmp_path / "county.toml", strict=True)


def test_bad_table_files_are_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[table]\nname="x"\njurisdiction="x"\nlevel="park"\nedition="1"\ncode_version="v"\n'
        '[indicators.far_minimum]\nbinding=true\nbasis="b"\n',
        encoding="utf-8",
    )
    with pytest.raises(IndicatorTableError, match="far_minimum"):
        load_indicator_table(bad)
    bad.write_text(
        bad.read_text(encoding="utf-8").replace("far_minimum", "coverage_min") + "value = 30\n"
    )
    with pytest.raises(IndicatorTableError, match="fraction"):
        load_indicator_table(bad)
    with pytest.raises(IndicatorTableError, match="not found"):
        load_indicator_table(tmp_path / "missing.toml")


# ---------------------------------------------------------------- CSV encodings


def test_csv_in_utf8_bom_utf8_and_gbk_reads_the_same(tmp_path):
    df = pd.DataFrame(
        {
            "project_id": ["金山-01", "东山-02"],
            "industry_code": ["13", "06"],
            "land_area_m2": [24735, 6000],
            "fixed_investment_wan": [12985.88, 2700],
        }
    )
    frames = {}
    for enc in ("utf-8-sig", "utf-8", "gbk"):
        path = tmp_path / f"p-{enc}.csv"
        df.to_csv(path, index=False, encoding=enc)
        frames[enc], used = read_input_table(path)
        assert used == enc
    for f in frames.values():
        assert f["project_id"].tolist() == ["金山-01", "东山-02"]
        assert f["industry_code"].tolist() == ["13", "06"]  # text, leading zero kept
    (tmp_path / "junk.csv").write_bytes(b"project_id\n\xff\xfe\xfa\n")
    with pytest.raises(EncodingError, match="neither UTF-8 nor GBK"):
        read_input_table(tmp_path / "junk.csv")

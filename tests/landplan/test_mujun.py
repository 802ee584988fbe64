"""亩均 evaluation: the Huangyan formula by hand, Huai'an benchmarks and classes, ties, tiny populations."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from landplan.core.errors import IndicatorTableError, InputTableError, UnitsError
from landplan.indicators.mujun import (
    NOT_GRADED,
    NOT_SET,
    SHIPPED_PRESETS,
    assign_classes,
    evaluate,
    load_mujun_preset,
)
from landplan.indicators.mujun_chart import class_chart, find_cjk_font

HUAI_AN = [0.20, 0.60, 0.95]


def _firm(firm_id="f1", scale="above", **kw) -> dict:
    base = {
        "firm_id": firm_id,
        "scale": scale,
        "land_area_mu": 10.0,
        "tax_wan": 300.0,
        "revenue_wan": 6000.0,
        "value_added_wan": 1500.0,
        "energy_tce": 500.0,
        "emissions_t": 0.5,
        "employees": 75.0,
        "rd_wan": 180.0,
        "electricity_kwh": 2_500_000.0,
    }
    base.update(kw)
    return base


def _classes(scores, cutoffs=HUAI_AN) -> list[str]:
    s = pd.Series(scores, dtype="float64")
    ids = pd.Series([f"f{i:02d}" for i in range(len(s))])
    return assign_classes(s, ids, cutoffs=cutoffs)["class"].tolist()


# ---------------------------------------------------------------- presets


def test_presets_load_with_the_published_weights_and_benchmarks():
    for name in SHIPPED_PRESETS:
        assert load_mujun_preset(name).preset.sources
    hy = load_mujun_preset("huangyan-2023")
    above = hy.group_for("above")
    assert [(i.indicator, i.weight, i.benchmark) for i in above.items] == [
        ("tax_wan_per_mu", 30, 24.097),
        ("value_added_wan_per_mu", 20, 136.16),
        ("va_wan_per_tce", 20, 2.694),
        ("va_wan_per_t_emission", 10, 4929.81),
        ("labour_productivity_wan_per_person", 10, 18.14),
        ("rd_share", 10, 0.0302),
    ]
    below = hy.group_for("below")
    assert [(i.indicator, i.weight, i.benchmark) for i in below.items] == [
        ("tax_wan_per_mu", 50, 11.5932),
        ("tax_yuan_per_kwh", 50, 0.2352),
    ]
    assert hy.classes.cutoffs is None  # Zhejiang's percentages were not retrieved
    ha = load_mujun_preset("huaian-2024")
    assert [(i.indicator, i.weight, i.benchmark) for i in ha.groups[0].items] == [
        ("tax_wan_per_mu", 45, "2x_mean"),
        ("revenue_wan_per_mu", 35, "2x_mean"),
        ("tax_yuan_per_kwh", 20, "2x_mean"),
    ]
    assert ha.classes.cutoffs == HUAI_AN


# ---------------------------------------------------------------- Huangyan by hand


def test_huangyan_above_scale_formula_reproduces_the_hand_computation():
    # DOMAIN §5.2 (S29): S = 亩均税收/24.097×30 + 亩均增加值/136.16×20 + 单位能耗增加值/2.694×20
    #                      + 单位排放增加值/4929.81×10 + 全员劳动生产率/18.14×10 + R&D占比/0.0302×10
    # firm: 10 亩, tax 300 → 30 万元/亩; VA 1500 → 150; energy 500 tce → 3.0; emissions 0.5 t → 3000;
    # 75 employees → 20 万元/人; R&D 180 of revenue 6000 → 0.03
    r = evaluate(pd.DataFrame([_firm()]), preset="huangyan-2023")
    row = r.firms.iloc[0]
    hand = (
        Fraction(30) / Fraction("24.097") * 30
        + Fraction(150) / Fraction("136.16") * 20
        + Fraction(3) / Fraction("2.694") * 20
        + Fraction(3000) / Fraction("4929.81") * 10
        + Fraction(20) / Fraction("18.14") * 10
        + Fraction("0.03") / Fraction("0.0302") * 10
    )
    assert row["score"] == pytest.approx(float(hand), abs=1e-9)
    assert round(row["score"], 4) == 108.6982  # the same sum on paper
    assert row["score_tax_wan_per_mu"] == pytest.approx(30 / 24.097 * 30)
    assert row["score_va_wan_per_t_emission"] == pytest.approx(3000 / 4929.81 * 10)


def test_huangyan_firm_exactly_at_every_benchmark_scores_100():
    # land 1 亩 so per-mu values equal the inputs; VA = 136.16 with energy 136.16/2.694 etc.
    firm = _firm(
        land_area_mu=1.0,
        tax_wan=24.097,
        value_added_wan=136.16,
        energy_tce=136.16 / 2.694,
        emissions_t=136.16 / 4929.81,
        employees=136.16 / 18.14,
        revenue_wan=1000.0,
        rd_wan=30.2,
    )
    r = evaluate(pd.DataFrame([firm]), preset="huangyan-2023")
    assert r.firms["score"][0] == pytest.approx(100.0, abs=1e-9)


def test_lishui_average_firm_under_the_huangyan_formula():
    # Lishui 规上 averages (DOMAIN §5.3, S35): 18.9 万元/亩, 73.71, 1.14 万元/tce, 611.55 万元/t,
    # R&D 2.36 %, 16.45 万元/人 — scored with Huangyan's 2023 benchmarks
    firm = _firm(
        land_area_mu=1.0,
        tax_wan=18.9,
        value_added_wan=73.71,
        energy_tce=73.71 / 1.14,
        emissions_t=73.71 / 611.55,
        employees=73.71 / 16.45,
        revenue_wan=1000.0,
        rd_wan=23.6,
    )
    hand = (
        Fraction("18.9") / Fraction("24.097") * 30
        + Fraction("73.71") / Fraction("136.16") * 20
        + Fraction("1.14") / Fraction("2.694") * 20
        + Fraction("611.55") / Fraction("4929.81") * 10
        + Fraction("16.45") / Fraction("18.14") * 10
        + Fraction("0.0236") / Fraction("0.0302") * 10
    )
    r = evaluate(pd.DataFrame([firm]), preset="huangyan-2023")
    assert r.firms["score"][0] == pytest.approx(float(hand), abs=1e-9)
    assert round(float(hand), 2) == 60.94


def test_huangyan_below_scale_formula_with_tax_per_kwh_in_yuan():
    # S_规下 = 亩均税收/11.5932×50 + 单位电耗税收/0.2352×50; 5 亩, tax 60 万元 → 12 万元/亩;
    # 60 万元 × 10000 / 2 500 000 kWh = 0.24 元/kWh
    firm = _firm("small", "规下", land_area_mu=5.0, tax_wan=60.0, electricity_kwh=2_500_000.0)
    r = evaluate(pd.DataFrame([firm]), preset="huangyan-2023")
    row = r.firms.iloc[0]
    assert row["group"] == "below" and row["tax_yuan_per_kwh"] == pytest.approx(0.24)
    hand = Fraction(12) / Fraction("11.5932") * 50 + Fraction("0.24") / Fraction("0.2352") * 50
    assert row["score"] == pytest.approx(float(hand), abs=1e-9)
    assert round(row["score"], 4) == 102.7749


def test_above_scale_firm_without_emission_data_gets_the_average_item_score():
    # Huangyan rule (S29): a 规上 firm with no emission data gets the average score of that item
    firms = pd.DataFrame(
        [
            _firm("a", emissions_t=0.5),  # 3000 万元/t
            _firm("b", emissions_t=1.0),  # 1500 万元/t
            _firm("c", emissions_t=np.nan),
        ]
    )
    r = evaluate(firms, preset="huangyan-2023").firms.set_index("firm_id")
    avg = (3000 / 4929.81 * 10 + 1500 / 4929.81 * 10) / 2
    assert r.loc["c", "score_va_wan_per_t_emission"] == pytest.approx(avg)
    assert r.loc["c", "imputed"] == "va_wan_per_t_emission"
    assert r.loc["c", "class"] == NOT_SET  # Huangyan's class cut-offs are not set


def test_firms_lacking_required_data_are_not_graded():
    firms = pd.DataFrame(
        [_firm("a"), _firm("b", value_added_wan=np.nan), _firm("c", scale="below")]
    )
    r = evaluate(firms, preset="huangyan-2023", cutoffs=HUAI_AN).firms.set_index("firm_id")
    assert r.loc["b", "class"] == NOT_GRADED and np.isnan(r.loc["b", "score"])
    assert "value_added_wan_per_mu" in r.loc["b", "not_graded_reason"]
    assert (
        r.loc["a", "class"] == "A" and r.loc["c", "class"] == "A"
    )  # each group ranks alone (n = 1)


# ---------------------------------------------------------------- classes


def test_twenty_distinct_scores_split_20_40_35_5_percent():
    # Huai'an (S31): A top 20 % / B 20–60 % / C 60–95 % / D bottom 5 %
    got = _classes(list(range(100, 80, -1)))
    assert got == ["A"] * 4 + ["B"] * 8 + ["C"] * 7 + ["D"]


def test_equal_scores_always_share_a_class_and_the_better_one_at_a_cut_off():
    # ranks 1..3, then four firms tied at rank 4 (top share 15 %, inside A) → all A;
    # a tie across the B/C cut-off (rank 12 of 20, top share 55 %) → all B
    scores = [100, 99, 98, 97, 97, 97, 97, 90, 89, 88, 87, 80, 80, 80, 70, 60, 50, 40, 30, 20]
    got = _classes(scores)
    assert got[3:7] == ["A"] * 4
    assert got[11:14] == ["B"] * 3
    assert got[-1] == "D"
    assert _classes([5.0] * 7) == ["A"] * 7


def test_float_noise_does_not_split_a_tie():
    a = 0.1 + 0.2  # 0.30000000000000004
    assert _classes([a, 0.3, 0.1, 0.05, 0.01])[:2] == ["A", "A"]


def test_tiny_populations():
    assert _classes([42.0]) == ["A"]
    assert _classes([3.0, 2.0, 1.0]) == ["A", "B", "C"]  # no D below 20 firms
    assert _classes([1.0, 3.0, 2.0]) == ["C", "A", "B"]
    assert _classes([]) == []


def test_classes_do_not_depend_on_row_order():
    rng = np.random.default_rng(7)
    firms = pd.DataFrame(
        [
            _firm(f"f{i:02d}", tax_wan=float(t), revenue_wan=float(t) * 20)
            for i, t in enumerate(rng.choice([100, 200, 200, 300, 400, 500], size=25))
        ]
    )
    a = evaluate(firms, preset="huaian-2024").firms.set_index("firm_id")["class"]
    b = evaluate(firms.sample(frac=1, random_state=3), preset="huaian-2024").firms.set_index(
        "firm_id"
    )
    assert a.sort_index().tolist() == b["class"].sort_index().tolist()
    ordered = evaluate(firms, preset="huaian-2024").firms
    assert ordered["rank"].is_monotonic_increasing  # output sorted by rank, then firm_id


# ---------------------------------------------------------------- Huai'an benchmarks


def test_huaian_benchmark_is_twice_the_population_mean():
    # tax per mu 10, 20, 30 → mean 20 → benchmark 40; a firm at 40 gets the full weight 45
    firms = pd.DataFrame(
        [
            _firm("a", scale=np.nan, tax_wan=100.0, revenue_wan=1000.0, electricity_kwh=1e6),
            _firm("b", scale=np.nan, tax_wan=200.0, revenue_wan=2000.0, electricity_kwh=1e6),
            _firm("c", scale=np.nan, tax_wan=300.0, revenue_wan=3000.0, electricity_kwh=1e6),
        ]
    )
    r = evaluate(firms, preset="huaian-2024")
    bm = r.benchmarks.set_index("indicator")["benchmark"]
    assert bm["tax_wan_per_mu"] == pytest.approx(40.0)
    assert bm["revenue_wan_per_mu"] == pytest.approx(400.0)
    assert bm["tax_yuan_per_kwh"] == pytest.approx(2 * 2.0)  # 1, 2, 3 元/kWh
    c = r.firms.set_index("firm_id").loc["c"]
    assert c["score"] == pytest.approx(45 * 30 / 40 + 35 * 300 / 400 + 20 * 3 / 4)
    assert any("previous year" in n for n in r.notes)
    # with last year's population the benchmark follows it, not this year's firms
    prev = firms.assign(tax_wan=[50.0, 50.0, 50.0])  # mean 5 万元/亩 → benchmark 10
    r2 = evaluate(firms, preset="huaian-2024", benchmark_df=prev)
    assert r2.benchmarks.set_index("indicator")["benchmark"]["tax_wan_per_mu"] == pytest.approx(
        10.0
    )
    assert not r2.notes


def test_huaian_benchmarks_per_county():
    firms = pd.DataFrame(
        [
            _firm("a", county="清江浦", tax_wan=100.0),
            _firm("b", county="清江浦", tax_wan=300.0),
            _firm("c", county="涟水", tax_wan=50.0),
        ]
    )
    bm = evaluate(firms, preset="huaian-2024").benchmarks
    tax = bm[bm["indicator"] == "tax_wan_per_mu"].set_index("county")["benchmark"]
    assert tax["清江浦"] == pytest.approx(40.0) and tax["涟水"] == pytest.approx(10.0)


def test_huaian_classes_on_twenty_firms_and_park_summary():
    firms = pd.DataFrame(
        [
            _firm(
                f"f{i:02d}",
                park="甲" if i < 10 else "乙",
                tax_wan=10.0 * (i + 1),
                revenue_wan=100.0 * (i + 1),
            )
            for i in range(20)
        ]
    )
    r = evaluate(firms, preset="huaian-2024")
    counts = r.firms["class"].value_counts().to_dict()
    assert counts == {"A": 4, "B": 8, "C": 7, "D": 1}
    assert r.firms.set_index("firm_id").loc["f19", "class"] == "A"
    assert r.firms.set_index("firm_id").loc["f00", "class_name_zh"] == "落后整治类"
    s = r.summary.set_index("park")
    assert s.loc["甲", "firms"] == 10 and s.loc["乙", "class_A"] == 4
    assert s.loc["甲", "tax_wan_per_mu"] == pytest.approx(
        sum(10.0 * (i + 1) for i in range(10)) / 100
    )


# ---------------------------------------------------------------- bad input


def test_tax_in_yuan_is_detected_with_row_and_column():
    firms = pd.DataFrame([_firm("ok"), _firm("yuan", tax_wan=3_000_000.0)])
    with pytest.raises(
        UnitsError, match=r"tax_wan row 2 \(firm_id yuan\) looks like 元, not 万元; divide by 10000"
    ):
        evaluate(firms, preset="huangyan-2023")


def test_electricity_in_10k_kwh_is_detected():
    with pytest.raises(UnitsError, match=r"electricity_kwh.*万kWh"):
        evaluate(pd.DataFrame([_firm(electricity_kwh=250.0)]), preset="huaian-2024")


def test_bad_firm_tables():
    with pytest.raises(InputTableError, match="land_area_mu"):
        evaluate(pd.DataFrame([{"firm_id": "a", "scale": "above"}]), preset="huangyan-2023")
    with pytest.raises(InputTableError, match=r"land_area_mu row 1 \(firm_id f1\)"):
        evaluate(pd.DataFrame([_firm(land_area_mu=0.0)]), preset="huangyan-2023")
    with pytest.raises(InputTableError, match=r"scale.*above"):
        evaluate(pd.DataFrame([_firm(scale="big")]), preset="huangyan-2023")
    with pytest.raises(InputTableError, match="repeats"):
        evaluate(pd.DataFrame([_firm("x"), _firm("x")]), preset="huangyan-2023")
    with pytest.raises(InputTableError, match="cut-offs"):
        evaluate(pd.DataFrame([_firm()]), preset="huangyan-2023", cutoffs=[0.6, 0.2, 0.95])


def test_bad_presets(tmp_path):
    with pytest.raises(IndicatorTableError, match="not found"):
        load_mujun_preset("nowhere")
    p = tmp_path / "p.toml"
    p.write_text(
        '[preset]\nname="x"\njurisdiction="x"\n[[groups]]\nscale="all"\n'
        'items=[{indicator="tax_wan_per_mu", weight=100, benchmark="double"}]\n',
        encoding="utf-8",
    )
    with pytest.raises(IndicatorTableError, match="x_mean"):
        load_mujun_preset(p)


# ---------------------------------------------------------------- chart


def test_class_chart_is_a_png_with_chinese_labels_when_a_cjk_font_exists(tmp_path):
    pytest.importorskip("matplotlib")
    firms = pd.DataFrame([_firm(f"f{i}", tax_wan=100.0 + i) for i in range(6)])
    r = evaluate(firms, preset="huaian-2024")
    path, zh = class_chart(r, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert zh == (find_cjk_font() is not None)

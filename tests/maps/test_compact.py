"""The columnar parcel data of the map pages (``maps.compact``) against the source columns.

The oracle is written here from the ``reasons`` JSON (``json.loads``) and the numeric columns,
not from the implementation: every parcel's reasons must decode to exactly what its JSON says,
through the Arrow path (all texts parsed at once) and through the per-value Python path that
takes over where Arrow refuses a text, and the page's JavaScript must show the same.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest

gpd = pytest.importorskip("geopandas")

from landplan.maps.classify import parcel_classes  # noqa: E402
from landplan.maps.compact import (  # noqa: E402
    _as_text,
    _parcel_reasons,
    _parse_arrow,
    _templates,
    compact_parcels,
    decode_reasons,
    fill,
    template,
    to_script_json,
)
from shapely.geometry import box  # noqa: E402

URBAN = {
    "code": "OUTSIDE_URBAN_BOUNDARY",
    "severity": "block",
    "value": 2100.7105,
    "threshold": 10.0,
    "unit": "m2",
    "basis": "《城镇开发边界管理办法（试行）》：边界外不得规划建设开发区",
    "message_zh": "有 2100.71 m²（100.0%）位于城镇开发边界之外",
    "message_en": "2100.71 m² (100.0%) lies outside the urban development boundary",
}
SEWER = {
    "code": "NETWORK_DATA_NOT_PROVIDED:sewer",
    "severity": "warn",
    "value": None,
    "threshold": 200.0,
    "unit": "m",
    "basis": "五通一平/七通一平（通排水）；国家标准未规定",
    "message_zh": "排水数据未提供：清单中没有排水图层，无法判断是否已通",
    "message_en": "sewer data not provided: the manifest names no sewer layer",
}
ROAD = {
    "code": "NETWORK_MISSING:road",
    "severity": "block",
    "value": 339.3867,
    "threshold": 200,
    "unit": "m",
    "basis": "三通一平（通路）",
    "message_zh": "道路未通：最近已建道路距地块 339 m，超过可接入距离 200 m；规划道路距 2953 m",
    "message_en": "no road: the nearest built road is 339 m away; a planned road runs 2953 m away",
}
ODD = {  # figures that JavaScript would print differently, braces, Jinja-like text
    "code": "X{#",
    "severity": "block",
    "value": 16.123456,
    "threshold": -3.0,
    "unit": "%",
    "basis": "GB 50187 {{ basis }}",
    "message_zh": "坡度 16.12%，编号 007，比例 0.50，版本 1.5.3，整数 12345678901234567890，负 -3.0",
    "message_en": "a {} b {{ x }} 12 and 9007199254740993",
}
SPARSE = {"code": None, "value": 5, "extra": {"a": [1, 2]}, "message_en": "only English, 3 m"}
TEXTS = [
    "",  # no reasons
    None,  # missing
    "[]",
    json.dumps([URBAN, SEWER], ensure_ascii=False),
    json.dumps([SEWER, URBAN], ensure_ascii=False),  # the same reasons, another order
    json.dumps([ROAD, URBAN, SEWER], ensure_ascii=False),
    json.dumps([ODD], ensure_ascii=False),
    json.dumps([SPARSE, None]),  # fields missing, a null item
    json.dumps([ROAD, SEWER], ensure_ascii=True, indent=2),  # \u escapes, line breaks
    json.dumps([dict(ROAD, value=1e-05, threshold=0)], ensure_ascii=False),
    json.dumps([URBAN, SEWER], ensure_ascii=False),  # a repeated text
    json.dumps([dict(URBAN, value=float("nan"), threshold=float("inf"))]),  # NaN, Infinity
]


def expected_reasons(raw) -> list[dict]:
    """What a parcel's popup must list: the JSON's objects, fields as text, figures rounded."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
        return []

    def number(x):
        try:
            v = float(x)
        except (TypeError, ValueError):
            return None
        return round(v, 4) if math.isfinite(v) else None

    out = []
    for r in json.loads(raw):
        if not isinstance(r, dict):
            continue
        out.append(
            {
                "code": "" if r.get("code") is None else str(r["code"]),
                "severity": "block" if r.get("severity") == "block" else "warn",
                "value": number(r.get("value")),
                "threshold": number(r.get("threshold")),
                "unit": str(r.get("unit") or ""),
                "basis": str(r.get("basis") or ""),
                "message_zh": str(r.get("message_zh") or ""),
                "message_en": str(r.get("message_en") or ""),
            }
        )
    return out


def make_parcels(texts) -> gpd.GeoDataFrame:
    n = len(texts)
    gdf = gpd.GeoDataFrame(
        {
            "parcel_id": [f"地块-{i:03d}" for i in range(n)],
            "verdict": ["blocked", "transferable", "bogus"] * (n // 3) + ["blocked"] * (n % 3),
            "reasons": pd.Series(texts, dtype=object),
        },
        geometry=[box(100 + i * 1e-3, 26.9, 100.0005 + i * 1e-3, 26.9005) for i in range(n)],
        crs=4326,
    )
    gdf["area_m2"] = np.linspace(100.4, 2000.6, n)
    gdf["area_mu"] = gdf["area_m2"] * 3 / 2000
    gdf["net_available_mu"] = np.where(np.arange(n) % 4 == 0, np.nan, gdf["area_mu"])
    gdf["dist_road_m"] = np.where(np.arange(n) % 3 == 0, np.nan, np.arange(n) * 10.6)
    gdf["dist_gas_m"] = np.nan  # a network nobody provided
    return gdf


def _compact(gdf):
    return compact_parcels(gdf, parcel_classes(gdf, "verdict"))


def test_reasons_decode_to_the_source_json():
    gdf = make_parcels(TEXTS)
    data = _compact(gdf)
    assert decode_reasons(data) == [expected_reasons(t) for t in TEXTS]
    assert list(data["rn"]) == [len(expected_reasons(t)) for t in TEXTS]
    # each distinct reason is stored once (URBAN and SEWER are in four parcels): URBAN, SEWER,
    # ROAD, ODD, SPARSE, ROAD and URBAN with other figures
    assert len(data["R"]["c"]) == 7
    assert len(set(data["S"])) == len(data["S"])


def test_arrow_and_python_paths_agree():
    ids = [str(i) for i in range(len(TEXTS))]
    texts = pd.Series(TEXTS, dtype=object)
    which, fast = _parcel_reasons(texts, ids)
    assert _parse_arrow(_as_text(texts)) is not None  # these texts do take the Arrow path
    # a figure given as text: Arrow refuses the column, the Python path parses it
    slow_texts = [*TEXTS, json.dumps([dict(URBAN, value="12.5")], ensure_ascii=False)]
    slow = make_parcels(slow_texts)
    assert _parse_arrow(_as_text(slow["reasons"])) is None
    assert decode_reasons(_compact(slow)) == [expected_reasons(t) for t in slow_texts]
    assert decode_reasons(_compact(slow))[-1][0]["value"] == 12.5
    # already-parsed lists (no text at all) take the Python path too
    parsed = make_parcels(TEXTS)
    parsed["reasons"] = pd.Series([json.loads(t) if t else [] for t in TEXTS], dtype=object)
    assert decode_reasons(_compact(parsed)) == [expected_reasons(t) for t in TEXTS]
    assert len(which) == len(TEXTS) and len(fast.owner) == sum(
        len(expected_reasons(t)) for t in TEXTS
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("[{", "not valid JSON"),
        ("   ", "not valid JSON"),
        ("null", "must be a list"),
        ('{"code": "A"}', "must be a list"),
        ("[1] [2]", "not valid JSON"),
    ],
)
def test_bad_reasons_name_the_parcel(raw, match):
    gdf = make_parcels([*TEXTS[:4], raw, TEXTS[5]])
    with pytest.raises(ValueError, match=rf"parcel '地块-004'.*{match}"):
        _compact(gdf)


def test_numbers_and_distances():
    gdf = make_parcels(TEXTS)
    page = json.loads(to_script_json(_compact(gdf)))  # what the page gets
    assert page["v"] == [2, 0, -1] * 4  # -1: not a verdict the page knows
    assert page["num"]["area_m2"] == [round(v) for v in gdf["area_m2"]]
    assert page["num"]["area_mu"] == pytest.approx([round(v, 2) for v in gdf["area_mu"]], abs=1e-9)
    net = page["num"]["net_available_mu"]
    assert [v is None for v in net] == list(gdf["net_available_mu"].isna())
    road = page["dist"]["road"]
    assert road == [None if math.isnan(v) else round(v) for v in gdf["dist_road_m"]]
    assert page["dist"]["gas"] is None  # a column without any value: the popup shows "—"
    assert decode_reasons(page) == [expected_reasons(t) for t in TEXTS]  # the JSON round trip


def test_script_json_writes_numbers_as_json_does():
    data = {
        "i": np.array([0, -7, 2**40, 355], dtype=np.int64),
        "f": np.array([100.0, 1e-05, 2100.7105, np.nan, np.inf, -0.5, 1e16]),
        "b": np.array([True, False]),
        "e": np.array([], dtype=float),
        "s": ["<script>", "地块\u2028"],
        "nested": {"x": np.array([1.5]), "mixed": [1, 2.5, "007", None]},
    }
    text = to_script_json(data)
    assert "<" not in text and "\u2028" not in text
    assert json.loads(text) == {
        "i": [0, -7, 2**40, 355],
        "f": [100.0, 1e-05, 2100.7105, None, None, -0.5, 1e16],
        "b": [1, 0],
        "e": [],
        "s": ["<script>", "地块\u2028"],
        "nested": {"x": [1.5], "mixed": [1, 2.5, "007", None]},
    }


def test_vectorised_templates_equal_the_python_rule():
    import pyarrow as pa

    rng = random.Random(7)
    alphabet = ["1", "2", "0", ".", ".", "a", " ", "{", "}", "\x00", "距", "m²", "５", "-", "e"]
    messages = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(3000)
    ]
    messages += [ODD["message_zh"], ODD["message_en"], ROAD["message_zh"], "", "1.", ".5"]
    tpl, plain, starts, numbers = _templates(pa.array(messages))
    tpl, numbers = tpl.to_pylist(), numbers.to_pylist()
    for i, message in enumerate(messages):
        want_tpl, want_args = template(message)
        assert tpl[i] == want_tpl, message
        assert numbers[starts[i] : starts[i + 1]] == [str(a) for a in want_args], message
        assert fill(want_tpl, want_args) == message
        assert bool(plain[i]) == (not any(c in message for c in "{}\x00"))


def test_figures_keep_their_written_form():
    # JavaScript prints 100.0 as "100" and 0.50 as "0.5": such figures stay text
    assert template("（100.0%）比例 0.50 编号 007 共 355 m 占 77.2%") == (
        "（{}%）比例 {} 编号 {} 共 {} m 占 {}%",
        ["100.0", "0.50", "007", 355, 77.2],
    )


@pytest.fixture(scope="module")
def page(playwright_session):
    from tests.browser.conftest import chromium_path

    browser = playwright_session.chromium.launch(
        executable_path=chromium_path(), args=["--no-sandbox"]
    )
    pg = browser.new_page()
    pg.set_content("<html><body></body></html>")
    yield pg
    browser.close()


def test_popups_show_every_message_as_written(page):
    """The page's template (maps.popups.PARCEL_JS) on the embedded data, in Chromium."""
    from landplan.maps import build_result_map

    gdf = make_parcels(TEXTS).to_crs(4547)
    m = build_result_map(gdf, tiles=None)
    layer = next(c for c in m._children.values() if type(c).__name__ == "ParcelLayer")
    items = page.evaluate(
        "([js, data, vocab]) => { const f = (0, eval)(js);"
        " return data.ids.map((_, i) => { const d = document.createElement('div');"
        " d.innerHTML = f.popup(data, vocab, i);"
        " return Array.from(d.querySelectorAll('li')).map(li => ["
        "   li.querySelector('b').textContent,"
        "   (li.querySelector('.lp-first') || {}).textContent || '',"
        "   (li.querySelector('.lp-second') || {}).textContent || '',"
        "   li.querySelector('.lp-meta').textContent]); }); }",
        [layer.js, json.loads(layer.data_json), json.loads(layer.vocab_json)],
    )
    for raw, shown in zip(TEXTS, items, strict=True):
        want = expected_reasons(raw)
        assert len(shown) == len(want)
        for r, (head, first, second, meta) in zip(want, shown, strict=True):
            assert head.endswith("] " + r["code"])
            assert head.startswith("[否决" if r["severity"] == "block" else "[警示")
            assert (first, second) == (r["message_zh"], r["message_en"])
            if r["value"] is not None:
                assert f"{r['value']:,.2f}" in meta
            assert r["basis"] in meta
    assert "（100.0%）" in items[3][0][1]  # written as in the source, not "100%"

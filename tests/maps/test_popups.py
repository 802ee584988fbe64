"""The parcel popups, built in the browser from compact data by one JavaScript template.

The template (``maps.popups.PARCEL_JS``) runs in Chromium on the data and vocabulary that
:func:`maps.layers.add_parcels` embeds; the oracle is the parcel's own ``reasons`` JSON.
Message templates (numbers taken out, put back by the page) are checked to be lossless.
"""

from __future__ import annotations

import json

import pytest
from landplan.maps.compact import fill, template

SCRIPT = "<script>alert(1)</script>"


@pytest.mark.parametrize(
    "message",
    [
        "道路未通：最近已建道路距地块 355 m，超过可接入距离 200 m；规划道路距 15 m",
        "2249.68 m² (77.2%) lies outside the urban development boundary",
        "slope 0.50° over 007 cells, 1e-05, -3.0 and 12345678901234567890",
        "no numbers at all",
        "a {brace} 12",
        "",
    ],
)
def test_message_templates_are_lossless(message):
    tpl, args = template(message)
    assert fill(tpl, args) == message
    assert json.loads(json.dumps(args)) == args


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


def _popups(page, parcels, lang="zh") -> list[str]:
    from landplan.maps import build_result_map

    m = build_result_map(parcels, lang=lang, tiles=None)
    layer = next(c for c in m._children.values() if type(c).__name__ == "ParcelLayer")
    return page.evaluate(
        "([js, data, vocab]) => { const f = (0, eval)(js);"
        " return data.ids.map((_, i) => [f.popup(data, vocab, i), f.tooltip(data, vocab, i)]); }",
        [layer.js, json.loads(layer.data_json), json.loads(layer.vocab_json)],
    )


def _text(page, html: str) -> str:
    return page.evaluate(
        "h => { const d = document.createElement('div'); d.innerHTML = h; return d.innerText; }",
        html,
    )


def test_popup_lists_every_reason_in_both_languages(page, parcels):
    reasons = json.loads(parcels.loc[2, "reasons"])
    html, tip = _popups(page, parcels)[2]
    text = _text(page, html)
    for r in reasons:
        for key in ("code", "message_zh", "message_en", "basis"):
            assert r[key] in text
    assert text.index(reasons[0]["message_zh"]) < text.index(reasons[0]["message_en"])
    assert "[否决 block] RED_LINE_OVERLAP" in text and "812.50 m²" in text
    assert "15.00 亩" in text and "13.78 亩" in text and "1.22 亩" in text
    assert html.count("<li") == len(reasons)
    assert "P-003" in _text(page, tip) and "不可出让 Blocked" in _text(page, tip)


def test_english_first(page, parcels):
    html, _ = _popups(page, parcels, lang="en")[2]
    text = _text(page, html)
    assert text.index("Parcel lies inside") < text.index("地块位于生态保护红线内")
    assert "Net available 净可用面积" in text


def test_a_parcel_without_reasons_says_so_in_words(page, parcels):
    html, _ = _popups(page, parcels)[0]
    text = _text(page, html)
    assert "<ol" not in html and "<li" not in html
    assert "无否决或警示原因 No blocking or warning reasons" in text
    assert "None" not in text.replace("No blocking", "") and "1." not in text


def test_values_are_escaped_text(page, parcels):
    parcels = parcels.copy()
    evil = dict(json.loads(parcels.loc[2, "reasons"])[0], message_zh=SCRIPT, basis="<b>x</b>")
    parcels.loc[2, "reasons"] = json.dumps([evil], ensure_ascii=False)
    parcels.loc[1, "parcel_id"] = SCRIPT
    rendered = _popups(page, parcels)
    for html, tip in rendered[1:3]:
        assert "<script>" not in html and "<script>" not in tip and "<b>x</b>" not in html
    assert SCRIPT in _text(page, rendered[2][0]) and SCRIPT in _text(page, rendered[1][1])


def test_long_popups_scroll(parcels):
    from landplan.maps import build_result_map
    from landplan.maps.popups import POPUP_MAX_HEIGHT

    html = build_result_map(parcels, tiles=None).get_root().render()
    assert f"maxHeight: {POPUP_MAX_HEIGHT}" in html
    assert ".leaflet-popup-content{max-height:70vh;overflow-y:auto}" in html

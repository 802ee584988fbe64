"""The faster paths of the XLSX writer give what the plain ones give.

* :func:`landplan.export.labels.reasons_texts` (a column of reasons at once) equals
  :func:`reasons_text` text by text, on random reasons with odd values (ints, bools, NaN, inf,
  -0.0, huge and tiny floats, strings, None, missing keys, empty texts) and fails where it fails;
* the style placeholders of the spooled sheet (one ``bytes.translate``) are replaced as plain
  ``bytes.replace`` would, for one- to three-digit style indices and more styles than pairs;
* ``zip_level`` changes how the parts are deflated, not their bytes, and touches no other
  ZipFile made meanwhile.
"""

from __future__ import annotations

import json
import math
import zipfile

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landplan.export import labels
from landplan.export.labels import reasons_text, reasons_texts
from landplan.export.park import ZIP_LEVEL, park_sheets, write_park_summary
from landplan.export.xlsx import Sheet, _zip_level, write_workbook
from landplan.export.xlsx_stream import _PAIRS, SpooledSheet, _swapped, _swaps

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda v: round(v, 4)),
    st.sampled_from([0.0, -0.0, 0.005, 0.015, 0.125, -0.125, 1e16, 1e-7, 999.995, 200.0]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
TEXTS = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["", "地块 & <b>", "m²"]))
REASON = st.dictionaries(
    st.sampled_from(
        ["code", "severity", "value", "threshold", "unit", "basis", "message_zh", "message_en"]
    ),
    st.one_of(NUMBERS, TEXTS),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(REASON, max_size=4), max_size=6),
    st.sampled_from(["zh", "en"]),
    st.sampled_from(["\n", " | "]),
)
def test_reasons_texts_equal_reasons_text(columns, lang, sep):
    texts = [json.dumps(rs, ensure_ascii=bool(i % 2)) for i, rs in enumerate(columns)]
    texts += ["", "[]"]  # Arrow takes these (or refuses all, for the Python path)
    assert reasons_texts(texts, lang, sep=sep) == [reasons_text(t, lang, sep=sep) for t in texts]
    texts += ["  ", "null"]  # Arrow refuses these: the Python path, for all
    assert reasons_texts(texts, lang, sep=sep) == [reasons_text(t, lang, sep=sep) for t in texts]
    # lists of dicts as they are (not JSON: -0.0 next to 0.0, ints next to equal floats)
    assert reasons_texts(columns, lang) == [reasons_text(rs, lang) for rs in columns]


PIPELINE_REASON = st.fixed_dictionaries(
    {
        "code": st.sampled_from(["RED_LINE_OVERLAP", "NETWORK_MISSING:road", 'X"Y']),
        "severity": st.sampled_from(["block", "warn"]),
        "value": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
        "threshold": st.one_of(st.none(), st.floats(min_value=-1e9, max_value=1e9)),
        "unit": st.sampled_from(["m2", "m", "share", ""]),
        "basis": st.sampled_from(["", "《土地管理法》第四条", "data \\ quality\n"]),
        "message_zh": st.text(max_size=12),
        "message_en": st.text(max_size=12),
    }
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(PIPELINE_REASON, max_size=5), min_size=1, max_size=8),
    st.sampled_from(["zh", "en"]),
)
def test_pipeline_reasons_take_the_arrow_path_and_read_the_same(columns, lang):
    """The reasons the pipeline writes (floats or null, strings) are parsed by Arrow, and give
    what reasons_text gives text by text."""
    from landplan.export.labels import _reasons_texts_arrow

    texts = [json.dumps(rs, ensure_ascii=False) for rs in columns] + [""]
    fast = _reasons_texts_arrow(texts, lang, "\n")
    assert fast is not None, "Arrow refused the pipeline's JSON"
    assert fast == [reasons_text(t, lang) for t in texts]


def test_an_integer_or_a_null_code_takes_the_python_path():
    from landplan.export.labels import _reasons_texts_arrow

    ints = [json.dumps([{"code": "A", "value": 1234, "threshold": 2.5}])]
    nulls = [json.dumps([{"code": None, "value": 1.5, "threshold": 2.5}])]
    for texts in (ints, nulls):
        assert _reasons_texts_arrow(texts, "en", "\n") is None
        assert reasons_texts(texts, "en") == [reasons_text(t, "en") for t in texts]
    assert reasons_texts(ints, "en") == ["1. A (A; value 1234, threshold 2.5)"]


def test_reasons_texts_keep_equal_numbers_of_other_types_apart():
    """0.0 and -0.0, 1 and 1.0 and True are equal dict keys; each is shown as _fmt shows it."""
    rows = [
        [{"code": "A", "value": v, "threshold": t}]
        for v, t in [(0.0, -0.0), (-0.0, 0.0), (1234.0, 1234), (1234, 1234.0), (True, 1.0)]
    ]
    rows += [[{"code": "B", "value": math.nan, "threshold": math.inf}]]
    got = reasons_texts(rows, "en")
    assert got == [reasons_text(r, "en") for r in rows]
    assert got[0] == "1. A (A; value 0, threshold -0)"
    assert got[2] == "1. A (A; value 1,234, threshold 1234)"
    assert got[4] == "1. A (A; value True, threshold 1)"
    assert got[5] == "1. B (B; value , threshold )"


@pytest.mark.parametrize("bad", ["[{]", "[1]", '{"a": 1}', '["x"]', "NaN"])
def test_reasons_texts_fail_as_reasons_text(bad):
    texts = [json.dumps([{"code": "A", "value": 1.5, "threshold": 2.0}]), bad]
    with pytest.raises(Exception) as expected:
        [reasons_text(t) for t in texts]
    with pytest.raises(expected.type):
        reasons_texts(texts)


def test_formats_agree_with_fmt_on_many_floats():
    values = [k / 1000 for k in range(-20_000, 20_000, 7)] + [x * 1e13 for x in range(1, 50)]
    rows = [[{"code": "A", "value": v, "threshold": v}] for v in values]
    for text, v in zip(reasons_texts(rows, "zh"), values, strict=True):
        assert text == f"1. A（A；数值 {labels._fmt(v)}，阈值 {labels._fmt(v)}）"


@pytest.mark.parametrize("styles", [3, _PAIRS, _PAIRS + 4])
def test_placeholders_become_style_indices(styles):
    sheet = SpooledSheet("地块", "parcels")
    try:
        tokens = [sheet._token(("fmt", k)) for k in range(styles)]
    finally:
        sheet.discard()
    assert len(set(tokens)) == styles
    assert all("\t" not in t and "\n" not in t and "\r" not in t for t in tokens)
    indices = [str(k) for k in (7, 42, 123, 0, 99, 10, 5, 1000, 3, 64, 11, 8, 77, 2, 19, 45, 6)]
    pairs = list(zip(tokens, indices[:styles], strict=True))
    data = "".join(f'<c r="A{i}" s="{t}"><v>{i}</v></c>\t\n\r' for i, t in enumerate(tokens * 3))
    expected = data
    for token, text in pairs:
        expected = expected.replace(token, text)
    got = _swapped(data.encode(), _swaps(pairs)).decode()
    assert got == expected
    assert all(f's="{text}"' in got for _, text in pairs)


def _parts(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def test_zip_level_changes_the_deflate_not_the_parts(tmp_path):
    frame = pd.DataFrame({"parcel_id": [f"P-{i:05d}" for i in range(3000)], "area_mu": 1.25})
    default = write_workbook(tmp_path / "default.xlsx", [Sheet("地块", "parcels", frame)])
    fast = write_workbook(tmp_path / "fast.xlsx", [Sheet("地块", "parcels", frame)], zip_level=1)
    assert _parts(fast) == _parts(default)
    assert fast.stat().st_size > default.stat().st_size  # level 1 deflates less
    with zipfile.ZipFile(fast) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}


def test_park_summary_at_its_level(tmp_path):
    summary = pd.DataFrame({"group": ["全部"], "parcels": [2]})
    parcels = pd.DataFrame({"parcel_id": ["A", "B"], "area_mu": [1.0, 2.0]})
    tables = (summary, pd.DataFrame(), pd.DataFrame())
    path = write_park_summary(tmp_path / "p.xlsx", *tables, parcels)
    plain = write_workbook(tmp_path / "plain.xlsx", park_sheets(*tables, parcels))
    assert _parts(path) == _parts(plain)
    assert ZIP_LEVEL in range(1, 10)


def test_zip_level_is_scoped_to_its_file_and_its_close(tmp_path):
    import xlsxwriter.workbook as xw

    original = xw.ZipFile
    book = str(tmp_path / "book.xlsx")
    with _zip_level(book, 1):
        assert xw.ZipFile is not original
        with xw.ZipFile(tmp_path / "other.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
            assert z.compresslevel is None  # not its file: XlsxWriter's default
        with xw.ZipFile(book, "w") as z:
            assert z.compresslevel == 1
    assert xw.ZipFile is original
    with pytest.raises(RuntimeError), _zip_level(book, 1):
        raise RuntimeError
    assert xw.ZipFile is original
    with _zip_level(book, None):
        assert xw.ZipFile is original

"""Static PNG/PDF export: CJK font embedded, not blank, atomic, deterministic."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from landplan.maps.export import (
    FontError,
    MapInputs,
    _nice_length_m,
    export_static,
    find_cjk_font,
    load_results,
)

DAY = date(2026, 1, 2)


@pytest.fixture
def inputs(parcels, constraints, networks):
    return MapInputs(parcels, constraints, networks, name="示例园区", source="test")


def test_pdf_embeds_a_cjk_truetype_font(inputs, tmp_path):
    out = export_static(inputs, tmp_path / "map.pdf", title="出让结论 测试", generated_on=DAY)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    fonts = set(re.findall(rb"/BaseFont\s*/([A-Z]{6}\+)?([^\s/<>\[\]]+)", data))
    names = {name for _prefix, name in fonts}
    family = find_cjk_font().replace(" ", "")  # e.g. NotoSansCJKSC → NotoSansCJKsc-Regular
    assert any(n.decode().lower().startswith(family[:12].lower()) for n in names), names
    assert b"/FontFile2" in data  # TrueType outlines embedded (pdf.fonttype 42)
    assert b"/CIDFontType2" in data
    assert [p.name for p in tmp_path.iterdir()] == ["map.pdf"]  # no temp file left


def test_png_is_not_blank_and_has_all_verdict_colours(inputs, tmp_path):
    from PIL import Image

    out = export_static(inputs, tmp_path / "map.png", dpi=80, generated_on=DAY)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] > img.shape[0] > 400  # A4 landscape
    assert img.std() > 20
    colours = {tuple(c) for c in img.reshape(-1, 3)[::7]}
    assert len(colours) > 50


def test_pdf_is_deterministic(inputs, tmp_path):
    a = export_static(inputs, tmp_path / "a.pdf", generated_on=DAY).read_bytes()
    b = export_static(inputs, tmp_path / "b.pdf", generated_on=DAY).read_bytes()
    assert a == b


def test_workspace_dir_source_and_format_from_suffix(tiny_workspace, tmp_path):
    loaded = load_results(tiny_workspace)
    assert loaded.name == "示例园区" and set(loaded.constraints) == {"red_line", "basic_farmland"}
    assert len(loaded.parcels) == 4 and loaded.networks is not None
    out = export_static(tiny_workspace, tmp_path / "ws.png", dpi=60, generated_on=DAY)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_format_and_missing_font(inputs, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'png' or 'pdf'"):
        export_static(inputs, tmp_path / "map.svg")
    monkeypatch.setattr("landplan.maps.export.CJK_FONTS", ("No Such Font CJK",))
    with pytest.raises(FontError, match="fonts-noto-cjk"):
        export_static(inputs, tmp_path / "map.png")
    assert list(tmp_path.iterdir()) == []


def test_geographic_parcels_are_refused(inputs, tmp_path):
    from landplan.core.errors import CRSError

    wgs = MapInputs(inputs.parcels.to_crs(4326))
    with pytest.raises(CRSError):
        export_static(wgs, tmp_path / "map.png")


@pytest.mark.parametrize(
    ("extent_m", "bar_m"), [(2300.0, 500.0), (4500.0, 1000.0), (180.0, 20.0), (9.0, 2.0)]
)
def test_scale_bar_lengths_are_round(extent_m, bar_m):
    assert _nice_length_m(extent_m) == bar_m

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


def _drawn(inputs, **kwargs):
    """The static map's figure, drawn on an Agg canvas, and its renderer."""
    import matplotlib
    from landplan.maps.export import draw_map
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rc = {"font.family": [find_cjk_font(), "DejaVu Sans"]}
    with matplotlib.rc_context(rc):
        fig = draw_map(
            inputs,
            title="示例园区",
            lang="zh",
            figsize_in=kwargs.get("figsize_in", (11.69, 8.27)),
            generated_on=DAY,
        )
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return fig, canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("figsize_in", [(11.69, 8.27), (4.0, 3.0), (2.2, 2.0)])
def test_scale_bar_labels_never_overlap(inputs, figsize_in):
    fig, renderer = _drawn(inputs, figsize_in=figsize_in)
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_gid() == "lp-scale-label"]
    assert labels[0].get_text() == "0" and labels[-1].get_text().endswith(("m", "km"))
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not _overlap(a, b), [t.get_text() for t in labels]


def test_north_arrow_is_outside_the_map_frame(inputs):
    fig, renderer = _drawn(inputs)
    frame = fig.axes[0].get_window_extent(renderer)
    parts = [
        a for a in fig.get_children() if getattr(a, "get_gid", lambda: None)() == "lp-north-arrow"
    ]
    parts += [t for t in fig.texts if t.get_gid() == "lp-north-arrow"]
    assert len({id(p) for p in parts}) == 2  # the "N 北" label and the arrow
    for part in parts:
        assert not _overlap(part.get_window_extent(renderer), frame)
    legends = [leg.get_window_extent(renderer) for leg in fig.legends]
    for part in parts:
        assert not any(_overlap(part.get_window_extent(renderer), box) for box in legends)

"""maps.unlock_map: segments by rank, parcels by the rank that unlocks them, bilingual legend."""

from __future__ import annotations

import pytest
from landplan.maps.unlock_map import NONE_COLOR, RAMP, build_unlock_map, legend_html, rank_color

from landplan.core.policy import load_policy
from landplan.planning.unlock_answer import unlock_plan
from tests.landplan.test_unlock import case  # noqa: F401  (fixture)

pytest.importorskip("folium")


def test_rank_colours_are_graduated():
    assert rank_color(1, 3) == RAMP[0]
    assert rank_color(3, 3) == RAMP[-1]
    assert rank_color(4, 3) == NONE_COLOR  # a segment ranked after the useful steps
    assert rank_color(0, 3) == NONE_COLOR


def test_unlock_map_html(case):  # noqa: F811
    parcels, networks = case
    res = unlock_plan(parcels, networks, load_policy("national"), cost_field="cost")
    m = build_unlock_map(parcels, res.candidates.atoms, res.table, res.parcels, title="<解锁>")
    html = m.get_root().render()
    assert "&lt;解锁&gt;" in html  # escaped title
    assert "R1 (S0)" in html  # segment popup title
    assert "供电外延".encode("ascii", "backslashreplace").decode() in html  # JSON-escaped
    assert RAMP[0] in html and NONE_COLOR in html
    assert "Planned segments (by rank)" in html and "Parcels (rank that unlocks them)" in html
    assert "Investment rank" in legend_html(3, lang="en")

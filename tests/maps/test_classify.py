"""Parcel classes: verdict, lifecycle state, categorical and graduated columns; the map legend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from landplan.maps.classify import GRADUATED, NO_DATA, NOT_REGISTERED, STATE_COLORS, parcel_classes
from landplan.maps.styles import VERDICTS


def test_verdict_classes_follow_the_palette():
    df = pd.DataFrame({"verdict": ["blocked", "transferable", "weird"]})
    c = parcel_classes(df, "verdict")
    keys = list(VERDICTS)
    assert c.index.tolist() == [keys.index("blocked"), keys.index("transferable"), len(keys)]
    assert c.color(c.index[0]) == VERDICTS["blocked"].color


def test_state_classes_with_unregistered_parcels():
    df = pd.DataFrame({"state": ["transferred", None, "idle"]})
    c = parcel_classes(df, "state")
    assert (
        c.color(c.index[0]) == STATE_COLORS["transferred"]
        and c.classes[c.index[0]][1].zh == "已出让"
    )
    assert c.classes[c.index[1]] == NOT_REGISTERED
    assert c.classes[c.index[2]][1].zh == "闲置"


def test_graduated_quantile_classes():
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 50, 200)
    values[5] = np.nan
    c = parcel_classes(pd.DataFrame({"net_available_mu": values}), "net_available_mu")
    assert len(c.classes) == 6 and c.classes[-1] == NO_DATA and c.index[5] == 5
    order = np.argsort(values[np.isfinite(values)])
    idx = c.index[np.isfinite(values)][order]
    assert (np.diff(idx) >= 0).all() and set(idx) == {0, 1, 2, 3, 4}  # monotone, all used
    assert np.bincount(idx).min() >= 35  # quantiles: ~40 each
    assert [col for col, _ in c.classes[:5]] == list(GRADUATED)
    assert "亩" in c.classes[0][1].zh


def test_categorical_columns_and_other():
    df = pd.DataFrame({"HY": ["C13", "C14", "C13", None] + [f"X{i}" for i in range(10)]})
    c = parcel_classes(df, "HY", max_categories=4)
    labels = [lab.zh for _, lab in c.classes]
    assert labels[0] == "C13" and "其他" in labels and labels[-1] == "无数据"
    assert c.classes[c.index[3]] == NO_DATA
    with pytest.raises(KeyError, match="no column"):
        parcel_classes(df, "nope")


def test_result_map_legend_follows_style_by(parcels):
    from landplan.maps import build_result_map

    parcels = parcels.assign(state=["transferred", "ready", None, "idle"])
    m = build_result_map(parcels, style_by="state")
    html = m.get_root().render()
    assert "生命周期状态" in html and "已出让" in html and "未登记" in html
    layer = next(c for c in m._children.values() if type(c).__name__ == "ParcelLayer")
    assert layer.data["cls"][0] == 3  # 'transferred' is the 4th state
    verdict_html = build_result_map(parcels).get_root().render()
    assert "出让结论" in verdict_html and "生命周期状态" not in verdict_html

"""ResultMapParts: the result map built from chunks is the page build_result_map writes."""

from __future__ import annotations

import dataclasses
import gc
import json
import re
import weakref
from pathlib import Path

import numpy as np
import pytest

folium = pytest.importorskip("folium")
gpd = pytest.importorskip("geopandas")
pd = pytest.importorskip("pandas")

from landplan.maps import build_result_map, save_map  # noqa: E402
from landplan.maps.compact import decode_reasons, reason_rows, reason_tables  # noqa: E402
from landplan.maps.streamed import ResultMapParts, merge_reason_rows  # noqa: E402
from shapely.geometry import LineString, MultiPolygon, Polygon, box  # noqa: E402

CRS = "EPSG:4542"
X0, Y0 = 619_000.0, 2_977_000.0
_ID = re.compile(r"[0-9a-f]{32}")


def _normalised(html: str) -> str:
    """folium's random element ids numbered in order of appearance."""
    seen: dict[str, str] = {}
    return _ID.sub(lambda m: seen.setdefault(m.group(0), f"ID{len(seen)}"), html)


def _saved(m, path: Path) -> str:
    return _normalised(save_map(m, path).read_text(encoding="utf-8"))


def _streamed(frame, size: int, *, style_by: str = "verdict", **build):
    parts = ResultMapParts(crs=frame.crs, style_by=style_by)
    for start in range(0, len(frame), size):
        parts.add(frame.iloc[start : start + size])
    return parts.build(**build)


def _parcel_data(m) -> dict:
    return next(c for c in m._children.values() if type(c).__name__ == "ParcelLayer").data


def _assert_same(frame, sizes, tmp_path, *, style_by="verdict", **build):
    whole = build_result_map(frame, style_by=style_by, vector_tile_threshold=None, **build)
    expected = _saved(whole, tmp_path / "whole.html")
    for size in sizes:
        m = _streamed(frame, size, style_by=style_by, vector_tile_threshold=None, **build)
        got = _saved(m, tmp_path / f"chunks_{size}.html")
        assert got == expected, f"chunks of {size} give another page"
    return whole


# --- the sample result (the bundled Lijiang sample, analysed once per session) -------------


@pytest.fixture(scope="module")
def sample(sample_result):
    return sample_result


def _cli_arguments(result) -> dict:
    """What landplan analyze passes (landplan/cli/main.py:_map_writer), less the assets."""
    overlays = {
        k: v
        for k, v in (getattr(result, "rasters", None) or {}).items()
        if k in ("slope", "suitability") and Path(v).exists()
    }
    return {
        "constraints": result.inputs.constraints,
        "networks": result.inputs.networks,
        "lang": "zh",
        "title": result.name,
        "overlays": overlays,
        "assets": "cdn",
    }


def test_sample_in_chunks_of_7_and_all_is_the_whole_page(sample, tmp_path):
    parcels = sample.parcels
    whole = _assert_same(parcels, [7, len(parcels)], tmp_path, **_cli_arguments(sample))
    data = _parcel_data(whole)
    assert data["n"] > 1000 and len(data["R"]["c"]) > 100  # reasons repeat across chunks


def test_sample_in_chunks_of_1(sample, tmp_path):
    parcels = sample.parcels
    with_reasons = parcels["reasons"].str.len() > 2
    # the parcels with reasons first and last, the others between: 120 chunks of one parcel
    reasons, others = parcels[with_reasons], parcels[~with_reasons]
    rows = pd.concat([reasons.iloc[:50], others.iloc[:20], reasons.iloc[-50:]])
    _assert_same(rows, [1], tmp_path, lang="en", title="分块 chunks")


# --- edge cases -------------------------------------------------------------------------


def _reason(code: str, value, zh: str, en: str, severity: str = "warn", **extra) -> dict:
    return {
        "code": code,
        "severity": severity,
        "value": value,
        "threshold": 200.0,
        "unit": "m",
        "basis": "三通一平",
        "message_zh": zh,
        "message_en": en,
        **extra,
    }


FAR = _reason("NETWORK_MISSING:water", 237.3306, "距 237 m，超过 200 m", "237 m away, beyond 200 m")
FAR_2 = _reason("NETWORK_MISSING:water", 355.0, "距 355 m，超过 200 m", "355 m away, beyond 200 m")
# equal when rounded to 4 decimals, told apart before: two rows, as in the whole column
NEAR_A = _reason("SLOPE", 1.00001, "坡度 1 度", "slope 1 deg")
NEAR_B = _reason("SLOPE", 1.00002, "坡度 1 度", "slope 1 deg")
BRACES = _reason("ODD", None, "含 {花括号} 12", "has {braces} 12", severity="block")
NO_NUMBERS = _reason("RED_LINE", 812.5, "位于生态保护红线内", "inside the red line", "block")


def _ring(x: float, y: float, size: float = 80.0) -> Polygon:
    return box(X0 + x, Y0 + y, X0 + x + size, Y0 + y + size)


@pytest.fixture
def edge_parcels():
    holed = Polygon(_ring(600, 0, 90).exterior.coords, [_ring(620, 20, 20).exterior.coords[::-1]])
    rows = [
        ("地块-甲", "transferable", _ring(0, 0), "[]", 1.0),
        ("P-002", "transferable_with_warnings", _ring(100, 0), json.dumps([FAR, NEAR_A]), 2.0),
        ("EMPTY-3", "blocked", Polygon(), json.dumps([FAR]), 3.0),
        ("Ωmega-4", "blocked", holed, json.dumps([NO_NUMBERS, FAR], ensure_ascii=False), 4.0),
        ("NONE-5", "transferable", None, "[]", 5.0),
        ("P-006", "odd verdict", _ring(200, 0), "", 6.0),
        ("🏭-7", "blocked", _ring(300, 0), json.dumps([BRACES, FAR_2], ensure_ascii=False), 7.0),
        (
            "P-008",
            "transferable_with_warnings",
            MultiPolygon([_ring(400, 0, 30), _ring(450, 0, 30)]),
            json.dumps([NEAR_B, FAR, NEAR_A]),
            float("nan"),
        ),
        ("P-009", "transferable", _ring(500, 0), None, 9.0),
        ("地块 10", "blocked", _ring(0, 100), json.dumps([FAR_2, NO_NUMBERS]), 10.0),
    ]
    gdf = gpd.GeoDataFrame(
        {
            "parcel_id": [r[0] for r in rows],
            "verdict": [r[1] for r in rows],
            "reasons": [r[3] for r in rows],
            "owner": ["甲", "乙", "丙", "甲", "乙", "丙", "甲", "乙", "丙", "甲"],
        },
        geometry=gpd.GeoSeries([r[2] for r in rows]),
        crs=CRS,
    )
    area = gdf.area
    gdf["area_m2"] = area
    gdf["area_mu"] = area / 666.6667
    gdf["excluded_mu"] = [r[4] / 10 for r in rows]
    gdf["net_available_mu"] = gdf["area_mu"] - gdf["excluded_mu"]
    # NaN in early chunks; 30,000 km is not exact in float32 (kept as float64)
    gdf["dist_road_m"] = [np.nan] * 5 + [12.5, 40.0, np.nan, 7.0, 30_000_001.0]
    gdf["dist_gas_m"] = np.nan  # no value anywhere: null in the page
    return gdf


@pytest.fixture
def constraints():
    return {"red_line": gpd.GeoDataFrame(geometry=[_ring(-20, 150, 100)], crs=CRS)}


@pytest.fixture
def networks():
    return gpd.GeoDataFrame(
        {"kind": ["road", "water"], "status": ["built", "planned"]},
        geometry=[
            LineString([(X0 - 30, Y0 - 10), (X0 + 800, Y0 - 10)]),
            LineString([(X0, Y0 + 95), (X0 + 800, Y0 + 95)]),
        ],
        crs=CRS,
    )


def test_edge_cases_in_chunks(edge_parcels, constraints, networks, tmp_path):
    whole = _assert_same(
        edge_parcels,
        [1, 2, 3, 7, len(edge_parcels)],
        tmp_path,
        constraints=constraints,
        networks=networks,
        title="边界 <情况>",
    )
    data = _parcel_data(whole)
    assert "EMPTY-3" not in data["ids"] and "NONE-5" not in data["ids"]
    assert {"地块-甲", "Ωmega-4", "🏭-7", "地块 10"} <= set(data["ids"])
    assert data["dist"]["gas"] is None
    assert data["rn"][0] == 0  # a parcel whose reasons list is empty
    assert len(data["R"]["c"]) == 6  # NEAR_A and NEAR_B stay two rows


def test_chunks_without_drawn_parcels_or_rows(edge_parcels, tmp_path):
    """A chunk of empty geometries only, and chunks of no rows, change nothing."""
    expected = _saved(build_result_map(edge_parcels, vector_tile_threshold=None), tmp_path / "a")
    parts = ResultMapParts(crs=CRS)
    parts.add(edge_parcels.iloc[:0])
    parts.add(edge_parcels.iloc[:2])
    parts.add(edge_parcels.iloc[2:3])  # the empty polygon alone
    parts.add(edge_parcels.iloc[3:3])
    parts.add(edge_parcels.iloc[3:])
    assert len(parts) == len(edge_parcels)
    assert _saved(parts.build(), tmp_path / "b") == expected


def test_no_parcels(edge_parcels, tmp_path):
    empty = edge_parcels.iloc[:0]
    expected = _saved(build_result_map(empty, vector_tile_threshold=None), tmp_path / "a")
    parts = ResultMapParts(crs=CRS)
    parts.add(empty)
    assert _saved(parts.build(), tmp_path / "b") == expected
    later = ResultMapParts(crs=CRS)
    assert _parcel_data(later.build())["n"] == 0  # no chunk at all: a map without parcels
    later.add(edge_parcels)  # chunks may follow a build
    expected = _saved(build_result_map(edge_parcels, vector_tile_threshold=None), tmp_path / "c")
    assert _saved(later.build(), tmp_path / "d") == expected


def test_reasons_that_arrow_refuses_in_one_chunk(edge_parcels, tmp_path):
    """A figure given as text sends a chunk through the Python parser: same page."""
    frame = edge_parcels.copy()
    frame.loc[6, "reasons"] = json.dumps([{**FAR_2, "value": "355"}], ensure_ascii=False)
    _assert_same(frame, [4], tmp_path)


@pytest.mark.parametrize("style_by", ["area_mu", "owner", "verdict"])
def test_styles_classified_over_all_chunks(edge_parcels, style_by, tmp_path):
    _assert_same(edge_parcels, [1, 3], tmp_path, style_by=style_by)


def test_vector_tiles(edge_parcels, tmp_path):
    expected = _saved(
        build_result_map(edge_parcels, vector_tile_threshold=5, api_base="/api"), tmp_path / "a"
    )
    parts = ResultMapParts(crs=CRS)
    for start in range(0, len(edge_parcels), 3):
        parts.add(edge_parcels.iloc[start : start + 3])
    got = _saved(parts.build(vector_tile_threshold=5, api_base="/api"), tmp_path / "b")
    assert got == expected
    assert "ParcelLayer" not in got


def test_more_chunks_than_merged_at_once(edge_parcels, tmp_path, monkeypatch):
    import landplan.maps.streamed as streamed

    monkeypatch.setattr(streamed, "MERGE_EVERY", 3)
    _assert_same(edge_parcels, [1], tmp_path)


def test_parts_hold_no_chunk(edge_parcels):
    parts = ResultMapParts(crs=CRS)
    chunk = edge_parcels.iloc[:4].copy()
    ref = weakref.ref(chunk)
    parts.add(chunk)
    del chunk
    gc.collect()
    assert ref() is None
    assert parts.nbytes > 0


def test_merged_rows_decode_to_the_parsed_reasons(edge_parcels):
    texts = edge_parcels["reasons"]
    ids = edge_parcels["parcel_id"].tolist()
    merged = merge_reason_rows(
        [reason_rows(texts.iloc[a:b], ids[a:b]) for a, b in ((0, 3), (3, 4), (4, 10))]
    )
    from landplan.maps.compact import lay_out_reasons

    got = lay_out_reasons(merged)
    assert decode_reasons(got) == decode_reasons(reason_tables(texts, ids))


# --- errors -------------------------------------------------------------------------------


def test_errors(edge_parcels):
    parts = ResultMapParts(crs=CRS)
    with pytest.raises(ValueError, match="lack column"):
        parts.add(edge_parcels.drop(columns="reasons"))
    with pytest.raises(ValueError, match="EPSG:4326"):
        parts.add(edge_parcels.to_crs(4326))
    parts.add(edge_parcels.iloc[:2])
    with pytest.raises(ValueError, match="same columns"):
        parts.add(edge_parcels.iloc[2:].drop(columns="dist_gas_m"))
    bad = edge_parcels.iloc[2:].copy()
    bad.loc[3, "reasons"] = "{not json"
    with pytest.raises(ValueError, match="Ωmega-4"):
        parts.add(bad)
    with pytest.raises(ValueError, match="lang"):
        parts.build(lang="fr")
    with pytest.raises(KeyError, match="nope"):
        ResultMapParts(crs=CRS, style_by="nope").add(edge_parcels)


def test_chunk_without_crs_takes_the_parts_crs(edge_parcels, tmp_path):
    expected = _saved(build_result_map(edge_parcels, vector_tile_threshold=None), tmp_path / "a")
    parts = ResultMapParts(crs=CRS)
    parts.add(edge_parcels.iloc[:5].set_crs(None, allow_override=True))
    parts.add(edge_parcels.iloc[5:])
    assert _saved(parts.build(), tmp_path / "b") == expected


# --- a county too large for one page: the parcels from the service's vector tiles -------------


def test_tiles_only_parts_give_the_vector_tile_page(sample, tmp_path):
    """Above the CLI's limit the parts keep only count and extent; the page is the one
    build_result_map gives in vector-tile mode (nothing of the parcels inlined)."""
    parcels = sample.parcels
    api = "http://127.0.0.1:8000"
    args = {k: v for k, v in _cli_arguments(sample).items() if k != "overlays"}
    whole = build_result_map(parcels, vector_tile_threshold=0, api_base=api, **args)
    parts = ResultMapParts(crs=parcels.crs, tiles_only=True)
    for start in range(0, len(parcels), 500):
        parts.add(parcels.iloc[start : start + 500])
    assert len(parts) == len(parcels) and parts.nbytes == 0
    got = _saved(parts.build(vector_tile_threshold=None, api_base=api, **args), tmp_path / "t.html")
    assert got == _saved(whole, tmp_path / "whole.html")
    assert f"{api}/collections/result_parcels/tiles/" in got
    assert str(parcels["parcel_id"].iloc[0]) not in got  # no parcel inlined


def test_the_clis_context_layers_made_ahead_give_the_same_page(sample, tmp_path):
    """landplan analyze reprojects and simplifies the constraints and networks in a thread while
    the chunks run (landplan/cli/main.py:_ResultMap); the page is the one built from the layers
    as they are, and a failure there falls back to them."""
    from landplan.cli import main as cli

    result_map = cli._ResultMap(sample.inputs)
    constraints, networks = result_map.context(sample.inputs)
    assert networks is not None and networks.crs.to_epsg() == 4326
    assert {k: v.crs.to_epsg() for k, v in constraints.items()} == dict.fromkeys(constraints, 4326)
    arguments = _cli_arguments(sample)
    ahead = _streamed(
        sample.parcels,
        len(sample.parcels),
        vector_tile_threshold=None,
        **(arguments | {"constraints": constraints, "networks": networks}),
    )
    plain = _streamed(sample.parcels, len(sample.parcels), vector_tile_threshold=None, **arguments)
    assert _saved(ahead, tmp_path / "ahead.html") == _saved(plain, tmp_path / "plain.html")

    broken = dataclasses.replace(
        sample.inputs, networks=sample.inputs.networks.set_crs(None, allow_override=True)
    )
    fallback = cli._ResultMap(broken)
    assert fallback.context(broken)[1] is broken.networks  # no CRS: the map says so itself

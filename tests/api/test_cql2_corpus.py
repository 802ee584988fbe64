"""CQL2 filters (OGC API Features Part 3): a corpus of expressions on both stores against a
geopandas oracle.

Every expression is parsed and checked as the API does and run by the GeoPackage store
(vectorised pandas/shapely) and by the PostGIS store (the parameterised SQL, executed by
PostgreSQL); the selected ids must equal the set the oracle selects from the GeoPackage read
directly with geopandas: hand-written pandas comparisons with SQL's null semantics and shapely
predicates on geometries reprojected with ``GeoSeries.to_crs``.  Both stores equal the oracle,
so they equal each other.  A subset goes end to end over HTTP (``/items?filter=...``; full pages
of 67 properties cost ~1 s each).  Malformed or unknown-property filters answer 400
problem+json saying where.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

GK = "http://www.opengis.net/def/crs/EPSG/0/4542"
URL = "/collections/result_parcels/items"


@pytest.fixture(scope="module")
def oracle(workspace_template) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(workspace_template / "workspace.gpkg", layer="result_parcels")


def _region84(oracle, frac) -> shapely.Polygon:
    lon0, lat0, lon1, lat1 = oracle.to_crs("OGC:CRS84").total_bounds
    return shapely.box(
        lon0 + frac[0] * (lon1 - lon0),
        lat0 + frac[1] * (lat1 - lat0),
        lon0 + frac[2] * (lon1 - lon0),
        lat0 + frac[3] * (lat1 - lat0),
    )


def _triangle84(oracle) -> shapely.Polygon:
    lon0, lat0, lon1, lat1 = oracle.to_crs("OGC:CRS84").total_bounds
    w, h = lon1 - lon0, lat1 - lat0
    return shapely.Polygon(
        [
            (lon0 + 0.2 * w, lat0 + 0.2 * h),
            (lon0 + 0.8 * w, lat0 + 0.3 * h),
            (lon0 + 0.4 * w, lat0 + 0.9 * h),
        ]
    )


def _gk_region(oracle, frac) -> shapely.Polygon:
    x0, y0, x1, y1 = oracle.total_bounds
    return shapely.box(
        x0 + frac[0] * (x1 - x0),
        y0 + frac[1] * (y1 - y0),
        x0 + frac[2] * (x1 - x0),
        y0 + frac[3] * (y1 - y0),
    )


def _ne_wkt(geom) -> str:
    """WKT with northing/easting order (EPSG:4542's axis order, as filter-crs requires)."""
    return shapely.to_wkt(shapely.transform(geom, lambda c: c[:, ::-1]), rounding_precision=-1)


def _geoms(oracle) -> dict:
    """The literals of the spatial expressions: CRS84 shapes and GK shapes (layer CRS)."""
    pid = sorted(oracle["parcel_id"])[100]
    parcel = oracle.loc[oracle["parcel_id"] == pid].geometry.iloc[0]
    inner = parcel.representative_point()
    x0, y0, x1, y1 = oracle.total_bounds
    line = shapely.LineString([(x0, y0 + 0.4 * (y1 - y0)), (x1, y0 + 0.45 * (y1 - y0))])
    return {
        "box84": _region84(oracle, (0.25, 0.25, 0.6, 0.55)),
        "small84": _region84(oracle, (0.45, 0.45, 0.5, 0.5)),
        "tri84": _triangle84(oracle),
        "whole84": _region84(oracle, (-0.05, -0.05, 1.05, 1.05)),
        "boxgk": _gk_region(oracle, (0.1, 0.3, 0.5, 0.7)),
        "pointgk": inner,
        "linegk": line,
        "parcelgk": parcel,
    }


def _in_layer(geom, crs84: bool, oracle):
    if not crs84:
        return geom
    return gpd.GeoSeries([geom], crs="OGC:CRS84").to_crs(oracle.crs).iloc[0]


def _sp(op, key, crs84=True):
    """Oracle of a spatial predicate: the parcel geometry first, as in S_<OP>(geometry, g)."""

    def mask(df, g):
        region = _in_layer(g[key], crs84, df)
        method = "geom_equals" if op == "equals" else op
        return np.asarray(getattr(df.geometry, method)(region))

    return mask


def _lit(key, g):
    geom = g[key]
    if key.endswith("gk"):
        return _ne_wkt(geom)
    return shapely.to_wkt(geom, rounding_precision=-1)


def _num(df, col):
    return df[col].astype(float)


# (id, filter text or JSON, lang, filter-crs, oracle(df, geoms) -> bool mask)
# the text may hold {key} for a geometry literal (WKT, in filter-crs axis order)
CORPUS = [
    # comparison
    ("eq-str", "verdict = 'blocked'", None, None, lambda d, g: d.verdict == "blocked"),
    ("ne-str", "verdict <> 'transferable'", None, None, lambda d, g: d.verdict != "transferable"),
    ("gt", "area_mu > 10", None, None, lambda d, g: d.area_mu > 10),
    ("ge", "area_mu >= 9.5", None, None, lambda d, g: d.area_mu >= 9.5),
    ("lt", "net_available_mu < 2", None, None, lambda d, g: d.net_available_mu < 2),
    ("le-int", "land_grade_majority <= 1", None, None, lambda d, g: d.land_grade_majority <= 1),
    ("eq-int", "land_grade_majority = 2", None, None, lambda d, g: d.land_grade_majority == 2),
    (
        "eq-float-int",
        "land_grade_majority = 2.0",
        None,
        None,
        lambda d, g: d.land_grade_majority == 2,
    ),
    ("neg", "slope_mean_deg > -1", None, None, lambda d, g: d.slope_mean_deg > -1),
    ("bool-t", "transferable = TRUE", None, None, lambda d, g: d.transferable.astype(bool)),
    ("bool-f", "transferable = false", None, None, lambda d, g: ~d.transferable.astype(bool)),
    (
        "str-lt",
        "parcel_id < '530702-GY-00100'",
        None,
        None,
        lambda d, g: d.parcel_id < "530702-GY-00100",
    ),
    ("str-ge-cjk", "QY >= '玉龙片区'", None, None, lambda d, g: d.QY >= "玉龙片区"),
    ("cjk-eq", "QY = '金山片区'", None, None, lambda d, g: d.QY == "金山片区"),
    ("cjk-zt", "ZT = '储备'", None, None, lambda d, g: d.ZT == "储备"),
    (
        "prop-prop",
        "net_available_mu < area_mu",
        None,
        None,
        lambda d, g: d.net_available_mu < d.area_mu,
    ),
    (
        "prop-prop-eq",
        "net_available_mu = area_mu",
        None,
        None,
        lambda d, g: d.net_available_mu == d.area_mu,
    ),
    ("lit-first", "10 < area_mu", None, None, lambda d, g: d.area_mu > 10),
    ("quoted-ident", "\"DLBM\" = '0601'", None, None, lambda d, g: d.DLBM == "0601"),
    # logical
    (
        "and",
        "verdict = 'blocked' AND area_mu > 10",
        None,
        None,
        lambda d, g: (d.verdict == "blocked") & (d.area_mu > 10),
    ),
    (
        "or",
        "verdict = 'blocked' OR ZT = '在建'",
        None,
        None,
        lambda d, g: (d.verdict == "blocked") | (d.ZT == "在建"),
    ),
    ("not", "NOT (verdict = 'transferable')", None, None, lambda d, g: d.verdict != "transferable"),
    (
        "nested",
        "(QY = '金山片区' OR QY = '东山片区') AND NOT (area_mu < 5 OR slope_mean_deg > 2)",
        None,
        None,
        lambda d, g: (
            d.QY.isin(["金山片区", "东山片区"]) & ~((d.area_mu < 5) | (d.slope_mean_deg > 2))
        ),
    ),
    (
        "and-or-precedence",
        "verdict = 'blocked' OR area_mu > 20 AND ZT = '储备'",
        None,
        None,
        lambda d, g: (d.verdict == "blocked") | ((d.area_mu > 20) & (d.ZT == "储备")),
    ),
    # null checks and three-valued logic
    (
        "isnull",
        "dev_cost_wan_per_mu IS NULL",
        None,
        None,
        lambda d, g: d.dev_cost_wan_per_mu.isna(),
    ),
    (
        "notnull",
        "dev_cost_wan_per_mu IS NOT NULL",
        None,
        None,
        lambda d, g: d.dev_cost_wan_per_mu.notna(),
    ),
    ("null-cmp", "dev_cost_wan_per_mu > 0", None, None, lambda d, g: d.dev_cost_wan_per_mu > 0),
    (
        "null-not",
        "NOT (dev_cost_wan_per_mu > 50)",
        None,
        None,
        lambda d, g: d.dev_cost_wan_per_mu.notna() & ~(d.dev_cost_wan_per_mu > 50),
    ),
    (
        "null-or",
        "dev_cost_wan_per_mu > 50 OR verdict = 'blocked'",
        None,
        None,
        lambda d, g: (d.dev_cost_wan_per_mu > 50) | (d.verdict == "blocked"),
    ),
    (
        "null-not-or",
        "NOT (dev_cost_wan_per_mu > 50 OR verdict = 'blocked')",
        None,
        None,
        lambda d, g: (
            d.dev_cost_wan_per_mu.notna() & ~(d.dev_cost_wan_per_mu > 50) & (d.verdict != "blocked")
        ),
    ),
    # LIKE
    (
        "like-prefix",
        "parcel_id LIKE '530702-GY-001%'",
        None,
        None,
        lambda d, g: d.parcel_id.str.startswith("530702-GY-001"),
    ),
    (
        "like-contains",
        "reason_codes LIKE '%RED_LINE_OVERLAP%'",
        None,
        None,
        lambda d, g: d.reason_codes.str.contains("RED_LINE_OVERLAP", regex=False),
    ),
    (
        "like-single",
        "parcel_id LIKE '530702-GY-0001_'",
        None,
        None,
        lambda d, g: d.parcel_id.str.fullmatch(r"530702-GY-0001."),
    ),
    (
        "like-cjk",
        "DKMC LIKE '玉龙片区%号地块'",
        None,
        None,
        lambda d, g: d.DKMC.str.fullmatch(r"玉龙片区.*号地块"),
    ),
    (
        "not-like",
        "reason_codes NOT LIKE '%NETWORK_MISSING%'",
        None,
        None,
        lambda d, g: ~d.reason_codes.str.contains("NETWORK_MISSING", regex=False),
    ),
    (
        "casei",
        "CASEI(verdict) = CASEI('BLOCKED')",
        None,
        None,
        lambda d, g: d.verdict.str.lower() == "blocked",
    ),
    (
        "casei-like",
        "CASEI(reason_codes) LIKE CASEI('%inundation%')",
        None,
        None,
        lambda d, g: d.reason_codes.str.lower().str.contains("inundation"),
    ),
    # IN
    ("in-str", "ZT IN ('储备', '标准地')", None, None, lambda d, g: d.ZT.isin(["储备", "标准地"])),
    (
        "in-num",
        "land_grade_majority IN (1, 3)",
        None,
        None,
        lambda d, g: d.land_grade_majority.isin([1, 3]),
    ),
    (
        "not-in",
        "verdict NOT IN ('transferable')",
        None,
        None,
        lambda d, g: d.verdict != "transferable",
    ),
    (
        "in-one",
        "net_road_status IN ('needs_extension')",
        None,
        None,
        lambda d, g: d.net_road_status == "needs_extension",
    ),
    # BETWEEN
    ("between", "area_mu BETWEEN 5 AND 10", None, None, lambda d, g: d.area_mu.between(5, 10)),
    (
        "not-between",
        "area_mu NOT BETWEEN 5 AND 10",
        None,
        None,
        lambda d, g: ~d.area_mu.between(5, 10),
    ),
    (
        "between-null",
        "dev_cost_wan_per_mu BETWEEN 10 AND 40",
        None,
        None,
        lambda d, g: d.dev_cost_wan_per_mu.between(10, 40),
    ),
    (
        "between-int",
        "land_grade_majority BETWEEN 2 AND 3",
        None,
        None,
        lambda d, g: d.land_grade_majority.between(2, 3),
    ),
    # spatial, CRS84
    ("s-intersects", "S_INTERSECTS(geometry, {box84})", None, None, _sp("intersects", "box84")),
    ("s-within", "S_WITHIN(geometry, {box84})", None, None, _sp("within", "box84")),
    ("s-within-tri", "S_WITHIN(geometry, {tri84})", None, None, _sp("within", "tri84")),
    ("s-disjoint", "S_DISJOINT(geometry, {small84})", None, None, _sp("disjoint", "small84")),
    ("s-overlaps", "S_OVERLAPS(geometry, {box84})", None, None, _sp("overlaps", "box84")),
    ("s-contains-lit", "S_CONTAINS({small84}, geometry)", None, None, _sp("within", "small84")),
    ("s-bbox", "S_INTERSECTS(geometry, BBOX({bbox84}))", None, None, _sp("intersects", "box84")),
    ("s-whole", "S_WITHIN(geometry, {whole84})", None, None, _sp("within", "whole84")),
    (
        "s-and-attr",
        "S_INTERSECTS(geometry, {tri84}) AND verdict = 'blocked'",
        None,
        None,
        lambda d, g: _sp("intersects", "tri84")(d, g) & (d.verdict == "blocked"),
    ),
    (
        "s-or-not",
        "NOT S_INTERSECTS(geometry, {box84}) OR area_mu > 30",
        None,
        None,
        lambda d, g: ~_sp("intersects", "box84")(d, g) | (d.area_mu > 30),
    ),
    # spatial, Gauss-Krüger filter-crs (EPSG:4542: northing, easting)
    (
        "gk-intersects",
        "S_INTERSECTS(geometry, {boxgk})",
        None,
        GK,
        _sp("intersects", "boxgk", False),
    ),
    ("gk-within", "S_WITHIN(geometry, {boxgk})", None, GK, _sp("within", "boxgk", False)),
    (
        "gk-contains-point",
        "S_CONTAINS(geometry, {pointgk})",
        None,
        GK,
        _sp("contains", "pointgk", False),
    ),
    ("gk-crosses-line", "S_CROSSES(geometry, {linegk})", None, GK, _sp("crosses", "linegk", False)),
    ("gk-touches", "S_TOUCHES(geometry, {parcelgk})", None, GK, _sp("touches", "parcelgk", False)),
    ("gk-equals", "S_EQUALS(geometry, {parcelgk})", None, GK, _sp("equals", "parcelgk", False)),
    (
        "gk-bureau",
        "verdict = 'blocked' AND area_mu > 5 AND QY = '金山片区' AND S_INTERSECTS(geometry, {boxgk})",
        None,
        GK,
        lambda d, g: (
            (d.verdict == "blocked")
            & (d.area_mu > 5)
            & (d.QY == "金山片区")
            & _sp("intersects", "boxgk", False)(d, g)
        ),
    ),
    # CQL2-JSON
    (
        "j-eq",
        {"op": "=", "args": [{"property": "verdict"}, "blocked"]},
        "cql2-json",
        None,
        lambda d, g: d.verdict == "blocked",
    ),
    (
        "j-and",
        {
            "op": "and",
            "args": [
                {"op": ">", "args": [{"property": "area_mu"}, 10]},
                {"op": "<>", "args": [{"property": "ZT"}, "已出让"]},
            ],
        },
        "cql2-json",
        None,
        lambda d, g: (d.area_mu > 10) & (d.ZT != "已出让"),
    ),
    (
        "j-or3",
        {
            "op": "or",
            "args": [
                {"op": "=", "args": [{"property": "QY"}, "东山片区"]},
                {"op": "<", "args": [{"property": "area_mu"}, 1]},
                {"op": "=", "args": [{"property": "verdict"}, "transferable_with_warnings"]},
            ],
        },
        "cql2-json",
        None,
        lambda d, g: (
            (d.QY == "东山片区") | (d.area_mu < 1) | (d.verdict == "transferable_with_warnings")
        ),
    ),
    (
        "j-not",
        {"op": "not", "args": [{"op": "like", "args": [{"property": "reason_codes"}, "%URBAN%"]}]},
        "cql2-json",
        None,
        lambda d, g: ~d.reason_codes.str.contains("URBAN"),
    ),
    (
        "j-in",
        {"op": "in", "args": [{"property": "ZT"}, ["在建", "储备"]]},
        "cql2-json",
        None,
        lambda d, g: d.ZT.isin(["在建", "储备"]),
    ),
    (
        "j-between",
        {"op": "between", "args": [{"property": "slope_mean_deg"}, 0.5, 2]},
        "cql2-json",
        None,
        lambda d, g: d.slope_mean_deg.between(0.5, 2),
    ),
    (
        "j-isnull",
        {"op": "isNull", "args": [{"property": "cost_weighted_suitability"}]},
        "cql2-json",
        None,
        lambda d, g: d.cost_weighted_suitability.isna(),
    ),
    (
        "j-casei",
        {
            "op": "=",
            "args": [
                {"op": "casei", "args": [{"property": "net_water_status"}]},
                {"op": "casei", "args": ["CONNECTED"]},
            ],
        },
        "cql2-json",
        None,
        lambda d, g: d.net_water_status.str.lower() == "connected",
    ),
    (
        "j-s-intersects",
        {"op": "s_intersects", "args": [{"property": "geometry"}, "{box84:json}"]},
        "cql2-json",
        None,
        _sp("intersects", "box84"),
    ),
    (
        "j-s-bbox",
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": "{bbox84:list}"}]},
        "cql2-json",
        None,
        _sp("intersects", "box84"),
    ),
    (
        "j-s-within-gk",
        {"op": "s_within", "args": [{"property": "geometry"}, "{boxgk:json}"]},
        "cql2-json",
        GK,
        _sp("within", "boxgk", False),
    ),
]


def _fill_text(text: str, geoms: dict) -> str:
    out = text
    for key in geoms:
        out = out.replace("{" + key + "}", _lit(key, geoms))
    if "{bbox84}" in out:
        out = out.replace("{bbox84}", ", ".join(repr(v) for v in geoms["box84"].bounds))
    return out


def _fill_json(node, geoms: dict):
    if isinstance(node, dict):
        return {k: _fill_json(v, geoms) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill_json(v, geoms) for v in node]
    if isinstance(node, str) and node.startswith("{") and node.endswith("}"):
        key, kind = node[1:-1].split(":")
        if kind == "list":
            return list(geoms["box84"].bounds)
        geom = geoms[key]
        if key.endswith("gk"):
            geom = shapely.transform(geom, lambda c: c[:, ::-1])
        return json.loads(shapely.to_geojson(geom))
    return node


@pytest.fixture(scope="module")
def served(store_spec):
    from landplan.store.open import open_store

    return open_store(store_spec)


def _store_ids(store, params) -> set[str]:
    """Ids the store selects for a filter, checked exactly as the items endpoint checks it."""
    from landplan.core.features import parse_crs_uri
    from landplan.store.cql2 import parse_filter

    info = store.collection("result_parcels")
    cql = parse_filter(
        params["filter"],
        lang=params.get("filter-lang"),
        columns=info.columns,
        geometry=True,
        filter_epsg=parse_crs_uri(params.get("filter-crs")),
    )
    if hasattr(store, "gpkg"):
        return set(store._select(info, None, {}, cql)["parcel_id"])
    from psycopg import sql

    from landplan.store.cql2_sql import where_sql
    from landplan.store.pgschema import connect

    term, values = where_sql(cql.tree, srid=info.storage_epsg)
    query = sql.SQL("SELECT t.parcel_id FROM {} t WHERE ").format(store._table(info.id)) + term
    with connect(store.conninfo) as conn:
        return {r[0] for r in conn.execute(query, values).fetchall()}


def _ids(client, params) -> set[str]:
    r = client.get(f"{URL}?{urlencode({**params, 'limit': 10000})}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numberMatched"] == body["numberReturned"] == len(body["features"])
    return {f["id"] for f in body["features"]}


def test_corpus_is_large_and_mixed():
    langs = {c[2] or "cql2-text" for c in CORPUS}
    assert len(CORPUS) >= 60 and langs == {"cql2-text", "cql2-json"}
    assert sum(1 for c in CORPUS if c[3] == GK) >= 5


def _params(expr, lang, fcrs, geoms) -> dict:
    if lang == "cql2-json":
        text = json.dumps(_fill_json(expr, geoms), ensure_ascii=False)
    else:
        text = _fill_text(expr, geoms)
    params = {"filter": text}
    if lang:
        params["filter-lang"] = lang
    if fcrs:
        params["filter-crs"] = fcrs
    return params


def _expected(oracle, want, geoms) -> set[str]:
    return set(oracle.loc[np.asarray(want(oracle, geoms), dtype=bool), "parcel_id"])


@pytest.mark.parametrize(
    ("name", "expr", "lang", "fcrs", "want"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_store_selects_what_the_oracle_selects(served, oracle, name, expr, lang, fcrs, want):
    geoms = _geoms(oracle)
    params = _params(expr, lang, fcrs, geoms)
    assert _store_ids(served, params) == _expected(oracle, want, geoms), name


HTTP = [
    "and",
    "nested",
    "null-not",
    "like-cjk",
    "in-str",
    "between",
    "s-within",
    "gk-bureau",
    "j-or3",
    "j-s-bbox",
    "j-s-within-gk",
    "casei",
]


@pytest.mark.parametrize("name", HTTP)
def test_items_endpoint_filters_end_to_end(client, oracle, name):
    _, expr, lang, fcrs, want = next(c for c in CORPUS if c[0] == name)
    geoms = _geoms(oracle)
    params = _params(expr, lang, fcrs, geoms)
    assert _ids(client, params) == _expected(oracle, want, geoms), name


def test_filters_select_something_and_not_everything(oracle):
    """The corpus discriminates: most expressions select some parcels but not all of them."""
    geoms = _geoms(oracle)
    partial = sum(
        0 < np.asarray(c[4](oracle, geoms), dtype=bool).sum() < len(oracle) for c in CORPUS
    )
    assert partial >= 0.85 * len(CORPUS)


def test_filter_combines_with_bbox_and_property_filters(client, oracle):
    geoms = _geoms(oracle)
    b = geoms["box84"].bounds
    got = _ids(client, {"filter": "area_mu > 5", "bbox": ",".join(map(repr, b)), "ZT": "储备"})
    region = _in_layer(shapely.segmentize(geoms["box84"], 0.0005), True, oracle)
    want = oracle[(oracle.area_mu > 5) & oracle.intersects(region) & (oracle.ZT == "储备")]
    assert got == set(want.parcel_id) and got


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"filter": "verdict = 'blocked' AND"}, "end"),
        ({"filter": "verdict = = 'x'"}, "column"),
        ({"filter": "no_such_column > 1"}, "no_such_column"),
        ({"filter": "area_mu > 'ten'"}, "area_mu"),
        ({"filter": "verdict > TRUE"}, "verdict"),
        ({"filter": "area_mu LIKE '1%'"}, "LIKE"),
        ({"filter": "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 0 0)))"}, "S_INTERSECTS"),
        ({"filter": "S_INTERSECTS(geometry, POINT(500000 3000000))"}, "S_INTERSECTS"),
        ({"filter": "S_INTERSECTS(area_mu, POINT(1 2))"}, "S_INTERSECTS"),
        ({"filter": "area_mu + 1 > 3"}, "arith"),
        ({"filter": "{not json", "filter-lang": "cql2-json"}, "character"),
        ({"filter": '{"op": "nope", "args": []}', "filter-lang": "cql2-json"}, "nope"),
        (
            {
                "filter": '{"op": "=", "args": [{"property": "ghost"}, 1]}',
                "filter-lang": "cql2-json",
            },
            "ghost",
        ),
        ({"filter": "verdict = 'x'", "filter-lang": "ecql"}, None),
        ({"filter": "area_mu > 1", "filter-crs": "EPSG:3857"}, None),
        ({"filter-crs": GK}, None),
        ({"filter": ""}, None),
        ({"filter": "NOT " * 3000 + "area_mu > 1"}, "nesting"),
        (
            {
                "filter": '{"op":"not","args":[' * 600
                + '{"op":"=","args":[{"property":"area_mu"},1]}'
                + "]}" * 600,
                "filter-lang": "cql2-json",
            },
            "nesting",
        ),
        ({"filter": "parcel_id LIKE 'x\\'"}, "LIKE"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"datetime": "2024-05-02/2024-05-01"}, "datetime"),
    ],
)
def test_malformed_filters_are_400_saying_where(client, params, where):
    r = client.get(f"{URL}?{urlencode(params)}")
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["parameter"] in ("filter", "filter-lang", "filter-crs", "datetime")
    if where is not None:
        assert where in (body.get("where") or "") + body["detail"], body


def test_filter_text_is_never_sql(client, oracle):
    """Injection attempts are values (no match) or 400s, never executed."""
    for text in [
        "verdict = 'x''; DROP TABLE result_parcels; --'",
        "verdict = 'blocked' OR '1'='1'",
        "\"verdict; DROP TABLE x\" = 'a'",
    ]:
        r = client.get(f"{URL}?{urlencode({'filter': text, 'limit': 1})}")
        assert r.status_code in (200, 400), r.text
        if r.status_code == 200:
            assert r.json()["numberMatched"] in (0, 190, int((oracle.verdict == "blocked").sum()))
    assert client.get(f"{URL}?limit=1").json()["numberMatched"] == len(oracle)

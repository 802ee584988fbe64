"""The planner page: draw a park boundary, see the API's evaluation, save and compare scenarios.

The page is the result map (parcels by verdict over constraints and networks, inline or as
vector tiles) plus Leaflet.draw (polygon, rectangle, edit, delete) and a side panel.  Each
time the drawn boundary changes, the panel POSTs the geometry (GeoJSON, CRS84) to
``{api_base}/boundaries/evaluate`` and shows the API's figures as they come: no area is
computed in the browser.  "Save" PUTs the geometry to ``{api_base}/scenarios/{name}`` with
an ``X-API-Key`` header (from the key field, else ``window.LANDPLAN_API_KEY``); "compare"
GETs ``{api_base}/scenarios/compare?names=A&names=B`` and shows a side-by-side table; the
pick lists come from ``GET {api_base}/scenarios``.

Element ids for browser tests: ``lp-eval``, ``lp-gross-mu``, ``lp-net-mu``, ``lp-excluded``,
``lp-transferable``, ``lp-suitability``, ``lp-dev-cost``, ``lp-leading``, ``lp-reasons``,
``lp-status``, ``lp-api-key``, ``lp-save-name``, ``lp-save``, ``lp-compare-a``,
``lp-compare-b``, ``lp-compare``, ``lp-compare-table``.

With the Gaode basemap the drawn vertices are in GCJ-02; the page converts them back to
WGS84 (the inverse of :mod:`landplan.core.gcj02`, iterated in JavaScript) before sending them.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from landplan.maps.assets import AssetMode
from landplan.maps.basemaps import Basemap, LocalBasemap, needs_gcj02
from landplan.maps.result_map import build_result_map
from landplan.maps.styles import CONSTRAINTS, Label, Lang
from landplan.maps.vectortiles import DEFAULT_THRESHOLD

if TYPE_CHECKING:
    import folium
    from geopandas import GeoDataFrame

LEADING_INDUSTRIES_MAX = 3
L = Label
PANEL_TEXT: dict[str, Label] = {
    "title": L("边界规划", "Boundary planner"),
    "hint": L("在地图上绘制或编辑多边形/矩形", "Draw or edit a polygon or rectangle on the map"),
    "gross": L("毛面积", "Gross area"),
    "excluded": L("扣除面积", "Excluded"),
    "net": L("净可用面积", "Net available"),
    "transferable": L("内含可出让地块", "Transferable parcels inside"),
    "suitability": L("成本加权适宜性", "Cost-weighted suitability"),
    "dev_cost": L("开发成本（万元）", "Development cost (10k yuan)"),
    "leading": L("主导产业数（宜≤3）", "Leading industries (guideline ≤ 3)"),
    "reasons": L("合规问题", "Compliance issues"),
    "none": L("无", "None"),
    "mu": L("亩", "mu"),
    "api_key": L("API 密钥", "API key"),
    "save": L("保存为方案", "Save as scenario"),
    "name": L("方案名称", "Scenario name"),
    "compare": L("方案比较", "Compare scenarios"),
    "evaluating": L("正在评估…", "Evaluating…"),
    "saved": L("已保存", "Saved"),
    "failed": L("请求失败", "Request failed"),
    "no_boundary": L("请先绘制边界", "Draw a boundary first"),
}

PANEL_CSS = """
.lp-panel{position:fixed;top:10px;right:10px;z-index:1001;width:330px;max-height:calc(100vh - 20px);
  overflow:auto;background:rgba(255,255,255,.97);border:1px solid #999;border-radius:4px;padding:8px 10px;
  font:12px/1.45 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.lp-panel h3{margin:0 0 4px;font-size:14px}.lp-panel h4{margin:8px 0 2px;font-size:12px}
.lp-panel table{border-collapse:collapse;width:100%}.lp-panel th{text-align:left;font-weight:600;padding:1px 4px 1px 0}
.lp-panel td{text-align:right;padding:1px 0}.lp-panel .lp-over{color:#c62828;font-weight:700}
.lp-panel li.block{color:#b71c1c}.lp-panel li.warn{color:#8d5c00}.lp-panel input,.lp-panel select{width:60%}
.lp-panel #lp-compare-table td,.lp-panel #lp-compare-table th{border-bottom:1px solid #eee;font-size:11px}
.lp-panel .lp-status{color:#555;min-height:1.4em}
.leaflet-top.leaflet-right{right:350px}
"""

GCJ02_INVERSE_JS = """
function lpGcjToWgs(lon, lat) {
  function inChina(x, y) { return x >= 72.004 && x <= 137.8347 && y >= 0.8293 && y <= 55.8271; }
  function fwd(lo, la) {
    if (!inChina(lo, la)) { return [lo, la]; }
    var a = 6378245.0, ee = 0.00669342162296594323, pi = Math.PI, x = lo - 105.0, y = la - 35.0;
    var s = Math.sqrt(Math.abs(x));
    var c = (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
    var dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * s + c +
      (20.0 * Math.sin(y * pi) + 40.0 * Math.sin(y / 3.0 * pi)) * 2.0 / 3.0 +
      (160.0 * Math.sin(y / 12.0 * pi) + 320.0 * Math.sin(y * pi / 30.0)) * 2.0 / 3.0;
    var dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * s + c +
      (20.0 * Math.sin(x * pi) + 40.0 * Math.sin(x / 3.0 * pi)) * 2.0 / 3.0 +
      (150.0 * Math.sin(x / 12.0 * pi) + 300.0 * Math.sin(x / 30.0 * pi)) * 2.0 / 3.0;
    var rad = la / 180.0 * pi, magic = 1 - ee * Math.sin(rad) * Math.sin(rad), sm = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((a * (1 - ee)) / (magic * sm) * pi);
    dLon = (dLon * 180.0) / (a / sm * Math.cos(rad) * pi);
    return [lo + dLon, la + dLat];
  }
  var w = [lon, lat];
  for (var i = 0; i < 30; i++) {
    var f = fwd(w[0], w[1]), ex = f[0] - lon, ey = f[1] - lat;
    w = [w[0] - ex, w[1] - ey];
    if (Math.abs(ex) < 1e-7 && Math.abs(ey) < 1e-7) { break; }
  }
  return w;
}
"""

PANEL_JS = """
(function (map, drawn, cfg) {
  var api = cfg.apiBase.replace(/\\/$/, ""), T = cfg.text;
  function $(id) { return document.getElementById(id); }
  function fmt(v, d) {
    var n = Number(v); if (v === null || v === undefined || !isFinite(n)) { return "—"; }
    return n.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
  }
  function status(text) { $("lp-status").textContent = text; }
  function headers(json) {
    var h = {Accept: "application/json"}, key = $("lp-api-key").value || window.LANDPLAN_API_KEY;
    if (json) { h["Content-Type"] = "application/json"; }
    if (key) { h["X-API-Key"] = key; }
    return h;
  }
  function call(method, path, body) {
    return fetch(api + path, {method: method, headers: headers(body !== undefined),
                              body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) {
        if (!r.ok) { return r.text().then(function (t) { throw new Error(r.status + " " + t.slice(0, 200)); }); }
        return r.json();
      });
  }
  function ring(coords) { return cfg.gcj02 ? coords.map(function (p) { return lpGcjToWgs(p[0], p[1]); }) : coords; }
  function geometry() {
    var polys = [];
    drawn.toGeoJSON().features.forEach(function (f) {
      var g = f.geometry;
      if (g.type === "Polygon") { polys.push(g.coordinates.map(ring)); }
      if (g.type === "MultiPolygon") { g.coordinates.forEach(function (p) { polys.push(p.map(ring)); }); }
    });
    if (!polys.length) { return null; }
    return polys.length === 1 ? {type: "Polygon", coordinates: polys[0]} : {type: "MultiPolygon", coordinates: polys};
  }
  function row(table, label, value) {
    var tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
    th.textContent = label; td.textContent = value; tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
  }
  function show(resp) {
    var ev = resp.evaluation || {}, k = resp.key_figures || {}, mu = " " + T.mu;
    $("lp-gross-mu").textContent = fmt(k.gross_mu, 2) + mu;
    $("lp-excluded").textContent = fmt(k.excluded_mu, 2) + mu;
    var kinds = $("lp-excluded-kinds"), byKind = ev.excluded_by_kind_mu || {};
    kinds.innerHTML = "";
    Object.keys(byKind).forEach(function (kind) {
      row(kinds, "  · " + (cfg.kinds[kind] || kind), fmt(byKind[kind], 2) + mu);
    });
    $("lp-net-mu").textContent = fmt(k.net_available_mu, 2) + mu;
    $("lp-transferable").textContent = fmt(k.transferable_parcels, 0);
    $("lp-suitability").textContent = fmt(k.mean_cost_weighted_suitability, 1);
    $("lp-dev-cost").textContent = fmt(k.dev_cost_wan, 1);
    var lead = k.leading_industries;
    $("lp-leading").textContent = fmt(lead, 0);
    $("lp-leading").className = lead !== null && lead > cfg.leadingMax ? "lp-over" : "";
    var list = $("lp-reasons"); list.innerHTML = "";
    (ev.reasons || []).forEach(function (r) {
      var li = document.createElement("li"); li.className = r.severity;
      var first = cfg.lang === "zh" ? r.message_zh : r.message_en, second = cfg.lang === "zh" ? r.message_en : r.message_zh;
      li.textContent = "[" + r.code + "] " + first + " / " + second; list.appendChild(li);
    });
    if (!list.children.length) { var li = document.createElement("li"); li.textContent = T.none; list.appendChild(li); }
    status("");
  }
  function evaluate() {
    var g = geometry(); if (!g) { status(T.no_boundary); return; }
    status(T.evaluating);
    call("POST", "/boundaries/evaluate", g).then(show).catch(function (e) { status(T.failed + ": " + e.message); });
  }
  function refreshList() {
    call("GET", "/scenarios").then(function (resp) {
      ["lp-compare-a", "lp-compare-b"].forEach(function (id) {
        var sel = $(id), keep = sel.value; sel.innerHTML = "";
        (resp.scenarios || []).forEach(function (s) {
          var o = document.createElement("option"); o.value = s.name; o.textContent = s.name; sel.appendChild(o);
        });
        if (keep) { sel.value = keep; }
      });
    }).catch(function () {});
  }
  $("lp-save").addEventListener("click", function () {
    var g = geometry(), name = $("lp-save-name").value.trim();
    if (!g || !name) { status(T.no_boundary); return; }
    call("PUT", "/scenarios/" + encodeURIComponent(name), g)
      .then(function () { status(T.saved + ": " + name); refreshList(); })
      .catch(function (e) { status(T.failed + ": " + e.message); });
  });
  $("lp-compare").addEventListener("click", function () {
    var q = "?names=" + encodeURIComponent($("lp-compare-a").value) + "&names=" + encodeURIComponent($("lp-compare-b").value);
    call("GET", "/scenarios/compare" + q).then(function (resp) {
      var table = $("lp-compare-table"); table.innerHTML = "";
      var rows = resp.rows || [], head = document.createElement("tr"), corner = document.createElement("th");
      head.appendChild(corner);
      rows.forEach(function (r) { var th = document.createElement("th"); th.textContent = r.name; head.appendChild(th); });
      table.appendChild(head);
      (resp.columns || []).filter(function (c) { return c !== "name"; }).forEach(function (c) {
        var tr = document.createElement("tr"), th = document.createElement("th");
        th.textContent = cfg.columns[c] || c; tr.appendChild(th);
        rows.forEach(function (r) {
          var td = document.createElement("td"), v = r[c];
          td.textContent = typeof v === "number" ? fmt(v, Number.isInteger(v) ? 0 : 2) : (v === null || v === undefined ? "—" : String(v));
          tr.appendChild(td);
        });
        table.appendChild(tr);
      });
    }).catch(function (e) { status(T.failed + ": " + e.message); });
  });
  map.on("draw:created draw:edited draw:deleted", function () { setTimeout(evaluate, 0); });
  refreshList();
})
"""


def _panel_html(lang: Lang) -> str:
    t = {k: v.html(lang) for k, v in PANEL_TEXT.items()}
    return f"""<div class="lp-panel" id="lp-panel">
<h3>{t["title"]}</h3><div>{t["hint"]}</div>
<div id="lp-eval"><table>
<tr><th>{t["gross"]}</th><td id="lp-gross-mu">—</td></tr>
<tr><th>{t["excluded"]}</th><td id="lp-excluded">—</td></tr>
<tbody id="lp-excluded-kinds"></tbody>
<tr><th>{t["net"]}</th><td id="lp-net-mu">—</td></tr>
<tr><th>{t["transferable"]}</th><td id="lp-transferable">—</td></tr>
<tr><th>{t["suitability"]}</th><td id="lp-suitability">—</td></tr>
<tr><th>{t["dev_cost"]}</th><td id="lp-dev-cost">—</td></tr>
<tr><th>{t["leading"]}</th><td id="lp-leading">—</td></tr></table>
<h4>{t["reasons"]}</h4><ol id="lp-reasons"></ol></div>
<div class="lp-status" id="lp-status"></div>
<h4>{t["save"]}</h4>
<div><label>{t["api_key"]} <input id="lp-api-key" type="password" autocomplete="off"></label></div>
<div><input id="lp-save-name" placeholder="{t["name"]}"> <button id="lp-save" type="button">{t["save"]}</button></div>
<h4>{t["compare"]}</h4>
<div><select id="lp-compare-a"></select> <select id="lp-compare-b"></select>
<button id="lp-compare" type="button">{t["compare"]}</button></div>
<table id="lp-compare-table"></table></div>"""


def _config(api_base: str, lang: Lang, basemap: str) -> dict[str, Any]:
    from landplan.maps.boundary_map import FIGURES

    return {
        "apiBase": api_base,
        "lang": lang,
        "gcj02": needs_gcj02(basemap),
        "leadingMax": LEADING_INDUSTRIES_MAX,
        "text": {k: v.text(lang) for k, v in PANEL_TEXT.items()},
        "kinds": {k: v.label.text(lang) for k, v in CONSTRAINTS.items()},
        "columns": {col: label.text(lang) for col, label, _unit, _d in FIGURES},
    }


def _panel_element(m: Any, drawn: Any, config: dict[str, Any], lang: Lang) -> Any:
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = "LandplanPlanner"
    element.header_html = f"<style>{PANEL_CSS}</style>"
    element.body_html = _panel_html(lang)
    # JSON inside <script>: "</" must not close the element
    cfg = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    element.script_js = (
        f"{GCJ02_INVERSE_JS}\n{PANEL_JS}({m.get_name()}, {drawn.get_name()}, {cfg});"
    )
    element._template = Template(
        "{% macro header(this, kwargs) %}{{ this.header_html }}{% endmacro %}"
        "{% macro html(this, kwargs) %}{{ this.body_html }}{% endmacro %}"
        "{% macro script(this, kwargs) %}{{ this.script_js }}{% endmacro %}"
    )
    return element


def build_planner_page(
    parcels: GeoDataFrame,
    /,
    *,
    constraints: dict[str, GeoDataFrame] | None = None,
    networks: GeoDataFrame | None = None,
    api_base: str = "",
    assets: AssetMode = "offline",
    assets_base_url: str = "/assets",
    basemap: Basemap | str = "osm",
    local_basemaps: tuple[LocalBasemap, ...] | list[LocalBasemap] = (),
    tk: str | None = None,
    embed_key: bool = False,
    lang: Lang = "zh",
    title: str | None = None,
    vector_tile_threshold: int | None = DEFAULT_THRESHOLD,
) -> folium.Map:
    """The planner page (see the module docstring) as a Folium map; render or save it.

    Takes the workspace's ``result_parcels`` (drawn inline, or as vector tiles from
    ``api_base`` above ``vector_tile_threshold``), its constraint layers and networks.
    The other options work as in :func:`maps.build_result_map`.
    """
    import folium
    from folium.plugins import Draw

    m = build_result_map(
        parcels,
        constraints=constraints,
        networks=networks,
        lang=lang,
        title=title,
        basemap=basemap,
        local_basemaps=local_basemaps,
        tk=tk,
        embed_key=embed_key,
        assets=assets,
        assets_base_url=assets_base_url,
        api_base=api_base,
        vector_tile_threshold=vector_tile_threshold,
        collapse_layers=True,
    )
    drawn = folium.FeatureGroup(name=escape(PANEL_TEXT["title"].text(lang))).add_to(m)
    Draw(
        feature_group=drawn,
        show_geometry_on_click=False,
        draw_options={
            "polyline": False,
            "circle": False,
            "circlemarker": False,
            "marker": False,
            "polygon": {"allowIntersection": False, "showArea": False},
            "rectangle": {"showArea": False},
        },
        edit_options={"poly": {"allowIntersection": False}},
    ).add_to(m)
    _panel_element(m, drawn, _config(api_base, lang, basemap), lang).add_to(m)
    for key in [k for k, c in m._children.items() if isinstance(c, folium.LayerControl)]:
        m._children[key] = m._children.pop(key)  # last: it names the drawn layer's variable
    return m

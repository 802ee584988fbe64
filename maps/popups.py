"""Parcel popups and tooltips, built in the browser by one JavaScript template.

The page carries compact parcel data (:mod:`landplan.maps.compact`) and the vocabulary of
:func:`vocabulary` (both languages, ``lang`` first); :data:`PARCEL_JS` turns them into a
canvas-rendered Leaflet layer whose popup and tooltip are rendered on demand.  Every value
is inserted as text (escaped by the template's ``esc``), never as HTML.

The popup lists the areas, the network distances and the reasons, one item per reason:
severity and code, the message in both languages, value/threshold/unit and basis.  A parcel
without any reason says so in words (not an empty numbered list).  Long popups scroll.
"""

from __future__ import annotations

from typing import Any

from landplan.maps.compact import VERDICT_KEYS
from landplan.maps.compact import parse_reasons as parse_reasons  # re-exported
from landplan.maps.styles import (
    MU,
    TEXT,
    UNKNOWN_VERDICT,
    VERDICTS,
    Label,
    Lang,
    network_style,
)

#: the popup never grows past this height (px); longer content scrolls
POPUP_MAX_HEIGHT = 420
POPUP_CSS = """
.lp-popup{font:12px/1.4 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;min-width:260px}
.lp-popup h4{margin:0 0 4px;font-size:14px}
.lp-popup .lp-badge{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff}
.lp-popup table{border-collapse:collapse;margin:4px 0;width:100%}
.lp-popup th{text-align:left;font-weight:600;padding:1px 6px 1px 0;white-space:nowrap;vertical-align:top}
.lp-popup td{padding:1px 0;text-align:right}
.lp-popup ol{margin:2px 0;padding-left:18px}
.lp-popup li{margin-bottom:4px}
.lp-popup li.block{color:#b71c1c}
.lp-popup li.warn{color:#8d5c00}
.lp-popup .lp-second{color:#555}
.lp-popup .lp-meta{color:#666;font-size:11px}
.lp-popup .lp-none{color:#2e7d32;margin:2px 0}
.leaflet-popup-content{max-height:70vh;overflow-y:auto}
"""


def _distance_label(kind: str) -> Label:
    """``road`` → 道路 Road; ``planned_road`` → 规划道路 Planned road."""
    if kind.startswith("planned_"):
        base = network_style(kind.removeprefix("planned_"))[1]
        return Label(f"规划{base.zh}", f"Planned {base.en.lower()}")
    return network_style(kind)[1]


def vocabulary(lang: Lang, distance_kinds: list[str], colors: list[str]) -> dict[str, Any]:
    """Labels (``lang`` first), verdict badges, distance labels and class colours for the JS."""
    return {
        "lang": lang,
        "verdicts": [[VERDICTS[k].color, VERDICTS[k].label.text(lang)] for k in VERDICT_KEYS],
        "unknown": [UNKNOWN_VERDICT.color, UNKNOWN_VERDICT.label.text(lang)],
        "t": {
            key: TEXT[key].text(lang)
            for key in (
                "parcel",
                "gross_area",
                "ellipsoidal_area",
                "excluded",
                "net_available",
                "distances",
                "reasons",
                "no_reasons",
                "value",
                "threshold",
                "basis",
                "block",
                "warn",
            )
        },
        "mu": MU.text(lang),
        "dist": {k: _distance_label(k).text(lang) for k in distance_kinds},
        "colors": colors,
    }


#: ``function (data, vocab, options)`` → the Leaflet layer of the parcels (a FeatureGroup of
#: canvas polygons with one popup and one tooltip binding); ``.popup(data, vocab, i)`` and
#: ``.tooltip(data, vocab, i)`` give the HTML of parcel ``i``
PARCEL_JS = r"""
(function () {
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function num(v, d) {
    if (v == null || !isFinite(v)) { return "—"; }
    return Number(v).toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
  }
  function starts(D) {
    // computed once per data: where each parcel's reasons and each reason's numbers begin
    if (D.lpStarts) { return D.lpStarts; }
    var rn = D.rn, r0 = new Array(rn.length + 1), R = D.R, k = D.T.k, a0 = new Array(R.c.length);
    r0[0] = 0;
    for (var i = 0; i < rn.length; i++) { r0[i + 1] = r0[i] + rn[i]; }
    for (var j = 0, at = 0; j < R.c.length; j++) {
      a0[j] = at;
      at += k[R.z[j]] + (R.q[j] ? 0 : k[R.e[j]]);
    }
    D.lpStarts = {r: r0, a: a0};
    return D.lpStarts;
  }
  function fill(D, t, at) {
    // message template t of D.T with its numbers D.R.a[at ...] (see maps/compact.py)
    var s = D.S[D.T.s[t]], k = D.T.k[t], a = D.R.a;
    if (!k) { return s; }
    var parts = s.split("{}"), out = parts[0];
    for (var i = 1; i < parts.length; i++) { out += String(a[at + i - 1]) + parts[i]; }
    return out;
  }
  function rings(D, scale) {
    // decode the delta-encoded rings into [[lat, lng], ...] per parcel (see maps/compact.py)
    var g = D.g, c = g.c, v = 0, ri = 0, pi = 0, out = new Array(g.f.length);
    for (var f = 0; f < g.f.length; f++) {
      var polys = [];
      for (var p = 0; p < g.f[f]; p++) {
        var rs = [];
        for (var r = 0; r < g.p[pi]; r++) {
          var n = g.r[ri], x = 0, y = 0, ring = new Array(n);
          for (var k = 0; k < n; k++) {
            x += c[v]; y += c[v + 1]; v += 2;
            ring[k] = [y / scale, x / scale];
          }
          rs.push(ring); ri++;
        }
        polys.push(rs); pi++;
      }
      out[f] = polys.length === 1 ? polys[0] : polys;
    }
    return out;
  }
  function popup(D, V, i) {
    var t = V.t, n = D.num, mu = esc(V.mu);
    var verdict = V.verdicts[D.v[i]] || V.unknown;
    function col(name) { return n[name] ? n[name][i] : null; }
    function row(label, html) { return "<tr><th>" + esc(label) + "</th><td>" + html + "</td></tr>"; }
    function area(m2, m) { return num(col(m2), 0) + " m² · " + num(col(m), 2) + " " + mu; }
    var rows = row(t.gross_area, area("area_m2", "area_mu"));
    if (n.area_ellipsoidal_m2 || n.area_ellipsoidal_mu) {
      rows += row(t.ellipsoidal_area, area("area_ellipsoidal_m2", "area_ellipsoidal_mu"));
    }
    if (n.excluded_mu) { rows += row(t.excluded, num(col("excluded_mu"), 2) + " " + mu); }
    rows += row(t.net_available, "<b>" + num(col("net_available_mu"), 2) + " " + mu + "</b>");
    var kinds = Object.keys(D.dist);
    if (kinds.length) {
      rows += '<tr><th colspan="2">' + esc(t.distances) + "</th></tr>";
      kinds.forEach(function (k) {
        var d = D.dist[k] ? D.dist[k][i] : null;  // null: a column without any value
        rows += row(V.dist[k] || k, d == null ? "—" : num(d, 0) + " m");
      });
    }
    var at = starts(D), R = D.R, S = D.S, items = "";
    for (var ri = at.r[i]; ri < at.r[i + 1]; ri++) {
      var j = D.r[ri], unit = S[R.u[j]], basis = S[R.s[j]], a0 = at.a[j];
      var sev = R.b[j] ? "block" : "warn";
      var zh = fill(D, R.z[j], a0), en = fill(D, R.e[j], R.q[j] ? a0 : a0 + D.T.k[R.z[j]]);
      var first = V.lang === "zh" ? zh : en, second = V.lang === "zh" ? en : zh;
      var measured = function (x) { return x == null ? "—" : num(x, 2) + (unit ? " " + esc(unit) : ""); };
      var meta = esc(t.value) + ": " + measured(R.v[j]) + " · " + esc(t.threshold) + ": " + measured(R.t[j]);
      if (basis) { meta += " · " + esc(t.basis) + ": " + esc(basis); }
      items += '<li class="' + sev + '"><b>[' + esc(t[sev]) + "] " + esc(S[R.c[j]]) + "</b>" +
        (first ? '<div class="lp-first">' + esc(first) + "</div>" : "") +
        (second ? '<div class="lp-second">' + esc(second) + "</div>" : "") +
        '<div class="lp-meta">' + meta + "</div></li>";
    }
    return '<div class="lp-popup"><h4>' + esc(t.parcel) + ": " + esc(D.ids[i]) + "</h4>" +
      '<span class="lp-badge" style="background:' + verdict[0] + '">' + esc(verdict[1]) + "</span>" +
      "<table>" + rows + "</table><b>" + esc(t.reasons) + "</b>" +
      (items ? "<ol>" + items + "</ol>" : '<p class="lp-none">' + esc(t.no_reasons) + "</p>") +
      "</div>";
  }
  function tooltip(D, V, i) {
    var verdict = V.verdicts[D.v[i]] || V.unknown;
    var net = D.num.net_available_mu ? D.num.net_available_mu[i] : null;
    return "<b>" + esc(D.ids[i]) + "</b><br>" + esc(verdict[1]) + "<br>" +
      esc(V.t.net_available) + ": " + num(net, 2) + " " + esc(V.mu);
  }
  var factory = function (D, V, options) {
    var renderer = options.renderer, colors = V.colors, shapes = rings(D, options.scale);
    function base(i) {
      return {renderer: renderer, fillColor: colors[D.cls[i]], color: "#263238", weight: 0.8,
              opacity: 0.9, fillOpacity: 0.6};
    }
    var group = L.featureGroup();
    for (var i = 0; i < D.n; i++) {
      if (!shapes[i].length) { continue; }
      var layer = L.polygon(shapes[i], base(i));
      layer.lpIndex = i;
      group.addLayer(layer);
    }
    group.bindPopup(function (layer) { return popup(D, V, layer.lpIndex); },
                    {maxWidth: 420, maxHeight: options.maxHeight, autoPanPadding: [20, 20]});
    group.bindTooltip(function (layer) { return tooltip(D, V, layer.lpIndex); }, {sticky: true});
    group.on("mouseover", function (e) {
      e.layer.setStyle({weight: 3, color: "#000000", fillOpacity: 0.8});
    });
    group.on("mouseout", function (e) { e.layer.setStyle(base(e.layer.lpIndex)); });
    group.lpPopupHtml = function (i) { return popup(D, V, i); };
    group.lpIds = D.ids;
    return group;
  };
  factory.popup = popup;  // for tests: popup(D, V, i) and tooltip(D, V, i) as HTML
  factory.tooltip = tooltip;
  return factory;
})()
"""

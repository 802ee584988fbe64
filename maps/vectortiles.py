"""Large parcel layers as Mapbox Vector Tiles (Leaflet.VectorGrid) instead of inline GeoJSON.

Above ``threshold`` features (default 20,000) the map builders do not embed the parcels:
the page draws ``{api_base}/collections/result_parcels/tiles/{z}/{x}/{y}`` (the MVT layer
is named after the collection; its properties include ``parcel_id``, ``verdict``,
``transferable``, ``net_available_mu`` and ``gross_mu``), coloured by verdict with the
inline layer's colours.  A click fetches
``{api_base}/collections/result_parcels/items/{parcel_id}?f=json`` and opens a popup with
the areas and the reasons (``reasons`` JSON, else ``reasons_zh`` / ``reasons_en``) in both
languages.  Every value is inserted as text (escaped), never as HTML.

Limitation: tiles cannot be shifted to GCJ-02 in the browser (VectorGrid draws tile-pixel
coordinates), so vector tiles over the Gaode basemap are refused (:class:`BasemapError`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from landplan.maps.basemaps import BasemapError, needs_gcj02
from landplan.maps.styles import MU, TEXT, UNKNOWN_VERDICT, VERDICTS, Lang

DEFAULT_THRESHOLD = 20_000
DEFAULT_COLLECTION = "result_parcels"
VECTORGRID_CDN = (
    "https://cdn.jsdelivr.net/npm/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.min.js"
)


def use_vector_tiles(n_features: int, /, *, threshold: int | None = DEFAULT_THRESHOLD) -> bool:
    """True when a layer of ``n_features`` should be drawn from vector tiles (``None``: never)."""
    return threshold is not None and n_features > threshold


def tile_url_template(api_base: str = "", /, *, collection: str = DEFAULT_COLLECTION) -> str:
    """``{api_base}/collections/{collection}/tiles/{z}/{x}/{y}`` (Leaflet template)."""
    return f"{api_base.rstrip('/')}/collections/{collection}/tiles/{{z}}/{{x}}/{{y}}"


def item_url_prefix(api_base: str = "", /, *, collection: str = DEFAULT_COLLECTION) -> str:
    """The items URL up to the parcel id: ``{api_base}/collections/{collection}/items/``."""
    return f"{api_base.rstrip('/')}/collections/{collection}/items/"


def _vocabulary(lang: Lang) -> dict[str, Any]:
    def both(label: Any) -> str:
        return label.text(lang)

    return {
        "verdicts": {k: [v.color, both(v.label)] for k, v in VERDICTS.items()},
        "unknown": [UNKNOWN_VERDICT.color, both(UNKNOWN_VERDICT.label)],
        "parcel": both(TEXT["parcel"]),
        "verdict": both(TEXT["verdict"]),
        "gross": both(TEXT["gross_area"]),
        "excluded": both(TEXT["excluded"]),
        "net": both(TEXT["net_available"]),
        "reasons": both(TEXT["reasons"]),
        "none": both(TEXT["no_reasons"]),
        "mu": MU.text(lang),
        "lang": lang,
        "error": "无法读取地块 Could not load the parcel"
        if lang == "zh"
        else "Could not load the parcel 无法读取地块",
    }


POPUP_JS = """
function (vocab, itemPrefix) {
  function esc(s) {
    var d = document.createElement("div"); d.textContent = s == null ? "" : String(s);
    return d.innerHTML;
  }
  function num(v) {
    var n = Number(v); return (v == null || !isFinite(n)) ? "—" :
      n.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
  }
  function reasons(p) {
    var list = p.reasons;
    if (typeof list === "string" && list) { try { list = JSON.parse(list); } catch (e) { list = null; } }
    if (Array.isArray(list) && list.length) {
      return list.map(function (r) {
        var a = vocab.lang === "zh" ? r.message_zh : r.message_en;
        var b = vocab.lang === "zh" ? r.message_en : r.message_zh;
        return '<li class="' + esc(r.severity) + '"><b>' + esc(r.code) + "</b> " + esc(a) +
               '<br><span class="lp-second">' + esc(b) + "</span></li>";
      }).join("");
    }
    var zh = p.reasons_zh || "", en = p.reasons_en || "";
    if (!zh && !en) { return ""; }
    var first = vocab.lang === "zh" ? zh : en, second = vocab.lang === "zh" ? en : zh;
    return "<li>" + esc(first) + '<br><span class="lp-second">' + esc(second) + "</span></li>";
  }
  return function (props) {
    var url = itemPrefix + encodeURIComponent(props.parcel_id) + "?f=json";
    return fetch(url, {headers: {Accept: "application/geo+json, application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var p = data.properties || data;
        var v = vocab.verdicts[p.verdict] || vocab.unknown;
        var gross = p.area_mu != null ? p.area_mu : p.gross_mu;
        var items = reasons(p);
        return '<div class="lp-popup"><h4>' + esc(vocab.parcel) + " " + esc(p.parcel_id) + "</h4>" +
          '<span class="lp-badge" style="background:' + v[0] + '">' + esc(v[1]) + "</span>" +
          "<table><tr><th>" + esc(vocab.gross) + "</th><td>" + num(gross) + " " + esc(vocab.mu) + "</td></tr>" +
          "<tr><th>" + esc(vocab.excluded) + "</th><td>" + num(p.excluded_mu) + " " + esc(vocab.mu) + "</td></tr>" +
          "<tr><th>" + esc(vocab.net) + "</th><td>" + num(p.net_available_mu) + " " + esc(vocab.mu) + "</td></tr></table>" +
          "<div><b>" + esc(vocab.reasons) + "</b></div>" +
          (items ? "<ol>" + items + "</ol>" : "<div>" + esc(vocab.none) + "</div>") + "</div>";
      })
      .catch(function () { return '<div class="lp-popup">' + esc(vocab.error) + "</div>"; });
  };
}
"""


def _make_layer_class() -> type:
    from folium.plugins import VectorGridProtobuf
    from folium.template import Template  # has folium's tojavascript filter

    class ParcelTiles(VectorGridProtobuf):
        """VectorGrid parcels styled by verdict, with a popup fetched from the API on click."""

        default_js: ClassVar[list[tuple[str, str]]] = [("vectorGrid", VECTORGRID_CDN)]
        _template = Template(
            """
            {% macro script(this, kwargs) -%}
            // VectorGrid 1.3.0 calls L.DomEvent.fakeStop, removed in Leaflet 1.8: restore it
            if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function () { return true; }; }
            var {{ this.get_name() }} = L.vectorGrid.protobuf(
                {{ this.url|tojson }}, {{ this.options|tojavascript }}
            );
            (function (layer) {
              var popup = ({{ this.popup_js }})({{ this.vocab_json }}, {{ this.item_prefix|tojson }});
              layer.on("click", function (e) {
                var at = e.latlng;
                popup(e.layer.properties).then(function (html) {
                  L.popup({maxWidth: 420}).setLatLng(at).setContent(html)
                    .openOn({{ this._parent.get_name() }});
                });
              });
            })({{ this.get_name() }});
            {%- endmacro %}
            """
        )

    return ParcelTiles


def add_parcel_tiles(
    m: Any,
    /,
    *,
    api_base: str = "",
    collection: str = DEFAULT_COLLECTION,
    tile_url: str | None = None,
    basemap: str = "osm",
    lang: Lang = "zh",
) -> Any:
    """Add the parcels as a vector-tile layer (see the module docstring); returns the layer.

    Raises
    ------
    BasemapError
        With ``basemap="gaode"``: server tiles cannot be shifted to GCJ-02 in the browser.
    """
    from folium.utilities import JsCode

    if needs_gcj02(basemap):
        raise BasemapError(
            "parcels drawn from vector tiles cannot be shifted to GCJ-02 for the Gaode basemap; "
            "use basemap 'tianditu', 'osm' or 'none', or raise the vector-tile threshold"
        )
    colors = {k: v.color for k, v in VERDICTS.items()}
    style = (
        "function (props) { var colors = " + json.dumps(colors) + ";"
        " return {fill: true, fillColor: colors[props.verdict] || "
        + json.dumps(UNKNOWN_VERDICT.color)
        + ", fillOpacity: 0.55, color: '#263238', weight: 0.8}; }"
    )
    options = {
        "rendererFactory": JsCode("L.canvas.tile"),
        "interactive": True,
        "maxNativeZoom": 18,
        "maxZoom": 20,
        "getFeatureId": JsCode("function (f) { return f.properties.parcel_id; }"),
        # a JsCode object literal: folium would camelize a dict's keys (the MVT layer name)
        "vectorTileLayerStyles": JsCode("{" + json.dumps(collection) + ": " + style + "}"),
    }
    layer = _make_layer_class()(
        tile_url or tile_url_template(api_base, collection=collection),
        name=TEXT["parcels"].html(lang),
        options=options,
    )
    layer.popup_js = POPUP_JS
    layer.vocab_json = json.dumps(_vocabulary(lang), ensure_ascii=False)
    layer.item_prefix = item_url_prefix(api_base, collection=collection)
    return layer.add_to(m)

"""The one palette of landplan: colours and bilingual labels of verdicts, constraints and networks.

Maps (Leaflet and matplotlib), condition sheets and the QGIS styles written into GeoPackages all
draw from here, so a parcel has the same colour in every output.  Pure data: no drawing library.
"""

from __future__ import annotations

#: verdict → (colour, label zh, label en)
VERDICTS: dict[str, tuple[str, str, str]] = {
    "transferable": ("#2e7d32", "可出让", "Transferable"),
    "transferable_with_warnings": ("#f9a825", "有条件可出让", "Transferable with warnings"),
    "blocked": ("#c62828", "不可出让", "Blocked"),
}
UNKNOWN_VERDICT = ("#9e9e9e", "未判定", "Unknown")

#: the urban development boundary: a heavy near-black line, unlike any network colour
URBAN_BOUNDARY_COLOR = "#111111"

#: constraint kind → (outline colour, label zh, label en)
CONSTRAINTS: dict[str, tuple[str, str, str]] = {
    "red_line": ("#b71c1c", "生态保护红线", "Ecological red line"),
    "basic_farmland": ("#8d6e63", "永久基本农田", "Basic farmland"),
    "urban_boundary": (URBAN_BOUNDARY_COLOR, "城镇开发边界", "Urban development boundary"),
    "inundation": ("#0288d1", "水库淹没区", "Reservoir inundation zone"),
    "flood": ("#01579b", "洪涝风险区", "Flood hazard zone"),
    "geohazard": ("#4e342e", "地质灾害高危险区", "Geohazard zone"),
    "park_boundary": ("#000000", "园区批准四至范围", "Approved park boundary"),
}
CUSTOM_CONSTRAINT_COLOR = "#616161"

#: network kind → (colour, label zh, label en)
NETWORKS: dict[str, tuple[str, str, str]] = {
    "road": ("#424242", "道路", "Road"),
    "water": ("#1565c0", "给水", "Water supply"),
    "sewer": ("#6d4c41", "排水", "Sewer"),
    "power": ("#ef6c00", "电力", "Power"),
    "gas": ("#fbc02d", "燃气", "Gas"),
    "heat": ("#d32f2f", "供热", "Heat"),
    "telecom": ("#7b1fa2", "通信", "Telecom"),
}
UNKNOWN_NETWORK_COLOR = "#757575"


def verdict_color(verdict: str, /) -> str:
    return VERDICTS.get(verdict, UNKNOWN_VERDICT)[0]


def network_color(kind: str, /) -> str:
    return NETWORKS.get(kind, (UNKNOWN_NETWORK_COLOR,))[0]


def constraint_color(kind: str, /) -> str:
    return CONSTRAINTS.get(kind, (CUSTOM_CONSTRAINT_COLOR,))[0]

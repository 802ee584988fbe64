"""Type aliases and literal option sets shared across landplan."""

from __future__ import annotations

from typing import Literal

BBox = tuple[float, float, float, float]

Severity = Literal["block", "warn"]
RuleAction = Literal["exclude", "require_inside", "warn"]
NetworkStatus = Literal["connected", "connectable", "needs_extension", "absent"]
Verdict = Literal["transferable", "transferable_with_warnings", "blocked"]
LayerRole = Literal["parcels", "constraint", "network"]

CONSTRAINT_KINDS = (
    "red_line",
    "basic_farmland",
    "urban_boundary",
    "inundation",
    "flood",
    "geohazard",
)
NETWORK_KINDS = ("road", "water", "sewer", "power", "gas", "heat", "telecom")

#: the label of the whole-park row in summaries (beside one row per 片区 group)
ALL_LABEL = "全部 All"

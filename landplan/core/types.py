"""Type aliases and labels shared across landplan."""

from __future__ import annotations

from typing import Literal

#: which role a vector layer plays; decides the geometry types allowed and how empties are treated
LayerRole = Literal["parcels", "constraint", "network", "features"]

#: the label of the whole-park row in summaries (beside one row per 片区 group)
ALL_LABEL = "全部 All"

"""The reason format shared by every verdict and check (transfer, indicators, register).

Light on purpose (no numpy/geopandas import), so every module and the CLI can use it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Reason:
    """One reason a parcel is blocked or carries a warning."""

    code: str
    severity: str
    value: float | None
    threshold: float | None
    unit: str
    basis: str
    message_zh: str
    message_en: str

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("value", "threshold"):
            v = d[key]
            d[key] = (
                None
                if v is None or (isinstance(v, float) and math.isnan(v))
                else round(float(v), 4)
            )
        return d

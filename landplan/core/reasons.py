"""The reason format shared by every verdict and check (transfer, indicators, register).

Light on purpose (no numpy/geopandas import), so every module and the CLI can use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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
        """Plain dict for JSON; value and threshold rounded to 4 decimals, NaN → null."""
        return {
            "code": self.code,
            "severity": self.severity,
            "value": _number(self.value),
            "threshold": _number(self.threshold),
            "unit": self.unit,
            "basis": self.basis,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


def _number(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else round(v, 4)

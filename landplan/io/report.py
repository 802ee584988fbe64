"""What validation found: one :class:`LayerReport` per input layer, each a list of :class:`Issue`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import pandas as pd


@dataclass
class Issue:
    """One finding about a layer: an error that stopped the read, a repair, or a warning."""

    code: str
    severity: str  # "error" | "repaired" | "warning"
    message: str
    count: int = 0
    feature_ids: list[str] = field(default_factory=list)


@dataclass
class LayerReport:
    """What validation found in one input layer."""

    name: str
    role: str
    path: str
    layer: str | None = None
    n_features: int = 0
    source_crs: str | None = None
    used_crs: str | None = (
        None  # the CRS the coordinates were read in (after overrides and repairs)
    )
    encoding: str | None = None
    issues: list[Issue] = field(default_factory=list)

    def add(
        self, code: str, severity: str, message: str, *, count: int = 0, ids: Sequence = ()
    ) -> None:
        self.issues.append(
            Issue(code, severity, message, int(count), [str(i) for i in list(ids)[:20]])
        )

    def to_dict(self) -> dict:
        return asdict(self)


def reports_frame(reports: Sequence[LayerReport], /) -> pd.DataFrame:
    """Flatten layer reports into one table (one row per issue)."""
    rows = [
        {
            "layer": r.name,
            "role": r.role,
            "code": i.code,
            "severity": i.severity,
            "count": i.count,
            "message": i.message,
        }
        for r in reports
        for i in r.issues
    ]
    return pd.DataFrame(rows, columns=["layer", "role", "code", "severity", "count", "message"])

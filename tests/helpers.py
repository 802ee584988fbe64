"""Constants and small builders shared by the tests."""

from __future__ import annotations

import shapely

X0, Y0 = 619_000.0, 2_977_000.0  # EPSG:4542 (CGCS2000 GK CM 99°E), near Lijiang
GK = "EPSG:4542"


def box(x: float, y: float, w: float, h: float) -> shapely.Polygon:
    """A w × h metre box whose lower-left corner is (X0 + x, Y0 + y)."""
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)

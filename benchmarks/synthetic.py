"""Seeded synthetic parcels and constraint layers for the overlay benchmark.

Everything is in EPSG:4542 (CGCS2000 3° GK, CM 99°E) around easting 619 000,
northing 2 977 000 (near Lijiang).  ``make_dataset(n)`` returns

* ``parcels`` — a jittered grid of non-overlapping quadrilaterals that tile the
  study area (cell ≈ 45 m, corners jittered ±7 m, so sides ≈ 30–60 m);
* ``red_line`` — a few hundred irregular polygons (noisy circles with 100–500
  vertices, some with holes, plus buffered random walks), overlapping each other;
* ``basic_farmland`` — a few thousand smaller noisy polygons (20–60 vertices);
* ``inundation`` — one large wavy polygon with ~2000 vertices;
* ``urban_boundary`` — one wavy super-ellipse with ~5000 vertices whose size is
  calibrated so that ~85 % of the parcels' centroids fall inside it.

Layer feature counts scale with the study area, calibrated so that the
100 000-parcel area gets 300 red-line and 3000 farmland features.

Run ``python benchmarks/synthetic.py 100000`` to print a summary.
"""

from __future__ import annotations

import math
import sys

import geopandas as gpd
import numpy as np
import shapely

CRS = "EPSG:4542"
X0, Y0 = 619_000.0, 2_977_000.0  # centre of the study area
CELL = 45.0  # grid cell (m)
JITTER = 7.0  # corner jitter (m), ±
REF_PARCELS = 100_000
RED_AT_REF, FARM_AT_REF = 300, 3000
UDB_COVER = 0.85


def _grid_shape(n: int) -> tuple[int, int]:
    nx = math.ceil(math.sqrt(n))
    ny = math.ceil(n / nx)
    return nx, ny


def make_parcels(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` quadrilaterals from a jittered (nx+1)×(ny+1) corner grid (shared corners → exact tiling)."""
    nx, ny = _grid_shape(n)
    ox, oy = X0 - nx * CELL / 2, Y0 - ny * CELL / 2
    gx, gy = np.meshgrid(
        np.arange(nx + 1) * CELL + ox, np.arange(ny + 1) * CELL + oy, indexing="xy"
    )
    gx = gx + rng.uniform(-JITTER, JITTER, gx.shape)
    gy = gy + rng.uniform(-JITTER, JITTER, gy.shape)
    corners = np.stack([gx, gy], axis=-1)  # (ny+1, nx+1, 2)
    ring = np.stack(
        [corners[:-1, :-1], corners[:-1, 1:], corners[1:, 1:], corners[1:, :-1], corners[:-1, :-1]],
        axis=2,
    )  # (ny, nx, 5, 2), counter-clockwise
    ring = ring.reshape(-1, 5, 2)[:n]
    return shapely.polygons(ring)


def _noisy_ring(cx, cy, r0, nvert, rng, *, amp=0.35, harmonics=12):
    """A star-shaped ring r(θ) = r0·(1 + Σ a_k sin(kθ+φ_k)) with r > 0 everywhere (always simple)."""
    theta = np.linspace(0.0, 2.0 * np.pi, nvert, endpoint=False)
    k = np.arange(1, harmonics + 1)
    a = rng.normal(0.0, 1.0, harmonics) / k**0.9
    phi = rng.uniform(0.0, 2.0 * np.pi, harmonics)
    wobble = (a[:, None] * np.sin(k[:, None] * theta[None, :] + phi[:, None])).sum(axis=0)
    wobble = wobble / max(np.abs(wobble).max(), 1e-9) * amp
    wobble += rng.normal(0.0, 0.015, nvert)  # small vertex noise
    r = r0 * (1.0 + wobble)
    return np.column_stack([cx + r * np.cos(theta), cy + r * np.sin(theta)]), r.min()


def _valid_polygons(geoms) -> np.ndarray:
    geoms = shapely.make_valid(np.asarray(geoms, dtype=object))
    parts = shapely.get_parts(geoms)
    parts = parts[(shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)]
    # regroup nothing: each part is its own feature (still a valid layer)
    assert shapely.is_valid(parts).all()
    return parts


def make_red_line(count: int, bounds, rng) -> np.ndarray:
    xmin, ymin, xmax, ymax = bounds
    geoms = []
    n_blob = round(count * 0.8)
    for _ in range(n_blob):
        cx, cy = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        r0 = rng.uniform(60.0, 250.0)
        outer, rmin = _noisy_ring(cx, cy, r0, int(rng.integers(100, 501)), rng)
        holes = []
        if rng.random() < 0.25:  # a hole well inside the outer ring
            hole, _ = _noisy_ring(cx, cy, 0.35 * rmin, int(rng.integers(30, 120)), rng, amp=0.2)
            holes = [hole[::-1]]
        geoms.append(shapely.Polygon(outer, holes))
    for _ in range(count - n_blob):  # buffered random walks (corridors)
        steps = int(rng.integers(20, 60))
        ang = np.cumsum(rng.normal(0.0, 0.5, steps))
        step = rng.uniform(25.0, 60.0, steps)
        x = rng.uniform(xmin, xmax) + np.concatenate([[0.0], np.cumsum(step * np.cos(ang))])
        y = rng.uniform(ymin, ymax) + np.concatenate([[0.0], np.cumsum(step * np.sin(ang))])
        geoms.append(
            shapely.LineString(np.column_stack([x, y])).buffer(rng.uniform(15.0, 50.0), quad_segs=8)
        )
    return _valid_polygons(geoms)


def make_farmland(count: int, bounds, rng) -> np.ndarray:
    xmin, ymin, xmax, ymax = bounds
    geoms = []
    for _ in range(count):
        cx, cy = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        ring, _ = _noisy_ring(
            cx, cy, rng.uniform(25.0, 90.0), int(rng.integers(20, 61)), rng, amp=0.3, harmonics=5
        )
        # stretch/rotate into field-like shapes
        sx, rot = rng.uniform(1.0, 2.5), rng.uniform(0.0, np.pi)
        d = ring - [cx, cy]
        d[:, 0] *= sx
        c, s = math.cos(rot), math.sin(rot)
        ring = np.column_stack([cx + c * d[:, 0] - s * d[:, 1], cy + s * d[:, 0] + c * d[:, 1]])
        geoms.append(shapely.Polygon(ring))
    return _valid_polygons(geoms)


def make_inundation(bounds, rng, nvert=2000) -> np.ndarray:
    xmin, ymin, xmax, ymax = bounds
    w, h = xmax - xmin, ymax - ymin
    ring, _ = _noisy_ring(
        xmin + 0.18 * w, ymin + 0.62 * h, 0.22 * min(w, h), nvert, rng, amp=0.3, harmonics=40
    )
    return _valid_polygons([shapely.Polygon(ring)])


def _udb_ring(scale, base_rx, base_ry, wob, theta):
    # super-ellipse |x/a|^4 + |y/b|^4 = 1 in polar form, with a wavy edge
    c, s = np.cos(theta), np.sin(theta)
    r = (np.abs(c / base_rx) ** 4 + np.abs(s / base_ry) ** 4) ** -0.25
    r = scale * r * (1.0 + wob)
    return np.column_stack([X0 + r * c, Y0 + r * s])


def make_udb(parcels: np.ndarray, bounds, rng, nvert=5000) -> np.ndarray:
    xmin, ymin, xmax, ymax = bounds
    rx, ry = (xmax - xmin) / 2, (ymax - ymin) / 2
    theta = np.linspace(0.0, 2.0 * np.pi, nvert, endpoint=False)
    k = np.arange(1, 61)
    a = rng.normal(0.0, 1.0, k.size) / k**0.8
    phi = rng.uniform(0.0, 2.0 * np.pi, k.size)
    wob = (a[:, None] * np.sin(k[:, None] * theta[None, :] + phi[:, None])).sum(axis=0)
    wob = wob / np.abs(wob).max() * 0.12 + rng.normal(0.0, 0.003, nvert)
    cxy = shapely.get_coordinates(shapely.centroid(parcels))
    lo, hi = 0.5, 1.5
    for _ in range(30):  # bisect the scale so that UDB_COVER of the centroids are inside
        mid = (lo + hi) / 2
        poly = shapely.Polygon(_udb_ring(mid, rx, ry, wob, theta))
        shapely.prepare(poly)
        frac = shapely.contains_xy(poly, cxy[:, 0], cxy[:, 1]).mean()
        if frac < UDB_COVER:
            lo = mid
        else:
            hi = mid
    return _valid_polygons([shapely.Polygon(_udb_ring(hi, rx, ry, wob, theta))])


def make_dataset(n: int = REF_PARCELS, seed: int = 20240601) -> dict[str, gpd.GeoDataFrame]:
    """Parcels and the four constraint layers (GeoDataFrames in EPSG:4542)."""
    rng = np.random.default_rng(seed)
    parcels = make_parcels(n, rng)
    bounds = tuple(shapely.total_bounds(parcels))
    area_ratio = n / REF_PARCELS
    n_red = max(30, round(RED_AT_REF * area_ratio))
    n_farm = max(300, round(FARM_AT_REF * area_ratio))
    layers = {
        "red_line": make_red_line(n_red, bounds, rng),
        "basic_farmland": make_farmland(n_farm, bounds, rng),
        "urban_boundary": make_udb(parcels, bounds, rng),
        "inundation": make_inundation(bounds, rng),
    }
    out = {
        "parcels": gpd.GeoDataFrame(
            {"parcel_id": np.arange(n, dtype=np.int64)}, geometry=parcels, crs=CRS
        )
    }
    for kind, geoms in layers.items():
        out[kind] = gpd.GeoDataFrame(
            {"fid": np.arange(len(geoms), dtype=np.int64)}, geometry=geoms, crs=CRS
        )
    return out


def summary(data: dict[str, gpd.GeoDataFrame]) -> str:
    p = data["parcels"]
    b = p.total_bounds
    lines = [
        f"parcels: {len(p)}  extent {b[2] - b[0]:.0f} m × {b[3] - b[1]:.0f} m  "
        f"area {p.area.sum() / 1e6:.2f} km² (bbox {(b[2] - b[0]) * (b[3] - b[1]) / 1e6:.2f} km²)"
    ]
    for kind in ("red_line", "basic_farmland", "urban_boundary", "inundation"):
        g = data[kind].geometry.values
        nv = shapely.get_num_coordinates(g)
        nh = shapely.get_num_interior_rings(g)
        lines.append(
            f"{kind:15s} features {len(g):5d}  vertices total {nv.sum():7d} (min {nv.min()}, max {nv.max()})  "
            f"with holes {int((nh > 0).sum())}  valid {bool(shapely.is_valid(g).all())}  "
            f"area {shapely.area(shapely.union_all(g)) / 1e6:.2f} km²"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else REF_PARCELS
    print(summary(make_dataset(n)))

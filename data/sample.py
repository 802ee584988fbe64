"""A deterministic synthetic sample park: 丽江金山高新区（示例）.

:func:`generate_sample` writes a complete input folder (parcels, constraints,
networks, DEM and ``manifest.toml``) for a mountain-valley industrial park near
Lijiang, Yunnan (100.2°E, 26.9°N), in CGCS2000 / 3-degree GK CM 99E (EPSG:4542).
Everything is synthetic: a rotated street grid on a N–S valley floor, blocks cut
into plots, and constraint layers placed so that every verdict the tool can give
occurs at least a few times (red-line slivers, farmland, inundation, parcels
outside the urban development boundary, a partly serviced 标准地 block in 东山片区).

Run ``python -m landplan.data.sample OUT_DIR [SEED]`` to write the folder.
"""

from __future__ import annotations

import math
import sys
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import Affine

from landplan.core.units import MU_PER_M2, ellipsoidal_area_m2

GK_CRS = "EPSG:4542"
CENTRE_LONLAT = (100.2, 26.9)
HALF_X, HALF_Y = 3000.0, 3500.0  # half extent of the park area (m)
DEM_MARGIN, DEM_CELL = 500.0, 10.0
THETA_DEG = (5.0, 10.0)  # grid rotation range
RESERVOIR = (-3150.0, 800.0, 420.0)  # centre y, semi-axes (relative metres)
HILL = (
    -900.0,
    -1700.0,
    70.0,
    180.0,
)  # centre x, centre y (relative metres), height (m), Gaussian sigma (m)
FARM_ZONES = ((-1200.0, 1150.0, 380.0, 300.0), (-900.0, -1800.0, 450.0, 330.0))
STANDARD_LAND_MU = 398.0  # 2025 Lijiang report: 398 亩 of 标准地 in 东山
NETWORK_KINDS = ("road", "water", "sewer", "power", "gas", "telecom")
DLBM_CODES = {  # 三调工作分类 codes used in the sample
    "0601": "工业用地",
    "0602": "采矿用地",
    "0508": "物流仓储用地",
    "0809": "公用设施用地",
    "0810": "公园与绿地",
}
_PIPE = {  # kind: (offset from the street centreline in m, name suffix)
    "road": (0.0, ""),
    "water": (7.0, "给水管"),
    "sewer": (-7.0, "污水管"),
    "gas": (11.0, "燃气管"),
    "telecom": (-4.0, "通信管道"),
    "power": (14.0, "10kV电力线"),
}
_DIGITS = "零一二三四五六七八九"


# ----------------------------------------------------------------------------- terrain


def _axis_x(y):
    """Easting of the valley axis (relative metres) at relative northing ``y``."""
    return 150.0 * np.sin(2.0 * np.pi * y / 9000.0 + 0.6)


def _half_width(y):
    """Half width of the flat valley floor at relative northing ``y``."""
    return 1850.0 + 120.0 * np.cos(2.0 * np.pi * y / 6000.0)


def _in_ellipse(x, y, cx, cy, a, b, scale=1.0):
    return ((x - cx) / (a * scale)) ** 2 + ((y - cy) / (b * scale)) ** 2 < 1.0


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """White noise low-passed with a Gaussian of ``sigma`` cells (FFT), unit std."""
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    out = np.fft.irfft2(np.fft.rfft2(white) * kernel, s=shape)
    return out / out.std()


def _write_dem(path: Path, e0: float, n0: float, rng: np.random.Generator) -> None:
    """Write the valley DEM: floor 2380–2420 m sloping south, sides up to ~3100 m."""
    nx = round(2 * (HALF_X + DEM_MARGIN) / DEM_CELL)
    ny = round(2 * (HALF_Y + DEM_MARGIN) / DEM_CELL)
    x = -HALF_X - DEM_MARGIN + DEM_CELL * (np.arange(nx) + 0.5)
    y = HALF_Y + DEM_MARGIN - DEM_CELL * (np.arange(ny) + 0.5)
    xx, yy = np.meshgrid(x, y)
    d = np.abs(xx - _axis_x(yy))
    w = _half_width(yy)
    r = np.maximum(d - w, 0.0)  # distance up the valley side
    z = 2400.0 + 20.0 * yy / HALF_Y + 6.0 * np.minimum(d / w, 1.0) ** 2
    z += 0.46 * (r - 150.0 * (1.0 - np.exp(-r / 150.0)))  # slope rises to ~27°
    side = np.clip(r / 300.0, 0.0, 1.0)
    z += 45.0 * side * _smooth_noise(rng, xx.shape, 30.0)
    z += 1.2 * (1.0 - side) * _smooth_noise(rng, xx.shape, 15.0)
    cy, a, b = RESERVOIR
    q = ((xx - _axis_x(cy)) / a) ** 2 + ((yy - cy) / b) ** 2
    z -= 32.0 * np.exp(-(q**2))  # flat-bottomed reservoir basin
    # a 70 m hill (山包) on the floor of 玉龙片区: parcels on its flanks are steep and costly to level
    hx, hy, height, sigma = HILL
    z += height * np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2.0 * sigma**2))
    profile = {
        "driver": "GTiff",
        "height": ny,
        "width": nx,
        "count": 1,
        "dtype": "float32",
        "crs": GK_CRS,
        "nodata": -9999.0,
        "compress": "deflate",
        "transform": Affine(
            DEM_CELL, 0.0, e0 - HALF_X - DEM_MARGIN, 0.0, -DEM_CELL, n0 + HALF_Y + DEM_MARGIN
        ),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z.astype("float32"), 1)


# ----------------------------------------------------------------------------- grid and plots


def _intervals(rng: np.random.Generator, start: float, stop: float, block: tuple, street: tuple):
    """Alternate street gaps and blocks from ``start`` to ``stop``: (lo, hi, gap_before)."""
    out, pos = [], start
    while True:
        gap = rng.uniform(*street)
        size = rng.uniform(*block)
        if pos + gap + size > stop:
            return out, pos + gap / 2.0  # centre of the closing street
        out.append((pos + gap, pos + gap + size, gap))
        pos += gap + size


def _build_grid(rng: np.random.Generator) -> dict:
    """Rotated street grid clipped to the valley floor (relative coordinates)."""
    theta = math.radians(rng.uniform(*THETA_DEG))
    eu = np.array([math.cos(theta), math.sin(theta)])
    ev = np.array([-math.sin(theta), math.cos(theta)])
    cols, u_end = _intervals(rng, -2600.0, 2600.0, (200.0, 300.0), (20.0, 40.0))
    rows_up, v_end = _intervals(rng, -3800.0, 3800.0, (150.0, 250.0), (20.0, 40.0))
    rows = rows_up[::-1]  # row 0 is the northernmost
    # street centrelines: vertical k lies west of column k, horizontal m north of row m
    u_street = [lo - gap / 2.0 for lo, _, gap in cols] + [u_end]
    v_street = [v_end] + [lo - gap / 2.0 for lo, _, gap in rows]
    blocks = {}
    for r, (v0, v1, _) in enumerate(rows):
        for c, (u0, u1, _) in enumerate(cols):
            uv = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
            xy = uv[:, :1] * eu + uv[:, 1:] * ev + rng.uniform(-2.5, 2.5, (4, 2))
            x, y = xy[:, 0], xy[:, 1]
            if (
                np.any(np.abs(x - _axis_x(y)) > _half_width(y) - 20.0)
                or np.any(np.abs(x) > HALF_X - 50.0)
                or np.any(np.abs(y) > HALF_Y - 50.0)
                or np.any(_in_ellipse(x, y, _axis_x(RESERVOIR[0]), *RESERVOIR, scale=0.78))
            ):
                continue
            cx, cy = xy.mean(axis=0)
            if any(_in_ellipse(cx, cy, *zone) for zone in FARM_ZONES):
                continue
            blocks[(r, c)] = xy
    return {
        "eu": eu,
        "ev": ev,
        "blocks": blocks,
        "u_street": u_street,
        "v_street": v_street,
        "ncol": len(cols),
        "nrow": len(rows),
    }


def _split_convex(poly: np.ndarray, p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a convex ring (k, 2) by the line through ``p`` with normal ``n``.

    The intersection points are computed once and shared by both halves, so the
    halves tile the input exactly.
    """
    s = (poly - p) @ n
    lo, hi = [], []
    k = len(poly)
    for i in range(k):
        a, b, sa, sb = poly[i], poly[(i + 1) % k], s[i], s[(i + 1) % k]
        if sa <= 0.0:
            lo.append(a)
        if sa >= 0.0:
            hi.append(a)
        if (sa < 0.0 < sb) or (sb < 0.0 < sa):
            q = a + (b - a) * (sa / (sa - sb))
            lo.append(q)
            hi.append(q)
    return np.array(lo), np.array(hi)


def _subdivide(poly, n, eu, ev, rng, *, strips=False) -> list[np.ndarray]:
    """Guillotine-cut a convex block into ``n`` plots (cuts across the long side)."""
    if n <= 1:
        return [poly]
    lu, lv = np.ptp(poly @ eu), np.ptp(poly @ ev)
    axis = ev if strips or lv > lu else eu
    n1 = n // 2 + (int(rng.integers(0, 2)) if n % 2 else 0)
    frac = float(np.clip(n1 / n * rng.uniform(0.65, 1.35), 0.1, 0.9))
    proj = poly @ axis
    t = proj.min() + frac * np.ptp(proj)
    centre = poly.mean(axis=0)
    p = centre + (t - centre @ axis) * axis
    ang = rng.normal(0.0, 0.03)
    normal = np.array(
        [
            axis[0] * math.cos(ang) - axis[1] * math.sin(ang),
            axis[0] * math.sin(ang) + axis[1] * math.cos(ang),
        ]
    )
    a, b = _split_convex(poly, p, normal)
    return _subdivide(a, n1, eu, ev, rng, strips=strips) + _subdivide(
        b, n - n1, eu, ev, rng, strips=strips
    )


def _add_junctions(rings: list[np.ndarray]) -> list[np.ndarray]:
    """Insert the T-junction vertices of neighbouring plots into each ring.

    After this, plots that share an edge carry identical vertices along it, so
    they only touch (no floating-point micro-overlaps).
    """
    pts = np.unique(np.vstack(rings), axis=0)
    out = []
    for ring in rings:
        new = []
        for a, b in zip(ring, np.roll(ring, -1, axis=0), strict=True):
            new.append(a)
            ab, rel = b - a, pts - a
            length2 = float(ab @ ab)
            t = rel @ ab / length2
            off = np.abs(ab[0] * rel[:, 1] - ab[1] * rel[:, 0]) / math.sqrt(length2)
            on = (t > 1e-9) & (t < 1.0 - 1e-9) & (off < 1e-6)
            new.extend(pts[on][np.argsort(t[on])])
        out.append(np.array(new))
    return out


def _dongshan(grid: dict) -> tuple[set, set, int]:
    """Pick the 东山片区 blocks and the 标准地 blocks inside it.

    The 标准地 block is two columns wide, lies at the east side of the valley
    around relative northing +600 m, and has 东山 reserve blocks north, south and
    east of it, so only its western street is shared with the serviced core.
    """
    blocks = grid["blocks"]
    rows_y = {r: xy[:, 1].mean() for (r, _), xy in blocks.items()}
    r_s = min(rows_y, key=lambda r: abs(rows_y[r] - 600.0))
    c_d = max(c for (r, c) in blocks if r == r_s) - 2
    std, area_m2, r = set(), 0.0, r_s
    while area_m2 * MU_PER_M2 < STANDARD_LAND_MU + 25.0:
        pair = [(r, c_d), (r, c_d + 1)]
        if not all(k in blocks for k in pair):
            raise RuntimeError("sample grid has no room for the 东山 standard-land block")
        std.update(pair)
        area_m2 += sum(float(shapely.area(shapely.polygons(blocks[k]))) for k in pair)
        r += 1
    dong = {(rr, c) for (rr, c) in blocks if r_s - 1 <= rr <= r and c >= c_d}
    return dong, std, c_d


# ----------------------------------------------------------------------------- parcels


def _parcels(grid: dict, rng: np.random.Generator, centre: tuple[float, float]) -> gpd.GeoDataFrame:
    """Subdivide blocks into plots and give them cadastral attributes."""
    eu, ev, blocks = grid["eu"], grid["ev"], grid["blocks"]
    dong, std, c_d = grid["dongshan"], grid["standard"], grid["c_d"]
    fringe_rows = sorted({r for r, _ in blocks})[:2]
    recs = []
    for (r, c), xy in sorted(blocks.items()):
        area = float(shapely.area(shapely.polygons(xy)))
        n = int(np.clip(round(rng.normal(9.5, 2.4)), 2, 12))
        n = max(n, math.ceil(area / 25000.0))
        if (r, c) in std:
            n = max(n, 5)
        rings = _subdivide(xy, n, eu, ev, rng, strips=(r, c) in std and c == c_d)
        recs.extend({"r": r, "c": c, "ring": ring} for ring in _add_junctions(rings))
    geoms = np.array([shapely.Polygon(rec["ring"] + centre) for rec in recs])
    cy = np.array([rec["ring"][:, 1].mean() for rec in recs])
    in_dong = np.array([(rec["r"], rec["c"]) in dong for rec in recs])
    in_std = np.array([(rec["r"], rec["c"]) in std for rec in recs])
    fringe = np.array([rec["r"] in fringe_rows for rec in recs])
    qy = np.where(in_dong, "东山片区", np.where(cy < -1200.0, "玉龙片区", "金山片区"))

    codes = np.array(list(DLBM_CODES))
    dlbm = rng.choice(codes, size=len(recs), p=[0.80, 0.02, 0.09, 0.05, 0.04])
    zt = rng.choice(np.array(["已出让", "在建", "储备"]), size=len(recs), p=[0.5, 0.2, 0.3])
    zt[fringe] = np.where(rng.random(int(fringe.sum())) < 0.85, "储备", "已出让")
    zt[in_dong] = "储备"
    # 标准地: fill the eastern column first, then the western one (whose plots
    # front the serviced street) from the north, up to ~398 亩
    planar = shapely.area(geoms) * MU_PER_M2
    col = np.array([rec["c"] for rec in recs])
    total = 0.0
    for i in sorted(np.flatnonzero(in_std), key=lambda i: (col[i] == c_d, i)):
        if total + planar[i] <= STANDARD_LAND_MU + 6.0:
            zt[i], dlbm[i] = "标准地", "0601"
            total += planar[i]

    counters: dict[str, int] = {}
    names = []
    for q in qy:
        counters[q] = counters.get(q, 0) + 1
        names.append(f"{q}{counters[q]}号地块")
    gdf = gpd.GeoDataFrame(
        {
            "DKBH": [f"530702-GY-{i + 1:05d}" for i in range(len(recs))],
            "DKMC": names,
            "DLBM": dlbm.astype(object),
            "ZT": zt.astype(object),
            "TBMJ": np.zeros(len(recs)),
            "QY": qy.astype(object),
        },
        geometry=geoms,
        crs=GK_CRS,
    )
    gdf["TBMJ"] = np.round(ellipsoidal_area_m2(gdf), 2)
    return gdf


# ----------------------------------------------------------------------------- constraints


def _wiggly_ring(rng, cx, cy, a, b, n=32, jitter=0.12) -> np.ndarray:
    """A star-shaped (hence valid) jittered ellipse ring."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    k = 1.0 + rng.uniform(-jitter, jitter, n)
    return np.column_stack([cx + a * k * np.cos(t), cy + b * k * np.sin(t)])


def _side_polygon(y0, y1, side, lobe_y, lobe_depth, offset=70.0):
    """A red-line polygon covering one valley side between ``y0`` and ``y1``."""
    y = np.arange(y0, y1 + 1.0, 50.0)
    inner = _axis_x(y) + side * (_half_width(y) + offset + 40.0 * np.sin(y / 400.0))
    inner -= side * lobe_depth * np.exp(-(((y - lobe_y) / 350.0) ** 2))
    outer = side * (HALF_X + 300.0)
    ring = np.vstack([np.column_stack([inner, y]), [[outer, y1], [outer, y0]]])
    return shapely.polygons(ring)


def _redlines(rng, parcels: gpd.GeoDataFrame, centre) -> tuple[gpd.GeoDataFrame, shapely.Geometry]:
    """Red lines on both sides (one with a hole, one multipart) plus 3 sliver fingers."""
    west = _side_polygon(-3300.0, 3400.0, -1.0, 1900.0, 650.0)
    hole_c = (_axis_x(-300.0) - _half_width(-300.0) - 600.0, -300.0)
    hole = shapely.polygons(_wiggly_ring(rng, *hole_c, 220.0, 200.0))
    west = shapely.difference(west, hole)
    east = shapely.union(
        _side_polygon(-2800.0, -900.0, 1.0, -1800.0, 0.0, offset=90.0),
        _side_polygon(1700.0, 3400.0, 1.0, 2900.0, 450.0, offset=90.0),
    )
    west, east = (shapely.transform(g, lambda xy: xy + centre) for g in (west, east))
    core = shapely.union(west, east)

    # fingers that touch three west-edge plots by a thin sliver (< 5 m²)
    geoms = np.asarray(parcels.geometry.values)
    tree = shapely.STRtree(geoms)
    rel = shapely.get_coordinates(shapely.centroid(geoms)) - centre
    edge_dist = rel[:, 0] - (_axis_x(rel[:, 1]) - _half_width(rel[:, 1]))
    hits = tree.query(core, predicate="intersects")
    hit_area = shapely.area(shapely.intersection(geoms[hits], core))
    wanted = 3 - int(((hit_area > 1e-6) & (hit_area < 5.0)).sum())  # incidental slivers count
    hits, fingers, used_rows = set(hits.tolist()), [], set()
    for i in np.argsort(edge_dist, kind="stable"):
        if len(fingers) >= wanted:
            break
        if i in hits or rel[i, 1] < -2500.0 or int(rel[i, 1] // 800) in used_rows:
            continue
        finger = _finger(geoms[i], west, rng)
        if finger is None:
            continue
        others = [j for j in tree.query(finger) if j != i]
        if others and shapely.area(shapely.intersection(geoms[others], finger)).sum() > 1e-9:
            continue
        fingers.append(finger)
        used_rows.add(int(rel[i, 1] // 800))
    west = shapely.union_all([west, *fingers])
    gdf = gpd.GeoDataFrame(
        {
            "HXMC": ["玉龙雪山水源涵养生态保护红线", "东山水土保持生态保护红线"],
            "HXLX": ["水源涵养", "水土保持"],
        },
        geometry=[west, east],
        crs=GK_CRS,
    )
    return gdf, core


def _finger(plot, target, rng):
    """A strip from ``plot``'s west-facing edge to ``target``, biting a < 5 m² tooth."""
    ring = np.asarray(plot.exterior.coords)[:-1]
    c = ring.mean(axis=0)
    best = None
    for k in range(len(ring)):
        p0, p1 = ring[k], ring[(k + 1) % len(ring)]
        length = float(np.hypot(*(p1 - p0)))
        if length < 40.0:
            continue
        n = np.array([p1[1] - p0[1], p0[0] - p1[0]]) / length
        if (p0 - c) @ n < 0:
            n = -n  # outward
        if best is None or n[0] < best[2][0]:
            best = (p0, p1, n, length)
    if best is None or best[2][0] > -0.9:
        return None
    p0, p1, n, length = best
    mid = (p0 + p1) / 2.0
    reach = shapely.distance(shapely.points(mid), target) + 40.0
    depth = 2.0 * rng.uniform(0.8, 4.0) / length  # triangle area = length·depth/2
    ring = np.array([p0, mid - depth * n, p1, p1 + reach * n, p0 + reach * n])
    finger = shapely.polygons(ring)
    return finger if shapely.intersects(finger, target) else None


def _farmland(rng, parcels, centre) -> gpd.GeoDataFrame:
    """Disjoint farmland patches: most in the farm zones, five over parcel edges."""
    rings = []
    for cx, cy, a, b in FARM_ZONES:
        for _ in range(9):
            t, rr = rng.uniform(0, 2 * np.pi), math.sqrt(rng.uniform(0, 1))
            px, py = cx + a * rr * math.cos(t), cy + b * rr * math.sin(t)
            rings.append(_wiggly_ring(rng, px, py, rng.uniform(70, 180), rng.uniform(60, 150), 20))
    core = np.flatnonzero(parcels["QY"].to_numpy() == "金山片区")
    for i in rng.choice(core, 5, replace=False):
        x, y = np.asarray(parcels.geometry.values[i].exterior.coords)[0] - centre
        rings.append(_wiggly_ring(rng, x, y, rng.uniform(30, 60), rng.uniform(25, 50), 16))
    built = shapely.union_all(parcels.geometry.values)
    taken, geoms = None, []
    for n_ring, ring in enumerate(rings):
        g = shapely.polygons(ring + centre)
        if n_ring < len(rings) - 5:  # farm-zone patches stay off the parcels
            g = shapely.difference(g, built)
        if taken is not None:
            g = shapely.difference(g, taken)
        if g.is_empty or g.area < 500.0:
            continue
        geoms.append(g)
        taken = g if taken is None else shapely.union(taken, g)
    n = len(geoms)
    return gpd.GeoDataFrame(
        {
            "JBNTBH": [f"JB530702-{i + 1:04d}" for i in range(n)],
            "DLMC": rng.choice(np.array(["水田", "旱地", "水浇地"]), n, p=[0.5, 0.35, 0.15]).astype(
                object
            ),
        },
        geometry=geoms,
        crs=GK_CRS,
    )


def _udb(grid: dict, redline_core, centre) -> gpd.GeoDataFrame:
    """Urban development boundary: the built-up blocks, minus red lines and a northern strip."""
    blocks = shapely.polygons([xy + centre for xy in grid["blocks"].values()])
    area = shapely.union_all(shapely.buffer(blocks, 45.0, join_style="mitre")).buffer(-20.0)
    top = min(r for r, _ in grid["blocks"])
    v_cut = np.mean([xy @ grid["ev"] for (r, _), xy in grid["blocks"].items() if r == top])
    u = np.array([-4000.0, 4000.0, 4000.0, -4000.0])
    v = np.array([v_cut - 320.0, v_cut + 320.0, -9000.0, -9000.0])  # tilted cut line
    keep = shapely.polygons(u[:, None] * grid["eu"] + v[:, None] * grid["ev"] + centre)
    area = shapely.difference(shapely.intersection(area, keep), redline_core).simplify(2.0)
    parts = [p for p in shapely.get_parts(area) if p.area > 1.0e5]
    return gpd.GeoDataFrame(
        {"name": ["丽江金山高新区城镇开发边界"] * len(parts)}, geometry=parts, crs=GK_CRS
    )


# ----------------------------------------------------------------------------- networks


def _numeral(k: int) -> str:
    """Chinese numeral for 1–99."""
    tens, ones = divmod(k, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones or not head else "")


def _segments(grid: dict) -> list[dict]:
    """Street-centreline segments with their adjacent blocks and zone."""
    blocks, eu, ev = grid["blocks"], grid["eu"], grid["ev"]
    dong = grid["dongshan"]
    fringe = set(sorted({r for r, _ in blocks})[:2])
    us, vs = grid["u_street"], grid["v_street"]
    segs = []
    for k, u in enumerate(us):  # vertical streets (经 k 路)
        for r in range(grid["nrow"]):
            segs.append(
                {
                    "vertical": True,
                    "street": k,
                    "pos": r,
                    "adj": [(r, k - 1), (r, k)],
                    "uv": [(u, vs[r]), (u, vs[r + 1])],
                }
            )
    for m, v in enumerate(vs):  # horizontal streets (纬 m 路)
        for c in range(grid["ncol"]):
            segs.append(
                {
                    "vertical": False,
                    "street": m,
                    "pos": c,
                    "adj": [(m - 1, c), (m, c)],
                    "uv": [(us[c], v), (us[c + 1], v)],
                }
            )
    out = []
    for s in segs:
        adj = [a for a in s["adj"] if a in blocks]
        if not adj:
            continue
        if all(a in dong for a in adj):
            s["zone"] = "dongshan"
        elif all(a[0] in fringe for a in adj):
            s["zone"] = "fringe"
        else:
            s["zone"] = "core"
        uv = np.array(s["uv"])
        s["xy"] = uv[:, :1] * eu + uv[:, 1:] * ev
        out.append(s)
    return out


def _status(kind: str, s: dict, grid: dict, top_street: int) -> str | None:
    """Status of one segment for one network kind (None: no line there)."""
    zone, vert, k = s["zone"], s["vertical"], s["street"]
    if zone == "dongshan":
        if kind == "power" and not vert and s["pos"] == grid["c_d"]:
            return "已建"  # power is built up to the middle of the 标准地 block
        return "规划"
    if zone == "fringe":
        if kind == "road":
            return "规划" if (not vert and k == top_street) else "已建"
        if kind == "power" or (kind == "telecom" and vert):
            return "已建"
        return None
    subset = {
        "road": True,
        "water": vert or k % 2 == 0,
        "sewer": vert or k % 2 == 1,
        "gas": (vert and (k % 2 == 0 or k == grid["c_d"])) or (not vert and k % 3 == 0),
        "telecom": vert or k % 2 == 1,
        "power": (not vert) or k % 3 == 0 or k == grid["c_d"],
    }[kind]
    return "已建" if subset else None


def _networks(grid: dict, centre) -> dict[str, gpd.GeoDataFrame]:
    """One layer per network kind; features merged per street and status."""
    segs = _segments(grid)
    top_street = min(r for r, _ in grid["blocks"])
    layers = {}
    for kind in NETWORK_KINDS:
        offset, suffix = _PIPE[kind]
        groups: dict[tuple, list] = {}
        for s in segs:
            status = _status(kind, s, grid, top_street)
            if status is None:
                continue
            a, b = s["xy"]
            d = (b - a) / np.hypot(*(b - a))
            shift = offset * np.array([-d[1], d[0]])
            groups.setdefault((s["vertical"], s["street"], status), []).append(
                np.array([a, b]) + shift + centre
            )
        names, statuses, geoms = [], [], []
        for (vert, k, status), lines in sorted(groups.items()):
            street = f"{'经' if vert else '纬'}{_numeral(k + 1)}路"
            names.append(street + suffix)
            statuses.append(status)
            geoms.append(shapely.line_merge(shapely.multilinestrings(lines)))
        if kind == "power":  # 110 kV feeder coming in over the western mountains
            west_ends = [
                s["xy"][np.argmin(s["xy"][:, 0])]
                for s in segs
                if not s["vertical"] and s["zone"] == "core"
            ]
            end = min(west_ends, key=lambda xy: abs(xy[1] - 300.0) + 0.01 * xy[0])
            bend = end - 300.0 * grid["eu"]
            line = np.array([[-HALF_X - 400.0, bend[1] + 150.0], bend, end]) + centre
            names.append("110kV金山变进线")
            statuses.append("已建")
            geoms.append(shapely.linestrings(line))
        layers[kind] = gpd.GeoDataFrame(
            {"name": names, "status": statuses}, geometry=geoms, crs=GK_CRS
        )
    return layers


# ----------------------------------------------------------------------------- writing


_MANIFEST_HEAD = """name = "丽江金山高新区（示例）"
crs = "auto"
[parcels]
path = "parcels/parcels.shp"
id_field = "DKBH"
group_field = "QY"
status_field = "ZT"
supplied_values = ["已出让", "在建"]
land_use_field = "DLBM"
[[constraints]]
kind = "red_line"
path = "eco.gpkg"
layer = "redline"
[[constraints]]
kind = "basic_farmland"
path = "farmland.zip"
[[constraints]]
kind = "urban_boundary"
path = "udb.geojson"
[[constraints]]
kind = "inundation"
path = "inundation.gpkg"
layer = "inundation"
"""

_MANIFEST_NETWORK = """[[networks]]
kind = "{kind}"
path = "networks.gpkg"
layer = "{kind}"
status_field = "status"
built_values = ["已建"]
"""


def _write_zip_shapefile(gdf: gpd.GeoDataFrame, zip_path: Path, stem: str) -> None:
    """Write ``gdf`` as a UTF-8 Shapefile zipped with its parts at the root."""
    with tempfile.TemporaryDirectory() as tmp:
        gdf.to_file(Path(tmp) / f"{stem}.shp", driver="ESRI Shapefile", encoding="UTF-8")
        (Path(tmp) / f"{stem}.cpg").write_text("UTF-8", encoding="ascii")
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for ext in ("shp", "shx", "dbf", "prj", "cpg"):
                info = zipfile.ZipInfo(f"{stem}.{ext}", date_time=(2025, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, (Path(tmp) / f"{stem}.{ext}").read_bytes())


def generate_sample(out_dir: str | Path, /, *, seed: int = 2025) -> Path:
    """Write the sample input folder and return the path of its manifest.toml.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing; existing sample files are overwritten).
    seed
        Seed of the numpy generator; the same seed gives the same attributes and
        coordinates.

    Returns
    -------
    Path
        ``out_dir / "manifest.toml"``.
    """
    out = Path(out_dir)
    (out / "parcels").mkdir(parents=True, exist_ok=True)
    for name in ("eco.gpkg", "inundation.gpkg", "networks.gpkg", "udb.geojson"):
        (out / name).unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    to_gk = Transformer.from_crs("EPSG:4490", GK_CRS, always_xy=True)
    e0, n0 = (round(v / 10.0) * 10.0 for v in to_gk.transform(*CENTRE_LONLAT))
    centre = np.array([e0, n0])

    _write_dem(out / "dem.tif", e0, n0, rng)
    grid = _build_grid(rng)
    grid["dongshan"], grid["standard"], grid["c_d"] = _dongshan(grid)
    parcels = _parcels(grid, rng, centre)
    shp = out / "parcels" / "parcels.shp"
    parcels.to_file(shp, driver="ESRI Shapefile", encoding="GBK")
    shp.with_suffix(".cpg").unlink(missing_ok=True)  # encoding must be detected

    redline, red_core = _redlines(rng, parcels, centre)
    redline.to_crs("EPSG:4490").to_file(out / "eco.gpkg", layer="redline", driver="GPKG")
    _write_zip_shapefile(_farmland(rng, parcels, centre), out / "farmland.zip", "farmland")
    udb = _udb(grid, red_core, centre).to_crs("EPSG:4326")
    udb.to_file(out / "udb.geojson", driver="GeoJSON", layer_options={"RFC7946": "YES"})
    cy, a, b = RESERVOIR
    ring = _wiggly_ring(rng, _axis_x(cy), cy, a, b * 1.15, 48, 0.06) + centre
    inundation = gpd.GeoDataFrame(
        {"name": ["金山水库淹没区"]}, geometry=[shapely.polygons(ring)], crs=GK_CRS
    )
    inundation.to_file(out / "inundation.gpkg", layer="inundation", driver="GPKG")
    for kind, layer in _networks(grid, centre).items():
        layer.to_file(out / "networks.gpkg", layer=kind, driver="GPKG")

    text = _MANIFEST_HEAD + "".join(_MANIFEST_NETWORK.format(kind=k) for k in NETWORK_KINDS)
    text += '[dem]\npath = "dem.tif"\n'
    manifest = out / "manifest.toml"
    manifest.write_text(text, encoding="utf-8")
    return manifest


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m landplan.data.sample OUT_DIR [SEED]")
    print(generate_sample(sys.argv[1], seed=int(sys.argv[2]) if len(sys.argv) == 3 else 2025))

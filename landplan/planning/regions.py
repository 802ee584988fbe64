"""Suggest park regions: an open "Locate Regions" on the workspace's suitability surface, in 亩.

Inputs are the rasters ``landplan analyze`` writes with a DEM: ``rasters/suitability.tif``
(0–100) and ``rasters/constraint_mask.tif`` (1 = hard constraint: red line, basic farmland,
inundation, outside the urban development boundary, slope above ``hard_slope_deg``).  A cell is
*free* when its mask is 0, its suitability is valid and no ``exclude`` constraint polygon touches
it (nor does it reach outside a ``require_inside`` one: the mask raster decides by cell centre,
this stricter test by any overlap); regions grow on free cells only, so a
region never contains a hard-constraint or nodata cell (三区三线 are law, not a weight).

Algorithm (deterministic for a given ``seed``):

1. **Size.** One cell is ``cell_mu = |a·e| · 3/2000`` 亩; every region has
   ``N = round(target_mu / cell_mu)`` cells, so its area is within half a cell of the target.
   ``R = sqrt(N / π)`` (cells) is the radius of a disc of that area.
2. **Seeds.** The suitability of free cells (0 elsewhere) is smoothed with an ``(2R+1)²`` moving
   mean, so high values mark places with a lot of good free land around them.  From the free
   cells in the top of that surface (the best ``max(50·n_candidates, 1 %)`` cells) ``n_candidates``
   seeds are drawn without replacement with probability proportional to the smoothed value, and
   kept only when at least ``R`` cells apart (``numpy.random.default_rng(seed)``): a stochastic
   multi-start, so another ``seed`` explores other starting points.  With ``prefer_touch_park``
   half of the seeds are drawn within ``R`` cells of the approved park boundary.  Two
   more seeds are always added: a best free cell (a small block of excellent land next to a
   wide area of good land has the lower smoothed value, yet may be the optimum) and a random
   cell of the best ``k×k`` window of free cells, ``k = ceil(√N)`` (so the region competes with
   the best square of that area).
3. **Growth.** From each seed a region grows over 4-neighbours with a priority queue; a frontier
   cell's priority is ``(1 − compactness) · s/s_max − compactness · d/R`` (``s``: suitability,
   ``d``: distance to the seed in cells; ties by cell index).  ``compactness = 0`` takes the best
   cells wherever they lead (ragged), ``1`` grows a disc clipped by the constraints.  Growth
   stops at ``N`` cells (or when the free land connected to the seed runs out: such a candidate
   is kept only if it reaches ``min_mu``).  Regions are 4-connected by construction (no slivers).
4. **Holes.** Unless ``allow_holes``, free cells enclosed by the region are added and the last
   grown cells are dropped so that the area stays within one cell of ``N`` (never above
   ``max_mu``); enclosed *constrained* cells stay holes (the boundary must not take them in).
5. **Selection.** Candidates are ranked by mean suitability (with ``prefer_touch_park`` first by
   whether they touch the approved park boundary); the best is kept, cells closer than
   ``min_distance_m + √2·cell`` to it are blocked (so polygon-to-polygon distance ≥
   ``min_distance_m``), and the next region is searched with new seeds on the remaining land.
6. **Output.** Cells → polygon with ``rasterio.features.shapes`` (4-connectivity), dissolved;
   each region is evaluated with :func:`landplan.planning.boundary.evaluate_boundary`.

See ``docs/boundary.md`` for the comparison with ArcGIS Pro's *Locate Regions*.
"""

from __future__ import annotations

import heapq
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from geopandas import GeoDataFrame, GeoSeries

from landplan.core.errors import CRSError, DataSourceError, RasterError, RegionError
from landplan.core.units import MU_PER_M2
from landplan.planning.boundary import BoundaryEvaluation, evaluate_boundary, load_context

SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True, eq=False)
class Region:
    """One suggested region: its cells, polygon, figures and boundary evaluation."""

    rank: int
    geometry: shapely.Geometry
    cells: np.ndarray  # (n, 2) row/col on the suitability grid
    n_cells: int
    cell_mu: float
    target_mu: float
    mean_suitability: float
    min_suitability: float
    seed_xy: tuple[float, float]
    touches_park: bool | None
    filled_cells: int
    evaluation: BoundaryEvaluation | None

    @property
    def area_mu(self) -> float:
        return self.n_cells * self.cell_mu


@dataclass(frozen=True)
class _Grid:
    suit: np.ndarray  # float64, NaN where not free
    free: np.ndarray  # bool
    transform: object
    cell_m2: float


def load_grid(workspace: Path, crs, /) -> _Grid:
    """Read ``suitability.tif`` and ``constraint_mask.tif`` (same grid, workspace CRS)."""
    import rasterio

    suit_path = workspace / "rasters" / "suitability.tif"
    mask_path = workspace / "rasters" / "constraint_mask.tif"
    if not suit_path.exists():
        raise DataSourceError(
            f"{suit_path} not found: region suggestions need the suitability surface; run "
            "landplan analyze with a [dem] in the manifest"
        )
    if not mask_path.exists():
        raise DataSourceError(f"{mask_path} not found; re-run landplan analyze with a [dem]")
    with rasterio.open(suit_path) as s, rasterio.open(mask_path) as m:
        if s.crs is None or not crs.equals(s.crs):
            raise CRSError(f"{suit_path.name} is in {s.crs}, the workspace in {crs}")
        if s.shape != m.shape or s.transform != m.transform:
            raise RasterError(
                f"{suit_path.name} {s.shape} and {mask_path.name} {m.shape} are not on one grid; "
                "re-run landplan analyze"
            )
        if s.transform.b != 0 or s.transform.d != 0:
            raise RasterError(f"{suit_path.name} is rotated; region growing needs a north-up grid")
        suit = s.read(1, masked=True).astype("float64").filled(np.nan)
        mask = m.read(1, masked=True)
        transform = s.transform
    free = (mask.filled(1) == 0) & np.isfinite(suit)
    suit = np.where(free, suit, np.nan)
    if not free.any():
        raise RasterError("every cell is a hard constraint or nodata: there is no free land")
    return _Grid(suit, free, transform, abs(transform.a * transform.e))


def _strict(grid: _Grid, ctx) -> _Grid:
    """Also mask every cell that the vector constraints touch at all (``all_touched``).

    ``constraint_mask.tif`` marks a cell by its centre, so a free cell could still overlap a red
    line by up to half a cell; with this stricter mask a region's polygon never overlaps an
    ``exclude`` layer nor leaves a ``require_inside`` layer (by more than rounding).
    """
    from rasterio.features import rasterize

    from landplan.analysis.constraints import dissolve

    shape, tf = grid.free.shape, grid.transform
    extent = shapely.box(*_bounds(tf, shape)).buffer(tf.a)
    touched = np.zeros(shape, dtype=bool)
    for kind, layer in ctx.constraints.items():
        action = ctx.policy.rule_for(kind).action
        union = dissolve(layer.geometry.values)
        if action == "require_inside":
            union = shapely.difference(extent, union)
        elif action != "exclude":
            continue
        if union.is_empty:
            continue
        touched |= rasterize(
            [union],
            out_shape=shape,
            transform=tf,
            fill=0,
            default_value=1,
            dtype="uint8",
            all_touched=True,
        ).astype(bool)
    free = grid.free & ~touched
    if not free.any():
        raise RasterError("every cell touches a hard constraint: there is no free land")
    return _Grid(np.where(free, grid.suit, np.nan), free, tf, grid.cell_m2)


def _bounds(tf, shape) -> tuple[float, float, float, float]:
    x0, y0 = tf @ (0, 0)
    x1, y1 = tf @ (shape[1], shape[0])
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def suggest_regions(
    workspace_dir,
    /,
    *,
    target_mu: float,
    n_regions: int = 1,
    min_mu: float | None = None,
    max_mu: float | None = None,
    min_distance_m: float = 0.0,
    prefer_touch_park: bool = False,
    compactness: float = 0.5,
    seed: int = 0,
    n_candidates: int = 12,
    allow_holes: bool = False,
    policy=None,
    evaluate: bool = True,
) -> list[Region]:
    """Grow ``n_regions`` contiguous regions of ``target_mu`` 亩 each (see the module docstring).

    Returns the regions best first; fewer than ``n_regions`` (with a ``RuntimeWarning``) when
    the free land or ``min_distance_m`` leaves no room for more.
    """
    ctx = load_context(workspace_dir, policy=policy)
    if not 0.0 <= compactness <= 1.0:
        raise RegionError(f"compactness must be within 0–1, got {compactness}")
    if n_regions < 1 or n_candidates < 1:
        raise RegionError("n_regions and n_candidates must be at least 1")
    if min_distance_m < 0:
        raise RegionError(f"min_distance_m must be ≥ 0, got {min_distance_m}")
    grid = _strict(load_grid(ctx.path, ctx.crs), ctx)
    cell_mu = grid.cell_m2 * MU_PER_M2
    n = round(target_mu / cell_mu)
    if n < 1:
        raise RegionError(
            f"target {target_mu} 亩 is smaller than one cell ({cell_mu:.4f} 亩); ask for more"
        )
    min_cells = n if min_mu is None else max(1, math.ceil(min_mu / cell_mu - 1e-9))
    max_cells = n if max_mu is None else math.floor(max_mu / cell_mu + 1e-9)
    if not min_cells <= n <= max_cells:
        raise RegionError(f"need min_mu ≤ target_mu ≤ max_mu, got {min_mu}, {target_mu}, {max_mu}")
    if n > int(grid.free.sum()):
        raise RegionError(
            f"target {target_mu} 亩 ({n} cells) exceeds all free land "
            f"({grid.free.sum() * cell_mu:.1f} 亩) outside the hard constraints"
        )
    park = _park_cells(ctx, grid) if prefer_touch_park else None
    radius = math.sqrt(n / math.pi)
    rng = np.random.default_rng(seed)
    s_max = float(np.nanmax(grid.suit)) or 1.0
    norm = np.where(grid.free, grid.suit / s_max, 0.0)
    smoothed = _smooth(norm, radius)
    available = grid.free.copy()
    cell = math.sqrt(grid.cell_m2)
    chosen: list[tuple[np.ndarray, float, float, bool | None, int, tuple[int, int]]] = []
    for _ in range(n_regions):
        seeds = _draw_seeds(smoothed, available, radius, n_candidates, rng, park)
        seeds += [rc for rc in _fixed_seeds(norm, available, n, rng) if rc not in seeds]
        best = None
        for rc in seeds:
            cand = _candidate(
                rc, norm, grid, available, n, min_cells, max_cells, compactness, radius, allow_holes
            )
            if cand is None:
                continue
            cells, filled = cand
            vals = grid.suit[cells[:, 0], cells[:, 1]]
            touches = _touches(cells, park) if park is not None else None
            key = (bool(touches) if prefer_touch_park else 0, float(vals.mean()), -rc[0], -rc[1])
            if best is None or key > best[0]:
                best = (key, cells, float(vals.mean()), float(vals.min()), touches, filled, rc)
        if best is None:
            break
        _, cells, mean, vmin, touches, filled, rc = best
        chosen.append((cells, mean, vmin, touches, filled, rc))
        available &= ~_blocked(cells, grid.free.shape, min_distance_m / cell + SQRT2)
    if not chosen:
        raise RegionError(
            f"no contiguous region of {target_mu} 亩 fits in the free land; lower target_mu, set "
            "min_mu, or check the constraint mask"
        )
    if len(chosen) < n_regions:
        warnings.warn(
            f"only {len(chosen)} of {n_regions} regions fit (free land / min_distance_m)",
            RuntimeWarning,
            stacklevel=2,
        )
    out = []
    for rank, (cells, mean, vmin, touches, filled, rc) in enumerate(chosen, start=1):
        geom = cells_to_polygon(cells, grid.transform, grid.free.shape)
        x, y = grid.transform @ (rc[1] + 0.5, rc[0] + 0.5)
        ev = evaluate_boundary(GeoSeries([geom], crs=ctx.crs), ctx) if evaluate else None
        out.append(
            Region(
                rank,
                geom,
                cells,
                len(cells),
                cell_mu,
                target_mu,
                mean,
                vmin,
                (x, y),
                touches,
                filled,
                ev,
            )
        )
    return out


# --------------------------------------------------------------------------- steps


def _smooth(norm: np.ndarray, radius: float) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    size = max(3, 2 * round(radius) + 1)
    return uniform_filter(norm, size=size, mode="constant", cval=0.0)


def _park_cells(ctx, grid: _Grid) -> np.ndarray:
    from rasterio.features import rasterize

    if ctx.park is None or len(ctx.park) == 0:
        raise RegionError(
            "prefer_touch_park needs the approved park boundary: add a constraint layer of kind "
            "park_boundary to the workspace"
        )
    geoms = [g for g in ctx.park.geometry.values if g is not None and not g.is_empty]
    return rasterize(
        geoms,
        out_shape=grid.free.shape,
        transform=grid.transform,
        fill=0,
        default_value=1,
        dtype="uint8",
    ).astype(bool)


def _draw_seeds(smoothed, available, radius, k, rng, park) -> list[tuple[int, int]]:
    """``k`` seed cells from the top of the smoothed surface, ≥ ``radius`` cells apart."""
    pools = [available]
    if park is not None:
        from scipy.ndimage import distance_transform_edt

        near = distance_transform_edt(~park) <= radius + 1
        pools = [available & near, available]
    seeds: list[tuple[int, int]] = []
    quota = [k - k // 2, k // 2] if park is not None else [k]
    for pool, want in zip(pools, quota, strict=True):
        idx = np.flatnonzero(pool)
        if len(idx) == 0 or want == 0:
            continue
        vals = smoothed.ravel()[idx]
        top = max(50 * k, len(idx) // 100, 1)
        order = np.argsort(-vals, kind="stable")[:top]
        idx, vals = idx[order], vals[order]
        weights = vals - vals.min() + 1e-6
        draw = rng.choice(
            len(idx), size=min(len(idx), 8 * want), replace=False, p=weights / weights.sum()
        )
        ncols = smoothed.shape[1]
        taken = 0
        for j in draw:
            r, c = divmod(int(idx[j]), ncols)
            if all((r - a) ** 2 + (c - b) ** 2 >= radius**2 for a, b in seeds):
                seeds.append((r, c))
                taken += 1
                if taken == want:
                    break
    return seeds


def _fixed_seeds(norm, available, n, rng) -> list[tuple[int, int]]:
    """A best available cell and a cell of the best ``k×k`` all-available window (``rng`` picks
    among tied best cells and within the window, so another ``seed`` starts elsewhere in it)."""
    from scipy.ndimage import uniform_filter

    if not available.any():
        return []
    ncols = norm.shape[1]
    vals = np.where(available, norm, -1.0)
    top = np.flatnonzero(vals.ravel() >= vals.max() - 1e-12)
    out = [divmod(int(top[rng.integers(len(top))]), ncols)]
    k = math.ceil(math.sqrt(n))
    if k <= min(norm.shape):
        share = uniform_filter(available.astype("float32"), size=k, mode="constant")
        mean = uniform_filter(
            np.where(available, norm, 0.0).astype("float32"), size=k, mode="constant"
        )
        mean[share < 1.0 - 0.5 / (k * k)] = -1.0
        i = int(np.argmax(mean))
        if mean.ravel()[i] >= 0.0:
            r, c = divmod(i, ncols)  # centre of the window (uniform_filter's origin)
            r0, c0 = r - k // 2, c - k // 2
            out.append((r0 + int(rng.integers(k)), c0 + int(rng.integers(k))))
    return [(int(r), int(c)) for r, c in out]


def grow(seed_rc, norm, available, n, compactness, radius) -> np.ndarray:
    """Cells (flat indices) in growth order from ``seed_rc``; at most ``n``, 4-neighbours only."""
    rows, cols = available.shape
    r0, c0 = seed_rc
    w_s, w_d = 1.0 - compactness, compactness / max(radius, 1e-9)
    flat_norm, flat_av = norm.ravel(), available.ravel()
    start = r0 * cols + c0
    heap = [(0.0, start)]
    seen = {start}
    order: list[int] = []
    while heap and len(order) < n:
        _, i = heapq.heappop(heap)
        order.append(i)
        r, c = divmod(i, cols)
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < rows and 0 <= cc < cols:
                j = rr * cols + cc
                if j not in seen and flat_av[j]:
                    seen.add(j)
                    d = math.hypot(rr - r0, cc - c0)
                    heapq.heappush(heap, (-(w_s * flat_norm[j] - w_d * d), j))
    return np.asarray(order, dtype=np.int64)


def _candidate(
    rc, norm, grid, available, n, min_cells, max_cells, compactness, radius, allow_holes
):
    order = grow(rc, norm, available, n, compactness, radius)
    if len(order) < min_cells:
        return None
    cols = grid.free.shape[1]
    if allow_holes:
        return np.column_stack(np.divmod(order, cols)), 0
    k = len(order)
    best = None
    for _ in range(30):
        cells, filled = _with_holes_filled(order[:k], available, cols)
        size = len(cells)
        if size <= max_cells and (best is None or size > len(best[0])):
            best = (cells, filled)
        if size == len(order) or (size <= max_cells and size >= len(order) - 1):
            break
        step = size - len(order)
        k = max(1, k - step) if step > 0 else min(len(order), k + 1)
    if best is None or len(best[0]) < len(order) - 1:
        return np.column_stack(np.divmod(order, cols)), 0  # cannot fill within bounds: keep holes
    return best


def _with_holes_filled(flat: np.ndarray, available: np.ndarray, cols: int):
    from scipy.ndimage import binary_fill_holes

    r, c = np.divmod(flat, cols)
    r0, r1, c0, c1 = r.min(), r.max() + 1, c.min(), c.max() + 1
    crop = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    crop[r - r0, c - c0] = True
    holes = binary_fill_holes(crop) & ~crop & available[r0:r1, c0:c1]
    hr, hc = np.nonzero(holes)
    cells = np.column_stack([np.concatenate([r, hr + r0]), np.concatenate([c, hc + c0])])
    return cells, len(hr)


def _touches(cells: np.ndarray, park: np.ndarray) -> bool:
    rows, cols = park.shape
    for dr, dc in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
        rr, cc = cells[:, 0] + dr, cells[:, 1] + dc
        ok = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        if park[rr[ok], cc[ok]].any():
            return True
    return False


def _blocked(cells: np.ndarray, shape, dist_cells: float) -> np.ndarray:
    """Cells whose centre is closer than ``dist_cells`` to a region cell (and the region itself)."""
    from scipy.ndimage import distance_transform_edt

    pad = math.ceil(dist_cells) + 1
    r0, c0 = max(cells[:, 0].min() - pad, 0), max(cells[:, 1].min() - pad, 0)
    r1 = min(cells[:, 0].max() + pad + 1, shape[0])
    c1 = min(cells[:, 1].max() + pad + 1, shape[1])
    crop = np.ones((r1 - r0, c1 - c0), dtype=bool)
    crop[cells[:, 0] - r0, cells[:, 1] - c0] = False
    out = np.zeros(shape, dtype=bool)
    out[r0:r1, c0:c1] = distance_transform_edt(crop) < dist_cells
    return out


def cells_to_polygon(cells: np.ndarray, transform, shape) -> shapely.Geometry:
    """The cells as one dissolved (multi)polygon in map coordinates (4-connectivity)."""
    from rasterio.features import shapes
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    r0, c0 = cells[:, 0].min(), cells[:, 1].min()
    h, w = cells[:, 0].max() - r0 + 1, cells[:, 1].max() - c0 + 1
    crop = np.zeros((h, w), dtype=np.uint8)
    crop[cells[:, 0] - r0, cells[:, 1] - c0] = 1
    tf = window_transform(Window(c0, r0, w, h), transform)
    polys = [
        shapely.geometry.shape(g)
        for g, v in shapes(crop, mask=crop == 1, connectivity=4, transform=tf)
        if v == 1
    ]
    geom = shapely.union_all(polys)
    return geom if geom.is_valid else shapely.make_valid(geom)


def regions_frame(regions: list[Region], crs, /) -> GeoDataFrame:
    """One row per region: rank, 亩, suitability and the evaluation's key figures."""
    rows = []
    for r in regions:
        row = {
            "rank": r.rank,
            "n_cells": r.n_cells,
            "area_mu": r.area_mu,
            "target_mu": r.target_mu,
            "mean_suitability": r.mean_suitability,
            "min_suitability": r.min_suitability,
            "seed_x": r.seed_xy[0],
            "seed_y": r.seed_xy[1],
            "touches_park": r.touches_park,
            "filled_cells": r.filled_cells,
        }
        if r.evaluation is not None:
            row |= {f"eval_{k}": v for k, v in r.evaluation.key_figures().items()}
        rows.append(row)
    return GeoDataFrame(rows, geometry=[r.geometry for r in regions], crs=crs)


# --------------------------------------------------------------------------- snapping


@dataclass(frozen=True, eq=False)
class SnapResult:
    """A region snapped to whole parcels, and how much area that adds or drops (亩)."""

    parcel_ids: tuple[str, ...]
    geometry: shapely.Geometry  # union of the parcels taken (empty when none)
    region_mu: float
    snapped_mu: float
    difference_mu: float  # snapped − region
    added_mu: float  # parcel area outside the region
    dropped_mu: float  # region area not covered by the parcels taken
    min_share: float
    evaluation: BoundaryEvaluation | None


def snap_to_parcels(
    region, workspace_dir, /, *, min_share: float = 0.5, evaluate: bool = True
) -> SnapResult:
    """The whole ``result_parcels`` with at least ``min_share`` of their area inside ``region``.

    ``region`` is a :class:`Region`, a shapely geometry in the workspace CRS, or anything
    :func:`landplan.planning.boundary.read_boundary` reads.  The snapped boundary may take in
    constrained land that the region avoided; its evaluation says so.
    """
    from landplan.analysis.constraints import subdivide
    from landplan.planning.boundary import boundary_geometry, inside_shares, read_boundary

    if not 0.0 < min_share <= 1.0:
        raise RegionError(f"min_share must be within (0, 1], got {min_share}")
    ctx = load_context(workspace_dir)
    if ctx.parcels is None or len(ctx.parcels) == 0:
        raise RegionError("the workspace has no result_parcels to snap to")
    if isinstance(region, Region):
        geom = region.geometry
    elif isinstance(region, shapely.Geometry):
        geom = region
    else:
        geom = boundary_geometry(read_boundary(region, ctx.crs))
    share = inside_shares(ctx.parcels, subdivide(np.array([geom])))
    take = share >= min_share - 1e-9
    parcels = ctx.parcels.loc[take]
    union = shapely.union_all(np.asarray(parcels.geometry.values, dtype=object))
    region_m2 = float(geom.area)
    snapped_m2 = float(union.area) if not union.is_empty else 0.0
    common = float(shapely.intersection(union, geom).area) if snapped_m2 else 0.0
    ev = None
    if evaluate and snapped_m2 > 0:
        ev = evaluate_boundary(GeoSeries([union], crs=ctx.crs), ctx)
    return SnapResult(
        tuple(parcels["parcel_id"].astype(str)),
        union,
        region_m2 * MU_PER_M2,
        snapped_m2 * MU_PER_M2,
        (snapped_m2 - region_m2) * MU_PER_M2,
        (snapped_m2 - common) * MU_PER_M2,
        (region_m2 - common) * MU_PER_M2,
        min_share,
        ev,
    )

"""suggest_regions against provable optima and a baseline; evaluate_boundary/suggest_regions on bad input.

Workspaces here are the smallest that ``suggest_regions`` reads: ``landplan-workspace.json``,
``workspace.gpkg`` (a study-area layer, optionally ``constraint_red_line``),
``rasters/suitability.tif`` and ``rasters/constraint_mask.tif`` on a 10 m grid (1 cell = 0.15 亩).
"""

from __future__ import annotations

import json
import math
import warnings
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from scipy.ndimage import gaussian_filter, zoom

from landplan.core.errors import CRSError, GeometryError, RegionError
from landplan.planning.boundary import evaluate_boundary
from landplan.planning.regions import suggest_regions
from tests.helpers import GK

CELL = 10.0
CELL_MU = CELL * CELL * 3 / 2000  # 0.15 亩
ULX, ULY = 619_000.0, 2_978_000.0  # upper-left corner of every grid
DEADLINE_S = 120  # a guard against hangs (the calls take well under a second), not a timing test


def within_deadline(fn, /, *args, **kwargs):
    """Run ``fn`` in a worker thread; a hang fails the test instead of blocking the run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result(timeout=DEADLINE_S)


def write_ws(path, suit: np.ndarray, mask: np.ndarray, red_line=None):
    """Minimal workspace at ``path`` for the float surface ``suit`` and the 0/1 ``mask``."""
    (path / "rasters").mkdir(parents=True)
    rows, cols = suit.shape
    tf = from_origin(ULX, ULY, CELL, CELL)
    prof = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 1,
        "crs": GK,
        "transform": tf,
    }
    with rasterio.open(path / "rasters" / "suitability.tif", "w", dtype="float32", **prof) as d:
        d.write(suit.astype("float32"), 1)
    with rasterio.open(path / "rasters" / "constraint_mask.tif", "w", dtype="uint8", **prof) as d:
        d.write(mask.astype("uint8"), 1)
    extent = shapely.box(ULX, ULY - rows * CELL, ULX + cols * CELL, ULY)
    gpkg = path / "workspace.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame(geometry=[extent], crs=GK), gpkg, layer="study_area")
    if red_line is not None:
        pyogrio.write_dataframe(
            gpd.GeoDataFrame(geometry=[red_line], crs=GK), gpkg, layer="constraint_red_line"
        )
    meta = {"format_version": 1, "name": "optimum test", "crs": GK}
    (path / "landplan-workspace.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


def cell_box(r0: int, c0: int, r1: int, c1: int, inset: float = 0.0) -> shapely.Polygon:
    """Map polygon of rows r0..r1-1, cols c0..c1-1 (shrunk by ``inset`` metres)."""
    return shapely.box(
        ULX + c0 * CELL + inset,
        ULY - r1 * CELL + inset,
        ULX + c1 * CELL - inset,
        ULY - r0 * CELL - inset,
    )


def cell_set(cells: np.ndarray) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in cells}


def irregular_block() -> np.ndarray:
    """A plus with an L-shaped tail (4-connected, no holes), as a 0/1 array of 80 × 80."""
    b = np.zeros((80, 80), dtype=bool)
    b[30:50, 37:43] = True  # vertical bar 20 × 6
    b[37:43, 28:52] = True  # horizontal bar 6 × 24
    b[50:56, 40:43] = True  # tail down
    b[53:56, 43:50] = True  # tail right
    return b


# --------------------------------------------------------------------------- provable optima


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_plateau_of_exactly_n_cells_is_returned(tmp_path, seed):
    """Surface 0 except an irregular plateau of N cells at 100; target = N cells.

    The plateau is the unique N-cell set with mean 100 (any other N-cell set holds a 0 cell), so
    it is the optimum.  With ``compactness = 0`` growth from a seed on the plateau takes every
    plateau cell before any 0 cell (it is 4-connected), so that candidate is exactly the
    optimum and wins the selection.  (With ``compactness > 0`` a plateau cell farther than
    ``R·(1−c)/c`` beyond a 0 cell loses to it by design: the tail here is not returned at 0.5.)
    """
    compactness = 0.0
    block = irregular_block()
    n = int(block.sum())
    suit = np.where(block, 100.0, 0.0)
    mask = np.zeros(block.shape, dtype=np.uint8)
    mask[5:20, 5:70] = 1  # masked land elsewhere
    mask[60:75, 5:25] = 1
    ws = write_ws(tmp_path / "ws", suit, mask)
    region = within_deadline(
        suggest_regions, ws, target_mu=n * CELL_MU, seed=seed, compactness=compactness
    )[0]
    assert region.n_cells == n
    assert cell_set(region.cells) == cell_set(np.argwhere(block))
    assert region.mean_suitability == pytest.approx(100.0)
    assert region.geometry.area == pytest.approx(n * CELL * CELL)
    assert region.evaluation.compliant


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimum_beside_a_red_line_strip_is_not_crossed(tmp_path, seed):
    """A 12 × 15 block at 100 touches a 2-column red-line strip; past the strip the land is 90.

    Crossing the strip would add no cell above 100, so the optimum is the block; the region must
    be exactly the block and never enter the strip (raster mask and vector red line).
    """
    suit = np.zeros((80, 80))
    suit[30:42, 25:40] = 100.0  # the block: rows 30–41, cols 25–39 (180 cells)
    suit[20:60, 42:75] = 90.0  # good land across the strip
    mask = np.zeros((80, 80), dtype=np.uint8)
    mask[:, 40:42] = 1  # red-line strip, cols 40–41, touching the block's east edge
    strip = cell_box(0, 40, 80, 42, inset=1.0)  # the vector red line, 1 m inside the strip cells
    ws = write_ws(tmp_path / "ws", suit, mask, red_line=strip)
    region = within_deadline(
        suggest_regions, ws, target_mu=180 * CELL_MU, seed=seed, compactness=0.0
    )[0]
    block = {(r, c) for r in range(30, 42) for c in range(25, 40)}
    assert cell_set(region.cells) == block
    assert not (mask[region.cells[:, 0], region.cells[:, 1]]).any()
    assert not region.geometry.intersects(strip)
    assert region.geometry.distance(strip) == pytest.approx(1.0)
    assert region.evaluation.excluded_m2 == pytest.approx(0.0)
    assert region.evaluation.compliant


# --------------------------------------------------------------------------- baseline


def smooth_surface(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = n // 30
    g = zoom(gaussian_filter(rng.normal(size=(m + 2, m + 2)), 1.0), n / m, order=1)[:n, :n]
    suit = (g - g.min()) / (g.max() - g.min()) * 90 + rng.uniform(0, 10, (n, n))
    b = zoom(gaussian_filter(rng.normal(size=(m + 2, m + 2)), 1.0), n / m, order=1)[:n, :n]
    mask = (b > np.quantile(b, 0.75)).astype(np.uint8)
    mask[n // 3 : n // 3 + 2, :] = 1  # a red-line strip
    return suit, mask


def best_square_mean(suit: np.ndarray, free: np.ndarray, k: int) -> float:
    """Highest mean over k × k windows containing free cells only (integral images)."""
    s = np.pad(np.where(free, suit, 0.0), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    c = np.pad(free.astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    win_s = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    win_c = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return float(np.where(win_c == k * k, win_s, -np.inf).max()) / (k * k)


#: the region is a heuristic and NOT provably ≥ the best square (the square also holds 2.4 % more
#: cells here; with compactness 0.5 the region trades suitability for roundness).  Measured on
#: seeds 11–15 (region − square, suitability points): +0.22, +0.61, +1.04, +1.15, −0.36.  The
#: tolerance guards against regressions (before the best-window seed, seed 12 was −1.1); it is not
#: a proof.  benchmarks/bench_regions.py reports the same comparison at 2000²–8000².
SQUARE_TOLERANCE = 1.0


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_region_is_at_least_about_as_good_as_the_best_square(tmp_path, seed):
    suit, mask = smooth_surface(300, seed)
    ws = write_ws(tmp_path / "ws", suit, mask)
    target_cells = 1000
    region = within_deadline(
        suggest_regions, ws, target_mu=target_cells * CELL_MU, seed=0, evaluate=False
    )[0]
    k = math.ceil(math.sqrt(target_cells))
    square = best_square_mean(suit.astype("float32").astype(float), mask == 0, k)
    assert region.n_cells == target_cells
    assert region.mean_suitability >= square - SQUARE_TOLERANCE, (region.mean_suitability, square)


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def plain_ws(tmp_path):
    suit, mask = smooth_surface(120, 5)
    strip = cell_box(40, 0, 42, 120, inset=1.0)
    return write_ws(tmp_path / "ws", suit, mask, red_line=strip)


def test_bow_tie_is_repaired_with_a_warning(plain_ws):
    x, y = ULX + 100, ULY - 900
    bow_tie = shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100), (x, y)])
    assert not bow_tie.is_valid
    ev = within_deadline(evaluate_boundary, gpd.GeoSeries([bow_tie], crs=GK), plain_ws)
    assert ev.gross_m2 == pytest.approx(5_000.0)  # two triangles of 2 500 m²
    assert ev.n_parts == 2
    repaired = [r for r in ev.reasons if r.code == "BOUNDARY_REPAIRED"]
    assert len(repaired) == 1 and repaired[0].severity == "warn" and repaired[0].value == 1
    assert any("make_valid" in n for n in ev.notes)
    valid = evaluate_boundary(
        gpd.GeoSeries([shapely.box(x, y, x + 100, y + 100)], crs=GK), plain_ws
    )
    assert "BOUNDARY_REPAIRED" not in {r.code for r in valid.reasons}


def test_empty_boundary_raises(plain_ws):
    for empty in (
        gpd.GeoSeries([shapely.Polygon()], crs=GK),
        gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=GK)),
        gpd.GeoSeries([None], crs=GK),
    ):
        with pytest.raises(GeometryError, match="no polygon with an area"):
            within_deadline(evaluate_boundary, empty, plain_ws)


def test_wrong_crs_and_far_away_boundaries_name_the_problem(plain_ws):
    gk_box = shapely.box(ULX + 100, ULY - 900, ULX + 600, ULY - 400)
    with pytest.raises(CRSError, match=r"EPSG:4490.*look projected"):
        within_deadline(evaluate_boundary, gpd.GeoSeries([gk_box], crs="EPSG:4490"), plain_ws)
    far = shapely.box(ULX + 500_000, ULY - 900, ULX + 500_500, ULY - 400)
    with pytest.raises(CRSError, match="does not overlap the workspace"):
        within_deadline(evaluate_boundary, gpd.GeoSeries([far], crs=GK), plain_ws)
    # GK metres of another zone (EPSG:4545, CM 108°E) land ~900 km east: also refused
    with pytest.raises(CRSError, match="does not overlap the workspace"):
        within_deadline(evaluate_boundary, gpd.GeoSeries([gk_box], crs="EPSG:4545"), plain_ws)


def test_target_larger_than_the_free_land(plain_ws):
    with rasterio.open(plain_ws / "rasters" / "constraint_mask.tif") as m:
        free = m.read(1) == 0
    free_mu = float(free.sum()) * CELL_MU
    with pytest.raises(RegionError, match=r"exceeds all free land \(\d+\.\d 亩\)"):
        within_deadline(suggest_regions, plain_ws, target_mu=free_mu + 10 * CELL_MU)


def test_target_larger_than_any_connected_free_patch(tmp_path):
    """Two 20 × 20 free patches (60 亩 each): 90 亩 fits in neither; min_mu gives a partial region."""
    suit = np.full((50, 50), 50.0)
    mask = np.ones((50, 50), dtype=np.uint8)
    mask[2:22, 2:22] = 0
    mask[28:48, 28:48] = 0
    ws = write_ws(tmp_path / "ws", suit, mask)
    with pytest.raises(RegionError, match=r"no contiguous region of 90\.0 亩"):
        within_deadline(suggest_regions, ws, target_mu=90.0, evaluate=False)
    part = within_deadline(suggest_regions, ws, target_mu=90.0, min_mu=50.0, evaluate=False)[0]
    assert part.n_cells == 400  # a whole patch: the largest region that fits
    assert part.area_mu == pytest.approx(60.0)


def test_impossible_min_distance_gives_a_partial_answer_with_a_warning(plain_ws):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = within_deadline(
            suggest_regions,
            plain_ws,
            target_mu=30.0,
            n_regions=2,
            min_distance_m=5_000.0,  # the grid is 1.2 km wide
            evaluate=False,
        )
    assert len(got) == 1
    assert any("only 1 of 2 regions fit" in str(w.message) for w in caught)

"""Slope, aspect and relief against gdaldem on real DEMs, hand cases and brute force."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.transform import from_origin

from landplan.core.errors import CRSError, DataSourceError, RasterError
from landplan.raster import terrain
from landplan.raster.grid import NODATA_OUT, has_data, plan_blocks
from tests.helpers import GK, X0, Y0

TOL_DEG = 1e-3


def write_dem(path: Path, z: np.ndarray, cx: float, cy: float, *, crs=GK, nodata=-9999.0) -> Path:
    with rasterio.open(
        path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
        dtype=z.dtype, crs=crs, transform=from_origin(X0, Y0 + 50_000, cx, cy), nodata=nodata,
    ) as ds:  # fmt: skip
        ds.write(z, 1)
    return path


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def gdaldem(*args: str | Path) -> None:
    exe = shutil.which("gdaldem")
    assert exe, "gdaldem (Debian gdal-bin) is required; .ci/run installs it"
    subprocess.run([exe, *map(str, args), "-q"], check=True)


@pytest.fixture(scope="module")
def real_dems(tmp_path_factory) -> dict[str, Path]:
    """Two real DEMs shipped with matplotlib, written as projected GeoTIFFs.

    * jacksboro: USGS 3″ DEM of the Jacksboro fault (Tennessee), int16, 344×403; its
      3″ spacing at 36.6°N is 74.27 m (x) × 92.67 m (y): non-square cells.  Also written
      with square 30 m cells (for aspect, which gdaldem computes without cell sizes).
    * topobathy: 1′ topography/bathymetry off Vancouver Island, float32, 91×120, ~2.4 km cells.
    """
    from matplotlib import cbook

    d = tmp_path_factory.mktemp("dems")
    jb = cbook.get_sample_data("jacksboro_fault_dem.npz")
    z = np.asarray(jb["elevation"], np.int16)
    cy = 111_200 * float(jb["dy"])
    cx = 111_200 * float(jb["dx"]) * np.cos(np.radians(float(jb["ymin"])))
    tb = cbook.get_sample_data("topobathy.npz")
    topo = np.asarray(tb["topo"], np.float32)[::-1]  # latitude ascends: flip to north-up
    return {
        "jacksboro": write_dem(d / "jacksboro.tif", z, cx, cy, nodata=-32768),
        "jacksboro_sq": write_dem(d / "jacksboro_sq.tif", z, 30.0, 30.0, nodata=-32768),
        "topobathy": write_dem(d / "topobathy.tif", topo, 2431.0, 2431.0),
    }


def assert_agrees(mine: np.ndarray, ref: np.ndarray, *, angle: bool = False, tol: float = TOL_DEG):
    """Same nodata cells, and values within ``tol`` where both have one."""
    m_nd, r_nd = mine == NODATA_OUT, ref == NODATA_OUT
    assert np.array_equal(m_nd, r_nd), f"{int((m_nd != r_nd).sum())} cells differ in nodata"
    both = ~m_nd
    assert both.sum() > 0.5 * mine.size
    diff = np.abs(mine[both].astype(float) - ref[both])
    if angle:
        diff = np.minimum(diff, 360 - diff)
    assert diff.max() < tol, f"max difference {diff.max()}"


# --------------------------------------------------------------------------- slope / aspect


@pytest.mark.parametrize("dem", ["jacksboro", "topobathy"])
@pytest.mark.parametrize("alg", ["horn", "zevenbergenthorne"])
@pytest.mark.parametrize("edges", [False, True])
def test_slope_matches_gdaldem_on_real_dems(real_dems, tmp_path, dem, alg, edges):
    src = real_dems[dem]
    flags = ["-alg", "ZevenbergenThorne"] if alg != "horn" else []
    flags += ["-compute_edges"] if edges else []
    gdaldem("slope", *flags, src, tmp_path / "g.tif")
    terrain.slope(src, tmp_path / "m.tif", algorithm=alg, compute_edges=edges)
    assert_agrees(read(tmp_path / "m.tif"), read(tmp_path / "g.tif"))


def test_slope_percent_matches_gdaldem(real_dems, tmp_path):
    gdaldem("slope", "-p", real_dems["jacksboro"], tmp_path / "g.tif")
    terrain.slope(real_dems["jacksboro"], tmp_path / "m.tif", units="percent")
    assert_agrees(read(tmp_path / "m.tif"), read(tmp_path / "g.tif"), tol=1e-3)


@pytest.mark.parametrize("dem", ["jacksboro_sq", "topobathy"])
@pytest.mark.parametrize("alg", ["horn", "zevenbergenthorne"])
@pytest.mark.parametrize("edges", [False, True])
def test_aspect_matches_gdaldem_on_real_dems(real_dems, tmp_path, dem, alg, edges):
    src = real_dems[dem]
    flags = ["-alg", "ZevenbergenThorne"] if alg != "horn" else []
    flags += ["-compute_edges"] if edges else []
    gdaldem("aspect", *flags, src, tmp_path / "g.tif")
    terrain.aspect(src, tmp_path / "m.tif", algorithm=alg, compute_edges=edges)
    assert_agrees(read(tmp_path / "m.tif"), read(tmp_path / "g.tif"), angle=True)


@pytest.mark.parametrize("edges", [False, True])
def test_nodata_holes_match_gdaldem_across_blocks_and_threads(real_dems, tmp_path, edges):
    """Random nodata cells, nodata patches on the edges, 7-row blocks on 2 threads."""
    with rasterio.open(real_dems["jacksboro_sq"]) as ds:
        z = ds.read(1).astype(np.float32) + np.float32(0.37)
    rng = np.random.default_rng(1)
    z[rng.random(z.shape) < 0.01] = -9999
    z[100:120, :30] = -9999
    z[:5, 200:220] = -9999
    z[-3:, 50:60] = -9999
    src = write_dem(tmp_path / "holes.tif", z, 30.0, 30.0)
    flags = ["-compute_edges"] if edges else []
    for kind in ("slope", "aspect"):
        gdaldem(kind, *flags, src, tmp_path / "g.tif")
        getattr(terrain, kind)(
            src, tmp_path / "m.tif", compute_edges=edges, block_rows=7, workers=2
        )
        assert_agrees(read(tmp_path / "m.tif"), read(tmp_path / "g.tif"), angle=kind == "aspect")


def test_esri_worked_example():
    """ESRI "How Slope works": 5 m cells, rise 3.8027 → 75.25762°."""
    z = np.array([[50, 45, 50], [30, 30, 30], [8, 10, 10]], float)
    s = terrain.slope_array(z, 5.0, 5.0)
    assert s[1, 1] == pytest.approx(75.2577, abs=1e-4)
    assert np.isnan(s[0, 0])  # edges are nodata by default


def test_plane_on_non_square_cells_gives_exact_slope_and_aspect():
    """z = a·x + b·y sampled on 10 m × 25 m cells: slope atan(|∇z|), aspect of −∇z."""
    a, b = 0.3, -0.2  # rises to the east, falls to the north
    rows, cols = np.mgrid[0:20, 0:30]
    x, y = cols * 10.0, -rows * 25.0
    z = a * x + b * y
    for alg in terrain.ALGORITHMS:
        s = terrain.slope_array(z, 10, 25, algorithm=alg)
        assert np.nanmax(np.abs(s - np.degrees(np.arctan(np.hypot(a, b))))) < 1e-4
        p = terrain.slope_array(z, 10, 25, algorithm=alg, units="percent")
        assert np.nanmax(np.abs(p - 100 * np.hypot(a, b))) < 1e-3
        asp = terrain.aspect_array(z, 10, 25, algorithm=alg)
        expected = np.degrees(np.arctan2(-a, -b)) % 360  # downslope: west and north → 303.7°
        assert np.nanmax(np.abs(asp - expected)) < 1e-3
        assert np.isnan(asp[0]).all() and not np.isnan(asp[1:-1, 1:-1]).any()


@pytest.mark.parametrize(
    ("a", "b", "expected"), [(0, -1, 0.0), (-1, 0, 90.0), (0, 1, 180.0), (1, 0, 270.0)]
)
def test_aspect_cardinal_directions(a, b, expected):
    rows, cols = np.mgrid[0:5, 0:5]
    z = a * cols * 10.0 - b * rows * 10.0
    asp = terrain.aspect_array(z, 10, 10)
    assert asp[2, 2] == pytest.approx(expected, abs=1e-6)


def test_flat_aspect_is_nodata_like_gdaldem(tmp_path):
    z = np.full((6, 6), 100.0, np.float32)
    z[:, 4:] = 101.0
    src = write_dem(tmp_path / "flat.tif", z, 10, 10)
    gdaldem("aspect", src, tmp_path / "g.tif")
    terrain.aspect(src, tmp_path / "m.tif")
    m, g = read(tmp_path / "m.tif"), read(tmp_path / "g.tif")
    assert m[2, 1] == NODATA_OUT == g[2, 1]
    assert m[2, 4] == pytest.approx(270.0) and g[2, 4] == pytest.approx(270.0)


# --------------------------------------------------------------------------- relief


def brute_relief(z: np.ndarray, n: int) -> np.ndarray:
    """max − min over an n×n window spanning n//2 before and n − 1 − n//2 after, clipped."""
    before, after = n // 2, n - 1 - n // 2
    p = np.pad(z.astype(float), ((before, after), (before, after)), constant_values=np.nan)
    w = sliding_window_view(p, (n, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        r = np.nanmax(w, axis=(2, 3)) - np.nanmin(w, axis=(2, 3))
    r[np.isnan(z)] = np.nan
    return r


@pytest.mark.parametrize("window", [3, 9, 12, 15])
def test_relief_matches_brute_force_with_nodata_and_blocks(real_dems, tmp_path, window):
    with rasterio.open(real_dems["jacksboro_sq"]) as ds:
        z = ds.read(1).astype(np.float32)[:120, :150]
    z[np.random.default_rng(2).random(z.shape) < 0.02] = np.nan
    z[:10, :10] = np.nan
    src = write_dem(tmp_path / "z.tif", np.where(np.isnan(z), -9999, z).astype(np.float32), 30, 30)
    out = terrain.relief(src, tmp_path / "r.tif", window=window, block_rows=11, workers=2)
    assert out.window == window
    got = read(tmp_path / "r.tif")
    ref = brute_relief(z, window)
    ref = np.where(np.isnan(ref), NODATA_OUT, ref)
    np.testing.assert_allclose(got, ref, atol=1e-3)
    np.testing.assert_allclose(terrain.relief_array(z, window=window), brute_relief(z, window),
                               atol=1e-3)  # fmt: skip


def test_relief_3x3_equals_gdaldem_roughness_on_interior(real_dems, tmp_path):
    """gdaldem roughness is max − min of the 3×3 window (Wilson et al. 2007)."""
    gdaldem("roughness", real_dems["topobathy"], tmp_path / "g.tif")
    terrain.relief(real_dems["topobathy"], tmp_path / "m.tif", window=3)
    m, g = read(tmp_path / "m.tif"), read(tmp_path / "g.tif")
    np.testing.assert_allclose(m[1:-1, 1:-1], g[1:-1, 1:-1], atol=1e-3)


def test_relief_default_window_from_cell_size(real_dems, tmp_path):
    assert terrain.relief(real_dems["jacksboro"], tmp_path / "a.tif").window == 9  # 74×93 m
    assert terrain.relief(real_dems["jacksboro_sq"], tmp_path / "b.tif").window == 12  # 30 m
    assert terrain.relief(real_dems["topobathy"], tmp_path / "c.tif").window == 3  # 2.4 km
    assert [terrain.default_relief_window(c) for c in (29.9, 30, 49.9, 50, 99, 100)] == [
        15, 12, 12, 9, 9, 3,
    ]  # fmt: skip


# --------------------------------------------------------------------------- outputs


def test_output_is_float32_cog_on_the_input_grid(real_dems, tmp_path):
    calls = []
    out = terrain.slope(real_dems["jacksboro"], tmp_path / "s.tif", block_rows=50,
                        on_progress=lambda d, t: calls.append((d, t)))  # fmt: skip
    with rasterio.open(real_dems["jacksboro"]) as a, rasterio.open(out.path) as b:
        assert b.dtypes[0] == "float32" and b.nodata == NODATA_OUT
        assert b.crs == a.crs and b.transform == a.transform and b.shape == a.shape
        assert b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert calls[-1] == (344, 344) and len(calls) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]  # no temporary files left


def test_plain_output_is_a_tiled_geotiff_with_the_cog_values(real_dems, tmp_path):
    src = real_dems["topobathy"]
    terrain.slope(src, tmp_path / "cog.tif", block_rows=7)
    terrain.slope(src, tmp_path / "plain.tif", block_rows=7, cog=False)
    with rasterio.open(tmp_path / "plain.tif") as b:
        assert b.profile["tiled"] and b.block_shapes[0] == (512, 512)
        assert b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG" and not b.overviews(1)
        assert b.compression is None and b.nodata == NODATA_OUT
    assert np.array_equal(read(tmp_path / "plain.tif"), read(tmp_path / "cog.tif"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cog.tif", "plain.tif"]


def test_cog_copy_with_uncompressed_scratch_gives_gdals_default_bytes(real_dems, tmp_path):
    """``copy_to_cog`` keeps the COG driver's overview scratch file uncompressed (less CPU);
    the COG written must be the very file GDAL writes with its default (ZSTD) scratch."""
    from rasterio.shutil import copy as rio_copy

    from landplan.raster.grid import COG_OPTIONS, copy_to_cog

    with rasterio.open(real_dems["jacksboro"]) as src:
        z = src.read(1).astype(np.float32)
        profile = src.profile
    big = np.kron(z, np.ones((5, 5), np.float32))[:1700, :1600]  # large enough for overviews
    big += np.random.default_rng(7).normal(0, 0.5, big.shape).astype(np.float32)
    t = profile["transform"]
    profile.update(dtype="float32", width=big.shape[1], height=big.shape[0], nodata=None,
                   transform=rasterio.Affine(t.a / 5, 0, t.c, 0, t.e / 5, t.f))  # fmt: skip
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(big, 1)
    out = tmp_path / "out"
    out.mkdir()
    copy_to_cog(plain, out / "ours.tif")
    with rasterio.Env(GDAL_CACHEMAX=256 << 20):
        rio_copy(plain, tmp_path / "gdal.tif", driver="COG", **COG_OPTIONS)
    assert (out / "ours.tif").read_bytes() == (tmp_path / "gdal.tif").read_bytes()
    with rasterio.open(out / "ours.tif") as b:
        assert b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and b.overviews(1)
        assert np.array_equal(b.read(1), big)
    assert sorted(p.name for p in out.iterdir()) == ["ours.tif"]  # no scratch file left


def test_results_do_not_depend_on_blocks_or_threads(real_dems, tmp_path):
    src = real_dems["topobathy"]
    terrain.slope(src, tmp_path / "a.tif", workers=1, block_rows=1000)
    terrain.slope(src, tmp_path / "b.tif", workers=3, block_rows=4)
    assert np.array_equal(read(tmp_path / "a.tif"), read(tmp_path / "b.tif"))


def test_blocks_cover_the_raster_once():
    blocks = plan_blocks(1001, 8000, halo=7)
    assert sum(b.nrows for b in blocks) == 1001 and blocks[0].at_top and blocks[-1].at_bottom
    assert max(b.nrows for b in blocks) * 8000 <= 2 * (1 << 20)


# --------------------------------------------------------------------------- bad input


def test_geographic_dem_is_refused(tmp_path):
    src = write_dem(
        tmp_path / "geo.tif", np.ones((5, 5), np.float32), 0.001, 0.001, crs="EPSG:4490"
    )
    with pytest.raises(CRSError, match="geographic"):
        terrain.slope(src, tmp_path / "s.tif")


def test_dem_without_crs_is_refused(tmp_path):
    src = write_dem(tmp_path / "nocrs.tif", np.ones((5, 5), np.float32), 10, 10, crs=None)
    with pytest.raises(CRSError, match="no CRS"):
        terrain.relief(src, tmp_path / "r.tif", window=3)


def test_corrupt_and_truncated_rasters_are_refused(real_dems, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"this is not a GeoTIFF" * 100)
    with pytest.raises(DataSourceError, match=r"bad\.tif"):
        terrain.slope(bad, tmp_path / "s.tif")
    with pytest.raises(DataSourceError, match="does not exist"):
        terrain.slope(tmp_path / "missing.tif", tmp_path / "s.tif")
    data = real_dems["jacksboro"].read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataSourceError, match=r"cut\.tif"):
        terrain.slope(cut, tmp_path / "s.tif")


def test_all_nodata_dem_is_refused(tmp_path):
    src = write_dem(tmp_path / "empty.tif", np.full((40, 40), -9999, np.float32), 10, 10)
    with pytest.raises(RasterError, match="every cell is nodata"):
        terrain.aspect(src, tmp_path / "a.tif")
    z = np.full((1200, 1300), -9999, np.float32)
    z[777, 5] = 3.0  # one valid cell, missed by the decimated read
    with rasterio.open(write_dem(tmp_path / "one.tif", z, 10, 10)) as ds:
        assert has_data(ds)


def test_failed_write_keeps_previous_output(real_dems, tmp_path):
    out = tmp_path / "s.tif"
    out.write_bytes(b"previous")

    def boom(done, total):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        terrain.slope(real_dems["jacksboro"], out, on_progress=boom, workers=1)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]


def test_float32_kernel_is_within_1e5_degrees_of_float64(real_dems):
    """landplan computes in float32 (differences first); gdaldem 3.6's SIMD path is ~1e-3° off."""
    with rasterio.open(real_dems["topobathy"]) as ds:
        z = ds.read(1).astype(np.float64) + 1234.567
    d = z[:, :-2] - z[:, 2:]
    gx = (d[:-2] + 2 * d[1:-1] + d[2:]) / (8 * 2431.0)
    v = z[2:] - z[:-2]
    gy = (v[:, :-2] + 2 * v[:, 1:-1] + v[:, 2:]) / (8 * 2431.0)
    ref = np.degrees(np.arctan(np.hypot(gx, gy)))
    got = terrain.slope_array(z.astype(np.float32), 2431.0, 2431.0)[1:-1, 1:-1]
    assert np.abs(got - ref).max() < 1e-5

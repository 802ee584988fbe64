import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from landplan.core.errors import LandplanError, PolicyError
from landplan.raster.suitability import (
    Rescale,
    SuitabilityConfig,
    ahp_weights,
    land_resource_grade,
    rescale,
    score_suitability,
)


def test_ahp_reproduces_a_published_example():
    # Kardi Teknomo, "Analytic Hierarchy Process (AHP) Tutorial", revoledu.com (2006): apple/banana/cherry;
    # published (column-normalised mean): priorities 0.2828, 0.6434, 0.0738; λmax 3.0967; CI 0.0484; CR 8.3 %
    m = [[1, 1 / 3, 5], [3, 1, 7], [1 / 5, 1 / 7, 1]]
    r = ahp_weights(m, ["apple", "banana", "cherry"], method="approximate")
    assert [round(r.weights[k], 4) for k in ("apple", "banana", "cherry")] == [
        0.2828,
        0.6434,
        0.0738,
    ]
    assert round(r.lambda_max, 4) == 3.0967
    assert round(r.ci, 4) == 0.0484
    assert round(r.cr, 3) == 0.083
    assert r.ri == 0.58


def test_ahp_eigenvector_recovers_the_weights_of_a_consistent_matrix():
    w = np.array([0.5, 0.25, 0.15, 0.1])
    m = w[:, None] / w[None, :]
    r = ahp_weights(m.tolist(), list("abcd"))
    np.testing.assert_allclose(list(r.weights.values()), w, atol=1e-12)
    assert r.lambda_max == pytest.approx(4.0) and r.cr == pytest.approx(0.0, abs=1e-12)


def test_inconsistent_matrix_is_refused_unless_forced():
    m = [[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]]
    with pytest.raises(PolicyError, match="inconsistent: CR"):
        ahp_weights(m, list("abc"))
    assert ahp_weights(m, list("abc"), force=True).cr > 0.1
    with pytest.raises(PolicyError, match="reciprocal"):
        ahp_weights([[1, 2], [2, 1]], list("ab"))


@pytest.mark.parametrize(
    ("t", "x", "expected"),
    [
        (Rescale(kind="linear", lo=0, hi=10), [-5, 0, 2.5, 10, 20], [0, 0, 0.25, 1, 1]),
        (Rescale(kind="linear", lo=0, hi=10, invert=True), [2.5], [0.75]),
        (Rescale(kind="small", midpoint=8, spread=2), [0, 8, 16], [1, 0.5, 0.2]),
        (Rescale(kind="large", midpoint=8, spread=2), [8, 16], [0.5, 0.8]),
        (Rescale(kind="logistic", midpoint=5, spread=1), [5], [0.5]),
        (Rescale(kind="gaussian", midpoint=5, spread=0.5), [5, 7], [1, np.exp(-2)]),
        (
            Rescale(kind="classes", breaks=[3, 8, 15, 25], scores=[1, 0.8, 0.5, 0.2, 0]),
            [0, 3, 3.1, 25, 40],
            [1, 1, 0.8, 0.2, 0],
        ),
        (Rescale(kind="categories", categories={"1": 1.0, "5": 0.3}), [1, 5, 9], [1, 0.3, 0]),
    ],
)
def test_rescale_formulas(t, x, expected):
    np.testing.assert_allclose(rescale(np.array(x, dtype=float), t), expected, atol=1e-12)


def test_rescale_keeps_nan():
    assert np.isnan(rescale(np.array([np.nan]), Rescale(kind="linear", lo=0, hi=1))[0])


def test_land_resource_grade_follows_the_shuangpingjia_table():
    slope = np.array([3.0, 3.01, 8.0, 15.0, 25.0, 25.1, 2.0, 2.0, 2.0, np.nan])
    elev = np.array([2000.0] * 6 + [3600.0, 5200.0, 2000.0, 2000.0])
    relief = np.array([0.0] * 8 + [150.0, 0.0])
    assert land_resource_grade(slope, elev, relief).tolist() == [1, 2, 2, 3, 4, 5, 2, 5, 2, 0]


def _write(
    path, array, *, x0=619_000.0, y0=2_978_000.0, cell=10.0, crs="EPSG:4542", nodata=-9999.0
):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(x0, y0, cell, cell),
        nodata=nodata,
    ) as ds:
        ds.write(array.astype("float32"), 1)
    return path


def test_weighted_surface_with_mask_and_nodata(tmp_path):
    slope = np.array([[0.0, 5.0], [10.0, -9999.0]])
    dist = np.array([[0.0, 100.0], [200.0, 0.0]])
    mask = np.array([[0.0, 0.0], [1.0, 0.0]])
    cfg = SuitabilityConfig(
        factors=[
            {
                "name": "slope",
                "raster": _write(tmp_path / "s.tif", slope),
                "rescale": {"kind": "linear", "lo": 0, "hi": 10, "invert": True},
                "weight": 60,
            },
            {
                "name": "road",
                "raster": _write(tmp_path / "d.tif", dist),
                "rescale": {"kind": "linear", "lo": 0, "hi": 200, "invert": True},
                "weight": 40,
            },
        ],
        masks=[_write(tmp_path / "m.tif", mask)],
    )
    res = score_suitability(cfg, tmp_path / "suit.tif")
    with rasterio.open(res.path) as ds:
        out = ds.read(1)
        assert ds.nodata == -9999 and ds.crs.to_epsg() == 4542
    # (0,0): 100; (0,1): 0.6·0.5 + 0.4·0.5 = 50; (1,0) masked → 0; (1,1) slope nodata → nodata
    np.testing.assert_allclose(out, [[100, 50], [0, -9999]], atol=1e-4)
    assert res.masked_cells == 1 and res.cells == 3
    assert res.weights == pytest.approx({"slope": 0.6, "road": 0.4})


def test_misaligned_rasters_are_refused(tmp_path):
    a = _write(tmp_path / "a.tif", np.zeros((2, 2)))
    b = _write(tmp_path / "b.tif", np.zeros((2, 2)), x0=619_005.0)
    cfg = SuitabilityConfig(
        factors=[
            {
                "name": "a",
                "raster": a,
                "rescale": {"kind": "linear", "lo": 0, "hi": 1},
                "weight": 1,
            },
            {
                "name": "b",
                "raster": b,
                "rescale": {"kind": "linear", "lo": 0, "hi": 1},
                "weight": 1,
            },
        ]
    )
    with pytest.raises(LandplanError, match="not on the grid"):
        score_suitability(cfg, tmp_path / "out.tif")


def test_cli_writes_the_surface(tmp_path):
    import subprocess
    import sys

    _write(tmp_path / "slope.tif", np.array([[0.0, 10.0]]))
    (tmp_path / "suit.toml").write_text(
        '[[factors]]\nname = "slope"\nraster = "slope.tif"\n'
        'rescale = { kind = "linear", lo = 0, hi = 10, invert = true }\nweight = 1\n',
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, "-m", "landplan", "suitability", "suit.toml", "out.tif"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    with rasterio.open(tmp_path / "out.tif") as ds:
        np.testing.assert_allclose(ds.read(1), [[100, 0]])
    bad = subprocess.run(
        [sys.executable, "-m", "landplan", "suitability", "missing.toml", "o.tif"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "missing.toml" in bad.stderr


@pytest.mark.parametrize(
    "breaks", [[3.0, 8.0, 15.0, 25.0], [100.0, 200.0], [5.0, 5.0, 9.0], [], [-1e300, 0.0, 1e300]]
)
def test_classes_count_the_breaks_below_as_searchsorted_does(breaks):
    """The class of each cell (ties, ±inf, NaN, equal breaks) is searchsorted's, and the
    block-wise surface scores a random grid exactly as the searchsorted formula does."""
    from landplan.raster.suitability import _breaks_below

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-50, 300, 10_000), breaks, np.nextafter(breaks, np.inf),
                        [np.inf, -np.inf, np.nan, 0.0, -0.0]])  # fmt: skip
    x = x.reshape(-1, 1) if x.size % 2 else x.reshape(2, -1)
    num = ~np.isnan(x)  # NaN: past the end in searchsorted, none here; NaN in the score anyway
    got, want_class = _breaks_below(breaks, x), np.searchsorted(breaks, x, side="left")
    assert np.array_equal(got[num], want_class[num])
    t = Rescale(kind="classes", breaks=breaks, scores=list(np.linspace(1, 0, len(breaks) + 1)))
    want = np.asarray(t.scores)[np.searchsorted(breaks, x, side="left")]
    want[np.isnan(x)] = np.nan
    assert np.array_equal(rescale(x, t), want, equal_nan=True)

"""Cost-weighted suitability: factor rasters → scores → weighted sum, with hard constraints as a mask.

Model (two layers, as in the 双评价 practice and DOMAIN §4.5):

1. **Hard constraints** are a boolean mask (red line, farmland, outside the urban boundary,
   slope above the limit): masked cells score 0 whatever the factors say.
2. **Soft factors** are rescaled to 0–1 by a transform and combined as a weighted sum
   ``S = 100 · Σ wᵢ · fᵢ(xᵢ) / Σ wᵢ`` (0 = unsuitable, 100 = best).  Cells where any factor
   is nodata are nodata.

Transforms (``x`` the factor value; all results clipped to [0, 1]); the continuous ones follow
the shapes of ArcGIS *Rescale by Function*, written out here so the numbers are checkable:

=============  ============================================================  ===================
kind           formula                                                       parameters
=============  ============================================================  ===================
``linear``     ``(x − lo) / (hi − lo)``; ``invert`` gives ``1 − ...``         ``lo``, ``hi``
``small``      ``1 / (1 + (x / midpoint) ** spread)`` (small values best)     ``midpoint``, ``spread``
``large``      ``1 / (1 + (x / midpoint) ** −spread)`` (large values best)    ``midpoint``, ``spread``
``logistic``   ``1 / (1 + exp(−spread · (x − midpoint)))``; ``invert``       ``midpoint``, ``spread``
``gaussian``   ``exp(−spread · (x − midpoint)²)``                             ``midpoint``, ``spread``
``classes``    score of the class ``x`` falls in: ``breaks`` are upper         ``breaks``, ``scores``
               bounds (inclusive), one more score than breaks
``categories`` score per integer category (land cover); others → ``default``  ``scores`` table
=============  ============================================================  ===================

Weights are given per factor (percentages or multipliers — they are normalised), or derived from
an AHP pairwise-comparison matrix (:func:`ahp_weights`): principal eigenvector (Saaty) or the
column-normalised mean approximation; the consistency ratio CR = CI / RI uses Saaty's random
indices (RI for n = 1…15: 0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56,
1.57, 1.59), and a matrix with CR ≥ 0.10 is refused unless ``force`` is set.

The 双评价 城镇建设 land-resource grading (DOMAIN §4.2) is :func:`land_resource_grade`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from landplan.core.errors import LandplanError, PolicyError

RANDOM_INDEX = (
    0.0,
    0.0,
    0.58,
    0.90,
    1.12,
    1.24,
    1.32,
    1.41,
    1.45,
    1.49,
    1.51,
    1.48,
    1.56,
    1.57,
    1.59,
)
CR_LIMIT = 0.10
NODATA = -9999.0
#: rows scored at a time: each factor's float64 temporaries (~2 MB at 4000 columns) stay in
#: the CPU's cache; 512 rows (16 MB each) took 1.3–1.4× as long on a 4000² grid, same values
BLOCK_ROWS = 64
GDAL_CACHE_MB = 256


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rescale(_Model):
    """A transform from factor values to 0–1 scores (see the module docstring)."""

    kind: Literal["linear", "small", "large", "logistic", "gaussian", "classes", "categories"]
    lo: float | None = None
    hi: float | None = None
    midpoint: float | None = None
    spread: float | None = None
    invert: bool = False
    breaks: list[float] = Field(default_factory=list)
    scores: list[float] = Field(default_factory=list)
    categories: dict[str, float] = Field(default_factory=dict)
    default: float = 0.0

    @model_validator(mode="after")
    def _params(self) -> Rescale:
        need = {
            "linear": ("lo", "hi"),
            "small": ("midpoint", "spread"),
            "large": ("midpoint", "spread"),
            "logistic": ("midpoint", "spread"),
            "gaussian": ("midpoint", "spread"),
        }.get(self.kind, ())
        missing = [p for p in need if getattr(self, p) is None]
        if missing:
            raise ValueError(f"transform {self.kind!r} needs {missing}")
        if self.kind == "linear" and self.hi == self.lo:
            raise ValueError("linear transform needs hi != lo")
        if self.kind in ("small", "large") and (self.midpoint or 0) <= 0:
            raise ValueError(f"{self.kind} transform needs midpoint > 0")
        if self.kind == "classes" and (
            len(self.scores) != len(self.breaks) + 1 or self.breaks != sorted(self.breaks)
        ):
            raise ValueError("classes need ascending breaks and exactly one more score than breaks")
        return self


class Factor(_Model):
    """One suitability factor: a raster and its transform (weight optional when AHP is used)."""

    name: str
    raster: Path
    rescale: Rescale
    weight: float | None = Field(default=None, gt=0)


class AHP(_Model):
    """A pairwise-comparison matrix over the factor names."""

    factors: list[str]
    matrix: list[list[float]]
    method: Literal["eigenvector", "approximate"] = "eigenvector"
    force: bool = False


class SuitabilityConfig(_Model):
    """Factors, weights (direct or AHP) and hard-constraint mask rasters (1 = excluded)."""

    factors: list[Factor]
    ahp: AHP | None = None
    masks: list[Path] = Field(default_factory=list)

    @model_validator(mode="after")
    def _weights(self) -> SuitabilityConfig:
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise ValueError(f"factor names repeat: {names}")
        if self.ahp is None and any(f.weight is None for f in self.factors):
            raise ValueError("give every factor a weight, or an [ahp] matrix")
        if self.ahp is not None and sorted(self.ahp.factors) != sorted(names):
            raise ValueError(
                f"[ahp] factors {self.ahp.factors} must be exactly the factor names {names}"
            )
        return self


@dataclass(frozen=True)
class AHPResult:
    """Weights (summing to 1), λmax, consistency index and ratio, and the random index used."""

    weights: dict[str, float]
    lambda_max: float
    ci: float
    cr: float
    ri: float


def ahp_weights(
    matrix, factors, /, *, method: str = "eigenvector", force: bool = False
) -> AHPResult:
    """Weights and consistency of an AHP pairwise-comparison matrix.

    Examples
    --------
    >>> r = ahp_weights([[1, 3], [1 / 3, 1]], ["a", "b"])
    >>> round(r.weights["a"], 4), r.cr
    (0.75, 0.0)
    """
    a = np.asarray(matrix, dtype="float64")
    n = len(factors)
    if a.shape != (n, n):
        raise PolicyError(
            f"the AHP matrix is {a.shape}, expected {n}×{n} for factors {list(factors)}"
        )
    if np.any(a <= 0) or not np.allclose(a * a.T, 1.0, rtol=1e-3):
        raise PolicyError("an AHP matrix must be positive and reciprocal (a[j][i] = 1 / a[i][j])")
    if n > len(RANDOM_INDEX):
        raise PolicyError(f"AHP supports at most {len(RANDOM_INDEX)} factors (Saaty's RI table)")
    if method == "eigenvector":
        values, vectors = np.linalg.eig(a)
        k = int(np.argmax(values.real))
        w = np.abs(vectors[:, k].real)
        w = w / w.sum()
        lam = float(values.real[k])
    else:
        w = (a / a.sum(axis=0)).mean(axis=1)
        lam = float((a.sum(axis=0) * w).sum())
    ci = (lam - n) / (n - 1) if n > 2 else 0.0
    ri = RANDOM_INDEX[n - 1]
    cr = ci / ri if ri > 0 else 0.0
    if cr >= CR_LIMIT and not force:
        raise PolicyError(
            f"the AHP matrix is inconsistent: CR = {cr:.3f} ≥ {CR_LIMIT} (λmax = {lam:.4f}, CI = {ci:.4f}, "
            f"RI = {ri}); revise the judgements or set force = true"
        )
    return AHPResult(dict(zip(factors, w.tolist(), strict=True)), lam, ci, cr, ri)


def factor_weights(config: SuitabilityConfig, /) -> dict[str, float]:
    """Normalised weights (sum 1) from the factors or the AHP matrix."""
    if config.ahp is not None:
        return ahp_weights(
            config.ahp.matrix, config.ahp.factors, method=config.ahp.method, force=config.ahp.force
        ).weights
    total = sum(f.weight or 0.0 for f in config.factors)
    return {f.name: (f.weight or 0.0) / total for f in config.factors}


def rescale(x: np.ndarray, t: Rescale, /) -> np.ndarray:
    """Apply a transform to an array of factor values (NaN stays NaN)."""
    x = np.asarray(x, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if t.kind == "linear":
            y = (x - t.lo) / (t.hi - t.lo)
        elif t.kind in ("small", "large"):  # 1 / (1 + (x / midpoint) ** ±spread), in place
            y = np.maximum(x, 0.0 if t.kind == "small" else 1e-12)
            y /= t.midpoint
            y **= t.spread if t.kind == "small" else -t.spread
            y += 1.0
            np.divide(1.0, y, out=y)
        elif t.kind == "logistic":
            y = 1.0 / (1.0 + np.exp(-t.spread * (x - t.midpoint)))
        elif t.kind == "gaussian":
            y = np.exp(-t.spread * (x - t.midpoint) ** 2)
        elif t.kind == "classes":  # the class: how many breaks lie below x (searchsorted, left)
            y = np.asarray(t.scores, dtype="float64")[_breaks_below(t.breaks, x)]
        else:
            y = np.full(x.shape, t.default)
            for code, score in t.categories.items():
                y[x == float(code)] = score
    if t.invert and t.kind in ("linear", "logistic"):
        y = 1.0 - y
    y = np.clip(y, 0.0, 1.0, out=y if y.dtype == np.float64 and y.base is None else None)
    y[np.isnan(x)] = np.nan
    return y


def _breaks_below(breaks, x: np.ndarray, /) -> np.ndarray:
    """``np.searchsorted(breaks, x, side="left")`` for ascending ``breaks``: the count of breaks
    strictly below each value, by one comparison per break (a handful of breaks: several times
    faster than a binary search per cell).  NaN counts none (searchsorted puts it past the end:
    either way :func:`rescale` gives NaN there)."""
    count = np.zeros(x.shape, np.intp)
    below = np.empty(x.shape, bool)
    for b in breaks:
        np.greater(x, b, out=below)
        count += below
    return count


def land_resource_grade(
    slope_deg: np.ndarray, elevation_m: np.ndarray, relief_m: np.ndarray, /
) -> np.ndarray:
    """双评价 城镇建设 land-resource class 1 (高) … 5 (低) per DOMAIN §4.2; 0 where any input is NaN.

    Slope ≤3/8/15/25° → 1–5; elevation 3500–5000 m → +1, ≥5000 m → 5; relief 100–200 m → +1,
    >200 m → +2; clamped to 1–5.

    Examples
    --------
    >>> land_resource_grade(np.array([2.0, 10.0, 30.0]), np.array([2400.0, 3600.0, 2400.0]),
    ...                     np.array([50.0, 150.0, 250.0])).tolist()
    [1, 5, 5]
    """
    s, e, r = (_floats(a) for a in (slope_deg, elevation_m, relief_m))
    # comparisons in the arrays' own float type: every threshold is exact in float32
    grade = (s > 3).view(np.uint8) + (s > 8).view(np.uint8)  # 1 + Σ(s > break) below
    grade += (s > 15).view(np.uint8)
    grade += (s > 25).view(np.uint8)
    grade += 1
    grade += ((e >= 3500) & (e < 5000)).view(np.uint8)
    grade += (r >= 100).view(np.uint8)
    grade += (r > 200).view(np.uint8)
    np.minimum(grade, 5, out=grade)
    grade[e >= 5000] = 5
    grade[np.isnan(s) | np.isnan(e) | np.isnan(r)] = 0
    return grade


def _floats(a) -> np.ndarray:
    a = np.asarray(a)
    return a if a.dtype.kind == "f" else a.astype("float64")


# --------------------------------------------------------------------------- rasters


@dataclass(frozen=True)
class SuitabilityResult:
    """Where the surface was written, the weights used, and summary figures."""

    path: Path
    weights: dict[str, float]
    cells: int
    masked_cells: int
    mean_score: float


def _open_aligned(paths: Mapping[str, Path]):
    import rasterio

    from landplan.core.errors import CRSError, DataSourceError

    handles = {}
    try:
        for name, path in paths.items():
            try:
                handles[name] = rasterio.open(path)
            except rasterio.errors.RasterioIOError as exc:
                raise DataSourceError(
                    f"cannot read raster {name!r} ({Path(path).name}): damaged or missing"
                ) from exc
        ref_name, ref = next(iter(handles.items()))
        if ref.crs is None:
            raise CRSError(f"raster {ref_name!r} has no CRS")
        for name, ds in handles.items():
            if ds.crs != ref.crs:
                raise CRSError(
                    f"raster {name!r} is in {ds.crs}, {ref_name!r} in {ref.crs}; warp them to one grid"
                )
            if ds.shape != ref.shape or not ds.transform.almost_equals(ref.transform):
                raise LandplanError(
                    f"raster {name!r} is not on the grid of {ref_name!r} (shape {ds.shape} vs {ref.shape}); "
                    "resample it to the same grid first (e.g. gdalwarp -te ... -tr ...)"
                )
        return handles
    except BaseException:
        for ds in handles.values():
            ds.close()
        raise


def _read(ds, window) -> np.ndarray:
    """Band 1 in ``window`` as float64, NaN where the dataset masks it (nodata)."""
    from rasterio.enums import MaskFlags

    from landplan.raster.grid import nodata_in

    flags = set(ds.mask_flag_enums[0])
    plain = ds.scales[0] == 1.0 and ds.offsets[0] == 0.0
    if not (plain and flags <= {MaskFlags.nodata, MaskFlags.all_valid}):
        band = ds.read(1, window=window, masked=True).astype("float64")
        return band.filled(np.nan)
    raw = ds.read(1, window=window)
    out = raw.astype("float64")
    nodata = nodata_in(raw.dtype, ds.nodata) if MaskFlags.nodata in flags else None
    if nodata is not None:
        out[np.isnan(raw) if np.isnan(nodata) else raw == nodata] = np.nan
    return out


def score_suitability(
    config: SuitabilityConfig,
    out_path: str | Path,
    /,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    cog: bool = True,
    cache_mb: int = GDAL_CACHE_MB,
) -> SuitabilityResult:
    """Write the suitability surface (float32, 0–100, nodata −9999) block by block.

    Memory is bounded by the block size plus GDAL's block cache, capped at ``cache_mb``.
    ``cog=False`` writes a plain tiled, uncompressed GeoTIFF instead of a Cloud-Optimised one
    (no compression or overview pass).
    """
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=cache_mb * 1024 * 1024):
        return _score(config, Path(out_path), on_progress, cog)


def _score(config: SuitabilityConfig, out_path: Path, on_progress, cog: bool) -> SuitabilityResult:
    from rasterio.windows import Window

    from landplan.raster.grid import cog_writer, grid_info

    weights = factor_weights(config)
    paths = {f.name: f.raster for f in config.factors} | {
        f"mask{i}": p for i, p in enumerate(config.masks)
    }
    handles = _open_aligned(paths)
    ref = handles[config.factors[0].name]
    sum_score = 0.0
    cells = masked = 0
    try:
        # a plain tiled GeoTIFF first (uncompressed), then one COG copy (DEFLATE on all CPUs)
        with cog_writer(out_path, grid=grid_info(ref), nodata=NODATA, cog=cog) as dst:
            n_blocks = math.ceil(ref.height / BLOCK_ROWS)
            for b in range(n_blocks):
                window = Window(
                    0, b * BLOCK_ROWS, ref.width, min(BLOCK_ROWS, ref.height - b * BLOCK_ROWS)
                )
                score = np.zeros((window.height, window.width))
                for f in config.factors:
                    part = rescale(_read(handles[f.name], window), f.rescale)
                    part *= weights[f.name]
                    score += part
                score *= 100.0
                block_mask = np.zeros(score.shape, dtype=bool)
                for i in range(len(config.masks)):
                    m = _read(handles[f"mask{i}"], window)
                    block_mask |= np.nan_to_num(m, nan=0.0) > 0
                valid = ~np.isnan(score)
                score[block_mask & valid] = 0.0
                cells += int(valid.sum())
                masked += int((block_mask & valid).sum())
                sum_score += float(score[valid].sum())
                dst.write(np.where(valid, score, NODATA).astype("float32"), 1, window=window)
                if on_progress:
                    on_progress(b + 1, n_blocks)
    finally:
        for ds in handles.values():
            ds.close()
    total = sum_score / cells if cells else float("nan")
    return SuitabilityResult(out_path, weights, cells, masked, total)


def load_config(path: str | Path, /) -> SuitabilityConfig:
    """Read a suitability TOML (raster paths relative to it)."""
    from landplan.core.tomlmodel import load_toml, validate_model

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read suitability config {path}: {exc}") from exc
    data = load_toml(text, origin=path.name, error=PolicyError)
    root = path.resolve().parent
    for f in data.get("factors", []):
        if "raster" in f:
            f["raster"] = str(root / f["raster"])
    data["masks"] = [str(root / m) for m in data.get("masks", [])]
    return validate_model(SuitabilityConfig, data, origin=path.name, error=PolicyError)

"""Evaluate a drawn park boundary (园区边界) against the workspace: area, 三区三线, parcels, cost.

:func:`evaluate_boundary` takes any polygon layer (a file read with :func:`landplan.io.vector.read_vector`,
a GeoJSON mapping, a GeoDataFrame/GeoSeries, or a shapely geometry with ``crs=``), reprojects
it to the workspace CRS (no CRS → :class:`~landplan.core.errors.CRSError`), dissolves it into one
(multi)polygon and reports:

* gross area, planar (workspace Gauss-Krüger) and ellipsoidal (CGCS2000), in m², 亩 and ha;
* the area excluded by each constraint kind with the semantics of
  :func:`landplan.analysis.constraints.compute_exclusions` (for ``require_inside`` kinds such as
  ``urban_boundary``: the area *outside*), their union (never double-counted) and the net area;
* the share inside the urban development boundary (城镇开发边界, DOMAIN §3.3);
* the overlap with the approved park boundary (四至), when the workspace has a constraint layer
  of kind ``park_boundary`` — informational only, never an exclusion;
* the parcels inside: a parcel of ``result_parcels`` counts as inside when **at least 50 % of its
  area** lies inside the boundary (``INSIDE_SHARE``); counts and 亩 by verdict;
* over those parcels: the area-weighted mean ``cost_weighted_suitability`` (weights: gross 亩)
  and the total ``dev_cost_wan``, when the workspace was analysed with a DEM;
* missing networks (``NETWORK_MISSING:<kind>`` reason codes among the parcels inside);
* the leading industries present (from ``industry_field``) against the "原则上不宜超过 3 个主导产业"
  guideline (DOMAIN §8.1; a warning, ``TOO_MANY_LEADING_INDUSTRIES``);
* compliance reasons (:class:`landplan.core.reasons.Reason`): ``BOUNDARY_<rule code>`` for every
  constraint kind the boundary overlaps (``BOUNDARY_RED_LINE_OVERLAP``,
  ``BOUNDARY_BASIC_FARMLAND_OVERLAP``, ``BOUNDARY_OUTSIDE_URBAN_BOUNDARY``,
  ``BOUNDARY_INUNDATION_OVERLAP``, ...): ``block`` for ``exclude``/``require_inside`` kinds, a
  ``warn`` below the policy's sliver tolerance and for ``warn`` kinds.

Bad input: an invalid boundary (self-intersecting ring, bow-tie) is repaired with
``shapely.make_valid`` and evaluated, with a ``BOUNDARY_REPAIRED`` warning (value: the number of
geometries repaired) and a note; an empty boundary, or one without a polygon, raises
:class:`~landplan.core.errors.GeometryError`; coordinates that contradict their CRS (projected metres
labelled EPSG:4490), a boundary that cannot be transformed to the workspace CRS, or one that does
not overlap the workspace's extent (its layers and suitability raster) raise
:class:`~landplan.core.errors.CRSError` naming the CRS and the extents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries
from pyproj import CRS

from landplan.analysis.constraints import compute_exclusions, covered_area_m2, dissolve, subdivide
from landplan.core.crs import parse_crs
from landplan.core.errors import CRSError, GeometryError, InputTableError
from landplan.core.policy import Policy, load_policy
from landplan.core.reasons import Reason
from landplan.core.units import ellipsoidal_area_m2, m2_to_ha, m2_to_mu

#: a parcel is "inside" a boundary when at least this share of its area lies inside it
INSIDE_SHARE = 0.5
#: constraint kind holding the approved park boundary (四至); informational, never an exclusion
PARK_KIND = "park_boundary"
#: 《工业园区高质量发展指引》(2025): 原则上不宜超过 3 个主导产业 (guidance → a warning)
MAX_LEADING_INDUSTRIES = 3
INDUSTRY_BASIS = (
    "《工业园区高质量发展指引》（工信部、国家发展改革委，2025年9月）：主导产业原则上不宜超过3个"
)
EPS = 1e-9


@dataclass(frozen=True)
class BoundaryContext:
    """What an evaluation needs from a workspace, read once (regions evaluate many boundaries)."""

    path: Path
    crs: CRS
    policy: Policy
    constraints: dict[str, GeoDataFrame]  # every constraint kind except ``park_boundary``
    park: GeoDataFrame | None
    parcels: GeoDataFrame | None  # ``result_parcels``


def load_context(workspace, /, *, policy: Policy | str | Path | None = None) -> BoundaryContext:
    """Read the workspace's CRS, policy, constraint layers and ``result_parcels``.

    ``workspace`` is a directory, a ``postgresql://`` DSN or a :class:`landplan.store.model.Workspace`.
    """
    if isinstance(workspace, BoundaryContext):
        return workspace
    from landplan.store.model import RESULT_PARCELS, Workspace, open_workspace

    ws = workspace if isinstance(workspace, Workspace) else open_workspace(workspace)
    crs = ws.crs
    if isinstance(policy, Policy):
        pol = policy
    elif policy is not None:
        pol = load_policy(policy)
    else:
        pol = ws.policy()
    constraints = ws.constraints()
    park = constraints.pop(PARK_KIND, None)
    parcels = ws.result_parcels() if RESULT_PARCELS in ws.layers() else None
    suit = ws.raster("suitability")
    if suit is not None and suit.parent.name == "rasters":
        base = suit.parent.parent
    else:
        base = Path(getattr(ws.store, "path", "/nonexistent"))
    return BoundaryContext(base, crs, pol, constraints, park, parcels)


# --------------------------------------------------------------------------- reading boundaries


def read_boundary(
    source, crs: CRS, /, *, layer: str | None = None, source_crs: str | None = None
) -> GeoDataFrame:
    """Any supported boundary input as a polygon GeoDataFrame in ``crs``.

    ``source``: a file path (any OGR format, via :func:`landplan.io.vector.read_vector`), a GeoJSON
    mapping (Feature, FeatureCollection or geometry; its CRS from a ``crs`` member or
    ``source_crs``), a GeoDataFrame/GeoSeries, or a shapely geometry (needs ``source_crs``).
    """
    if isinstance(source, str | Path):
        from landplan.io.vector import read_vector

        gdf, _ = read_vector(
            Path(source),
            role="constraint",
            workspace_crs=crs,
            name="boundary",
            layer=layer,
            crs=source_crs,
        )
        return gdf
    if isinstance(source, Mapping):
        gdf = _from_geojson(source, source_crs)
    elif isinstance(source, GeoDataFrame | GeoSeries):
        gdf = source if isinstance(source, GeoDataFrame) else GeoDataFrame(geometry=source)
        if source_crs is not None:
            gdf = gdf.set_crs(parse_crs(source_crs), allow_override=True)
    elif isinstance(source, shapely.Geometry):
        gdf = GeoDataFrame(
            geometry=[source], crs=parse_crs(source_crs) if source_crs is not None else None
        )
    else:
        raise GeometryError(
            f"cannot read a boundary from {type(source).__name__}; give a file, GeoJSON, "
            "GeoDataFrame or shapely polygon"
        )
    if gdf.crs is None:
        raise CRSError(
            "the boundary has no CRS; state it (e.g. --crs EPSG:4490 for CGCS2000 longitude/latitude "
            "or EPSG:4542 for CGCS2000 GK CM 99°E)"
        )
    bounds = gdf.total_bounds if len(gdf) else np.full(4, np.nan)
    if gdf.crs.is_geographic and np.isfinite(bounds).all():
        x0, y0, x1, y1 = bounds
        if x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
            raise CRSError(
                f"the boundary is labelled {gdf.crs.to_string()} (longitude/latitude) but its "
                f"coordinates span x {x0:.6g}…{x1:.6g}, y {y0:.6g}…{y1:.6g}: these look projected "
                "(e.g. Gauss-Krüger metres); state the real CRS (e.g. --crs EPSG:4542)"
            )
    out = gdf.to_crs(crs)
    if len(out) and not np.isfinite(out.total_bounds).all() and np.isfinite(bounds).all():
        raise CRSError(
            f"the boundary in {gdf.crs.to_string()} cannot be transformed to the workspace CRS "
            f"{crs.to_string()} (coordinates fall outside that projection); check its CRS"
        )
    return out


def _from_geojson(obj: Mapping, source_crs: str | None) -> GeoDataFrame:
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = list(obj.get("features") or [])
    elif kind == "Feature":
        features = [obj]
    elif kind in ("Polygon", "MultiPolygon", "GeometryCollection"):
        features = [{"type": "Feature", "geometry": obj, "properties": {}}]
    else:
        raise GeometryError(f"GeoJSON of type {kind!r} is not a polygon boundary")
    declared = (obj.get("crs") or {}).get("properties", {}).get("name")
    chosen = source_crs or declared
    try:
        geoms = [
            shapely.geometry.shape(f["geometry"])
            for f in features
            if isinstance(f, Mapping) and f.get("geometry")
        ]
    except (
        KeyError,
        TypeError,
        ValueError,
        IndexError,
        AttributeError,
        shapely.errors.ShapelyError,
    ) as exc:
        raise GeometryError(
            f"the boundary GeoJSON is malformed ({type(exc).__name__}: {exc}); send a Polygon or "
            "MultiPolygon with closed rings of [x, y] positions"
        ) from None
    return GeoDataFrame(geometry=geoms, crs=parse_crs(chosen) if chosen else None)


def boundary_geometry(gdf: GeoDataFrame, /) -> shapely.Geometry:
    """The dissolved polygonal part of a boundary layer; :class:`GeometryError` when it has no area."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    geoms = shapely.make_valid(geoms)
    parts = shapely.get_parts(shapely.get_parts(geoms))
    parts = parts[shapely.get_type_id(parts) == 3]
    union = dissolve(parts)
    if union.is_empty or union.area <= 0:
        raise GeometryError(
            "the boundary has no polygon with an area; draw a closed polygon (lines and points "
            "cannot bound a park)"
        )
    return union


# --------------------------------------------------------------------------- the evaluation


@dataclass(frozen=True)
class BoundaryEvaluation:
    """Everything :func:`evaluate_boundary` measured (areas in m², 亩, ha; money in 万元)."""

    crs: str
    n_parts: int
    gross_m2: float
    gross_ellipsoidal_m2: float
    excluded_by_kind_m2: dict[str, float]
    excluded_m2: float
    net_available_m2: float
    urban_boundary_share: float | None  # share of the gross area inside the UDB; None: no layer
    park_boundary: dict  # {"present": bool, ...}
    parcels_inside: dict
    cost: dict
    missing_networks: dict[str, dict]
    industries: dict
    reasons: tuple[Reason, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def gross_mu(self) -> float:
        return m2_to_mu(self.gross_m2)

    @property
    def net_available_mu(self) -> float:
        return m2_to_mu(self.net_available_m2)

    @property
    def compliant(self) -> bool:
        """No ``block`` reason (warnings allowed)."""
        return not any(r.severity == "block" for r in self.reasons)

    def key_figures(self) -> dict:
        """Flat figures for tables, scenario columns and map popups."""
        pi = self.parcels_inside
        out = {
            "gross_mu": self.gross_mu,
            "gross_ha": m2_to_ha(self.gross_m2),
            "gross_ellipsoidal_mu": m2_to_mu(self.gross_ellipsoidal_m2),
            "excluded_mu": m2_to_mu(self.excluded_m2),
            "net_available_mu": self.net_available_mu,
            "urban_boundary_share": self.urban_boundary_share,
            "park_overlap_mu": self.park_boundary.get("overlap_mu"),
            "parcels_inside": pi.get("count", 0),
            "parcels_inside_mu": pi.get("area_mu", 0.0),
            "transferable_parcels": pi.get("by_verdict", {})
            .get("transferable", {})
            .get("count", 0),
            "blocked_parcels": pi.get("by_verdict", {}).get("blocked", {}).get("count", 0),
            "mean_cost_weighted_suitability": self.cost.get("mean_cost_weighted_suitability"),
            "dev_cost_wan": self.cost.get("dev_cost_wan"),
            "leading_industries": self.industries.get("count"),
            "block_reasons": sum(r.severity == "block" for r in self.reasons),
            "warn_reasons": sum(r.severity == "warn" for r in self.reasons),
            "reason_codes": ";".join(r.code for r in self.reasons),
            "compliant": self.compliant,
        }
        for kind, v in self.excluded_by_kind_m2.items():
            out[f"excluded_{kind}_mu"] = m2_to_mu(v)
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reasons"] = [r.to_dict() for r in self.reasons]
        d["notes"] = list(self.notes)
        d["gross_mu"] = self.gross_mu
        d["gross_ha"] = m2_to_ha(self.gross_m2)
        d["gross_ellipsoidal_mu"] = m2_to_mu(self.gross_ellipsoidal_m2)
        d["gross_ellipsoidal_ha"] = m2_to_ha(self.gross_ellipsoidal_m2)
        d["excluded_by_kind_mu"] = {k: m2_to_mu(v) for k, v in self.excluded_by_kind_m2.items()}
        d["excluded_mu"] = m2_to_mu(self.excluded_m2)
        d["net_available_mu"] = self.net_available_mu
        d["net_available_ha"] = m2_to_ha(self.net_available_m2)
        d["compliant"] = self.compliant
        return _clean_json(d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def _clean_json(obj):
    if isinstance(obj, dict):
        return {str(k): _clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def evaluate_boundary(
    polygon_gdf,
    workspace_dir,
    /,
    *,
    policy: Policy | str | Path | None = None,
    layer: str | None = None,
    crs: str | None = None,
    industry_field: str | None = None,
) -> BoundaryEvaluation:
    """Evaluate a park boundary against a workspace (see the module docstring for every figure).

    Parameters
    ----------
    polygon_gdf
        File path, GeoJSON mapping, GeoDataFrame/GeoSeries or shapely geometry; multi-polygons
        and several features are allowed (they are dissolved).
    workspace_dir
        A workspace written by ``landplan analyze`` (or a :class:`BoundaryContext`).
    policy
        Overrides the workspace's ``policy.toml``.
    layer, crs
        Layer of a multi-layer file; the boundary's CRS when the input has none (or a wrong one).
    industry_field
        Column of ``result_parcels`` (or ``src_<name>``) naming each parcel's leading industry.
    """
    ctx = load_context(workspace_dir, policy=policy)
    gdf = read_boundary(polygon_gdf, ctx.crs, layer=layer, source_crs=crs)
    repaired = _invalid_count(gdf)
    geom = boundary_geometry(gdf)
    _require_overlap(geom, ctx)
    series = GeoSeries([geom], crs=ctx.crs)
    notes: list[str] = []
    excl = compute_exclusions(series, ctx.constraints, ctx.policy)
    gross = float(excl.gross_m2[0])
    by_kind = {k: float(v[0]) for k, v in excl.by_kind_m2.items()}
    udb_share = None
    if "urban_boundary" in by_kind:
        udb_share = 1.0 - by_kind["urban_boundary"] / gross if gross > 0 else None
    else:
        notes.append(
            "no urban_boundary (城镇开发边界) layer in the workspace: share not computable"
        )
    pieces = subdivide(np.array([geom]))
    parcels_inside, inside_frame = _parcels_inside(ctx.parcels, pieces)
    industries, ind_reason = _industries(inside_frame, industry_field)
    reasons = _constraint_reasons(by_kind, ctx.policy)
    if repaired:
        reasons.append(_repaired_reason(repaired))
        notes.append(
            f"{repaired} invalid boundary geometr{'y' if repaired == 1 else 'ies'} "
            "(self-intersection, bow-tie, ...) repaired with shapely.make_valid before evaluation"
        )
    if ind_reason is not None:
        reasons.append(ind_reason)
    return BoundaryEvaluation(
        crs=ctx.crs.to_string(),
        n_parts=int(shapely.get_num_geometries(geom)),
        gross_m2=gross,
        gross_ellipsoidal_m2=float(ellipsoidal_area_m2(series)[0]),
        excluded_by_kind_m2=by_kind,
        excluded_m2=float(excl.excluded_m2[0]),
        net_available_m2=float(excl.net_available_m2[0]),
        urban_boundary_share=udb_share,
        park_boundary=_park_overlap(ctx.park, geom),
        parcels_inside=parcels_inside,
        cost=_cost(inside_frame),
        missing_networks=_missing_networks(inside_frame),
        industries=industries,
        reasons=tuple(reasons),
        notes=tuple(notes),
    )


def _invalid_count(gdf: GeoDataFrame) -> int:
    """Number of non-empty boundary geometries that are not OGC-valid (repaired downstream)."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    return int((~shapely.is_valid(geoms)).sum())


def _repaired_reason(count: int) -> Reason:
    return Reason(
        "BOUNDARY_REPAIRED",
        "warn",
        float(count),
        0.0,
        "个",
        "OGC Simple Features validity; repaired with shapely.make_valid (GEOS MakeValid)",
        f"边界有 {count} 个无效几何（自相交、蝴蝶结形等），已用 make_valid 修复后评价；请核对并重绘边界",
        f"{count} invalid boundary geometr{'y' if count == 1 else 'ies'} (self-intersection, "
        "bow-tie, ...) repaired with make_valid before evaluation; check and redraw the boundary",
    )


def workspace_extent(ctx: BoundaryContext, /) -> tuple[float, float, float, float] | None:
    """Bounding box of the workspace's vector layers and suitability raster (None: nothing)."""
    boxes = [g.total_bounds for g in ctx.constraints.values() if len(g)]
    boxes += [g.total_bounds for g in (ctx.park, ctx.parcels) if g is not None and len(g)]
    raster = ctx.path / "rasters" / "suitability.tif"
    if raster.exists():
        import rasterio

        with rasterio.open(raster) as r:
            boxes.append(np.asarray(tuple(r.bounds)))
    boxes = [b for b in boxes if np.isfinite(b).all()]
    if not boxes:
        return None
    b = np.vstack(boxes)
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


def _require_overlap(geom, ctx: BoundaryContext) -> None:
    extent = workspace_extent(ctx)
    if extent is None:
        return
    if not shapely.intersects(geom, shapely.box(*extent)):
        x0, y0, x1, y1 = geom.bounds
        raise CRSError(
            f"the boundary (x {x0:.0f}…{x1:.0f}, y {y0:.0f}…{y1:.0f} in {ctx.crs.to_string()}) "
            f"does not overlap the workspace (x {extent[0]:.0f}…{extent[2]:.0f}, "
            f"y {extent[1]:.0f}…{extent[3]:.0f}); check the boundary's CRS (e.g. a "
            "Gauss-Krüger zone with or without its 2-digit prefix) or the workspace"
        )


def _park_overlap(park: GeoDataFrame | None, geom) -> dict:
    if park is None or len(park) == 0:
        return {
            "present": False,
            "note": "no approved park boundary (四至) in the workspace: add a constraint layer of "
            "kind park_boundary to compare",
        }
    union = dissolve(park.geometry.values)
    overlap = float(shapely.area(shapely.intersection(union, geom)))
    return {
        "present": True,
        "park_mu": m2_to_mu(float(union.area)),
        "overlap_mu": m2_to_mu(overlap),
        "outside_park_mu": m2_to_mu(max(float(geom.area) - overlap, 0.0)),
        "share_of_boundary_in_park": overlap / geom.area if geom.area > 0 else None,
        "share_of_park_covered": overlap / union.area if union.area > 0 else None,
    }


def inside_shares(parcels: GeoDataFrame, pieces: np.ndarray, /) -> np.ndarray:
    """Share of each parcel's area covered by disjoint ``pieces`` (0 for empty parcels)."""
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    geoms = np.where(shapely.is_missing(geoms), shapely.Polygon(), geoms)
    area = shapely.area(geoms)
    covered = covered_area_m2(geoms, pieces)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(area > 0, covered / np.where(area > 0, area, 1.0), 0.0)


def _parcels_inside(parcels: GeoDataFrame | None, pieces: np.ndarray) -> tuple[dict, pd.DataFrame]:
    if parcels is None or len(parcels) == 0:
        return {"count": 0, "area_mu": 0.0, "rule": _rule(), "note": "no result_parcels"}, (
            pd.DataFrame()
        )
    share = inside_shares(parcels, pieces)
    inside = share >= INSIDE_SHARE - EPS
    frame = pd.DataFrame(parcels.loc[inside].drop(columns=parcels.geometry.name))
    frame["inside_share"] = share[inside]
    by_verdict = {}
    if "verdict" in frame.columns:
        for verdict, g in frame.groupby("verdict", sort=True):
            by_verdict[str(verdict)] = {
                "count": len(g),
                "area_mu": float(g["area_mu"].sum()),
                "net_available_mu": float(g.get("net_available_mu", pd.Series(0.0)).sum()),
            }
    out = {
        "rule": _rule(),
        "count": len(frame),
        "area_mu": float(frame["area_mu"].sum()) if "area_mu" in frame else 0.0,
        "net_available_mu": float(frame["net_available_mu"].sum())
        if "net_available_mu" in frame
        else 0.0,
        "by_verdict": by_verdict,
        "parcel_ids": frame["parcel_id"].astype(str).tolist() if "parcel_id" in frame else [],
    }
    return out, frame


def _rule() -> str:
    return f"a parcel counts as inside when ≥ {INSIDE_SHARE:.0%} of its area is inside"


def _cost(frame: pd.DataFrame) -> dict:
    if len(frame) == 0 or "cost_weighted_suitability" not in frame.columns:
        return {"note": "not computable: no parcels inside, or the workspace has no DEM analysis"}
    cws = frame["cost_weighted_suitability"].to_numpy(dtype=float)
    w = frame["area_mu"].to_numpy(dtype=float)
    ok = np.isfinite(cws) & (w > 0)
    mean = float(np.average(cws[ok], weights=w[ok])) if ok.any() else None
    dev = frame["dev_cost_wan"].to_numpy(dtype=float) if "dev_cost_wan" in frame else None
    total = float(np.nansum(dev)) if dev is not None else None
    net = float(frame["net_available_mu"].sum()) if "net_available_mu" in frame else 0.0
    return {
        "mean_cost_weighted_suitability": mean,
        "weighting": "area-weighted (gross 亩) over the parcels inside",
        "dev_cost_wan": total,
        "dev_cost_wan_per_net_mu": total / net if total is not None and net > 0 else None,
    }


def _missing_networks(frame: pd.DataFrame) -> dict[str, dict]:
    if len(frame) == 0 or "reasons" not in frame.columns:
        return {}
    out: dict[str, dict] = {}
    for text, mu in zip(frame["reasons"], frame["area_mu"], strict=True):
        for r in json.loads(text or "[]"):
            if r["code"].startswith("NETWORK_MISSING"):
                slot = out.setdefault(r["code"], {"parcels": 0, "area_mu": 0.0})
                slot["parcels"] += 1
                slot["area_mu"] += float(mu)
    return dict(sorted(out.items()))


def _industries(frame: pd.DataFrame, industry_field: str | None) -> tuple[dict, Reason | None]:
    base = {
        "field": industry_field,
        "guideline_max": MAX_LEADING_INDUSTRIES,
        "basis": INDUSTRY_BASIS,
    }
    if industry_field is None:
        return base | {
            "computable": False,
            "count": None,
            "note": "not computable: no industry_field",
        }, None
    if len(frame) == 0:
        return base | {"computable": True, "count": 0, "industries": {}}, None
    column = next(
        (c for c in (industry_field, f"src_{industry_field}") if c in frame.columns), None
    )
    if column is None:
        raise InputTableError(
            f"industry_field {industry_field!r} is not a column of result_parcels; "
            f"columns: {[c for c in frame.columns if not c.startswith(('excluded_', 'dist_'))]}"
        )
    values = frame[column].astype("string").str.strip()
    keep = values.notna() & (values != "")
    areas = frame.loc[keep].groupby(values[keep])["area_mu"].sum().sort_values(ascending=False)
    industries = {str(k): float(v) for k, v in areas.items()}
    n = len(industries)
    reason = None
    if n > MAX_LEADING_INDUSTRIES:
        names = "、".join(industries)
        reason = Reason(
            "TOO_MANY_LEADING_INDUSTRIES",
            "warn",
            float(n),
            float(MAX_LEADING_INDUSTRIES),
            "个",
            INDUSTRY_BASIS,
            f"边界内有 {n} 个主导产业（{names}），原则上不宜超过 {MAX_LEADING_INDUSTRIES} 个",
            f"{n} leading industries inside the boundary ({', '.join(industries)}); the guideline "
            f"is at most {MAX_LEADING_INDUSTRIES}",
        )
    return base | {"computable": True, "count": n, "industries": industries}, reason


def _constraint_reasons(by_kind: dict[str, float], policy: Policy) -> list[Reason]:
    tol = policy.tolerances
    out = []
    for kind, value in by_kind.items():
        if value <= tol.ignore_below_m2:
            continue
        rule = policy.rule_for(kind)
        severity = "warn" if rule.action == "warn" or value < tol.sliver_m2 else "block"
        mu = m2_to_mu(value)
        if rule.action == "require_inside":
            zh = f"边界有 {mu:.2f} 亩（{value:.0f} m²）位于{rule.label_zh}之外"
            en = f"{mu:.2f} mu ({value:.0f} m²) of the boundary lies outside the {rule.label_en}"
        else:
            zh = f"边界与{rule.label_zh}重叠 {mu:.2f} 亩（{value:.0f} m²）"
            en = f"the boundary overlaps the {rule.label_en} by {mu:.2f} mu ({value:.0f} m²)"
        if severity == "warn" and rule.action != "warn":
            zh += f"（小于容差 {tol.sliver_m2:g} m²，按提示处理）"
            en += f" (below the {tol.sliver_m2:g} m² sliver tolerance: a warning)"
        out.append(Reason(f"BOUNDARY_{rule.code}", severity, mu, 0.0, "亩", rule.basis, zh, en))
    return out

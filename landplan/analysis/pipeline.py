"""The main job end to end: load a manifest's files, compute available land and transfer verdicts.

``run_manifest(path)`` does everything; ``load_inputs`` and ``analyze`` are the two
halves, so callers holding GeoDataFrames already can skip the files.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
from geopandas import GeoDataFrame
from pyproj import CRS

from landplan.analysis.constraints import PreparedExclusions, exclusions_for, prepare_exclusions
from landplan.analysis.networks import network_distances, readiness_frame
from landplan.analysis.transfer import (
    Verdicts,
    assess,
    blocking_codes_of,
    reason_counts,
    reason_counts_of,
)
from landplan.core import crs as crsmod
from landplan.core.errors import CRSError, DataSourceError, ManifestError
from landplan.core.policy import Policy, load_policy
from landplan.core.types import ALL_LABEL
from landplan.core.units import ellipsoidal_area_m2, m2_to_ha, m2_to_mu
from landplan.io.manifest import Manifest, NetworkEntry, load_manifest
from landplan.io.vector import LayerReport, read_vector

StepCallback = Callable[[str], None]


def _noop(_: str) -> None:
    return None


@dataclass(frozen=True)
class Inputs:
    """Validated inputs, all in the workspace CRS."""

    name: str
    crs: CRS
    parcels: GeoDataFrame  # ``parcel_id`` first, then the source attributes
    constraints: dict[str, GeoDataFrame]
    networks: (
        GeoDataFrame  # ``kind``, ``status`` (built/planned), ``status_source``, source attributes
    )
    reports: list[LayerReport]
    group_field: str | None = None
    dem_path: Path | None = None
    efficiency: dict = field(
        default_factory=dict
    )  # options of landplan.indicators.efficiency.park_efficiency


@dataclass(frozen=True)
class AnalysisResult:
    """Per-parcel results plus the park summary and reason counts."""

    name: str
    crs: CRS
    parcels: GeoDataFrame
    summary: pd.DataFrame
    reasons: pd.DataFrame
    inputs: Inputs
    policy: Policy
    notes: list[str] = field(default_factory=list)
    rasters: dict[str, Path] = field(
        default_factory=dict
    )  # name → COG (dem, slope, suitability, ...)


# --------------------------------------------------------------------------- loading


def choose_workspace_crs(manifest: Manifest, /) -> CRS:
    """The manifest's ``crs``, or the CGCS2000 3° GK zone of the parcels' centre when ``auto``."""
    if manifest.crs.lower() != "auto":
        chosen = crsmod.parse_crs(manifest.crs)
        if not chosen.is_projected:
            raise CRSError(
                f"the workspace CRS must be projected (metres); {manifest.crs} is not. Use e.g. EPSG:4542"
            )
        return chosen
    entry = manifest.parcels
    path = manifest.resolve(entry.path)
    if not path.exists():
        raise DataSourceError(f"parcels file not found: {path}")
    try:
        info = pyogrio.read_info(path, layer=entry.layer, force_total_bounds=True)
    except Exception as exc:
        raise DataSourceError(
            f"cannot open the parcels file {path.name} ({type(exc).__name__})"
        ) from exc
    source = entry.crs or info.get("crs")
    if source is None:
        raise CRSError(
            f"the parcels ({path.name}) have no CRS, so the workspace zone cannot be chosen; state it under "
            '[parcels] with crs = "EPSG:...."'
        )
    lon, _ = crsmod.lonlat_of_bounds(tuple(info["total_bounds"]), crsmod.parse_crs(source))
    return crsmod.gk_zone_crs(lon)


def _read_networks(
    manifest: Manifest, entries: list[NetworkEntry], crs: CRS, reports: list
) -> GeoDataFrame:
    frames = []
    for e in entries:
        gdf, rep = read_vector(
            manifest.resolve(e.path),
            role="network",
            workspace_crs=crs,
            name=f"network:{e.kind}",
            layer=e.layer,
            encoding=e.encoding,
            crs=e.crs,
        )
        reports.append(rep)
        raw_status = gdf[e.status_field] if e.status_field in gdf.columns else None
        gdf = gdf.rename(
            columns={c: f"src_{c}" for c in ("kind", "status", "status_source") if c in gdf.columns}
        )
        gdf.insert(0, "kind", e.kind)
        if e.status_field is None:
            gdf.insert(1, "status", "built")
            gdf.insert(2, "status_source", "")
        else:
            if raw_status is None:
                raise ManifestError(
                    f"network {e.kind!r}: no field {e.status_field!r}; fields: {list(gdf.columns)}"
                )
            raw = raw_status.astype("string").fillna("").str.strip()
            status = np.where(raw.isin(e.built_values), "built", "planned")
            planned_values = sorted(set(raw[status == "planned"].unique()))
            if planned_values:
                n_planned = int((status == "planned").sum())
                rep.add(
                    "STATUS_MAPPED",
                    "warning",
                    f"{n_planned} features counted as planned (values {planned_values}); "
                    f"built values are {e.built_values}",
                    count=n_planned,
                )
            gdf.insert(1, "status", status)
            gdf.insert(2, "status_source", raw.to_numpy())
        frames.append(gdf)
    if not frames:
        return GeoDataFrame({"kind": [], "status": [], "status_source": []}, geometry=[], crs=crs)
    return GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)


def load_inputs(manifest: Manifest, /, *, on_step: StepCallback = _noop) -> Inputs:
    """Read, validate and reproject every file the manifest names."""
    crs = choose_workspace_crs(manifest)
    reports: list[LayerReport] = []
    on_step("parcels")
    p = manifest.parcels
    parcels, rep = read_vector(
        manifest.resolve(p.path),
        role="parcels",
        workspace_crs=crs,
        name="parcels",
        layer=p.layer,
        encoding=p.encoding,
        crs=p.crs,
        id_field=p.id_field,
        duplicate_ids=p.duplicate_ids,
    )
    reports.append(rep)
    if p.group_field is not None and p.group_field not in parcels.columns:
        raise ManifestError(
            f"[parcels] group_field {p.group_field!r} is not a field of the parcels"
        )
    parcels.insert(0, "parcel_id", parcels[p.id_field].astype(str))
    on_step("constraints")
    constraints = {}
    for c in manifest.constraints:
        gdf, rep = read_vector(
            manifest.resolve(c.path),
            role="constraint",
            workspace_crs=crs,
            name=f"constraint:{c.kind}",
            layer=c.layer,
            encoding=c.encoding,
            crs=c.crs,
        )
        reports.append(rep)
        constraints[c.kind] = gdf
    on_step("networks")
    networks = _read_networks(manifest, manifest.networks, crs, reports)
    dem_path = None
    if manifest.dem is not None:
        dem_path = manifest.resolve(manifest.dem.path)
        if not dem_path.exists():
            raise DataSourceError(f"DEM not found: {dem_path}")
    for opt in ("status_field", "land_use_field", "floor_area_field"):
        name = getattr(p, opt)
        if name is not None and name not in parcels.columns:
            raise ManifestError(f"[parcels] {opt} {name!r} is not a field of the parcels")
    efficiency = {
        "status_field": p.status_field,
        "supplied_values": tuple(p.supplied_values),
        "built_values": tuple(p.built_values),
        "land_use_field": p.land_use_field,
        "floor_area_field": p.floor_area_field,
    }
    return Inputs(
        manifest.name,
        crs,
        parcels,
        constraints,
        networks,
        reports,
        p.group_field,
        dem_path,
        efficiency,
    )


# --------------------------------------------------------------------------- analysis


def _area_block(parcels: GeoDataFrame) -> pd.DataFrame:
    planar = np.asarray(parcels.geometry.area, dtype="float64")
    ellipsoidal = ellipsoidal_area_m2(parcels)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff_pct = np.where(ellipsoidal > 0, 100.0 * (planar - ellipsoidal) / ellipsoidal, np.nan)
    return pd.DataFrame(
        {
            "area_m2": planar,
            "area_mu": m2_to_mu(planar),
            "area_ha": m2_to_ha(planar),
            "area_ellipsoidal_m2": ellipsoidal,
            "area_ellipsoidal_mu": m2_to_mu(ellipsoidal),
            "area_ellipsoidal_ha": m2_to_ha(ellipsoidal),
            "planar_vs_ellipsoidal_pct": diff_pct,
        }
    )


def constraint_kinds(inputs: Inputs, policy: Policy, /) -> list[str]:
    """Constraint kinds that count in the overlay (every kind the policy does not mark ``info``)."""
    return [k for k in inputs.constraints if policy.rule_for(k).action != "info"]


def network_kinds(inputs: Inputs, policy: Policy, /) -> list[str]:
    """The policy's required network kinds, then any other kind the networks hold."""
    return list(
        dict.fromkeys([*policy.required_networks(), *inputs.networks["kind"].unique().tolist()])
    )


def parcel_table(
    parcels: GeoDataFrame,
    policy: Policy,
    /,
    *,
    exclusions: PreparedExclusions,
    networks: GeoDataFrame,
    network_kinds: list[str],
    on_step: StepCallback = _noop,
) -> pd.DataFrame:
    """The per-parcel part of :func:`analyze` before the DEM step and the verdicts.

    Areas (planar and ellipsoidal), ``geometry_empty``, exclusions, network distances and
    readiness, one row per parcel in the parcels' order (index ``0..n-1``).  Every row
    depends only on its own parcel, so any subset of parcels gives the same rows.
    """
    on_step("areas")
    table = _area_block(parcels)
    table["geometry_empty"] = (
        parcels.geometry.is_empty.to_numpy() | parcels.geometry.isna().to_numpy()
    )
    on_step("overlay")
    excl = exclusions_for(parcels, exclusions).frame()
    for kind in exclusions.kinds:
        excl[f"excluded_{kind}_mu"] = m2_to_mu(excl[f"excluded_{kind}_m2"])
    excl["excluded_mu"] = m2_to_mu(excl["excluded_m2"])
    excl["net_available_mu"] = m2_to_mu(excl["net_available_m2"])
    excl["net_available_ha"] = m2_to_ha(excl["net_available_m2"])
    on_step("networks")
    dist = network_distances(parcels, networks, kinds=network_kinds)
    return pd.concat(
        [table, excl, dist, readiness_frame(dist, policy, kinds=network_kinds)], axis=1
    )


def development_step(
    inputs: Inputs,
    table: pd.DataFrame,
    policy: Policy,
    /,
    *,
    on_step: StepCallback = _noop,
    raster_dir: Path | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """``table`` with the DEM columns added and the rasters written (unchanged without a DEM)."""
    if inputs.dem_path is None:
        return table, {}
    from landplan.raster.development import analyze_development

    folder = Path(raster_dir) if raster_dir else Path(tempfile.mkdtemp(prefix="landplan-rasters-"))
    dev = analyze_development(
        inputs.parcels,
        table,
        dem_path=inputs.dem_path,
        constraints=inputs.constraints,
        networks=inputs.networks,
        policy=policy,
        folder=folder,
        on_step=on_step,
    )
    return pd.concat([table, dev.columns.set_index(table.index)], axis=1), dev.rasters


def finish(
    inputs: Inputs,
    table: pd.DataFrame,
    verdicts: pd.DataFrame,
    policy: Policy,
    /,
    *,
    rasters: dict[str, Path] | None = None,
) -> AnalysisResult:
    """The whole-park part of :func:`analyze`: assemble, park summary, efficiency, reason counts.

    ``table`` and ``verdicts`` hold one row per parcel of ``inputs.parcels``, in its order.
    With :class:`~landplan.analysis.transfer.Verdicts` (from ``assess``), the summary and reason
    counts come from the reason objects; with a plain verdict frame, from its JSON.
    """
    flagged = verdicts.flagged if isinstance(verdicts, Verdicts) else None
    verdicts = verdicts.frame if isinstance(verdicts, Verdicts) else verdicts
    out = _assemble(inputs.parcels, table.drop(columns="geometry_empty"), verdicts)
    blocking = None if flagged is None else blocking_codes_of(flagged)
    summary = park_summary(
        out, constraint_kinds(inputs, policy), inputs.group_field, blocking=blocking
    )
    summary = summary.merge(_efficiency(out, inputs), on="group", how="left")
    if flagged is None:
        reasons = reason_counts(out["reasons"].tolist(), out["area_mu"].tolist())
    else:
        reasons = reason_counts_of(flagged, out["area_mu"].to_numpy())
    return AnalysisResult(
        inputs.name, inputs.crs, out, summary, reasons, inputs, policy, rasters=rasters or {}
    )


def analyze(
    inputs: Inputs,
    policy: Policy | None = None,
    /,
    *,
    on_step: StepCallback = _noop,
    raster_dir: Path | None = None,
) -> AnalysisResult:
    """Available land, network readiness and transfer verdicts for every parcel.

    With a DEM, also terrain, suitability and development cost (:mod:`landplan.raster.development`);
    its rasters go to ``raster_dir`` (a new temporary directory when not given).
    :func:`landplan.analysis.partitioned.analyze_partitioned` gives the same result on a Dask cluster.
    """
    policy = policy or load_policy()
    net_kinds = network_kinds(inputs, policy)
    table = parcel_table(
        inputs.parcels,
        policy,
        exclusions=prepare_exclusions(inputs.constraints, policy),
        networks=inputs.networks,
        network_kinds=net_kinds,
        on_step=on_step,
    )
    table, rasters = development_step(inputs, table, policy, on_step=on_step, raster_dir=raster_dir)
    on_step("verdicts")
    verdicts = assess(
        table, policy, constraint_kinds=constraint_kinds(inputs, policy), network_kinds=net_kinds
    )
    return finish(inputs, table, verdicts, policy, rasters=rasters)


def _efficiency(parcels: GeoDataFrame, inputs: Inputs) -> pd.DataFrame:
    """开发区土地集约利用评价 rates per group, to merge into the park summary."""
    from landplan.indicators.efficiency import park_efficiency

    options = {"land_use_field": None} | inputs.efficiency
    eff = park_efficiency(
        pd.DataFrame(parcels.drop(columns="geometry")), group_field=inputs.group_field, **options
    )
    return eff.drop(columns=[c for c in eff.columns if c != "group" and c in ("parcels",)])


def _assemble(parcels: GeoDataFrame, table: pd.DataFrame, verdicts: pd.DataFrame) -> GeoDataFrame:
    computed = pd.concat([table, verdicts], axis=1)
    source = parcels.drop(columns=[parcels.geometry.name, "parcel_id"])
    clash = [c for c in source.columns if c in computed.columns]
    source = source.rename(columns={c: f"src_{c}" for c in clash})
    frame = pd.concat(
        [
            parcels[["parcel_id"]].reset_index(drop=True),
            computed.reset_index(drop=True),
            source.reset_index(drop=True),
        ],
        axis=1,
    )
    return GeoDataFrame(frame, geometry=parcels.geometry.reset_index(drop=True), crs=parcels.crs)


def park_summary(
    parcels: pd.DataFrame,
    constraint_kinds: list[str],
    group_field: str | None,
    *,
    blocking: list[set[str]] | None = None,
) -> pd.DataFrame:
    """Totals for the whole park (and per group): gross, excluded by kind, net, transferable, blocked by code.

    ``blocking`` holds each row's set of ``block`` reason codes (from the reason objects); without
    it they are read from the ``reasons`` JSON column (results read back from a store).
    """
    rows = []
    groups = [(ALL_LABEL, parcels)]
    if group_field is not None:
        groups += [(str(k), g) for k, g in parcels.groupby(group_field, sort=True, dropna=False)]
    if blocking is None:
        blocking = parcels["reasons"].map(
            lambda t: {r["code"] for r in json.loads(t) if r["severity"] == "block"}
        )
    else:
        blocking = pd.Series(blocking, index=parcels.index, dtype=object)
    codes = sorted(set().union(*blocking)) if len(blocking) else []
    for label, g in groups:
        transferable = g["transferable"].to_numpy(dtype=bool)
        row = {
            "group": label,
            "parcels": len(g),
            "gross_mu": g["area_mu"].sum(),
            "gross_ha": g["area_ha"].sum(),
            "gross_ellipsoidal_mu": g["area_ellipsoidal_mu"].sum(),
            "gross_ellipsoidal_ha": g["area_ellipsoidal_ha"].sum(),
        }
        ell = row["gross_ellipsoidal_mu"]
        row["planar_vs_ellipsoidal_pct"] = 100.0 * (row["gross_mu"] - ell) / ell if ell else np.nan
        for kind in constraint_kinds:
            row[f"excluded_{kind}_mu"] = g[f"excluded_{kind}_mu"].sum()
        row["excluded_mu"] = g["excluded_mu"].sum()
        row["net_available_mu"] = g["net_available_mu"].sum()
        row["net_available_ha"] = g["net_available_ha"].sum()
        row["transferable_parcels"] = int(transferable.sum())
        row["transferable_net_mu"] = g.loc[transferable, "net_available_mu"].sum()
        row["transferable_net_ha"] = g.loc[transferable, "net_available_ha"].sum()
        row["blocked_parcels"] = int((~transferable).sum())
        row["warning_parcels"] = int((g["verdict"] == "transferable_with_warnings").sum())
        for code in codes:
            row[f"blocked_by_{code}"] = int(
                blocking.loc[g.index].map(lambda s, c=code: c in s).sum()
            )
        rows.append(row)
    return pd.DataFrame(rows)


def run_manifest(
    path: str | Path, /, *, policy: Policy | None = None, on_step: StepCallback = _noop
) -> AnalysisResult:
    """Load a manifest and analyse it."""
    inputs = load_inputs(load_manifest(path), on_step=on_step)
    return analyze(inputs, policy, on_step=on_step)

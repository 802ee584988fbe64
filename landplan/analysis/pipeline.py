"""The main job's parts: load a manifest's files, the per-parcel table, the whole-park figures.

:func:`load_inputs` reads and validates every file; :func:`parcel_table` gives areas,
exclusions and network distances of any set of parcels; :func:`whole_park` the park summary and
reason counts.  :mod:`landplan.analysis.job` puts them together chunk by chunk
(``run_manifest(path)`` does everything).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from geopandas import GeoDataFrame
from pyproj import CRS

from landplan.analysis.constraints import PreparedExclusions, exclusions_for
from landplan.analysis.networks import (
    PreparedNetworks,
    distances_to,
    prepare_networks,
    readiness_frame,
)
from landplan.analysis.transfer import (
    Verdicts,
    blocking_codes_of,
    reason_counts,
    reason_counts_of,
)
from landplan.core import crs as crsmod
from landplan.core.errors import CRSError, DataSourceError, EmptyLayerError, ManifestError
from landplan.core.policy import Policy
from landplan.core.types import ALL_LABEL
from landplan.core.units import ellipsoidal_area_m2, m2_to_ha, m2_to_mu
from landplan.io.checks import (
    check_dem,
    check_extents,
    known_overlaps,
    overlap_counted_before_m2,
)
from landplan.io.manifest import FrameSource, Manifest, NetworkEntry
from landplan.io.vector import MAX_PROJECTED_COORD, LayerReport, check_source, read_vector

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
        try:
            chosen = crsmod.parse_crs(manifest.crs)
        except CRSError as exc:
            raise CRSError(f"the manifest's workspace crs: {exc}") from exc
        if not chosen.is_projected:
            raise CRSError(
                f"the manifest's workspace crs must be projected (metres); {manifest.crs} is not. "
                'Use e.g. crs = "EPSG:4542", or crs = "auto"'
            )
        return chosen
    entry = manifest.parcels
    path = manifest.resolve(entry.path)
    if isinstance(path, FrameSource):  # landplan.analyze on a GeoDataFrame
        return _frame_zone(path, entry.crs)
    if not path.exists():
        raise DataSourceError(f"parcels file not found: {path}")
    check_source(path, entry.layer)  # sidecars, truncation, layers: the same refusals as reading
    try:
        info = pyogrio.read_info(path, layer=entry.layer, force_total_bounds=True)
    except Exception as exc:
        raise DataSourceError(
            f"cannot open the parcels file {path.name} ({type(exc).__name__})"
        ) from exc
    if info.get("features") == 0:
        raise EmptyLayerError(
            f"layer 'parcels' ({path.name}) has no features; fix the export, or remove it from the manifest"
        )
    source = entry.crs or info.get("crs")
    if source is None:
        raise CRSError(
            f"the parcels ({path.name}) have no CRS (no .prj or SRS), so the workspace zone cannot be "
            'chosen; state it under [parcels], e.g. crs = "EPSG:4542" (CGCS2000 GK CM 99°E) or '
            'crs = "EPSG:4490" (CGCS2000 longitude/latitude)'
        )
    try:
        return workspace_zone(path, entry.layer, crsmod.parse_crs(source), info.get("total_bounds"))
    except CRSError as exc:
        if path.name in str(exc):
            raise
        raise CRSError(f"layer 'parcels' ({path.name}): {exc}") from exc


def workspace_zone(path: Path, layer: str | None, source: CRS, bounds) -> CRS:
    """The CGCS2000 3° GK zone (CM form) of the parcels, from their extent in ``source``.

    Zone-prefixed eastings name their zone; features with non-finite or absurd coordinates
    are left out of the extent (validation reports them by id).
    """
    bounds = tuple(float(v) for v in bounds) if bounds is not None else (np.nan,) * 4
    plausible = np.all(np.isfinite(bounds)) and max(map(abs, bounds)) < MAX_PROJECTED_COORD
    if not plausible:
        bounds = _finite_bounds(path, layer, source)
    if source.is_geographic and not crsmod.looks_like_degrees(bounds):
        raise CRSError(
            f"layer 'parcels' ({path.name}) declares {source.to_string()} (degrees) but its coordinates "
            f"reach {bounds[2]:.0f}, {bounds[3]:.0f}: they are metres of a projected CRS; state it, e.g. "
            'crs = "EPSG:4542"'
        )
    gk = crsmod.gk3_zone_of_crs(source)
    if gk is not None:
        prefix = {
            crsmod.prefixed_zone_of_easting(bounds[0]),
            crsmod.prefixed_zone_of_easting(bounds[2]),
        }
        zone = prefix.pop() if len(prefix) == 1 and None not in prefix else gk[0]
        if crsmod.GK3_MIN_ZONE <= zone <= crsmod.GK3_MAX_ZONE:
            return CRS.from_epsg(4534 + zone - crsmod.GK3_MIN_ZONE)
    lon, lat = crsmod.lonlat_of_bounds(bounds, source)
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise CRSError(
            f"the parcels ({path.name}) have coordinates {_fmt_bounds(bounds)} that {source.to_string()} "
            'cannot place on Earth; check the CRS, or state it under [parcels] with crs = "EPSG:...."'
        )
    return crsmod.gk_zone_crs(lon)


def _fmt_bounds(b) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in b) + ")"


def _frame_zone(path: FrameSource, stated: str | None) -> CRS:
    """The workspace zone of parcels given as a GeoDataFrame (as :func:`choose_workspace_crs`)."""
    if len(path.frame) == 0:
        raise EmptyLayerError(f"{path.name} has no features")
    source = stated or path.frame.crs
    if source is None:
        raise CRSError(
            f"the {path.name} has no CRS, so the workspace zone cannot be chosen; set it "
            "(frame.set_crs(...)) or pass crs='EPSG:....'"
        )
    return workspace_zone(path, None, crsmod.parse_crs(source), path.frame.total_bounds)


def _finite_bounds(path: Path, layer: str | None, source: CRS) -> tuple[float, ...]:
    from landplan.io.vector import bad_coordinates

    try:
        if isinstance(path, FrameSource):
            geoms = path.frame.geometry.values
        else:
            geoms = pyogrio.read_dataframe(path, layer=layer, columns=[]).geometry.values
    except Exception as exc:
        raise DataSourceError(
            f"cannot read the parcels file {path.name} ({type(exc).__name__})"
        ) from exc
    geoms = np.asarray(geoms, dtype=object)
    ok = ~bad_coordinates(geoms, bool(source.is_geographic)) & ~shapely.is_empty(geoms)
    ok &= ~shapely.is_missing(geoms)
    if not ok.any():
        raise CRSError(
            f"no parcel in {path.name} has finite, plausible coordinates (all NaN, infinite or beyond "
            f"{MAX_PROJECTED_COORD:.0e}); check the export"
        )
    return tuple(float(v) for v in shapely.total_bounds(geoms[ok]))


def _read_entry(manifest: Manifest, entry, crs: CRS, /, *, role: str, name: str, **options):
    """:func:`~landplan.io.vector.read_vector` of one manifest entry (its path, layer, encoding
    and stated CRS) into the workspace CRS: the layer and its report."""
    return read_vector(
        manifest.resolve(entry.path),
        role=role,
        workspace_crs=crs,
        name=name,
        layer=entry.layer,
        encoding=entry.encoding,
        crs=entry.crs,
        **options,
    )


def _read_networks(
    manifest: Manifest, entries: list[NetworkEntry], crs: CRS, reports: list
) -> GeoDataFrame:
    frames = []
    for e in entries:
        gdf, rep = _read_entry(manifest, e, crs, role="network", name=f"network:{e.kind}")
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


def load_inputs(
    manifest: Manifest,
    /,
    *,
    on_step: StepCallback = _noop,
    on_layers: Callable[[Inputs], None] | None = None,
) -> Inputs:
    """Read, validate and reproject every file the manifest names.

    ``on_layers`` (optional) is called with the constraint layers and networks as soon as they
    are read, before the parcels (an :class:`Inputs` with no parcels), so that a chunk worker can
    prepare them while the parcels are read and validated.
    """
    crs = choose_workspace_crs(manifest)
    reports: list[LayerReport] = []
    if on_layers is not None:
        constraints, networks = _read_layers(manifest, crs, reports, on_step)
        empty = GeoDataFrame(geometry=[], crs=crs)
        on_layers(Inputs(manifest.name, crs, empty, constraints, networks, []))
    on_step("parcels")
    p = manifest.parcels
    options = {"id_field": p.id_field, "duplicate_ids": p.duplicate_ids}
    parcels, rep = _read_entry(manifest, p, crs, role="parcels", name="parcels", **options)
    reports.insert(0, rep)  # the parcels' report first, whichever layer was read first
    fields = _source_fields(p, parcels)
    if on_layers is None:
        constraints, networks = _read_layers(manifest, crs, reports, on_step)
    check_extents(manifest, parcels, constraints, networks, reports)
    dem_path = None
    if manifest.dem is not None:
        dem_path = manifest.resolve(manifest.dem.path)
        reports.append(check_dem(dem_path, parcels, crs, stated_crs=manifest.dem.crs))
    efficiency = {
        "status_field": fields["status_field"],
        "supplied_values": tuple(p.supplied_values),
        "built_values": tuple(p.built_values),
        "land_use_field": fields["land_use_field"],
        "floor_area_field": fields["floor_area_field"],
    }
    return Inputs(
        manifest.name,
        crs,
        parcels,
        constraints,
        networks,
        reports,
        fields["group_field"],
        dem_path,
        efficiency,
    )


def _read_layers(
    manifest: Manifest, crs, reports: list[LayerReport], on_step: StepCallback
) -> tuple[dict[str, GeoDataFrame], GeoDataFrame]:
    """The constraint layers (kind → layer) and the networks, their reports added to ``reports``."""
    on_step("constraints")
    constraints = {}
    for c in manifest.constraints:
        gdf, rep = _read_entry(manifest, c, crs, role="constraint", name=f"constraint:{c.kind}")
        reports.append(rep)
        constraints[c.kind] = gdf
    on_step("networks")
    return constraints, _read_networks(manifest, manifest.networks, crs, reports)


def _source_fields(p, parcels: GeoDataFrame) -> dict[str, str | None]:
    """The manifest's [parcels] fields as columns of the read parcels (``parcel_id`` → ``src_parcel_id``)."""
    out: dict[str, str | None] = {}
    for opt in ("group_field", "status_field", "land_use_field", "floor_area_field"):
        name = getattr(p, opt)
        if name == "parcel_id":
            name = "src_parcel_id"
        if name is not None and name not in parcels.columns:
            fields = [c for c in parcels.columns if c not in ("geometry", "geometry_status")]
            raise ManifestError(
                f"[parcels] {opt} {name!r} is not a field of the parcels ({p.path.name}); "
                f"their fields are {fields}"
            )
        out[opt] = name
    return out


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
    networks: GeoDataFrame | PreparedNetworks | None,
    network_kinds: list[str],
    on_step: StepCallback = _noop,
) -> pd.DataFrame:
    """The per-parcel part of the analysis before the DEM step and the verdicts.

    Areas (planar and ellipsoidal), ``geometry_empty``, exclusions, network distances and
    readiness, one row per parcel in the parcels' order (index ``0..n-1``).  Every row
    depends only on its own parcel, so any subset of parcels gives the same rows.
    """
    on_step("areas")
    table = _area_block(parcels)
    status = geometry_status(parcels)
    table["geometry_empty"] = status != "ok"
    table["geometry_invalid"] = status == "invalid"
    on_step("overlay")
    excl = exclusions_for(parcels, exclusions).frame()
    # floating-point leftovers (a parcel wholly inside a red line keeps 1e-10 m²) are no land
    noise = excl["net_available_m2"].to_numpy() < policy.tolerances.ignore_below_m2
    excl.loc[noise, "net_available_m2"] = 0.0
    for kind in exclusions.kinds:
        excl[f"excluded_{kind}_mu"] = m2_to_mu(excl[f"excluded_{kind}_m2"])
    excl["excluded_mu"] = m2_to_mu(excl["excluded_m2"])
    excl["net_available_mu"] = m2_to_mu(excl["net_available_m2"])
    excl["net_available_ha"] = m2_to_ha(excl["net_available_m2"])
    on_step("networks")
    if not isinstance(networks, PreparedNetworks):
        networks = prepare_networks(networks, kinds=network_kinds)
    dist = distances_to(parcels, networks)
    ready = readiness_frame(dist, policy, kinds=network_kinds)
    provided = networks.provided
    for kind in network_kinds:  # absent is not none: no layer at all is "not provided"
        if kind not in provided and f"net_{kind}_status" in ready:
            ready[f"net_{kind}_status"] = "not_provided"
    return pd.concat([table, excl, dist, ready], axis=1)


def geometry_status(parcels: GeoDataFrame, /) -> np.ndarray:
    """``ok`` / ``empty`` / ``degenerate`` / ``invalid`` per parcel (validation's column, else computed)."""
    if "geometry_status" in parcels.columns:
        return parcels["geometry_status"].to_numpy(dtype=object)
    from landplan.io.vector import DEGENERATE_AREA_M2, bad_coordinates

    geoms = np.asarray(parcels.geometry.values, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    bad = bad_coordinates(geoms, False) | (~missing & ~shapely.is_valid(geoms))
    tiny = ~missing & ~bad & (shapely.area(geoms) < DEGENERATE_AREA_M2)
    out = np.full(len(geoms), "ok", dtype=object)
    out[tiny], out[bad], out[missing] = "degenerate", "invalid", "empty"
    return out


def finish(
    inputs: Inputs,
    table: pd.DataFrame,
    verdicts: pd.DataFrame,
    policy: Policy,
    /,
    *,
    rasters: dict[str, Path] | None = None,
) -> AnalysisResult:
    """The whole-park part of the analysis on a whole per-parcel table (the Dask path).

    ``table`` and ``verdicts`` hold one row per parcel of ``inputs.parcels``, in its order.
    With :class:`~landplan.analysis.transfer.Verdicts` (from ``assess``), the summary and reason
    counts come from the reason objects; with a plain verdict frame, from its JSON.
    """
    flagged = verdicts.flagged if isinstance(verdicts, Verdicts) else None
    verdicts = verdicts.frame if isinstance(verdicts, Verdicts) else verdicts
    table = table.drop(columns=["geometry_empty", "geometry_invalid"], errors="ignore")
    geoms = np.asarray(inputs.parcels.geometry.values, dtype=object)
    overlap = overlap_counted_before_m2(geoms, known_overlaps(inputs.parcels))
    table = table.assign(overlap_counted_m2=overlap)
    out, renamed = assemble(inputs.parcels, table, verdicts)
    inputs = renamed_inputs(inputs, renamed)
    if flagged is None:
        blocking = blocking_from_json(out["reasons"])
        counts = reason_counts(out["reasons"].tolist(), out["area_mu"].tolist())
    else:
        blocking = blocking_codes_of(flagged)
        counts = reason_counts_of(flagged, out["area_mu"].to_numpy())
    summary, reasons = whole_park(inputs, policy, out, blocking, [counts])
    return AnalysisResult(
        inputs.name, inputs.crs, out, summary, reasons, inputs, policy, rasters=rasters or {}
    )


def whole_park(
    inputs: Inputs,
    policy: Policy,
    parcels: pd.DataFrame,
    blocking: pd.DataFrame,
    counts: list[pd.DataFrame],
    /,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The park summary (with efficiency) and the reason counts, from per-parcel figures.

    ``parcels`` needs only the :func:`summary_columns` (the streamed job keeps no more);
    ``counts`` are the reason counts of consecutive chunks, merged here.
    """
    summary = park_summary(
        parcels, constraint_kinds(inputs, policy), inputs.group_field, blocking=blocking
    )
    summary = summary.merge(_efficiency(parcels, inputs), on="group", how="left")
    return summary, merge_reason_counts(counts)


def merge_reason_counts(parts: list[pd.DataFrame], /) -> pd.DataFrame:
    """Reason counts of consecutive chunks as one table, in :func:`reason_counts_of`'s order."""
    parts = [p for p in parts if len(p)]
    if len(parts) <= 1:
        return parts[0] if parts else reason_counts_of_nothing()
    both = pd.concat(parts, ignore_index=True)
    out = both.groupby(["code", "severity"], as_index=False).agg(
        parcels=("parcels", "sum"), area_mu=("area_mu", "sum")
    )
    return out.sort_values(["severity", "parcels"], ascending=[True, False]).reset_index(drop=True)


def reason_counts_of_nothing() -> pd.DataFrame:
    return pd.DataFrame(columns=["code", "severity", "parcels", "area_mu"])


def summary_columns(inputs: Inputs, policy: Policy, columns, /) -> list[str]:
    """The result columns :func:`whole_park` reads (figures, group and efficiency fields)."""
    wanted = {
        "parcel_id",
        "area_m2",
        "area_mu",
        "area_ha",
        "area_ellipsoidal_m2",
        "area_ellipsoidal_mu",
        "area_ellipsoidal_ha",
        *(f"excluded_{kind}_mu" for kind in constraint_kinds(inputs, policy)),
        "excluded_mu",
        "net_available_mu",
        "net_available_ha",
        "overlap_counted_m2",
        "transferable",
        "verdict",
    }
    wanted |= {v for v in inputs.efficiency.values() if isinstance(v, str)}
    if inputs.group_field:
        wanted.add(inputs.group_field)
    return [c for c in columns if c in wanted]


def _efficiency(parcels: GeoDataFrame, inputs: Inputs) -> pd.DataFrame:
    """开发区土地集约利用评价 rates per group, to merge into the park summary."""
    from landplan.indicators.efficiency import park_efficiency

    options = {"land_use_field": None} | inputs.efficiency
    eff = park_efficiency(
        pd.DataFrame(parcels.drop(columns="geometry", errors="ignore")),
        group_field=inputs.group_field,
        **options,
    )
    return eff.drop(columns=[c for c in eff.columns if c != "group" and c in ("parcels",)])


def assemble(
    parcels: GeoDataFrame, table: pd.DataFrame, verdicts: pd.DataFrame
) -> tuple[GeoDataFrame, dict[str, str]]:
    """landplan's columns first, then the source attributes; returns the frame and the renames.

    The one rule of the column namespace: a source attribute keeps its name unless a landplan
    column has it, then it becomes ``src_<name>`` (``src_src_<name>`` if that is taken too).
    """
    from landplan.io.vector import source_name

    computed = pd.concat([table, verdicts], axis=1)
    own = [c for c in ("parcel_id", "geometry_status") if c in parcels.columns]
    source = parcels.drop(columns=[parcels.geometry.name, *own])
    taken = {"geometry", *own, *computed.columns, *source.columns}
    renamed: dict[str, str] = {}
    for c in source.columns:
        if c in computed.columns or c == "geometry":
            renamed[c] = source_name(c, taken)
            taken.add(renamed[c])
    source = source.rename(columns=renamed)
    frame = pd.concat(
        [
            parcels[own].reset_index(drop=True),
            computed.reset_index(drop=True),
            source.reset_index(drop=True),
        ],
        axis=1,
    )
    out = GeoDataFrame(frame, geometry=parcels.geometry.reset_index(drop=True), crs=parcels.crs)
    return out, renamed


def renamed_inputs(inputs: Inputs, renamed: dict[str, str]) -> Inputs:
    """``inputs`` whose group and efficiency fields name the result's (renamed) columns."""
    if not renamed:
        return inputs
    import dataclasses

    eff = {k: renamed.get(v, v) if isinstance(v, str) else v for k, v in inputs.efficiency.items()}
    group = renamed.get(inputs.group_field, inputs.group_field) if inputs.group_field else None
    return dataclasses.replace(inputs, group_field=group, efficiency=eff)


def park_summary(
    parcels: pd.DataFrame,
    constraint_kinds: list[str],
    group_field: str | None,
    *,
    blocking: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Totals for the whole park (and per group): gross, excluded by kind, net, transferable, blocked by code.

    ``blocking`` has one boolean column per ``block`` reason code, one row per parcel (from the
    reason columns, :func:`~landplan.analysis.transfer.blocking_codes_of`); without it they are
    read from the ``reasons`` JSON column (results read back from a store).
    """
    rows = []
    figures = [
        "area_mu",
        "area_ha",
        "area_ellipsoidal_mu",
        "area_ellipsoidal_ha",
        *(f"excluded_{kind}_mu" for kind in constraint_kinds),
        "excluded_mu",
        "net_available_mu",
        "net_available_ha",
        "transferable",
        "verdict",
    ]
    table = parcels[figures]  # groups carry only these (not the long text columns)
    groups = [(ALL_LABEL, table)]
    if group_field is not None:
        by = parcels[group_field]
        groups += [(str(k), g) for k, g in table.groupby(by, sort=True, dropna=False)]
    if blocking is None:
        blocking = blocking_from_json(parcels["reasons"])
    blocking = blocking.set_axis(parcels.index)
    codes = sorted(blocking.columns)
    # overlapping parcels: land shared with a parcel listed earlier counts once (README "Bad input")
    overlap = (
        parcels["overlap_counted_m2"].fillna(0.0)
        if "overlap_counted_m2" in parcels
        else pd.Series(0.0, index=parcels.index)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = parcels["area_ellipsoidal_m2"] / parcels["area_m2"]
    ell_factor = ratio.where(np.isfinite(ratio), 1.0)
    for label, g in groups:
        transferable = g["transferable"].to_numpy(dtype=bool)
        row = {
            "group": label,
            "parcels": len(g),
            "gross_mu": g["area_mu"].sum() - m2_to_mu(overlap[g.index].sum()),
            "gross_ha": g["area_ha"].sum() - m2_to_ha(overlap[g.index].sum()),
            "gross_ellipsoidal_mu": g["area_ellipsoidal_mu"].sum()
            - m2_to_mu((overlap * ell_factor)[g.index].sum()),
            "gross_ellipsoidal_ha": g["area_ellipsoidal_ha"].sum()
            - m2_to_ha((overlap * ell_factor)[g.index].sum()),
            "overlap_mu": m2_to_mu(overlap[g.index].sum()),
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
        blocked_by = blocking.loc[g.index].sum()
        for code in codes:
            row[f"blocked_by_{code}"] = int(blocked_by[code])
        rows.append(row)
    return pd.DataFrame(rows)


def blocking_from_json(reasons: pd.Series, /) -> pd.DataFrame:
    """:func:`park_summary`'s ``blocking`` table from the written ``reasons`` JSON."""
    sets = [{r["code"] for r in json.loads(t) if r["severity"] == "block"} for t in reasons]
    codes = sorted(set().union(*sets)) if sets else []
    return pd.DataFrame(
        {c: np.fromiter((c in s for s in sets), bool, count=len(sets)) for c in codes},
        index=pd.RangeIndex(len(sets)),
    )

"""Boundary scenarios: named boundaries with their evaluations, kept in the workspace.

Storage is the store's (:mod:`landplan.store.gpkg_scenarios` for a GeoPackage workspace); this
module evaluates, saves and compares.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from geopandas import GeoDataFrame, GeoSeries

from landplan.core.errors import WorkspaceError
from landplan.planning.boundary import (
    BoundaryEvaluation,
    boundary_geometry,
    evaluate_boundary,
    load_context,
    read_boundary,
)
from landplan.store import gpkg_scenarios as storage
from landplan.store.gpkg_scenarios import FIGURES


def _gpkg(workspace_dir) -> Path:
    from landplan.store.workspace import GpkgWorkspace

    ws = GpkgWorkspace(workspace_dir)
    ws.metadata()
    if not ws.gpkg.exists():
        raise WorkspaceError(f"{ws.gpkg} is missing; run landplan analyze first")
    return ws.gpkg


def save_scenario(
    workspace_dir,
    name: str,
    boundary,
    /,
    *,
    evaluation: BoundaryEvaluation | None = None,
    policy=None,
    crs: str | None = None,
    layer: str | None = None,
    industry_field: str | None = None,
) -> BoundaryEvaluation:
    """Store ``boundary`` as scenario ``name`` (replacing one of that name) atomically.

    ``boundary`` is anything :func:`landplan.planning.boundary.evaluate_boundary` reads; the evaluation
    is computed when not given.  Returns the evaluation stored.
    """
    name = str(name).strip()
    if not name:
        raise WorkspaceError("a scenario needs a non-empty name")
    gpkg = _gpkg(workspace_dir)
    ctx = load_context(workspace_dir, policy=policy)
    gdf = read_boundary(boundary, ctx.crs, layer=layer, source_crs=crs)
    geom = boundary_geometry(gdf)
    if evaluation is None:
        evaluation = evaluate_boundary(
            GeoSeries([geom], crs=ctx.crs), ctx, industry_field=industry_field
        )
    storage.write_scenario(
        gpkg, name, geom, ctx.crs, evaluation.key_figures(), evaluation.to_json()
    )
    return evaluation


def read_scenarios(workspace_dir, /) -> GeoDataFrame:
    """Every stored scenario (an empty frame when none was saved)."""
    return storage.read_scenarios(_gpkg(workspace_dir))


def list_scenarios(workspace_dir, /) -> list[str]:
    return read_scenarios(workspace_dir)["name"].astype(str).tolist()


def compare_scenarios(workspace_dir, names, /) -> pd.DataFrame:
    """Side by side: one column per scenario (in the order given), one row per figure."""
    return comparison_table(read_scenarios(workspace_dir), names, where=str(workspace_dir))


def comparison_table(
    frame: pd.DataFrame, names, /, *, where: str = "the workspace"
) -> pd.DataFrame:
    """:func:`compare_scenarios` on a frame of stored scenarios (any store)."""
    missing = [n for n in names if n not in set(frame["name"])]
    if missing:
        from landplan.core.errors import NotFoundError

        raise NotFoundError(
            f"no scenario named {missing} in {where}; saved: {frame['name'].tolist()}"
        )
    cols = {}
    for name in names:
        row = frame.loc[frame["name"] == name].iloc[0]
        ev = json.loads(row["evaluation"])
        col = {"created_at": row["created_at"]}
        col |= {c: row[c] for c in FIGURES}
        col["compliant"] = ev.get("compliant")
        for kind, mu in ev.get("excluded_by_kind_mu", {}).items():
            col[f"excluded_{kind}_mu"] = mu
        col["net_available_ha"] = ev.get("net_available_ha")
        col["gross_ellipsoidal_ha"] = ev.get("gross_ellipsoidal_ha")
        for verdict, v in ev.get("parcels_inside", {}).get("by_verdict", {}).items():
            col[f"parcels_{verdict}_mu"] = v.get("area_mu")
        for code, v in ev.get("missing_networks", {}).items():
            col[f"{code}_parcels"] = v.get("parcels")
        col["dev_cost_wan_per_net_mu"] = ev.get("cost", {}).get("dev_cost_wan_per_net_mu")
        col["reason_codes"] = row["reason_codes"]
        col["reasons_zh"] = "；".join(r["message_zh"] for r in ev.get("reasons", []))
        col["reasons_en"] = "; ".join(r["message_en"] for r in ev.get("reasons", []))
        cols[name] = col
    out = pd.DataFrame(cols)
    out.index.name = "figure"
    return out


def export_comparison_xlsx(table: pd.DataFrame, path, /) -> Path:
    """Write the comparison (figures × scenarios) to an XLSX file, atomically."""
    import os
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".xlsx", dir=target.parent)
    os.close(fd)
    try:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xl:
            table.to_excel(xl, sheet_name="compare 方案比较")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def boundary_context(store, /):
    """A :class:`landplan.planning.boundary.BoundaryContext` read from any store."""
    from pyproj import CRS

    from landplan.planning.boundary import PARK_KIND, BoundaryContext
    from landplan.store.protocol import store_policy

    crs = CRS.from_user_input(store.metadata()["crs"])
    constraints, park, parcels = {}, None, None
    for info in store.collections():
        if info.id.startswith("constraint_"):
            gdf = store.read_layer(info.id)
            gdf = gdf.set_crs(crs, allow_override=True) if gdf.crs is None else gdf.to_crs(crs)
            kind = info.id.removeprefix("constraint_")
            if kind == PARK_KIND:
                park = gdf
            else:
                constraints[kind] = gdf
        elif info.id == "result_parcels":
            parcels = store.read_layer(info.id)
            parcels = parcels.set_crs(crs) if parcels.crs is None else parcels
    suit = store.raster_path("suitability")
    base = (
        suit.parent.parent
        if suit is not None and suit.parent.name == "rasters"
        else Path("/nonexistent")
    )
    return BoundaryContext(base, crs, store_policy(store), constraints, park, parcels)

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
from landplan.store.gpkg_scenarios import FIGURES


def _workspace(workspace):
    from landplan.store.model import Workspace, open_workspace

    return workspace if isinstance(workspace, Workspace) else open_workspace(workspace)


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
    ws = _workspace(workspace_dir)
    ctx = load_context(ws, policy=policy)
    gdf = read_boundary(boundary, ctx.crs, layer=layer, source_crs=crs)
    geom = boundary_geometry(gdf)
    if evaluation is None:
        evaluation = evaluate_boundary(
            GeoSeries([geom], crs=ctx.crs), ctx, industry_field=industry_field
        )
    ws.save_scenario(name, geom, evaluation)
    return evaluation


def read_scenarios(workspace_dir, /) -> GeoDataFrame:
    """Every stored scenario (an empty frame when none was saved)."""
    return _workspace(workspace_dir).scenarios()


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


def export_comparison_xlsx(table: pd.DataFrame, path, /, *, lang: str = "zh") -> Path:
    """Write the comparison (figures × scenarios) to an XLSX file, atomically.

    One row per figure (its machine name in a hidden column, its label with unit beside it),
    each row formatted by its figure's unit (:mod:`landplan.export.xlsx`).
    """
    from landplan.export.xlsx import Sheet, write_workbook

    frame = table.copy()
    frame.index.name = "figure"
    sheet = Sheet(
        "方案比较", "compare", frame, row_formats="figure", wrap=tuple(map(str, frame.columns))
    )
    return write_workbook(path, [sheet], lang="en" if lang == "en" else "zh")


def boundary_context(store, /):
    """A :class:`landplan.planning.boundary.BoundaryContext` read from any store."""
    from landplan.store.model import Workspace

    return load_context(Workspace(store))

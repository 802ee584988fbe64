"""What the analysis routes do, kept out of the route functions (which stay short).

Services take plain values (the store, parsed parameters, the boundary context); they never
see the FastAPI application or the request.
"""

from __future__ import annotations

import json

import pandas as pd

from landplan.core.errors import NotFoundError
from landplan.store.protocol import scenarios_frame


def verdict(store, parcel_id: str) -> dict:
    if "result_parcels" not in {c.id for c in store.collections()}:
        raise NotFoundError("the workspace has no analysis results (result_parcels)")
    feat = json.loads(store.feature("result_parcels", parcel_id))
    p = feat["properties"]
    reasons = json.loads(p.get("reasons") or "[]")
    return {
        "parcel_id": str(p.get("parcel_id", parcel_id)),
        "transferable": p.get("transferable"),
        "verdict": p.get("verdict"),
        "area_mu": p.get("area_mu"),
        "net_available_mu": p.get("net_available_mu"),
        "reasons": reasons,
    }


def evaluate(ctx, geojson: dict, epsg: int | None):
    """Evaluate a posted boundary (given in ``epsg``, ``None`` = CRS84) against the boundary
    context; returns the evaluation and the dissolved geometry (workspace CRS)."""
    from geopandas import GeoSeries

    from landplan.planning.boundary import boundary_geometry, evaluate_boundary, read_boundary

    source_crs = "OGC:CRS84" if epsg is None else f"EPSG:{epsg}"
    gdf = read_boundary(_to_xy(geojson, epsg), ctx.crs, source_crs=source_crs)
    geom = boundary_geometry(gdf)
    ev = evaluate_boundary(GeoSeries([geom], crs=ctx.crs), ctx)
    return ev, geom


def _to_xy(geojson: dict, epsg: int | None) -> dict:
    """GeoJSON in a north-first CRS (EPSG:4490 lat/lon, GK northing/easting) → x/y order."""
    from landplan.core.features import north_first

    if not north_first(epsg):
        return geojson

    def flip(c):
        if isinstance(c, list) and c and isinstance(c[0], int | float):
            return [c[1], c[0], *c[2:]]
        return [flip(x) for x in c] if isinstance(c, list) else c

    def walk(o):
        if isinstance(o, dict):
            return {k: (flip(v) if k == "coordinates" else walk(v)) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(x) for x in o]
        return o

    return walk(geojson)


def list_scenarios(store) -> list[dict]:
    frame = scenarios_frame(store)
    out = []
    for _, row in frame.iterrows():
        ev = json.loads(row.get("evaluation") or "{}")
        figures = {
            k: v
            for k, v in row.items()
            if k not in ("geometry", "evaluation", "name", "created_at")
        }
        figures = json.loads(pd.Series(figures).to_json())
        figures["compliant"] = ev.get("compliant")
        out.append(
            {
                "name": str(row["name"]),
                "created_at": str(row.get("created_at") or ""),
                "key_figures": figures,
            }
        )
    return out


def compare(store, names: list[str]) -> dict:
    from landplan.planning.scenarios import comparison_table

    table = comparison_table(scenarios_frame(store), names, where=store.name)
    rows = json.loads(
        table.reset_index().to_json(orient="records", force_ascii=False, double_precision=15)
    )
    return {"columns": ["figure", *names], "rows": rows}


def check_indicators(body) -> list[dict]:
    from landplan.indicators.check import check_projects

    frame = pd.DataFrame([p.model_dump(exclude_none=True) for p in body.projects])
    result = check_projects(frame, table=body.table)
    return json.loads(result.to_json(orient="records", force_ascii=False, double_precision=15))


def suitability_work(store, body):
    """The background work of a suitability job; it writes into the job's scratch folder."""
    from landplan.raster.rerun import rerun_suitability
    from landplan.store.protocol import store_policy

    policy = store_policy(store)
    weights = dict(body.weights)
    bbox = body.bbox

    def work(job) -> dict:
        result = rerun_suitability(
            policy, store.raster_path, weights, job.scratch, bbox_crs84=bbox, on_progress=job.report
        )
        job.files["suitability.tif"] = job.scratch / "suitability.tif"
        return result

    return work

"""Verdicts, boundary evaluation, scenarios, indicator checks and suitability jobs."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import FileResponse
from landplan.api import services
from landplan.api.auth import require
from landplan.api.deps import BodyCrs, BoundaryCtx, JobsDep, StoreDep
from landplan.api.errors import responses
from landplan.api.schemas import (
    BoundaryResult,
    Comparison,
    GeoJSONBody,
    IndicatorCheckIn,
    IndicatorCheckOut,
    JobOut,
    ScenarioList,
    ScenarioOut,
    SuitabilityJobIn,
    Verdict,
)

from landplan.core.errors import NotFoundError

router = APIRouter(tags=["Analysis"])
READ = Depends(require("read"))
PLAN = Depends(require("plan"))
Name = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[^/\\\x00-\x1f]+$")]
ParcelId = Annotated[
    str, Path(max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description="parcel id")
]
JobId = Annotated[str, Path(max_length=64, description="job id")]


@router.get(
    "/parcels/{parcel_id}/verdict",
    response_model=Verdict,
    dependencies=[READ],
    responses=responses(404),
)
def verdict(parcel_id: ParcelId, s: StoreDep):
    """Is the parcel transferable now, and every reason it is not (zh-CN and English)."""
    return services.verdict(s, parcel_id)


@router.post(
    "/boundaries/evaluate",
    response_model=BoundaryResult,
    dependencies=[READ],
    responses=responses(400, 422),
)
def evaluate(body: Annotated[GeoJSONBody, Body()], crs: BodyCrs, ctx: BoundaryCtx):
    """Gross, excluded (by kind) and net available area (亩) of a drawn boundary, parcels inside."""
    ev, _ = services.evaluate(ctx, body.model_dump(), crs)
    return {"evaluation": ev.to_dict(), "key_figures": ev.key_figures()}


@router.get("/scenarios", response_model=ScenarioList, dependencies=[READ])
def scenarios(s: StoreDep):
    return {"scenarios": services.list_scenarios(s)}


@router.put(
    "/scenarios/{name}",
    response_model=ScenarioOut,
    dependencies=[PLAN],
    responses=responses(400, 401, 403, 422),
)
def save_scenario(
    name: Name, body: Annotated[GeoJSONBody, Body()], crs: BodyCrs, ctx: BoundaryCtx, s: StoreDep
):
    """Evaluate the boundary and store it as scenario ``name`` (replacing one of that name)."""
    ev, geom = services.evaluate(ctx, body.model_dump(), crs)
    s.save_scenario(name, geom, ev)
    return {"name": name, "key_figures": ev.key_figures()}


@router.get(
    "/scenarios/compare", response_model=Comparison, dependencies=[READ], responses=responses(404)
)
def compare(
    names: Annotated[list[str], Query(min_length=2, max_length=8, description="scenario names")],
    s: StoreDep,
):
    """Scenarios side by side: one row per figure, one column per scenario."""
    return services.compare(s, names)


@router.post(
    "/indicators/check",
    response_model=IndicatorCheckOut,
    dependencies=[READ],
    responses=responses(422),
)
def indicators(body: IndicatorCheckIn):
    """Per-mu indicators of proposed projects against a standard-land indicator table."""
    return {"results": services.check_indicators(body)}


@router.post(
    "/suitability/jobs",
    response_model=JobOut,
    status_code=202,
    dependencies=[PLAN],
    responses=responses(401, 403, 422),
)
def suitability_job(body: SuitabilityJobIn, s: StoreDep, runner: JobsDep):
    """Re-score suitability with new weights (background job; poll ``/jobs/{id}``)."""
    return runner.submit("suitability", services.suitability_work(s, body)).to_dict()


@router.get("/jobs/{job_id}", response_model=JobOut, dependencies=[READ], responses=responses(404))
def job(job_id: JobId, runner: JobsDep):
    return runner.get(job_id).to_dict()


@router.get(
    "/jobs/{job_id}/files/{name}",
    response_class=FileResponse,
    dependencies=[READ],
    responses={
        200: {
            "content": {
                "image/tiff": {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        },
        **responses(404),
    },
)
def job_file(job_id: JobId, name: Annotated[str, Path(max_length=80)], runner: JobsDep):
    path = runner.get(job_id).files.get(name)
    if path is None or not path.exists():
        raise NotFoundError(f"job {job_id} has no file {name!r}")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, filename=name)

"""Supply plans and project matching as background jobs (poll ``/jobs/{id}``).

``POST /plans/jobs``: the year-by-year supply plan of :mod:`landplan.planning.supply_plan`;
``POST /matches/jobs``: project matching of :mod:`landplan.planning.matching`, optionally on
the land a finished plan job makes ready by ``by``.  Both report progress, return their tables
and the bilingual answer as the job's ``result``, and keep CSV files on the job.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Request
from landplan.api.auth import require
from landplan.api.errors import responses
from landplan.api.schemas import JobOut
from pydantic import BaseModel, ConfigDict, Field

from landplan.core.errors import InputTableError

router = APIRouter(tags=["Analysis"])
PLAN = Depends(require("plan"))
Text = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
Mu = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
Year = Annotated[int, Field(ge=2000, le=2100)]


class PlanJobIn(BaseModel):
    """Budgets per year (万元) and the options of ``landplan plan``."""

    model_config = ConfigDict(extra="forbid")
    budgets: dict[Annotated[str, Field(pattern=r"^(20\d\d|2100)$")], Money] = Field(
        min_length=1, max_length=20, description='year → budget in 万元, e.g. {"2026": 3000}'
    )
    lead_time_years: int = Field(0, ge=0, le=10)
    scope_field: Text | None = None
    scope_value: Text | None = None
    target_share: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    objective: Literal["lexicographic", "discounted"] = "lexicographic"
    carry_over: bool = True
    time_limit_s: float = Field(20.0, gt=0, le=60, allow_inf_nan=False)


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: Text
    industry_code: Annotated[str, Field(max_length=20)] | None = None
    min_mu: Mu
    max_mu: Mu
    invest_wan: Money
    tax_wan_per_year: Money | None = None
    revenue_wan_per_year: Money | None = None
    networks: list[Annotated[str, Field(pattern=r"^[a-z_]{1,20}$")]] = Field(
        default_factory=list, max_length=8
    )
    max_slope_deg: float | None = Field(None, ge=0, le=90, allow_inf_nan=False)
    zone: Annotated[str, Field(max_length=80)] | None = None


class MatchJobIn(BaseModel):
    """Projects to place; with ``plan_job`` and ``by``, land a plan job makes ready counts."""

    model_config = ConfigDict(extra="forbid")
    projects: list[ProjectIn] = Field(min_length=1, max_length=50)
    by: Year | None = None
    plan_job: Annotated[str, Field(max_length=64, pattern=r"^[0-9a-f]{1,64}$")] | None = None
    table: Annotated[str, Field(max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    top_k: int = Field(5, ge=1, le=20)


def _store(request: Request):
    return request.app.state.store


def _jobs(request: Request):
    return request.app.state.jobs


def _folder(job) -> Path:
    folder = getattr(job, "scratch", None)
    return Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="landplan-job-"))


def _layers(store) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    names = {c.id for c in store.collections()}
    if "result_parcels" not in names:
        raise InputTableError("the workspace has no results yet; run landplan analyze first")
    nets = store.read_layer("networks") if "networks" in names else None
    return store.read_layer("result_parcels"), nets


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in df.to_dict("records")]  # fmt: skip


def plan_work(store, body: PlanJobIn):
    def work(job) -> dict:
        from landplan.planning.supply_answer import gap_to_target, plan_sentences
        from landplan.planning.supply_plan import build_problem, plan_supply
        from landplan.store.protocol import store_policy

        if (body.scope_field is None) != (body.scope_value is None):
            raise InputTableError("give both scope_field and scope_value, or neither")
        scope = (body.scope_field, body.scope_value) if body.scope_field else None
        job.report(0.05, "reading the workspace")
        parcels, nets = _layers(store)
        job.report(0.2, "candidates and network graph")
        pb = build_problem(parcels, nets, store_policy(store), budgets=dict(body.budgets),
                           lead_time_years=body.lead_time_years, scope=scope,
                           carry_over=body.carry_over)  # fmt: skip
        job.report(0.4, "solving (MILP / heuristic)")
        res = plan_supply(pb, objective=body.objective, target_share=body.target_share,
                          time_limit_s=body.time_limit_s)  # fmt: skip
        job.report(0.85, "the answer")
        zh, en = plan_sentences(res, gap_to_target(res, time_limit_s=body.time_limit_s),
                                label=scope[1] if scope else None)  # fmt: skip
        folder = _folder(job)
        res.table.to_csv(folder / "plan.csv", index=False, encoding="utf-8-sig")
        res.parcels.to_csv(folder / "plan_parcels.csv", index=False, encoding="utf-8-sig")
        job.files["plan.csv"] = folder / "plan.csv"
        job.files["plan_parcels.csv"] = folder / "plan_parcels.csv"
        funded = res.schedule[res.schedule["funded_year"] > 0]
        return {
            "sentence_zh": zh, "sentence_en": en, "method": res.method,
            "objective": res.objective, "gap_pct": res.gap_pct, "bound_mu": res.bound_mu,
            "table": _records(res.table), "segments": _records(funded.drop(columns=["root"])),
            "ready": _records(res.parcels[res.parcels["unlocked_year"] > 0][
                ["parcel_id", "mu", "unlocked_year"]]),
            "notes": list(res.notes),
        }  # fmt: skip

    return work


def match_work(store, runner, body: MatchJobIn):
    ready = None
    if body.plan_job is not None:
        plan = runner.get(body.plan_job)
        if plan.kind != "plan" or plan.status != "succeeded":
            raise InputTableError(f"job {body.plan_job} is not a finished plan job")
        ready = pd.DataFrame(plan.result["ready"], columns=["parcel_id", "mu", "unlocked_year"])

    def work(job) -> dict:
        from landplan.planning.matching import match_projects

        job.report(0.05, "reading the workspace")
        parcels, _ = _layers(store)
        rows = [p.model_dump() for p in body.projects]
        for r in rows:
            r["networks"] = ";".join(r["networks"])
        job.report(0.2, "candidates, indicator check, assignment")
        res = match_projects(pd.DataFrame(rows), parcels, by=body.by, ready_year=ready,
                             register=store.register().entries(), table=body.table,
                             top_k=body.top_k)  # fmt: skip
        folder = _folder(job)
        res.matches.drop(columns=["reasons"], errors="ignore").to_csv(
            folder / "match.csv", index=False, encoding="utf-8-sig"
        )
        res.unmatched.to_csv(folder / "unmatched_reasons.csv", index=False, encoding="utf-8-sig")
        job.files["match.csv"] = folder / "match.csv"
        job.files["unmatched_reasons.csv"] = folder / "unmatched_reasons.csv"
        keep = ["project_id", "rank", "parcel_ids", "area_mu", "score", "assigned",
                "assigned_one_at_a_time", "ready_year", "reclaimed", "verdict", "reasons_zh"]  # fmt: skip
        m = res.matches[[c for c in keep if c in res.matches.columns]]
        counts = res.unmatched.groupby(["project_id", "code"]).size()
        return {
            "summary": _records(res.summary), "matches": _records(m),
            "unmatched_counts": {f"{p}:{c}": int(n) for (p, c), n in counts.items()},
            "notes": list(res.notes),
        }  # fmt: skip

    return work


@router.post("/plans/jobs", response_model=JobOut, status_code=202, dependencies=[PLAN],
             responses=responses(400, 401, 403, 422))  # fmt: skip
def plan_job(body: PlanJobIn, store=Depends(_store), runner=Depends(_jobs)):
    """A year-by-year supply plan (background job; poll ``/jobs/{id}``)."""
    return runner.submit("plan", plan_work(store, body)).to_dict()


@router.post("/matches/jobs", response_model=JobOut, status_code=202, dependencies=[PLAN],
             responses=responses(400, 401, 403, 404, 422))  # fmt: skip
def match_job(body: MatchJobIn, store=Depends(_store), runner=Depends(_jobs)):
    """Projects matched to parcels, jointly (background job; poll ``/jobs/{id}``)."""
    return runner.submit("match", match_work(store, runner, body)).to_dict()

"""Request and response bodies (pydantic), documented in the OpenAPI schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: a JSON number that is finite and not a boolean
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


class GeoJSONBody(BaseModel):
    """A GeoJSON Polygon/MultiPolygon geometry, Feature or FeatureCollection."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Polygon", "MultiPolygon", "Feature", "FeatureCollection"]


class ReasonOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    severity: str
    message_zh: str
    message_en: str


class Verdict(BaseModel):
    parcel_id: str
    transferable: bool | None
    verdict: str | None
    area_mu: float | None = None
    net_available_mu: float | None = None
    reasons: list[ReasonOut]


class BoundaryResult(BaseModel):
    evaluation: dict[str, Any]
    key_figures: dict[str, Any]


class ScenarioOut(BaseModel):
    name: str
    created_at: str | None = None
    key_figures: dict[str, Any]


class ScenarioList(BaseModel):
    scenarios: list[ScenarioOut]


class Comparison(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]


class Project(BaseModel):
    """A proposed project's figures (areas m², money 万元); any other column of the projects
    table (docs/indicators.md: ``floor_area_over_8m_m2``, ``req_far_min``, ...) is accepted too."""

    model_config = ConfigDict(extra="allow")
    project_id: str = Field(min_length=1, max_length=80)
    industry_code: str | None = Field(default=None, max_length=10, description="GB/T 4754 code")
    land_area_m2: float = Field(gt=0, le=1e9)
    fixed_investment_wan: float = Field(ge=0, le=1e9)
    floor_area_m2: float | None = Field(default=None, ge=0, le=1e10)
    footprint_m2: float | None = Field(default=None, ge=0, le=1e9)
    green_area_m2: float | None = Field(default=None, ge=0, le=1e9)
    admin_land_m2: float | None = Field(default=None, ge=0, le=1e9)
    annual_tax_wan: float | None = Field(default=None, ge=-1e9, le=1e9)
    revenue_wan: float | None = Field(default=None, ge=0, le=1e10)
    req_invest_wan_per_mu: float | None = Field(default=None, ge=0, le=1e6)


class IndicatorCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    projects: list[Project] = Field(min_length=1, max_length=1000)
    table: str = Field(default="national-2023", max_length=80, description="indicator table preset")


class IndicatorCheckOut(BaseModel):
    results: list[dict[str, Any]]


class SuitabilityJobIn(BaseModel):
    """New factor weights (name → weight > 0) for the policy's suitability factors, on a bbox."""

    model_config = ConfigDict(extra="forbid")
    weights: dict[
        Annotated[str, Field(min_length=1, max_length=40)],
        Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1e6)],
    ] = Field(min_length=1, max_length=20)
    bbox: tuple[Number, Number, Number, Number] | None = Field(
        default=None,
        description="CRS84 lon/lat minx, miny, maxx, maxy with minx < maxx, miny < maxy; "
        "default: the whole raster",
    )

    @field_validator("bbox")
    @classmethod
    def _ordered(cls, v):
        if v is None:
            return v
        minx, miny, maxx, maxy = v
        if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
            raise ValueError(
                "bbox must be [minx, miny, maxx, maxy] in CRS84 degrees with minx < maxx and "
                "miny < maxy, within ±180°, ±90°"
            )
        return v


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: float
    message: str
    created_at: str
    updated_at: str
    result: dict[str, Any] | None
    error: str | None
    files: list[str]


class TransitionIn(BaseModel):
    """A lifecycle change: ``to`` a state (see /register/states), with contract/progress fields."""

    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=40)
    on: str | None = Field(
        default=None, description="event date YYYY-MM-DD (default today)", max_length=10
    )
    expected_version: int | None = Field(
        default=None, ge=0, description='or send If-Match: "<version>"'
    )
    fields: dict[str, Any] = Field(default_factory=dict)


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_version: int | None = Field(default=None, ge=0)
    fields: dict[str, Any] = Field(min_length=1)


class RegisterRow(BaseModel):
    model_config = ConfigDict(extra="allow")
    parcel_id: str
    state: str
    version: int


class AuditRow(BaseModel):
    id: int
    parcel_id: str
    at: str
    who: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditOut(BaseModel):
    audit: list[AuditRow]


class UploadOut(BaseModel):
    layer: str
    features: int
    validation: dict[str, Any]

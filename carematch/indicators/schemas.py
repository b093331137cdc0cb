"""API shapes of the indicators (documented with examples in docs/indicators.md)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class IndicatorPointPublic(BaseModel):
    """One indicator's value for a month, region and breakdown key, against its target."""

    id: str
    indicator_id: str
    name: str
    name_en: str
    dimension: str
    kind: str
    period: str
    region_code: str
    region_name: str
    region_name_en: str
    disaggregation: str
    group_key: str
    numerator: float | None
    denominator: float | None
    value: float | None
    target: float | None
    direction: str
    status: str = Field(description="green, amber, red; none without a target; no_data")
    weights: dict[str, float]
    computed_at: str


class IndicatorValuesPublic(BaseModel):
    """The latest (or asked-for) month's points."""

    period: str | None
    items: list[IndicatorPointPublic]
    composites: dict[str, dict[str, dict[str, float]]] = Field(
        default_factory=dict,
        description="region → policy type → {score 0-1, indicators}: the lights of the "
        "region's total points weighted by each indicator's weight for the policy type",
    )


class IndicatorSeriesPublic(BaseModel):
    """One series, oldest first."""

    indicator_id: str
    region_code: str | None
    disaggregation: str
    group_key: str
    items: list[IndicatorPointPublic]


class IndicatorWarningPublic(BaseModel):
    """An abnormal drop raised to the region's officials."""

    id: str
    indicator_id: str
    name: str
    name_en: str
    period: str
    region_code: str
    disaggregation: str
    group_key: str
    value: float
    baseline: float
    score: float
    status: str
    finding_id: str | None
    detected_on: str
    rectified_by: str | None
    items: list[str] = Field(default_factory=list)


class IndicatorWarningsPublic(BaseModel):
    items: list[IndicatorWarningPublic]


class RectifyRequest(BaseModel):
    """The rectification item a warning becomes (整改台账): who, what, by when."""

    model_config = ConfigDict(extra="forbid")

    measure: str = Field(min_length=1, max_length=500)
    deadline: date
    department: str = Field(min_length=1, max_length=100)
    category: str = Field(default="service_quality", max_length=32)

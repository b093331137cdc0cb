"""API shapes of the risk index, the budget proposal and the special funds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from carematch.indicators.budget import DEFAULT_FLOOR, DEFAULT_RISK_SHARE

MAX_YUAN = 10**12


class RiskScorePublic(BaseModel):
    """One community's risk index (0 least risky … 100 most) and its components."""

    id: str
    community: str
    name: str | None
    population: int
    index: float
    raw: dict[str, float | None]
    scaled: dict[str, float]
    imputed: list[str]


class RiskIndexPublic(BaseModel):
    as_of: date
    weights: dict[str, float]
    items: list[RiskScorePublic]


class BudgetRequest(BaseModel):
    """Split ``total`` yuan between the communities of ``region`` (default: your area)."""

    total: int = Field(ge=0, le=MAX_YUAN, description="the budget in whole yuan")
    risk_share: float = Field(DEFAULT_RISK_SHARE, ge=0, le=1, description="share by risk")
    floor: float = Field(DEFAULT_FLOOR, ge=0, le=100, description="index points added")
    region: str | None = Field(None, max_length=12)
    results: dict[str, float] | None = Field(
        None,
        description="community → results score (indicator improvement); omitted: the gain "
        "in the stored control rate over the last month; {}: none",
    )
    as_of: date | None = None


class BudgetLinePublic(BaseModel):
    id: str
    community: str
    name: str | None
    population: int
    risk_index: float
    results: float
    risk_part: float
    results_part: float
    amount: int


class ResultsSourcePublic(BaseModel):
    """Where the results scores came from: ``given``, ``stored`` (indicator series) or ``none``."""

    kind: str
    indicator: str | None = None
    periods: tuple[str, str] | None = None


class BudgetProposalPublic(BaseModel):
    total: int
    risk_share: float
    floor: float
    as_of: date
    results_source: ResultsSourcePublic
    items: list[BudgetLinePublic]


class FundBudgetCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    region_code: str = Field(min_length=2, max_length=12)
    year: int = Field(ge=2000, le=2100)
    total: int = Field(gt=0, le=MAX_YUAN)


class FundBudgetPublic(BaseModel):
    id: str
    name: str
    region_code: str
    year: int
    total: int
    committed: int
    left: int


class IndicatorPlanIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    baseline: float
    target: float
    direction: Literal["up", "down"] = "up"
    unit: str = Field("", max_length=32)


class ProjectCreate(BaseModel):
    budget_id: str = Field(max_length=32)
    community_code: str = Field(min_length=2, max_length=12)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    amount: int = Field(gt=0, le=MAX_YUAN)
    indicators: list[IndicatorPlanIn] = Field(min_length=1, max_length=20)


class ReviewCreate(BaseModel):
    scores: dict[str, float] = Field(description="criterion → 0-100")
    comment: str = Field("", max_length=1000)


class DecisionCreate(BaseModel):
    note: str = Field("", max_length=500)


class EvaluationCreate(BaseModel):
    values: dict[str, float] = Field(description="indicator name → value reached")


class IndicatorPublic(BaseModel):
    name: str
    unit: str
    direction: str
    baseline: float
    target: float
    achieved_value: float | None
    achieved: bool | None


class ReviewPublic(BaseModel):
    id: str
    expert: str
    scores: dict[str, float]
    score: float
    comment: str
    submitted_at: datetime


class ProjectPublic(BaseModel):
    id: str
    budget_id: str
    community_code: str
    title: str
    description: str
    amount: int
    status: str
    score: float | None
    applied_by: str
    applied_at: datetime
    decided_by: str | None
    decision_note: str | None
    outcome: str | None
    indicators: list[IndicatorPublic]
    reviews: list[ReviewPublic]


class ProjectSummary(BaseModel):
    id: str
    budget_id: str
    community_code: str
    title: str
    amount: int
    status: str
    score: float | None
    outcome: str | None


class ProjectsPublic(BaseModel):
    items: list[ProjectSummary]
    limit: int
    offset: int

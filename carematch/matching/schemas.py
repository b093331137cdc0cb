"""API shapes of the matching domain's cohort allocation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from carematch.matching.allocate import DEFAULT_MAX_KM, DEFAULT_WAIT_WEIGHT
from carematch.matching.models import AllocationRun, Proposal

# Ceilings a request may ask for. 200 km covers any prefecture-level city; a day of waiting
# costing more than 100 km would make distance irrelevant; capacity is planned at most a
# quarter ahead.
MAX_KM_LIMIT = 200.0
WAIT_WEIGHT_LIMIT = 100.0
DEFAULT_DAYS = 5
MAX_DAYS = 90
MAX_TAGS = 20
MAX_DECISION_IDS = 10_000

RegionCode = Annotated[str, Field(pattern=r"^\d{6}(\d{3}){0,2}$", description="region code")]
TagCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ProposalId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
ProposalStatus = Literal["proposed", "unassigned", "confirmed", "rejected"]


class AllocationCreate(BaseModel):
    """What to allocate: the cohort (service, tags, region) and the engine's parameters."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=64, description="service code (required)")
    tags: list[TagCode] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description="demand tags; empty = any tag that raises the service",
    )
    region: RegionCode | None = Field(
        default=None, description="district, street or community inside your jurisdiction"
    )
    max_km: float = Field(default=DEFAULT_MAX_KM, gt=0, le=MAX_KM_LIMIT, allow_inf_nan=False)
    wait_weight: float = Field(
        default=DEFAULT_WAIT_WEIGHT, ge=0, le=WAIT_WEIGHT_LIMIT, allow_inf_nan=False
    )
    days: int = Field(
        default=DEFAULT_DAYS, ge=1, le=MAX_DAYS, description="days of each provider's capacity"
    )


class Decision(BaseModel):
    """Which proposals to confirm or reject: listed ids, or all that await a decision."""

    model_config = ConfigDict(extra="forbid")

    proposal_ids: list[ProposalId] | None = Field(default=None, max_length=MAX_DECISION_IDS)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Decision:
        if self.all == (self.proposal_ids is not None):
            raise ValueError('give either "proposal_ids" or "all": true, not both or neither')
        if self.proposal_ids is not None and not self.proposal_ids:
            raise ValueError("proposal_ids is empty")
        return self


class RunSummary(BaseModel):
    """A run's cohort and outcome: coverage, distance and cost, and where decisions stand."""

    cohort: int
    assigned: int
    unassigned: int
    coverage: float
    already_proposed: int
    duplicates: int
    providers: int
    capacity: int
    total_distance_km: float
    mean_distance_km: float | None
    total_cost: float
    statuses: dict[str, int]


class AllocationRunPublic(BaseModel):
    """An allocation run with its parameters and summary."""

    id: str
    service: str
    tags: list[str]
    region: str | None
    max_km: float
    wait_weight: float
    days: int
    status: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    summary: RunSummary

    @classmethod
    def of(cls, run: AllocationRun, statuses: dict[str, int]) -> AllocationRunPublic:
        return cls(
            id=run.id,
            service=run.service,
            tags=json.loads(run.tags),
            region=run.region_code,
            max_km=run.max_km,
            wait_weight=run.wait_weight,
            days=run.days,
            status=run.status,
            created_by=run.created_by,
            created_at=run.created_at,
            closed_at=run.closed_at,
            summary=summary_of(run, statuses),
        )


def summary_of(run: AllocationRun, statuses: dict[str, int]) -> RunSummary:
    """The summary numbers of a run (coverage = assigned / cohort; 0 for an empty cohort)."""
    return RunSummary(
        cohort=run.cohort,
        assigned=run.assigned,
        unassigned=run.cohort - run.assigned,
        coverage=round(run.assigned / run.cohort, 4) if run.cohort else 0.0,
        already_proposed=run.already_proposed,
        duplicates=run.duplicates,
        providers=run.providers,
        capacity=run.capacity,
        total_distance_km=round(run.total_distance_km, 3),
        mean_distance_km=round(run.total_distance_km / run.assigned, 3) if run.assigned else None,
        total_cost=round(run.total_cost, 3),
        statuses={
            s: statuses.get(s, 0) for s in ("proposed", "unassigned", "confirmed", "rejected")
        },
    )


class ProposalPublic(BaseModel):
    """A proposed booking: the demand, the person (by id), the provider or why none."""

    id: str
    demand_id: str
    person_id: str
    tag: str
    priority: int
    community_code: str | None
    provider_id: str | None
    distance_km: float | None
    wait_days: int | None
    status: str
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, p: Proposal) -> ProposalPublic:
        return cls(
            id=p.id,
            demand_id=p.demand_id,
            person_id=p.person_id,
            tag=p.tag,
            priority=p.priority,
            community_code=p.community_code,
            provider_id=p.provider_id,
            distance_km=round(p.distance_km, 3) if p.distance_km is not None else None,
            wait_days=p.wait_days,
            status=p.status,
            reason=p.reason,
            decided_by=p.decided_by,
            decided_at=p.decided_at,
        )


class ProposalsPublic(BaseModel):
    """A page of a run's proposals."""

    items: list[ProposalPublic]
    total: int
    limit: int
    offset: int


class AllocationRunDetail(AllocationRunPublic):
    """A run with one page of its proposals."""

    proposals: ProposalsPublic


class AllocationRunsPublic(BaseModel):
    """A page of allocation runs."""

    items: list[AllocationRunPublic]
    total: int
    limit: int
    offset: int


class DecisionPublic(BaseModel):
    """What a confirm or reject did: how many proposals changed, and the run afterwards."""

    run_id: str
    decision: Literal["confirmed", "rejected"]
    changed: int
    run: AllocationRunPublic

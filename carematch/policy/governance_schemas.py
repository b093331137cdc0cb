"""API shapes of policy governance: hearings, proposals, the sandbox, execution, budgets."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from carematch.policy.hearings import MAX_OPINION, MAX_REASON, MAX_SUMMARY


class HearingCreate(BaseModel):
    """Open a hearing: the draft (library format), the consultation period and area."""

    definition: dict[str, Any] = Field(description="the draft policy in the library's format")
    closes_on: date
    opens_on: date | None = None
    summary: str = Field("", max_length=MAX_SUMMARY)
    region: str | None = Field(None, max_length=12, description="default: your jurisdiction")


class HearingPublic(BaseModel):
    id: str
    policy_id: str
    title: str
    summary: str
    region_code: str | None
    opens_on: date
    closes_on: date
    status: str
    opened_by: str
    closed_at: datetime | None
    draft: dict[str, Any]
    counts: dict[str, int] = Field(description="opinions, adopted, not_adopted, unanswered")


class HearingsPublic(BaseModel):
    items: list[HearingPublic]
    total: int


class OpinionCreate(BaseModel):
    """An opinion: a resident's own, or one staff gathered offline (with its channel)."""

    text: str = Field(max_length=MAX_OPINION * 2)
    channel: str | None = Field(None, description="staff: meeting, phone, letter or visit")


class OpinionPublic(BaseModel):
    """An opinion as published: no author."""

    seq: int
    channel: str
    text: str
    decision: str | None
    reason: str | None


class OpinionStaff(OpinionPublic):
    id: str
    submitted_by: str
    submitted_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class OpinionDecision(BaseModel):
    decision: str = Field(description="adopted or not_adopted")
    reason: str | None = Field(None, max_length=MAX_REASON * 2)


class HearingResultPublic(BaseModel):
    hearing: HearingPublic
    opinions: list[OpinionPublic] = Field(description="published once the hearing is closed")


class ProposalPublic(BaseModel):
    rank: int
    community: str
    tag: str
    label: str
    label_en: str
    demand_type: str
    services: list[str]
    persons: int
    gap: str = Field(description="no_policy or not_eligible")
    policies: list[str]


class ProposalsPublic(BaseModel):
    items: list[ProposalPublic]
    total: int


class SandboxRequest(BaseModel):
    """A draft (as a mapping, or pasted YAML/JSON text) and the pilot area."""

    definition: dict[str, Any] | None = None
    text: str | None = Field(None, max_length=100_000)
    region: str = Field(max_length=12)
    as_of: date | None = None


class BudgetSet(BaseModel):
    year: int
    amount: float = Field(ge=0)


class BudgetPublic(BaseModel):
    policy_id: str
    year: int
    amount: float
    set_by: str

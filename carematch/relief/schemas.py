"""API shapes of the relief domain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

CaseStatus = Literal["triggered", "verified", "approved", "paid", "rejected"]
Action = Literal["verify", "approve", "pay", "reject"]
Note = Annotated[str | None, Field(default=None, max_length=500)]


class StepRequest(BaseModel):
    """A note with a step (a rejection's reason is required)."""

    note: Note = None


class CaseEvent(BaseModel):
    seq: int
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    note: str | None


class StackingStep(BaseModel):
    stage: str
    policy_id: str
    base: float
    deductible: float
    rate: float
    cap: float | None
    paid: float
    remaining: float


class CasePublic(BaseModel):
    """A relief case with its figures and every step, by whom and when."""

    id: str
    household_id: str
    region_code: str | None
    status: CaseStatus
    triggers: list[str]
    cause: str
    cause_evidence: list[str]
    tier: str | None
    household_status: str
    members: list[str]
    oop_12m: float
    income_12m: float
    amount: float
    out_of_pocket_after: float
    steps: list[StackingStep]
    opened_at: datetime
    verify_due_at: datetime
    overdue: bool
    verified_by: str | None
    verified_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    paid_by: str | None
    paid_at: datetime | None
    rejected_by: str | None
    rejected_at: datetime | None
    reject_reason: str | None
    events: list[CaseEvent]


class CasesPublic(BaseModel):
    total: int
    items: list[CasePublic]


class HouseholdPublic(BaseModel):
    id: str
    region_code: str | None
    status: str
    members: int
    oop_12m: float
    income_12m: float
    triggers: list[str]
    as_of: str


class HouseholdsPublic(BaseModel):
    items: list[HouseholdPublic]


class TownshipPublic(BaseModel):
    township: str
    watched: int
    at_risk: int
    anti_return: int
    temporary_relief: int


class WatchPublic(BaseModel):
    as_of: str
    households: int
    at_risk: int
    opened: int
    refreshed: int
    episodes_closed: int


class DepositRequest(BaseModel):
    """Money put into the fund, in yuan to the fen."""

    amount: Decimal = Field(gt=0, le=Decimal("10000000000"), decimal_places=2)
    note: Annotated[str | None, Field(default=None, max_length=200)] = None


class FundEntryPublic(BaseModel):
    id: str
    kind: Literal["deposit", "payment"]
    amount: float
    balance: float
    case_id: str | None
    note: str | None
    actor: str
    at: datetime


class FundPublic(BaseModel):
    balance: float
    total: int
    items: list[FundEntryPublic]

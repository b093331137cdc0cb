"""API shapes of the chronic-monitoring domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from carematch.monitoring.service import (
    CommunityControl,
    ImportSummary,
    PersonControl,
    RiskEntry,
    TaskView,
)
from carematch.monitoring.tb import TbRates

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
TaskStatus = Literal["open", "done"]
Note = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    ),
]


class ReadingCreate(BaseModel):
    """One blood-pressure reading. ``measured_at`` is ISO 8601 as the device wrote it (its
    date is the local day the alert rules count); values in mmHg."""

    person_id: Id
    measured_at: Annotated[str, StringConstraints(min_length=10, max_length=40)]
    sbp: float = Field(ge=0, le=1000)
    dbp: float = Field(ge=0, le=1000)
    device_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
        | None
    ) = None


class ImportPublic(BaseModel):
    """What an intake did: ``rows == accepted + duplicates + rejected``."""

    batch: str
    rows: int
    accepted: int
    duplicates: int
    rejected: int
    alerts: int
    tasks: int

    @classmethod
    def of(cls, summary: ImportSummary) -> ImportPublic:
        return cls(**summary.as_dict())


class TaskPublic(BaseModel):
    """A follow-up task an alert gave a doctor."""

    id: str
    person_id: str
    rule: str
    region_code: str | None
    assignee_user_id: str | None
    team_id: str | None
    due_on: date
    status: TaskStatus
    overdue: bool
    note: str | None
    closed_at: datetime | None
    closed_by: str | None

    @classmethod
    def of(cls, view: TaskView) -> TaskPublic:
        t = view.task
        return cls(
            id=t.id,
            person_id=t.person_id,
            rule=t.rule,
            region_code=t.region_code,
            assignee_user_id=t.assignee_user_id,
            team_id=t.team_id,
            due_on=t.due_on,
            status=t.status,  # type: ignore[arg-type]
            overdue=view.overdue,
            note=t.note,
            closed_at=t.closed_at,
            closed_by=t.closed_by,
        )


class TasksPublic(BaseModel):
    items: list[TaskPublic]
    total: int


class TaskClose(BaseModel):
    note: Note


class PersonControlPublic(BaseModel):
    person_id: str
    start: date
    end: date
    readings: int
    in_range_readings: int
    days: int
    in_range_days: int
    reading_share: float | None
    day_share: float | None

    @classmethod
    def of(cls, c: PersonControl) -> PersonControlPublic:
        return cls(
            person_id=c.person_id,
            start=c.start,
            end=c.end,
            readings=c.readings,
            in_range_readings=c.in_range_readings,
            days=c.days,
            in_range_days=c.in_range_days,
            reading_share=c.reading_share,
            day_share=c.day_share,
        )


class CommunityControlPublic(BaseModel):
    community_code: str | None
    managed: int
    controlled: int
    rate: float | None

    @classmethod
    def of(cls, c: CommunityControl) -> CommunityControlPublic:
        return cls(
            community_code=c.community_code,
            managed=c.managed,
            controlled=c.controlled,
            rate=c.rate,
        )


class ContributionPublic(BaseModel):
    feature: str
    value: str | float | None
    contribution: float


class RiskEntryPublic(BaseModel):
    """A person of the top-risk list: predicted probability and what raises it most."""

    id: str
    person_id: str
    community_code: str | None
    risk: float
    contributions: list[ContributionPublic]

    @classmethod
    def of(cls, e: RiskEntry) -> RiskEntryPublic:
        return cls(
            id=e.person_id,
            person_id=e.person_id,
            community_code=e.community_code,
            risk=round(e.risk, 4),
            contributions=[
                ContributionPublic(feature=c.feature, value=c.value, contribution=c.contribution)
                for c in e.contributions
            ],
        )


class TbRatesPublic(BaseModel):
    group: str
    cases: int
    managed: int
    completed: int
    managed_rate: float | None
    completed_rate: float | None

    @classmethod
    def of(cls, r: TbRates) -> TbRatesPublic:
        return cls(
            group=r.group,
            cases=r.cases,
            managed=r.managed,
            completed=r.completed,
            managed_rate=r.managed_rate,
            completed_rate=r.completed_rate,
        )

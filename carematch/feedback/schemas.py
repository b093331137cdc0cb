"""API shapes of the feedback domain. Times are shown in city time (UTC+8, with the offset); a
time sent without an offset is read as city time. Deadlines of ledger items are city dates."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from carematch.feedback.complaints import STATUSES, allowed_from
from carematch.feedback.deadlines import category_table
from carematch.feedback.flags import LowRatingRule
from carematch.feedback.ledger import ITEM_TRANSITIONS, SHOWN_STATUSES
from carematch.feedback.models import ComplaintEvent, Finding, ProviderFlag
from carematch.feedback.service import (
    Board,
    BoardCounts,
    ComplaintView,
    FlagSummary,
    ItemView,
    city_time,
)

# Text stored in clear must hold no control characters (PostgreSQL refuses NUL); new lines
# and tabs are allowed where a person writes sentences.
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_NO_CONTROL_LINE = r"^[^\x00-\x1f\x7f]*$"

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3}){0,2}$")]
CategoryCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]
ServiceCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Prose = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_CONTROL_LINE)]
Measure = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_NO_CONTROL)]
# A key of the document store ("evidence/2030/PRV0001-fire-drill.pdf"), not a URL: no scheme,
# no "..". An empty string removes the reference.
FileRef = Annotated[
    str, StringConstraints(max_length=300, pattern=r"^([A-Za-z0-9][A-Za-z0-9._/-]*)?$")
]
Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]

Channel = Literal["hotline_12345", "web", "wechat", "in_person", "letter"]
ComplaintStatus = Literal["received", "accepted", "investigating", "answered", "closed", "rejected"]
ItemStatus = Literal["open", "in_progress", "done", "verified"]
ShownItemStatus = Literal["open", "in_progress", "done", "verified", "overdue"]


# --- complaints ----------------------------------------------------------------------------


class ComplaintCreate(BaseModel):
    """A complaint about a provider and/or a service.

    A resident files it in their own name through ``web`` (the default) or ``wechat``. Staff
    register any channel, for a known person (``person_id``) or anonymously with a
    ``contact`` (phone or address) for the answer, and may give the time it was received.
    ``region_code`` says who handles a complaint that names no provider.
    """

    category: CategoryCode = Field(description="a code of GET /complaints/categories")
    text: Prose
    channel: Channel | None = None
    provider_id: Id | None = None
    service: ServiceCode | None = Field(default=None, description="service catalogue code")
    person_id: Id | None = None
    contact: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    region_code: RegionCode | None = None
    received_at: datetime | None = None


class ComplaintEventPublic(BaseModel):
    """One change of status and its note."""

    from_status: str | None
    to_status: str
    at: datetime
    actor: str
    note: str | None

    @classmethod
    def of(cls, event: ComplaintEvent) -> ComplaintEventPublic:
        return cls(
            from_status=event.from_status,
            to_status=event.to_status,
            at=city_time(event.at),
            actor=event.actor,
            note=event.note,
        )


class ComplaintSummary(BaseModel):
    """A complaint without its text: what a list shows."""

    id: str
    channel: str
    category: str
    status: str
    next_statuses: list[str]
    provider_id: str | None
    service: str | None
    region_code: str | None
    anonymous: bool
    complainant_person_id: str | None
    received_at: datetime
    due_at: datetime = Field(description="the answer is late at or after this instant")
    overdue: bool
    answered_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def fields_of(cls, view: ComplaintView) -> dict:
        c = view.complaint
        return {
            "id": c.id,
            "channel": c.channel,
            "category": c.category,
            "status": c.status,
            "next_statuses": list(allowed_from(c.status)),
            "provider_id": c.provider_id,
            "service": c.service_code,
            "region_code": c.region_code,
            "anonymous": c.complainant_person_id is None,
            "complainant_person_id": c.complainant_person_id,
            "received_at": city_time(c.received_at),
            "due_at": city_time(c.due_at),
            "overdue": view.overdue,
            "answered_at": city_time(c.answered_at) if c.answered_at else None,
            "closed_at": city_time(c.closed_at) if c.closed_at else None,
        }

    @classmethod
    def of(cls, view: ComplaintView) -> ComplaintSummary:
        return cls(**cls.fields_of(view))


class ComplaintDetail(ComplaintSummary):
    """A whole complaint: its text, the contact, and every change of status with its note."""

    text: str
    contact: str | None
    events: list[ComplaintEventPublic]

    @classmethod
    def of(cls, view: ComplaintView) -> ComplaintDetail:
        return cls(
            **cls.fields_of(view),
            text=view.complaint.text,
            contact=view.complaint.contact,
            events=[ComplaintEventPublic.of(e) for e in view.events],
        )


class ComplaintsPublic(BaseModel):
    items: list[ComplaintSummary]
    total: int
    limit: int
    offset: int


class TransitionRequest(BaseModel):
    """Move a complaint to ``to``; ``answered`` needs the answer and ``rejected`` the reason,
    as ``note``."""

    to: ComplaintStatus
    note: Annotated[str, StringConstraints(max_length=5000)] | None = None


class CategoryPublic(BaseModel):
    """A complaint category and the deadline it gives."""

    code: str
    name: str
    name_en: str
    urgent: bool
    deadline: str
    working_days: int | None
    hours: int | None


def categories_public() -> list[CategoryPublic]:
    """The packaged category table."""
    return [
        CategoryPublic(
            code=c.code,
            name=c.name,
            name_en=c.name_en,
            urgent=c.urgent,
            deadline=c.deadline_text,
            working_days=c.working_days,
            hours=c.hours,
        )
        for c in category_table().categories.values()
    ]


# --- the rectification ledger --------------------------------------------------------------


class ItemCreate(BaseModel):
    """One item of a finding: a provider (by default the finding's) or a department must take
    ``measure`` by ``deadline`` (a city date, today or later). The measure is published on the
    progress board: it must not name a person."""

    measure: Measure
    deadline: date
    owner_kind: Literal["provider", "department"] = "provider"
    provider_id: Id | None = None
    department: Line | None = None


class FindingCreate(BaseModel):
    """A finding of a complaint (``complaint_id``) or an inspection (``inspection_ref``,
    ``category`` and a ``provider_id`` or ``region_code``), and the items it opens."""

    source: Literal["complaint", "inspection"]
    text: Prose
    items: Annotated[list[ItemCreate], Field(min_length=1, max_length=20)]
    complaint_id: Id | None = None
    inspection_ref: Line | None = None
    provider_id: Id | None = None
    category: CategoryCode | None = None
    region_code: RegionCode | None = None


class RectificationPublic(BaseModel):
    """A ledger item. ``status`` is shown: ``overdue`` for an unfinished item past its
    deadline (``stored_status`` says whether it is open or in progress)."""

    id: str
    finding_id: str
    source: str | None
    complaint_id: str | None
    inspection_ref: str | None
    owner_kind: str
    provider_id: str | None
    department: str | None
    owner_name: str
    region_code: str | None
    category: str
    measure: str
    deadline: date
    status: str
    stored_status: str
    next_statuses: list[str]
    evidence_text: str | None
    evidence_file: str | None
    done_at: datetime | None
    verified_at: datetime | None
    verified_by: str | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @classmethod
    def of(cls, view: ItemView) -> RectificationPublic:
        i, f = view.item, view.finding
        return cls(
            id=i.id,
            finding_id=i.finding_id,
            source=f.source if f else None,
            complaint_id=f.complaint_id if f else None,
            inspection_ref=f.inspection_ref if f else None,
            owner_kind=i.owner_kind,
            provider_id=i.provider_id,
            department=i.department,
            owner_name=i.owner_name,
            region_code=i.region_code,
            category=i.category,
            measure=i.measure,
            deadline=i.deadline,
            status=view.status,
            stored_status=i.status,
            next_statuses=list(ITEM_TRANSITIONS.get(i.status, ())),
            evidence_text=i.evidence_text,
            evidence_file=i.evidence_file,
            done_at=city_time(i.done_at) if i.done_at else None,
            verified_at=city_time(i.verified_at) if i.verified_at else None,
            verified_by=i.verified_by,
            created_by=i.created_by,
            created_at=city_time(i.created_at),
            updated_by=i.updated_by,
            updated_at=city_time(i.updated_at),
        )


class FindingPublic(BaseModel):
    id: str
    source: str
    complaint_id: str | None
    inspection_ref: str | None
    provider_id: str | None
    region_code: str | None
    category: str
    text: str
    created_by: str
    created_at: datetime
    items: list[RectificationPublic]

    @classmethod
    def of(cls, finding: Finding, items: list[ItemView]) -> FindingPublic:
        return cls(
            id=finding.id,
            source=finding.source,
            complaint_id=finding.complaint_id,
            inspection_ref=finding.inspection_ref,
            provider_id=finding.provider_id,
            region_code=finding.region_code,
            category=finding.category,
            text=finding.text,
            created_by=finding.created_by,
            created_at=city_time(finding.created_at),
            items=[RectificationPublic.of(v) for v in items],
        )


class RectificationsPublic(BaseModel):
    items: list[RectificationPublic]
    total: int
    limit: int
    offset: int


class RectificationUpdate(BaseModel):
    """Progress on an item: a status, evidence, or both. ``done`` needs evidence; only an
    official sets ``verified``; ``overdue`` is computed and cannot be set."""

    status: ItemStatus | None = None
    evidence_text: Annotated[str, StringConstraints(max_length=5000)] | None = None
    evidence_file: FileRef | None = Field(
        default=None, description="a document-store key, e.g. evidence/2030/drill.pdf"
    )

    @field_validator("evidence_file")
    @classmethod
    def _no_parent(cls, value: str | None) -> str | None:
        if value is not None and ".." in value.split("/"):
            raise ValueError("a file reference may not contain '..'")
        return value


# --- low-rating flags ----------------------------------------------------------------------


class PeriodMeanIn(BaseModel):
    """A provider's mean rating (1-5) and number of ratings in one period (``YYYY-MM``, its
    first month)."""

    provider_id: Id
    period: Period
    mean: Annotated[float, Field(ge=1, le=5, allow_inf_nan=False)]
    count: Annotated[int, Field(ge=1, le=10_000_000)]


class FlagRecompute(BaseModel):
    """The rule (defaults: mean below 3.0 with at least 5 ratings, 3 months in a row) and,
    optionally, the period means to judge — from another source, e.g. a telephone
    satisfaction survey; without them the platform's own ratings are read."""

    threshold: Annotated[float, Field(gt=1, le=5, allow_inf_nan=False)] = 3.0
    min_ratings: Annotated[int, Field(ge=1, le=100_000)] = 5
    periods: Annotated[int, Field(ge=1, le=36)] = 3
    period_months: Literal[1, 2, 3, 4, 6, 12] = 1
    as_of: date | None = Field(default=None, description="only periods ended by then count")
    means: Annotated[list[PeriodMeanIn], Field(max_length=100_000)] | None = None

    def rule(self) -> LowRatingRule:
        return LowRatingRule(
            threshold=self.threshold,
            min_ratings=self.min_ratings,
            periods=self.periods,
            period_months=self.period_months,
        )


class PeriodMeanPublic(BaseModel):
    period: str
    mean: float
    count: int


class FlagRulePublic(BaseModel):
    threshold: float
    min_ratings: int
    periods: int
    period_months: int


class FlagPublic(BaseModel):
    """A provider flagged for qualification review, with the periods that flagged it."""

    id: str
    provider_id: str
    region_code: str | None
    first_period: str
    last_period: str
    periods: int
    evidence: list[PeriodMeanPublic]
    rule: FlagRulePublic
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, flag: ProviderFlag) -> FlagPublic:
        return cls(
            id=flag.id,
            provider_id=flag.provider_id,
            region_code=flag.region_code,
            first_period=flag.first_period,
            last_period=flag.last_period,
            periods=flag.periods,
            evidence=[PeriodMeanPublic(**e) for e in json.loads(flag.evidence)],
            rule=FlagRulePublic(
                threshold=flag.threshold,
                min_ratings=flag.min_ratings,
                periods=flag.required_periods,
                period_months=flag.period_months,
            ),
            status=flag.status,
            created_at=city_time(flag.created_at),
            updated_at=city_time(flag.updated_at),
        )


class FlagsPublic(BaseModel):
    items: list[FlagPublic]
    total: int
    limit: int
    offset: int


class FlagRecomputePublic(BaseModel):
    """What a recompute did."""

    as_of: date
    rule: FlagRulePublic
    providers: int
    periods: int
    new: int
    extended: int
    unchanged: int
    flags: list[FlagPublic]

    @classmethod
    def of(cls, summary: FlagSummary) -> FlagRecomputePublic:
        r = summary.rule
        return cls(
            as_of=summary.as_of,
            rule=FlagRulePublic(
                threshold=r.threshold,
                min_ratings=r.min_ratings,
                periods=r.periods,
                period_months=r.period_months,
            ),
            providers=summary.providers,
            periods=summary.periods,
            new=summary.new,
            extended=summary.extended,
            unchanged=summary.unchanged,
            flags=[FlagPublic.of(f) for f in summary.flags],
        )


# --- the public progress board -------------------------------------------------------------


class BoardCountsPublic(BaseModel):
    """Counts by status and category (every known one, zeros included); ``on_time_rate`` is
    the share of what fell due that was done in time (null while nothing fell due)."""

    total: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    due: int
    on_time: int
    on_time_rate: float | None
    overdue: int

    @classmethod
    def of(cls, counts: BoardCounts, statuses: tuple[str, ...]) -> BoardCountsPublic:
        categories = category_table().codes
        by_category = {c: counts.by_category.get(c, 0) for c in categories}
        # A category since removed from the table still counts.
        by_category.update({c: n for c, n in counts.by_category.items() if c not in by_category})
        return cls(
            total=counts.total,
            by_status={s: counts.by_status.get(s, 0) for s in statuses},
            by_category=by_category,
            due=counts.due,
            on_time=counts.on_time,
            on_time_rate=counts.on_time_rate,
            overdue=counts.overdue,
        )


class BoardItem(BaseModel):
    """A ledger item's public fields: no complainant, no complaint text, no evidence."""

    id: str
    provider_id: str | None
    owner: str
    owner_en: str
    owner_kind: str
    category: str
    measure: str
    deadline: date
    status: str
    closed_on: date | None = Field(description="the city date an official verified the closure")


class BoardPublic(BaseModel):
    """The public progress board (公示)."""

    as_of: datetime
    region: str | None
    complaints: BoardCountsPublic
    rectifications: BoardCountsPublic
    items: list[BoardItem]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, board: Board, limit: int, offset: int) -> BoardPublic:
        return cls(
            as_of=city_time(board.as_of),
            region=board.region,
            complaints=BoardCountsPublic.of(board.complaints, STATUSES),
            rectifications=BoardCountsPublic.of(board.rectifications, SHOWN_STATUSES),
            items=[
                BoardItem(
                    id=i.id,
                    provider_id=i.provider_id,
                    owner=i.owner_name,
                    owner_en=i.owner_name_en or i.owner_name,
                    owner_kind=i.owner_kind,
                    category=i.category,
                    measure=i.measure,
                    deadline=i.deadline,
                    status=board.status_of(i),
                    closed_on=city_time(i.verified_at).date() if i.verified_at else None,
                )
                for i in board.items
            ],
            total=board.items_total,
            limit=limit,
            offset=offset,
        )

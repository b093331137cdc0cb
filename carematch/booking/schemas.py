"""API shapes of the booking domain. Times are shown in city time (UTC+8, with the offset);
a time sent without an offset is read as city time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

from carematch.booking.models import Dependant, Rating, ServiceRecord, SlaClock, Slot
from carematch.booking.service import MAX_CAPACITY, BookingView, WaitlistView, city_time

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
BookingStatus = Literal["booked", "checked_in", "completed", "no_show", "cancelled"]
WaitlistStatus = Literal["waiting", "booked", "withdrawn"]


class SlotCreate(BaseModel):
    """A slot staff open for booking (a clinic session, a vaccination day)."""

    provider_id: Id
    service: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    start: datetime
    end: datetime
    capacity: Annotated[int, Field(ge=1, le=MAX_CAPACITY)]


class SlotPublic(BaseModel):
    """A slot with its places: ``available`` = ``capacity`` − ``booked``."""

    id: str
    provider_id: str
    service: str
    start: datetime
    end: datetime
    capacity: int
    booked: int
    available: int
    region_code: str | None
    site: str | None
    source: str

    @classmethod
    def of(cls, slot: Slot) -> SlotPublic:
        return cls(
            id=slot.id,
            provider_id=slot.provider_id,
            service=slot.service,
            start=city_time(slot.starts_at),
            end=city_time(slot.ends_at),
            capacity=slot.capacity,
            booked=slot.booked,
            available=max(slot.capacity - slot.booked, 0),
            region_code=slot.region_code,
            site=slot.site,
            source=slot.source,
        )


class SlotsPublic(BaseModel):
    items: list[SlotPublic]
    total: int
    limit: int
    offset: int


class BookingCreate(BaseModel):
    """Book ``person_id`` into ``slot_id``; ``demand_id`` names the need it serves, if any."""

    slot_id: Id
    person_id: Id
    demand_id: Id | None = None


class RescheduleRequest(BaseModel):
    """Move the booking to this slot (same service)."""

    slot_id: Id


class BookingPublic(BaseModel):
    """A booking with the slot it holds."""

    id: str
    slot_id: str
    person_id: str
    demand_id: str | None
    status: BookingStatus
    provider_id: str
    service: str
    start: datetime
    end: datetime
    site: str | None
    created_by: str
    created_at: datetime
    from_waitlist: bool
    previous_slot_id: str | None
    checked_in_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, view: BookingView) -> BookingPublic:
        b, s = view.booking, view.slot

        def shown(at: datetime | None) -> datetime | None:
            return city_time(at) if at is not None else None

        return cls(
            id=b.id,
            slot_id=b.slot_id,
            person_id=b.person_id,
            demand_id=b.demand_id,
            status=b.status,  # type: ignore[arg-type]
            provider_id=s.provider_id,
            service=s.service,
            start=city_time(s.starts_at),
            end=city_time(s.ends_at),
            site=s.site,
            created_by=b.created_by,
            created_at=city_time(b.created_at),
            from_waitlist=b.waitlist_entry_id is not None,
            previous_slot_id=b.previous_slot_id,
            checked_in_at=shown(b.checked_in_at),
            completed_at=shown(b.completed_at),
            cancelled_at=shown(b.cancelled_at),
        )


class BookingsPublic(BaseModel):
    items: list[BookingPublic]
    total: int
    limit: int
    offset: int


class WaitlistCreate(BaseModel):
    """Wait for a place in ``slot_id`` for ``person_id``."""

    slot_id: Id
    person_id: Id
    demand_id: Id | None = None


class WaitlistEntryPublic(BaseModel):
    """A place on a slot's waitlist; ``booking_id`` once a freed place was given to it."""

    id: str
    slot_id: str
    person_id: str
    status: WaitlistStatus
    booking_id: str | None
    service: str
    start: datetime
    created_at: datetime

    @classmethod
    def of(cls, view: WaitlistView) -> WaitlistEntryPublic:
        e, s = view.entry, view.slot
        return cls(
            id=e.id,
            slot_id=e.slot_id,
            person_id=e.person_id,
            status=e.status,  # type: ignore[arg-type]
            booking_id=e.booking_id,
            service=s.service,
            start=city_time(s.starts_at),
            created_at=city_time(e.created_at),
        )


class WaitlistPublic(BaseModel):
    items: list[WaitlistEntryPublic]
    total: int
    limit: int
    offset: int


class DependantCreate(BaseModel):
    """Let ``guardian_id`` book for ``dependant_id`` (e.g. a parent for a child)."""

    guardian_id: Id
    dependant_id: Id
    relation: Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,32}$")] = "family"


class DependantPublic(BaseModel):
    id: str
    guardian_id: str
    dependant_id: str
    relation: str

    @classmethod
    def of(cls, link: Dependant) -> DependantPublic:
        return cls(
            id=f"{link.guardian_id}:{link.dependant_id}",
            guardian_id=link.guardian_id,
            dependant_id=link.dependant_id,
            relation=link.relation,
        )


class DependantsPublic(BaseModel):
    items: list[DependantPublic]


# --- service records ------------------------------------------------------------------------

Outcome = Literal["resolved", "follow_up", "referred", "not_done"]
RecordText = Annotated[str, StringConstraints(max_length=4000)]


class ServiceRecordCreate(BaseModel):
    """What staff did at a visit: for ``booking_id``, or a walk-in (``person_id``,
    ``provider_id`` and ``service`` instead).

    ``summary`` is what was done (the service's name when left out); ``outcome``: resolved
    (default), follow_up, referred or not_done; ``next_followup_on`` (city date) puts a
    follow-up on the workbench and reminds the person 3 days before. ``demand_id`` names the
    need served; the person's other open demands for the service are served too.
    """

    model_config = ConfigDict(populate_by_name=True)

    booking_id: Id | None = None
    person_id: Id | None = None
    provider_id: Id | None = None
    service: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")] | None = None
    demand_id: Id | None = None
    summary: Annotated[
        RecordText | None, Field(validation_alias=AliasChoices("summary", "what_was_done"))
    ] = None
    outcome: Outcome | None = None
    notes: RecordText | None = None
    next_followup_on: Annotated[
        date | None,
        Field(
            validation_alias=AliasChoices(
                "next_followup_on", "next_followup_date", "next_follow_up", "followup_date"
            )
        ),
    ] = None


class ServiceRecordPublic(BaseModel):
    """A service record (its text decrypted for a reader allowed to see it)."""

    id: str
    booking_id: str | None
    person_id: str
    provider_id: str
    service: str
    demand_ids: list[str]
    performed_at: datetime
    summary: str
    outcome: Outcome
    notes: str | None
    next_followup_on: date | None
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def of(cls, record: ServiceRecord) -> ServiceRecordPublic:
        return cls(
            id=record.id,
            booking_id=record.booking_id,
            person_id=record.person_id,
            provider_id=record.provider_id,
            service=record.service,
            demand_ids=record.demand_ids.split(),
            performed_at=city_time(record.performed_at),
            summary=record.summary,
            outcome=record.outcome,  # type: ignore[arg-type]
            notes=record.notes,
            next_followup_on=record.next_followup_on,
            recorded_by=record.recorded_by,
            recorded_at=city_time(record.recorded_at),
        )


class ServiceRecordWritten(ServiceRecordPublic):
    """A new record with what it changed: the booking's status, the demands served, points."""

    booking_status: BookingStatus | None
    demands_served: list[str]
    points_earned: int | None


class ServiceRecordsPublic(BaseModel):
    items: list[ServiceRecordPublic]
    total: int
    limit: int
    offset: int


# --- ratings --------------------------------------------------------------------------------


class RatingCreate(BaseModel):
    """Rate a visit once: name it by ``booking_id`` or ``service_record_id``; ``score`` 1-5."""

    model_config = ConfigDict(populate_by_name=True)

    booking_id: Id | None = None
    service_record_id: Id | None = None
    score: Annotated[
        int, Field(ge=1, le=5, strict=True, validation_alias=AliasChoices("score", "rating"))
    ]
    comment: Annotated[str, StringConstraints(max_length=1000)] | None = None


class RatingPublic(BaseModel):
    """A rating of a visit."""

    id: str
    service_record_id: str
    booking_id: str | None
    person_id: str
    provider_id: str
    service: str
    score: int
    comment: str | None
    rated_at: datetime

    @classmethod
    def of(cls, rating: Rating) -> RatingPublic:
        return cls(
            id=rating.id,
            service_record_id=rating.service_record_id,
            booking_id=rating.booking_id,
            person_id=rating.person_id,
            provider_id=rating.provider_id,
            service=rating.service,
            score=rating.score,
            comment=rating.comment,
            rated_at=city_time(rating.rated_at),
        )


class RatingsPublic(BaseModel):
    items: list[RatingPublic]
    total: int
    limit: int
    offset: int


# --- SLA clocks -----------------------------------------------------------------------------

ClockStateName = Literal["running", "met", "void", "breached"]


class SlaClockPublic(BaseModel):
    """An SLA clock and its state now."""

    id: str
    kind: Literal["demand_response", "online_consultation"]
    subject_id: str
    person_id: str
    service: str
    provider_id: str | None
    region_code: str | None
    started_at: datetime
    deadline_at: datetime
    state: ClockStateName
    answered_at: datetime | None
    answer: str | None
    breached_at: datetime | None

    @classmethod
    def of(cls, row: SlaClock, state: str) -> SlaClockPublic:
        return cls(
            id=row.id,
            kind=row.kind,  # type: ignore[arg-type]
            subject_id=row.subject_id,
            person_id=row.person_id,
            service=row.service,
            provider_id=row.provider_id,
            region_code=row.region_code,
            started_at=city_time(row.started_at),
            deadline_at=city_time(row.deadline_at),
            state=state,  # type: ignore[arg-type]
            answered_at=city_time(row.answered_at) if row.answered_at else None,
            answer=row.answer,
            breached_at=city_time(row.breached_at) if row.breached_at else None,
        )


class SlaCountsPublic(BaseModel):
    """SLA clocks by state now, among those whose deadline fell in ``[from, to)``."""

    running: int
    met: int
    void: int
    breached: int
    total: int
    breach_rate: float | None

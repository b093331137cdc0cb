"""API shapes of the booking domain. Times are shown in city time (UTC+8, with the offset);
a time sent without an offset is read as city time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from carematch.booking.models import Dependant, Slot
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

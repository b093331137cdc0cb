"""Use cases of the booking domain: slots, bookings, the waitlist and dependants.

Who may do what (the endpoint admits the roles; these functions apply the scope):

- A **resident** books, reschedules, cancels and waits for themselves and their registered
  dependants (:class:`~carematch.booking.models.Dependant`); they see every slot. Any other
  person is "not found".
- **Staff** act within their jurisdiction: a slot is visible when its provider's region is; a
  person when identity's :func:`~carematch.identity.service.visible_person` says so. Anything
  outside is "not found" (404), never "forbidden", so other districts' records stay unknown.

Capacity is never exceeded: a place is taken by one conditional UPDATE (see
:mod:`carematch.booking.repository`); nothing here reads ``booked`` and writes a number back.
Use cases that change several rows lock the slots first, in id order, then the bookings, so
concurrent use cases never deadlock on PostgreSQL; on SQLite writers are serialised.

Services flush and never commit: the edge (endpoint, CLI, job) owns the transaction. A use case
that raises after writing leaves the rollback to the edge, which undoes every step: that is what
makes a reschedule atomic.

The waitlist: when a place frees, the first waiting person gets it at once, as a booking made
in the same transaction (no offer to accept, no expiry clock); they are told by the reminders,
and may cancel, which passes the place on.

Every booking made (booked, or given from the waitlist) enqueues its reminders in the same
transaction (:mod:`carematch.booking.reminders`) and moves its SLA clocks
(:mod:`carematch.booking.clocks`): it answers its demand's 24-hour clock, and an online
consultation starts a 30-minute one. A cancellation or no-show cancels the reminders not yet
sent and voids the clock; a reschedule moves both; a check-in answers the consultation.
Service records and ratings have their own modules (records.py, ratings.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.booking import repository
from carematch.booking.errors import (
    AlreadyBooked,
    AlreadyWaiting,
    BookingDemandNotFound,
    BookingNotFound,
    BookingStateConflict,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidBooking,
    InvalidSlot,
    SlotClosed,
    SlotFull,
    SlotNotFound,
    WaitlistEntryNotFound,
)
from carematch.booking.models import Booking, Dependant, Slot, WaitlistEntry
from carematch.booking.slots import PlannedSlot, Schedule, SiteHours, plan_slots
from carematch.core.clock import utcnow
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id, stable_id
from carematch.identity.errors import PersonNotFound
from carematch.identity.service import visible_person
from carematch.providers.catalogue import MOBILE_VAN, service_catalogue
from carematch.providers.errors import ProviderNotFound
from carematch.providers.hours import CITY_TZ, DAY, WeeklyHours, parse_clock
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix

# Ids are short printable tokens; anything else cannot exist and is not looked up (a NUL byte
# would otherwise reach PostgreSQL and fail there).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_SLOT_LENGTH = timedelta(hours=24)
MAX_CAPACITY = 10_000
# Times outside these years are refused before any arithmetic (a +08:00 time in year 1
# cannot be turned into UTC).
YEARS = (2000, 2100)
SYSTEM = "system"


# --- times ----------------------------------------------------------------------------------


def as_utc(at: datetime) -> datetime:
    """A stored time as aware UTC (SQLite returns the UTC wall time without an offset)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def from_input(at: datetime, what: str = "time") -> datetime:
    """A time given by a caller as aware UTC; a time without an offset is city time (UTC+8).

    Raises:
        InvalidInput: the year is outside 2000-2100.
    """
    if not YEARS[0] <= at.year <= YEARS[1]:
        raise InvalidInput(f"{what} {at.isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}")
    local = at.replace(tzinfo=CITY_TZ) if at.tzinfo is None else at
    return local.astimezone(UTC)


def city_time(at: datetime) -> datetime:
    """A stored time in city time (UTC+8), for display."""
    return as_utc(at).astimezone(CITY_TZ)


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingView:
    """A booking with its slot (what the API shows and reminders need)."""

    booking: Booking
    slot: Slot


@dataclass(frozen=True)
class BookResult:
    """The outcome of a booking request; ``replayed`` when an Idempotency-Key found it."""

    view: BookingView
    replayed: bool = False


@dataclass(frozen=True)
class WaitlistView:
    """A waitlist entry with its slot."""

    entry: WaitlistEntry
    slot: Slot


# --- scope ----------------------------------------------------------------------------------


def _is_resident(principal: Principal) -> bool:
    return principal.role == "resident"


def _sees_slot(principal: Principal, slot: Slot) -> bool:
    # Residents browse every slot (public information); staff those of their jurisdiction.
    return _is_resident(principal) or principal.can_see(slot.region_code)


def _scope_prefix(principal: Principal) -> str | None:
    """The region prefix staff are limited to; None for admin and residents."""
    if _is_resident(principal):
        return None
    jurisdiction = principal.jurisdiction
    return region_prefix(jurisdiction) if jurisdiction else None


def own_persons(session: Session, principal: Principal) -> list[str]:
    """The persons a resident acts for: themselves and their registered dependants."""
    if principal.person_id is None:
        return []
    linked = [d.dependant_id for d in repository.dependants_of(session, principal.person_id)]
    return [principal.person_id, *linked]


def visible_slot(session: Session, principal: Principal, slot_id: str) -> Slot:
    """A slot the principal may see and book.

    Raises:
        SlotNotFound: no such slot, or its provider's region is outside the jurisdiction.
    """
    slot = repository.get_slot(session, slot_id) if ID_PATTERN.match(slot_id) else None
    if slot is None or not _sees_slot(principal, slot):
        raise SlotNotFound(f"no slot {slot_id}")
    return slot


def bookable_person(session: Session, principal: Principal, person_id: str) -> str:
    """Check that the principal may act for this person; return the id.

    Raises:
        PersonNotFound: no such person, outside the jurisdiction, or (for a resident) neither
            themselves nor a registered dependant.
    """
    if not ID_PATTERN.match(person_id):
        raise PersonNotFound(f"no person {person_id!r}")
    if _is_resident(principal) and person_id not in own_persons(session, principal):
        raise PersonNotFound(f"no person {person_id}")
    visible_person(session, principal, person_id)
    return person_id


def _may_see_booking(session: Session, principal: Principal, person_id: str, slot: Slot) -> bool:
    if _is_resident(principal):
        return person_id in own_persons(session, principal)
    return principal.can_see(slot.region_code)


def visible_booking(session: Session, principal: Principal, booking_id: str) -> BookingView:
    """A booking the principal may see: a resident's own or a dependant's; staff's by region.

    Raises:
        BookingNotFound: no such booking, or not the principal's to see.
    """
    found = repository.get_booking(session, booking_id) if ID_PATTERN.match(booking_id) else None
    if found is None or not _may_see_booking(session, principal, found[0].person_id, found[1]):
        raise BookingNotFound(f"no booking {booking_id}")
    return BookingView(*found)


def _fresh(session: Session, booking_id: str) -> BookingView:
    found = repository.get_booking(session, booking_id)
    if found is None:  # pragma: no cover - the caller has just seen it in this transaction
        raise BookingNotFound(f"no booking {booking_id}")
    return BookingView(*found)


# --- slots ----------------------------------------------------------------------------------


def create_slot(
    session: Session,
    principal: Principal,
    *,
    provider_id: str,
    service: str,
    start: datetime,
    end: datetime,
    capacity: int,
    now: datetime | None = None,
) -> Slot:
    """A slot made by staff for a service their provider offers (a clinic day, a campaign).

    A time without an offset is city time.

    Raises:
        ProviderNotFound: no such provider, or outside the jurisdiction.
        UnknownService: not in the catalogue.
        InvalidSlot: the provider does not offer the service; the slot ends before it starts,
            has ended, runs over 24 hours, or has a capacity outside 1-10,000.
    """
    from carematch.providers.service import check_service, get_provider

    now = now or utcnow()
    view = get_provider(session, provider_id)
    if not principal.can_see(view.provider.region_code):
        raise ProviderNotFound(f"no provider {provider_id}")
    check_service(service)
    if not view.provider.active:
        raise InvalidSlot(f"provider {provider_id} is not active")
    if service not in {s.service_code for s in view.services}:
        raise InvalidSlot(f"provider {provider_id} does not offer {service}")
    starts, ends = from_input(start, "start"), from_input(end, "end")
    if ends <= starts:
        raise InvalidSlot("a slot must end after it starts")
    if ends - starts > MAX_SLOT_LENGTH:
        raise InvalidSlot("a slot may last 24 hours at most")
    if ends <= now:
        raise InvalidSlot("the slot has already ended")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidSlot(f"capacity must be between 1 and {MAX_CAPACITY}")
    slot = Slot(
        id=new_id(),
        provider_id=provider_id,
        service=service,
        starts_at=starts,
        ends_at=ends,
        capacity=capacity,
        booked=0,
        region_code=view.provider.region_code,
        site=None,
        source="staff",
        created_by=principal.username,
        created_at=now,
    )
    repository.add(session, slot)
    return slot


def list_slots(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    provider_id: str | None = None,
    service: str | None = None,
    region: str | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    available: bool | None = None,
) -> tuple[int, list[Slot]]:
    """Slots the principal may see, earliest first; staff only within their jurisdiction."""
    return repository.list_slots(
        session,
        limit=limit,
        offset=offset,
        region_prefix=_scope_prefix(principal),
        provider_id=provider_id,
        service=service,
        region=region_prefix(region) if region else None,
        start_from=from_input(start_from, "from") if start_from else None,
        start_to=from_input(start_to, "to") if start_to else None,
        available=available,
    )


@dataclass(frozen=True)
class GenerateSummary:
    """What `carematch booking slots` did."""

    first_day: date
    days: int
    offers: int
    planned: int
    created: int

    @property
    def existing(self) -> int:
        return self.planned - self.created

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.first_day.isoformat(),
            "days": self.days,
            "offers": self.offers,
            "slots": self.planned,
            "created": self.created,
            "existing": self.existing,
        }


def schedules(session: Session) -> list[Schedule]:
    """Every active provider's bookable offers with the weekly hours of their sites.

    A fixed provider gives its services at its address during its opening hours; a mobile van
    at each weekly stop, in the stop's window. Services the catalogue does not slot
    (``slot_minutes`` 0) are left out.
    """
    from carematch.providers.service import list_providers

    catalogue = service_catalogue()
    found: list[Schedule] = []
    offset, page = 0, 500
    while True:
        total, views = list_providers(session, limit=page, offset=offset)
        for view in views:
            p = view.provider
            if p.kind == MOBILE_VAN:
                sites = tuple(
                    SiteHours(
                        WeeklyHours.of(
                            [
                                (
                                    (s.weekday - 1) * DAY + parse_clock(s.start_time),
                                    (s.weekday - 1) * DAY + parse_clock(s.end_time),
                                )
                            ]
                        ),
                        s.site_name,
                    )
                    for s in view.stops
                )
            else:
                rows = [(h.weekday, h.opens, h.closes) for h in view.hours]
                sites = (SiteHours(WeeklyHours.from_day_ranges(rows)),)
            for offer in view.services:
                info = catalogue.get(offer.service_code)
                if info is None or info.slot_minutes <= 0:
                    continue
                found.append(
                    Schedule(
                        provider_id=p.id,
                        service=offer.service_code,
                        slot_minutes=info.slot_minutes,
                        daily_capacity=offer.daily_capacity,
                        sites=sites,
                        region_code=p.region_code,
                    )
                )
        offset += page
        if offset >= total or not views:
            return found


def generated_slot_id(slot: PlannedSlot) -> str:
    """The id of a generated slot: the same provider, service, site and start give the same id,
    so generating again adds only what is missing."""
    return stable_id(
        "S", slot.provider_id, slot.service, slot.site or "", as_utc(slot.start).isoformat()
    )


def generate_slots(
    session: Session, *, days: int, first_day: date | None = None, actor: str = "cli"
) -> GenerateSummary:
    """Slots for ``days`` city days from ``first_day`` (default today) from every provider's
    hours, van stops and daily capacity (see :mod:`carematch.booking.slots`).

    Idempotent: a slot generated before keeps its capacity and its bookings; only missing slots
    are added.
    """
    if not 0 <= days <= 366:
        raise InvalidInput("days must be between 0 and 366")
    first_day = first_day or utcnow().astimezone(CITY_TZ).date()
    offers = schedules(session)
    planned = plan_slots(offers, first_day, days)
    ids = [generated_slot_id(s) for s in planned]
    have = repository.existing_slot_ids(session, ids)
    now = utcnow()
    rows = [
        {
            "id": slot_id,
            "provider_id": s.provider_id,
            "service": s.service,
            "starts_at": as_utc(s.start),
            "ends_at": as_utc(s.end),
            "capacity": s.capacity,
            "booked": 0,
            "region_code": s.region_code,
            "site": s.site,
            "source": "generated",
            "created_by": actor,
            "created_at": now,
        }
        for slot_id, s in zip(ids, planned, strict=True)
        if slot_id not in have
    ]
    repository.insert_slots(session, rows)
    return GenerateSummary(first_day, days, len(offers), len(planned), len(rows))


# --- bookings -------------------------------------------------------------------------------


def request_hash(slot_id: str, person_id: str, demand_id: str | None) -> str:
    """The fingerprint of a booking request's body, kept with its Idempotency-Key."""
    body = {"slot_id": slot_id, "person_id": person_id, "demand_id": demand_id}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _check_demand(session: Session, person_id: str, demand_id: str, service: str) -> None:
    from carematch.profiling.service import open_demands

    demand = next((d for d in open_demands(session, person_id) if d.id == demand_id), None)
    if demand is None:
        raise BookingDemandNotFound(f"no open demand {demand_id} for this person")
    if demand.service != service:
        raise InvalidBooking(f"demand {demand_id} is for {demand.service}, the slot for {service}")


def book(
    session: Session,
    principal: Principal,
    *,
    slot_id: str,
    person_id: str,
    demand_id: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> BookResult:
    """Book a place in a slot for a person.

    With an ``idempotency_key`` (the ``Idempotency-Key`` header), the same user sending the same
    key and body again gets the booking the first request made (``replayed``), as it is now; the
    same key with another body is refused. Only successful bookings are remembered: a request
    refused (full, not found) may be retried with its key and is decided afresh.

    Raises:
        IdempotencyKeyReused: the key came with another body before (422).
        SlotNotFound, PersonNotFound, BookingDemandNotFound: not visible to the caller (404).
        SlotClosed: the slot has ended (409).
        AlreadyBooked: the person holds a place in the slot already (409).
        SlotFull: no place is free (409; the waitlist is open).
        IdempotencyKeyInUse: a concurrent request with the same key won (409; retry).
    """
    now = now or utcnow()
    fingerprint = request_hash(slot_id, person_id, demand_id)
    if idempotency_key is not None:
        earlier = repository.by_idempotency_key(session, principal.username, idempotency_key)
        if earlier is not None:
            if earlier.request_hash != fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used with a different request body"
                )
            return BookResult(_fresh(session, earlier.id), replayed=True)
    slot = visible_slot(session, principal, slot_id)
    bookable_person(session, principal, person_id)
    if as_utc(slot.ends_at) <= now:
        raise SlotClosed(f"slot {slot_id} has ended")
    if demand_id is not None:
        _check_demand(session, person_id, demand_id, slot.service)
    booked = repository.take_place(session, slot.id)
    if booked is None:
        if repository.holding(session, slot.id, person_id) is not None:
            raise AlreadyBooked(f"person {person_id} already holds slot {slot_id}")
        raise SlotFull(f"slot {slot_id} is full; join its waitlist", slot_id=slot_id)
    booking = Booking(
        id=new_id(),
        slot_id=slot.id,
        person_id=person_id,
        demand_id=demand_id,
        status="booked",
        created_by=principal.username,
        created_at=now,
        idempotency_key=idempotency_key,
        request_hash=fingerprint if idempotency_key is not None else None,
    )
    try:
        repository.add(session, booking)
    except IntegrityError as exc:
        # A concurrent request won the race; the edge rolls this one back (the place too).
        if "idempotency_key" in str(exc.orig):
            raise IdempotencyKeyInUse(
                "a request with this Idempotency-Key is in progress; retry"
            ) from None
        raise AlreadyBooked(f"person {person_id} already holds slot {slot_id}") from None
    repository.note_booked(slot, booked)
    _after_booking(session, booking, slot, now)
    # A freed place goes to the waitlist first, so a slot with a free place has nobody waiting
    # until it starts (then the waitlist is no longer served): only then may the person have
    # been waiting, and their entry is closed.
    if as_utc(slot.starts_at) <= now:
        repository.close_entries(
            session, slot.id, person_id, "booked", booking_id=booking.id, changed_at=now
        )
    return BookResult(BookingView(booking, slot))


def _after_booking(session: Session, booking: Booking, slot: Slot, now: datetime) -> None:
    """What a new booking sets going in the same transaction: its reminders (see reminders.py)
    and its SLA clocks (it answers its demand's; an online consultation starts one)."""
    from carematch.booking import clocks, reminders

    reminders.enqueue_for(session, booking, slot, now)
    clocks.on_booked(session, booking, slot, now)


def _promote(session: Session, slot_id: str, now: datetime) -> list[Booking]:
    """Give the slot's free places to the waitlist, first come first served.

    The caller holds the slot's row lock (it has just changed the slot or locked it), so no
    other transaction books the same person into it meanwhile. A slot that has started offers
    nothing: its waiting list is past help.
    """
    slot = repository.get_slot(session, slot_id)
    if slot is None or as_utc(slot.starts_at) <= now:
        return []
    promoted = []
    while (entry := repository.next_waiting(session, slot_id)) is not None:
        if repository.take_place(session, slot_id) is None:
            break
        booking = Booking(
            id=new_id(),
            slot_id=slot_id,
            person_id=entry.person_id,
            demand_id=entry.demand_id,
            status="booked",
            created_by=entry.created_by,
            created_at=now,
            waitlist_entry_id=entry.id,
        )
        repository.add(session, booking)
        repository.change_entry(
            session, entry.id, "waiting", status="booked", booking_id=booking.id, changed_at=now
        )
        _after_booking(session, booking, slot, now)
        promoted.append(booking)
    return promoted


def cancel(
    session: Session, principal: Principal, booking_id: str, *, now: datetime | None = None
) -> BookingView:
    """Cancel a booked booking; its place goes to the slot's waitlist at once.

    Cancelling a cancelled booking changes nothing (DELETE is idempotent).

    Raises:
        BookingNotFound: not visible to the caller.
        BookingStateConflict: the booking is checked in, completed or a no-show.
    """
    now = now or utcnow()
    view = visible_booking(session, principal, booking_id)
    if view.booking.status == "cancelled":
        return view
    if view.booking.status != "booked":
        raise BookingStateConflict(f"booking {booking_id} is {view.booking.status}")
    repository.lock_slots(session, [view.slot.id])
    changed = repository.change_status(
        session,
        booking_id,
        ["booked"],
        status="cancelled",
        cancelled_at=now,
        changed_by=principal.username,
        changed_at=now,
    )
    if not changed:
        current = _fresh(session, booking_id)
        if current.booking.status == "cancelled":
            return current
        raise BookingStateConflict(f"booking {booking_id} is {current.booking.status}")
    repository.release_place(session, view.slot.id)
    _after_withdrawal(session, booking_id, view.slot.id, "cancelled", now)
    _promote(session, view.slot.id, now)
    return _fresh(session, booking_id)


def _after_withdrawal(
    session: Session, booking_id: str, slot_id: str, reason: str, now: datetime
) -> None:
    """A booking that will not take place: its reminders are cancelled, its clock voided."""
    from carematch.booking import clocks, reminders

    reminders.cancel_for(session, booking_id, slot_id)
    clocks.on_withdrawn(session, booking_id, reason, now)


def reschedule(
    session: Session,
    principal: Principal,
    booking_id: str,
    slot_id: str,
    *,
    now: datetime | None = None,
) -> BookingView:
    """Move a booked booking to another slot of the same service, atomically.

    The new place is taken before the old one is given back, in one transaction: if the new
    slot is full the booking stays where it was. The booking keeps its id; the old slot's freed
    place goes to its waitlist.

    Raises:
        BookingNotFound, SlotNotFound: not visible to the caller.
        BookingStateConflict: the booking is not ``booked``.
        InvalidBooking: the new slot is for another service.
        SlotClosed: the new slot has ended.
        AlreadyBooked: the person already holds the new slot.
        SlotFull: the new slot has no free place.
    """
    now = now or utcnow()
    view = visible_booking(session, principal, booking_id)
    if view.booking.status != "booked":
        raise BookingStateConflict(f"booking {booking_id} is {view.booking.status}")
    new = visible_slot(session, principal, slot_id)
    old = view.slot
    if new.id == old.id:
        return view
    if new.service != old.service:
        raise InvalidBooking(f"slot {slot_id} is for {new.service}, the booking for {old.service}")
    if as_utc(new.ends_at) <= now:
        raise SlotClosed(f"slot {slot_id} has ended")
    person_id = view.booking.person_id
    if repository.holding(session, new.id, person_id) is not None:
        raise AlreadyBooked(f"person {person_id} already holds slot {slot_id}")
    repository.lock_slots(session, [old.id, new.id])
    if repository.take_place(session, new.id) is None:
        raise SlotFull(f"slot {slot_id} is full; the booking stays where it was", slot_id=slot_id)
    try:
        moved = repository.move_booking(
            session,
            booking_id,
            old.id,
            new.id,
            rescheduled_at=now,
            changed_by=principal.username,
            changed_at=now,
        )
    except IntegrityError:
        raise AlreadyBooked(f"person {person_id} already holds slot {slot_id}") from None
    if not moved:
        # Changed by someone else since we read it; the edge rolls the new place back.
        raise BookingStateConflict(f"booking {booking_id} changed meanwhile; try again")
    repository.release_place(session, old.id)
    repository.close_entries(
        session, new.id, person_id, "booked", booking_id=booking_id, changed_at=now
    )
    _promote(session, old.id, now)
    current = _fresh(session, booking_id)
    from carematch.booking import clocks, reminders

    reminders.cancel_for(session, booking_id, old.id)
    reminders.enqueue_for(session, current.booking, current.slot, now)
    clocks.on_rescheduled(session, current.booking, current.slot, now)
    return current


def check_in(
    session: Session, principal: Principal, booking_id: str, *, now: datetime | None = None
) -> BookingView:
    """Staff check the person in on arrival (签到); checking in twice changes nothing.

    Raises:
        BookingNotFound: outside the jurisdiction.
        BookingStateConflict: the booking is cancelled, completed or a no-show.
    """
    now = now or utcnow()
    view = visible_booking(session, principal, booking_id)
    if view.booking.status == "checked_in":
        return view
    current = _transition(
        session,
        principal.username,
        view,
        ["booked"],
        now,
        status="checked_in",
        checked_in_at=now,
    )
    from carematch.booking import clocks

    clocks.on_checked_in(session, booking_id, principal.username, now)
    return current


def mark_no_show(
    session: Session, principal: Principal, booking_id: str, *, now: datetime | None = None
) -> BookingView:
    """Staff record that the person did not come (爽约); only once the slot has started.

    Raises:
        BookingNotFound: outside the jurisdiction.
        BookingStateConflict: the slot has not started, or the booking is not ``booked``.
    """
    now = now or utcnow()
    view = visible_booking(session, principal, booking_id)
    if view.booking.status == "no_show":
        return view
    if as_utc(view.slot.starts_at) > now:
        raise BookingStateConflict(f"slot of booking {booking_id} has not started yet")
    current = _transition(session, principal.username, view, ["booked"], now, status="no_show")
    _after_withdrawal(session, booking_id, view.slot.id, "no_show", now)
    return current


def complete(
    session: Session, booking_id: str, *, actor: str, now: datetime | None = None
) -> BookingView:
    """The visit took place (a service record was written): the booking is ``completed``.

    For the service-record use case, which has checked the caller's access. A booked booking
    may be completed without a check-in (the clinic forgot); completing twice changes nothing.

    Raises:
        BookingNotFound: no such booking.
        BookingStateConflict: cancelled or no-show.
    """
    now = now or utcnow()
    found = repository.get_booking(session, booking_id) if ID_PATTERN.match(booking_id) else None
    if found is None:
        raise BookingNotFound(f"no booking {booking_id}")
    view = BookingView(*found)
    if view.booking.status == "completed":
        return view
    return _transition(
        session,
        actor,
        view,
        ["booked", "checked_in"],
        now,
        status="completed",
        completed_at=now,
    )


def _transition(
    session: Session,
    actor: str,
    view: BookingView,
    from_statuses: Sequence[str],
    now: datetime,
    **values: Any,
) -> BookingView:
    booking_id = view.booking.id
    changed = repository.change_status(
        session, booking_id, from_statuses, changed_by=actor, changed_at=now, **values
    )
    current = _fresh(session, booking_id)
    if not changed:
        raise BookingStateConflict(f"booking {booking_id} is {current.booking.status}")
    return current


def get_booking(session: Session, booking_id: str) -> BookingView:
    """A booking and its slot, unscoped, for jobs (reminders, service records).

    Raises:
        BookingNotFound: no such booking.
    """
    found = repository.get_booking(session, booking_id) if ID_PATTERN.match(booking_id) else None
    if found is None:
        raise BookingNotFound(f"no booking {booking_id}")
    return BookingView(*found)


def list_bookings(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    person_id: str | None = None,
    status: str | None = None,
    slot_id: str | None = None,
    provider_id: str | None = None,
    service: str | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
) -> tuple[int, list[BookingView]]:
    """Bookings by slot start: a resident's own and dependants'; staff's by slot region."""
    person_ids = own_persons(session, principal) if _is_resident(principal) else None
    total, rows = repository.list_bookings(
        session,
        limit=limit,
        offset=offset,
        region_prefix=_scope_prefix(principal),
        person_ids=person_ids,
        person_id=person_id,
        status=status,
        slot_id=slot_id,
        provider_id=provider_id,
        service=service,
        start_from=from_input(start_from, "from") if start_from else None,
        start_to=from_input(start_to, "to") if start_to else None,
    )
    return total, [BookingView(b, s) for b, s in rows]


def bookings_due(
    session: Session,
    start_from: datetime,
    start_to: datetime,
    statuses: Sequence[str] = ("booked",),
) -> list[BookingView]:
    """Bookings whose slot starts in ``[start_from, start_to)`` (reminders, today's list)."""
    rows = repository.due_bookings(
        session, from_input(start_from), from_input(start_to), list(statuses)
    )
    return [BookingView(b, s) for b, s in rows]


# --- waitlist -------------------------------------------------------------------------------


def join_waitlist(
    session: Session,
    principal: Principal,
    *,
    slot_id: str,
    person_id: str,
    demand_id: str | None = None,
    now: datetime | None = None,
) -> WaitlistView:
    """Put a person on a slot's waitlist; if a place is free meanwhile they get it at once.

    Raises:
        SlotNotFound, PersonNotFound, BookingDemandNotFound: not visible to the caller.
        SlotClosed: the slot has started.
        AlreadyBooked: the person holds a place in the slot.
        AlreadyWaiting: the person is on its waitlist already.
    """
    now = now or utcnow()
    slot = visible_slot(session, principal, slot_id)
    bookable_person(session, principal, person_id)
    if as_utc(slot.starts_at) <= now:
        raise SlotClosed(f"slot {slot_id} has started")
    if demand_id is not None:
        _check_demand(session, person_id, demand_id, slot.service)
    if repository.holding(session, slot.id, person_id) is not None:
        raise AlreadyBooked(f"person {person_id} already holds slot {slot_id}")
    if repository.waiting_entry(session, slot.id, person_id) is not None:
        raise AlreadyWaiting(f"person {person_id} is on the waitlist of slot {slot_id}")
    # Lock the slot before joining, so a place freed meanwhile is either seen here or seen by
    # the transaction that frees it (which then finds this entry).
    repository.lock_slots(session, [slot.id])
    entry = WaitlistEntry(
        id=new_id(),
        slot_id=slot.id,
        person_id=person_id,
        demand_id=demand_id,
        status="waiting",
        created_by=principal.username,
        created_at=now,
    )
    try:
        repository.add(session, entry)
    except IntegrityError:
        raise AlreadyWaiting(f"person {person_id} is on the waitlist of slot {slot_id}") from None
    _promote(session, slot.id, now)
    found = repository.get_entry(session, entry.id)
    assert found is not None
    return WaitlistView(*found)


def _visible_entry(session: Session, principal: Principal, entry_id: str) -> WaitlistView:
    found = repository.get_entry(session, entry_id) if ID_PATTERN.match(entry_id) else None
    if found is None or not _may_see_booking(session, principal, found[0].person_id, found[1]):
        raise WaitlistEntryNotFound(f"no waitlist entry {entry_id}")
    return WaitlistView(*found)


def leave_waitlist(
    session: Session, principal: Principal, entry_id: str, *, now: datetime | None = None
) -> WaitlistView:
    """Take a person off a waitlist; leaving twice changes nothing.

    Raises:
        WaitlistEntryNotFound: not visible to the caller.
        BookingStateConflict: the entry has become a booking (cancel that instead).
    """
    now = now or utcnow()
    view = _visible_entry(session, principal, entry_id)
    if view.entry.status == "withdrawn":
        return view
    if not repository.change_entry(
        session, entry_id, "waiting", status="withdrawn", changed_at=now
    ):
        current = _visible_entry(session, principal, entry_id)
        if current.entry.status == "withdrawn":
            return current
        raise BookingStateConflict(
            f"waitlist entry {entry_id} became booking {current.entry.booking_id}; cancel that"
        )
    return _visible_entry(session, principal, entry_id)


def list_waitlist(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    slot_id: str | None = None,
    status: str | None = None,
) -> tuple[int, list[WaitlistView]]:
    """Waitlist entries, oldest first: a resident's own and dependants'; staff's by region."""
    person_ids = own_persons(session, principal) if _is_resident(principal) else None
    total, rows = repository.list_entries(
        session,
        limit=limit,
        offset=offset,
        region_prefix=_scope_prefix(principal),
        person_ids=person_ids,
        slot_id=slot_id,
        status=status,
    )
    return total, [WaitlistView(e, s) for e, s in rows]


# --- dependants -----------------------------------------------------------------------------


def register_dependant(
    session: Session,
    principal: Principal,
    *,
    guardian_id: str,
    dependant_id: str,
    relation: str,
    now: datetime | None = None,
) -> Dependant:
    """Staff register that ``guardian_id`` may book for ``dependant_id``; registering again
    updates the relation.

    Raises:
        PersonNotFound: either person is outside the staff member's jurisdiction.
        InvalidInput: a person cannot be their own dependant.
    """
    for pid in (guardian_id, dependant_id):
        bookable_person(session, principal, pid)
    if guardian_id == dependant_id:
        raise InvalidInput("a person cannot be their own dependant")
    link = repository.get_dependant(session, guardian_id, dependant_id)
    if link is None:
        link = Dependant(
            guardian_id=guardian_id,
            dependant_id=dependant_id,
            relation=relation,
            created_by=principal.username,
            created_at=now or utcnow(),
        )
        repository.add(session, link)
    else:
        link.relation = relation
        session.flush()
    return link


def list_dependants(
    session: Session, principal: Principal, guardian_id: str | None = None
) -> list[Dependant]:
    """A guardian's dependants: a resident's own, or (staff) a visible person's.

    Raises:
        PersonNotFound: staff without ``guardian_id``'s person in their jurisdiction.
    """
    if _is_resident(principal):
        guardian_id = principal.person_id
        if guardian_id is None:
            return []
    elif guardian_id is None:
        raise InvalidInput("guardian_id is required")
    else:
        bookable_person(session, principal, guardian_id)
    return repository.dependants_of(session, guardian_id)

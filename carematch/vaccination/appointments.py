"""Vaccination appointments (接种预约, R-VX-2): the due doses of a person → open 15-minute slots.

The forecaster says which series are due or overdue for a person; each series is given by a
vaccination service of the catalogue (childhood or adult vaccination, whose ``slot_minutes`` of
15 the booking engine cuts the clinics' hours by); the booking engine holds the slots and every
capacity rule. This module joins them and records, beside each booking it makes, the series and
dose it is for (:class:`~carematch.vaccination.appointment_models.VaccinationAppointment`).

It reaches the booking, identity and provider domains through their service functions only, and
never changes a booking's place-taking: a dose booking is :func:`carematch.booking.service.book`
plus one row of its own, in the same transaction (the edge commits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.booking import service as booking
from carematch.booking.models import Slot
from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput
from carematch.identity import service as identity
from carematch.providers.hours import CITY_TZ
from carematch.security.authz import Principal
from carematch.vaccination.appointment_models import VaccinationAppointment
from carematch.vaccination.forecast import DUE, OVERDUE, SeriesForecast
from carematch.vaccination.service import PersonForecast, person_forecast

CHILD_SERVICE: Final = "vaccination_child"
ADULT_SERVICE: Final = "vaccination_adult"
VACCINATION_SERVICES: Final = (CHILD_SERVICE, ADULT_SERVICE)
"""The catalogue's clinic vaccination services (home vaccination is a request, not a slot)."""
ADULT_FROM_YEARS: Final = 18
"""From this age a dose is given at the adult clinic (the schedule's catch-up ends at 18y)."""
BOOKABLE: Final = (DUE, OVERDUE)
"""Only a dose that is due or overdue is offered slots: an upcoming one is not yet valid."""
MAX_PROVIDERS: Final = 20
MAX_SLOTS: Final = 50


class NotAVaccinationSlot(InvalidInput):
    """The slot is for a service that does not give vaccinations."""

    type = "/problems/not-a-vaccination-slot"
    title = "Not a vaccination slot"


class DoseNotDue(Conflict):
    """The series has no due or overdue dose for the person today."""

    type = "/problems/dose-not-due"
    title = "Dose not due"


class SlotBeforeDueDate(Conflict):
    """The slot is on a day before the dose falls due: the dose would not count."""

    type = "/problems/slot-before-due-date"
    title = "Slot before the due date"


# --- pure rules -------------------------------------------------------------------------------


def age_in_years(born: date, on: date) -> int:
    """Whole years of age on ``on``.

    Examples:
        >>> age_in_years(date(2010, 3, 1), date(2028, 2, 29))
        17
    """
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def service_for(born: date, on: date) -> str:
    """The clinic service that gives a dose to a person born ``born`` on the day ``on``."""
    return ADULT_SERVICE if age_in_years(born, on) >= ADULT_FROM_YEARS else CHILD_SERVICE


def bookable_entries(entries: Sequence[SeriesForecast]) -> list[SeriesForecast]:
    """The series whose next dose is due or overdue (upcoming, complete and not recommended
    series have nothing to book)."""
    return [e for e in entries if e.status in BOOKABLE and e.due_date is not None]


def earliest_start(due: date, now: datetime) -> datetime:
    """The first moment a slot for a dose due on ``due`` may start: the due day's city midnight,
    or now if that has passed (aware UTC)."""
    midnight = datetime.combine(due, time.min, tzinfo=CITY_TZ).astimezone(UTC)
    return max(midnight, now.astimezone(UTC))


# --- slots for the due doses ------------------------------------------------------------------


@dataclass(frozen=True)
class OfferedSlot:
    """An open slot offered for a dose; ``distance_km`` when a location was given."""

    slot: Slot
    distance_km: float | None = None


@dataclass(frozen=True)
class DoseSlots:
    """One due or overdue dose of a person and the open slots from its due date on."""

    series: str
    name: str
    dose: int
    status: str
    due_date: date
    service: str
    slots: list[OfferedSlot]


def _slots_near(
    session: Session,
    principal: Principal,
    service: str,
    start_from: datetime,
    limit: int,
    *,
    lat: float,
    lon: float,
    providers: int,
) -> list[OfferedSlot]:
    from carematch.providers.service import nearest

    distance: dict[str, float] = {}
    for found in nearest(session, service, lat, lon, limit=providers):
        # A van appears once per stop: keep its nearest.
        distance.setdefault(found.candidate.provider_id, found.candidate.distance_km)
    offered: list[OfferedSlot] = []
    for provider_id, km in distance.items():
        _, slots = booking.list_slots(
            session,
            principal,
            limit=limit,
            offset=0,
            provider_id=provider_id,
            service=service,
            start_from=start_from,
            available=True,
        )
        offered += [OfferedSlot(s, round(km, 2)) for s in slots]
    offered.sort(key=lambda o: (o.slot.starts_at, o.distance_km or 0.0, o.slot.id))
    return offered[:limit]


def _slots_in_region(
    session: Session,
    principal: Principal,
    service: str,
    start_from: datetime,
    limit: int,
    region: str | None,
) -> list[OfferedSlot]:
    _, slots = booking.list_slots(
        session,
        principal,
        limit=limit,
        offset=0,
        service=service,
        region=region,
        start_from=start_from,
        available=True,
    )
    return [OfferedSlot(s) for s in slots]


def due_dose_slots(
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    lat: float | None = None,
    lon: float | None = None,
    providers: int = 5,
    per_dose: int = 10,
    now: datetime | None = None,
) -> tuple[PersonForecast, list[DoseSlots]]:
    """For each dose the person is due or overdue for, open slots from its due date on.

    With a location (``lat``/``lon``, e.g. the resident's phone) the slots are those of the
    ``providers`` nearest providers of the service (:func:`carematch.providers.service.nearest`),
    earliest first; without one, those in the person's district. A resident asks for themselves
    or a registered dependant; staff for a person of their jurisdiction (they see only their
    jurisdiction's slots). The person read is audited by the forecast.

    Raises:
        PersonNotFound: not the caller's to act for.
        BirthDateUnknown: nothing can be forecast (409).
        InvalidInput: a count or coordinate out of range.
    """
    if not 1 <= providers <= MAX_PROVIDERS:
        raise InvalidInput(f"providers must be between 1 and {MAX_PROVIDERS}")
    if not 1 <= per_dose <= MAX_SLOTS:
        raise InvalidInput(f"per_dose must be between 1 and {MAX_SLOTS}")
    if (lat is None) != (lon is None):
        raise InvalidInput("give both lat and lon, or neither")
    now = now or utcnow()
    booking.bookable_person(session, principal, person_id)
    today = now.astimezone(CITY_TZ).date()
    result = person_forecast(session, principal, person_id, today)
    names = {s.code: s.name for s in result.schedule.series}
    community = identity.visible_person(session, principal, person_id).community_code
    # The district (the code's first six digits) of the person's community.
    district = community[:6] if community else None
    doses: list[DoseSlots] = []
    for entry in bookable_entries(result.forecast.entries):
        assert entry.due_date is not None and entry.dose is not None
        service = service_for(result.birth_date, max(entry.due_date, today))
        start_from = earliest_start(entry.due_date, now)
        if lat is not None and lon is not None:
            offered = _slots_near(
                session, principal, service, start_from, per_dose,
                lat=lat, lon=lon, providers=providers,
            )  # fmt: skip
        else:
            offered = _slots_in_region(session, principal, service, start_from, per_dose, district)
        doses.append(
            DoseSlots(
                series=entry.series,
                name=names.get(entry.series, entry.series),
                dose=entry.dose,
                status=entry.status,
                due_date=entry.due_date,
                service=service,
                slots=offered,
            )
        )
    return result, doses


# --- booking a dose ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseBooking:
    """A booking made for a dose, the dose it is for, and whether an Idempotency-Key replayed it."""

    view: booking.BookingView
    appointment: VaccinationAppointment
    replayed: bool = False


def check_dose_slot(slot: Slot, entry: SeriesForecast | None, series: str) -> None:
    """A dose may be booked into a vaccination slot on or after its due day.

    Raises:
        NotAVaccinationSlot: the slot's service gives no vaccinations.
        DoseNotDue: the series has no due or overdue dose.
        SlotBeforeDueDate: the slot's city day is before the due date.
    """
    if slot.service not in VACCINATION_SERVICES:
        raise NotAVaccinationSlot(f"slot {slot.id} is for {slot.service}, not a vaccination")
    if entry is None or entry.status not in BOOKABLE or entry.due_date is None:
        status = entry.status if entry is not None else "unknown"
        raise DoseNotDue(f"series {series} has no due dose (it is {status})")
    if booking.city_time(slot.starts_at).date() < entry.due_date:
        raise SlotBeforeDueDate(
            f"slot {slot.id} is before the due date {entry.due_date.isoformat()} of {series}"
        )


def record_appointment(
    session: Session,
    *,
    booking_id: str,
    person_id: str,
    series: str,
    dose: int | None,
    actor: str,
    group_booking_id: str | None = None,
    now: datetime | None = None,
) -> VaccinationAppointment:
    """Note which series and dose a booking is for; noting it again keeps the first note."""
    found = session.get(VaccinationAppointment, booking_id)
    if found is not None:
        return found
    row = VaccinationAppointment(
        booking_id=booking_id,
        person_id=person_id,
        series=series,
        dose=dose,
        group_booking_id=group_booking_id,
        created_by=actor,
        created_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent replay of the same request noted it first
        found = session.get(VaccinationAppointment, booking_id)
        assert found is not None
        return found
    return row


def book_dose(
    session: Session,
    principal: Principal,
    *,
    slot_id: str,
    person_id: str,
    series: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> DoseBooking:
    """Book a place in a vaccination slot for a person's due dose of ``series``.

    The dose must be due or overdue and the slot on or after its due day (a dose given earlier
    would not count); the place itself is taken by the booking engine, with its Idempotency-Key,
    capacity and one-place-per-slot rules unchanged.

    Raises:
        SlotNotFound, PersonNotFound: not visible to the caller (404).
        NotAVaccinationSlot (400), DoseNotDue, SlotBeforeDueDate (409).
        The booking engine's errors: SlotFull, SlotClosed, AlreadyBooked, IdempotencyKeyReused.
    """
    now = now or utcnow()
    slot = booking.visible_slot(session, principal, slot_id)
    booking.bookable_person(session, principal, person_id)
    today = now.astimezone(CITY_TZ).date()
    result = person_forecast(session, principal, person_id, today)
    entry = next((e for e in result.forecast.entries if e.series == series), None)
    if entry is None:
        raise InvalidInput(f"the schedule has no series {series!r}")
    check_dose_slot(slot, entry, series)
    made = booking.book(
        session,
        principal,
        slot_id=slot.id,
        person_id=person_id,
        idempotency_key=idempotency_key,
        now=now,
    )
    appointment = record_appointment(
        session,
        booking_id=made.view.booking.id,
        person_id=person_id,
        series=series,
        dose=entry.dose,
        actor=principal.username,
        now=now,
    )
    return DoseBooking(made.view, appointment, made.replayed)


def person_appointments(
    session: Session, principal: Principal, person_id: str, series: str | None = None
) -> list[tuple[VaccinationAppointment, booking.BookingView]]:
    """A person's vaccination bookings with the series and dose each is for, newest first.

    Raises:
        PersonNotFound: not the caller's to act for.
    """
    booking.bookable_person(session, principal, person_id)
    query = select(VaccinationAppointment).where(VaccinationAppointment.person_id == person_id)
    if series is not None:
        query = query.where(VaccinationAppointment.series == series)
    rows = session.scalars(query.order_by(VaccinationAppointment.created_at.desc()))
    out = []
    for row in rows:
        view = booking.get_booking(session, row.booking_id)
        # Staff see the bookings of their jurisdiction's slots only.
        if principal.role == "resident" or principal.can_see(view.slot.region_code):
            out.append((row, view))
    return out

"""Service records (服务记录): what staff did at a visit, and what it closes.

A doctor, vaccinator or official writes one for a booking (checked in, or still booked when the
clinic forgot the check-in) or for a walk-in (a person served without a booking). Writing it,
in one transaction:

- completes the booking (:func:`carematch.booking.service.complete`);
- serves the demands the visit met (:func:`carematch.profiling.service.mark_served`): the
  demand the booking or the request names, and every other open demand of the person for the
  same service — one chronic follow-up meets the need whichever tag raised it;
- answers the SLA clocks of those demands and of an online consultation;
- credits health points when the service earns them (an elderly check-up, a health talk …,
  :func:`carematch.points.service.earn_for_service`; once per record);
- reminds the person of the next follow-up date, if one is set;
- is audited, as is every read of a person's records.

``summary`` and ``notes`` are health data: stored encrypted, never written to the audit log.
A booking has at most one record: a second is refused (409), also when two arrive at once
(a unique index decides).

Who sees records: staff within their jurisdiction (the provider's region, as for bookings); a
resident their own and their dependants' (to rate a visit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.booking import clocks, reminders, repository
from carematch.booking.errors import (
    BookingDemandNotFound,
    BookingStateConflict,
    InvalidServiceRecord,
    ServiceRecordExists,
    ServiceRecordNotFound,
)
from carematch.booking.models import OUTCOMES, ServiceRecord
from carematch.booking.service import (
    ID_PATTERN,
    BookingView,
    bookable_person,
    city_time,
    complete,
    own_persons,
    visible_booking,
)
from carematch.core.clock import utcnow
from carematch.core.errors import Forbidden
from carematch.core.ids import new_id
from carematch.providers.catalogue import service_catalogue
from carematch.providers.errors import ProviderNotFound
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix

MAX_TEXT = 4000
# A next follow-up further ahead than this is a typing slip (two years is the longest cycle of
# the national schedules).
MAX_FOLLOWUP_AHEAD = timedelta(days=2 * 366)
# The demands one record may name (ids are 32 characters, the column holds 400).
MAX_DEMANDS = 12


@dataclass(frozen=True)
class RecordResult:
    """A written record with what it changed: the booking, the demands served, points earned."""

    record: ServiceRecord
    booking: BookingView | None
    served: list[str] = field(default_factory=list)
    points: Any | None = None


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _text(value: str | None, what: str, *, required: bool) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise InvalidServiceRecord(f"{what} is required")
        return None
    if len(cleaned) > MAX_TEXT:
        raise InvalidServiceRecord(f"{what}: at most {MAX_TEXT} characters")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in cleaned):
        raise InvalidServiceRecord(f"{what} holds control characters")
    return cleaned


def _check_followup(next_followup_on: date | None, visit: datetime) -> None:
    if next_followup_on is None:
        return
    visit_day = city_time(visit).date()
    if next_followup_on <= visit_day:
        raise InvalidServiceRecord("the next follow-up must fall after the visit")
    if next_followup_on - visit_day > MAX_FOLLOWUP_AHEAD:
        raise InvalidServiceRecord("the next follow-up is more than two years ahead")


def _provider(session: Session, principal: Principal, provider_id: str, service: str) -> Any:
    from carematch.providers.service import check_service, get_provider

    view = get_provider(session, provider_id)
    if not principal.can_see(view.provider.region_code):
        raise ProviderNotFound(f"no provider {provider_id}")
    check_service(service)
    if service not in {s.service_code for s in view.services}:
        raise InvalidServiceRecord(f"provider {provider_id} does not offer {service}")
    return view.provider


def _served_demands(session: Session, person_id: str, service: str, named: str | None) -> list[str]:
    """The demands a visit for ``service`` meets: the person's open demands for the service
    (the booking's among them while it is open; one closed since the booking is left closed).

    Raises:
        BookingDemandNotFound: ``named`` (a demand the writer names) is not an open demand of
            the person for this service.
    """
    from carematch.profiling.service import open_demands

    open_for_service = [d.id for d in open_demands(session, person_id) if d.service == service]
    if named is not None and named not in open_for_service:
        raise BookingDemandNotFound(f"no open demand {named} of this person for {service}")
    return sorted(set(open_for_service))


def _earn_points(session: Session, record: ServiceRecord) -> Any | None:
    """Credit health points when the service earns them (points' rules.yaml says which: an
    elderly check-up, a health talk, a chronic follow-up …); None when it earns none. The points
    domain keys the credit on the record id, so a retried write never earns twice."""
    from carematch.points.service import earn_for_service

    return earn_for_service(
        session,
        person_id=record.person_id,
        service_code=record.service,
        service_record_id=record.id,
        actor=record.recorded_by,
    )


def write(
    session: Session,
    principal: Principal,
    *,
    summary: str | None = None,
    outcome: str | None = None,
    booking_id: str | None = None,
    person_id: str | None = None,
    provider_id: str | None = None,
    service: str | None = None,
    demand_id: str | None = None,
    notes: str | None = None,
    next_followup_on: date | None = None,
    now: datetime | None = None,
) -> RecordResult:
    """Write the service record of a visit: a booking's, or a walk-in's (no ``booking_id``:
    then ``person_id``, ``provider_id`` and ``service`` say who was served where, for what).

    ``summary`` (what was done) defaults to the service's name; ``outcome`` to ``follow_up``
    when a next follow-up date is given, else ``resolved``.

    Raises:
        Forbidden: a resident (records are written by staff).
        InvalidServiceRecord: empty summary, unknown outcome, a follow-up date not after the
            visit, a walk-in without its person, provider or service, or a service the
            provider does not offer; a booking's person or service contradicted.
        BookingNotFound, PersonNotFound, ProviderNotFound, BookingDemandNotFound: not visible.
        BookingStateConflict: the booking was cancelled or missed.
        ServiceRecordExists: the booking has its record already.
    """
    now = _utc(now or utcnow())
    if principal.role == "resident":
        raise Forbidden("service records are written by staff")
    summary_text = _text(summary, "summary", required=False)
    notes_text = _text(notes, "notes", required=False)
    if outcome is None:
        outcome = "follow_up" if next_followup_on is not None else "resolved"
    if outcome not in OUTCOMES:
        raise InvalidServiceRecord(f"outcome must be one of {', '.join(OUTCOMES)}")
    _check_followup(next_followup_on, now)
    view: BookingView | None = None
    if booking_id is not None:
        view = visible_booking(session, principal, booking_id)
        booking, slot = view.booking, view.slot
        if person_id is not None and person_id != booking.person_id:
            raise InvalidServiceRecord("person_id is not the booking's person")
        if service is not None and service != slot.service:
            raise InvalidServiceRecord("service is not the booking's service")
        if provider_id is not None and provider_id != slot.provider_id:
            raise InvalidServiceRecord("provider_id is not the booking's provider")
        if repository.record_for_booking(session, booking.id) is not None:
            raise ServiceRecordExists(f"booking {booking.id} has its service record")
        if booking.status not in ("booked", "checked_in"):
            raise BookingStateConflict(f"booking {booking.id} is {booking.status}")
        person, provider, svc, region = (
            booking.person_id,
            slot.provider_id,
            slot.service,
            slot.region_code,
        )
    else:
        if not (person_id and provider_id and service):
            raise InvalidServiceRecord("a walk-in names person_id, provider_id and service")
        person = bookable_person(session, principal, person_id)
        provider_row = _provider(session, principal, provider_id, service)
        provider, svc, region = provider_row.id, service, provider_row.region_code
    served = _served_demands(session, person, svc, demand_id)[:MAX_DEMANDS]
    if summary_text is None:
        info = service_catalogue().get(svc)
        summary_text = info.name if info is not None else svc
    record = ServiceRecord(
        id=new_id(),
        booking_id=view.booking.id if view else None,
        person_id=person,
        provider_id=provider,
        service=svc,
        region_code=region,
        demand_ids=" ".join(served),
        performed_at=now,
        summary=summary_text,
        outcome=outcome,
        notes=notes_text,
        next_followup_on=next_followup_on,
        recorded_by=principal.username,
        recorded_at=now,
    )
    try:
        repository.add(session, record)
    except IntegrityError:
        # Another request wrote the booking's record first; the edge rolls this one back.
        raise ServiceRecordExists(f"booking {booking_id} has its service record") from None
    if view is not None:
        view = complete(session, view.booking.id, actor=principal.username, now=now)
    from carematch.profiling.service import mark_served

    for served_id in served:
        mark_served(session, served_id)
    clocks.on_service_record(session, record, now)
    points = _earn_points(session, record)
    if next_followup_on is not None:
        team = reminders.provider_name(session, provider)
        reminders.enqueue_followup(session, record, team, now)
    audit.record(
        session,
        actor=principal.username,
        action="write_service_record",
        entity="service_record",
        entity_id=record.id,
        detail={
            "person": person,
            "booking": record.booking_id,
            "service": svc,
            "outcome": outcome,
            "demands_served": len(served),
        },
    )
    return RecordResult(record, view, served, points)


# --- reading --------------------------------------------------------------------------------


def _may_see(session: Session, principal: Principal, record: ServiceRecord) -> bool:
    if principal.role == "resident":
        return record.person_id in own_persons(session, principal)
    return principal.can_see(record.region_code)


def visible_record(session: Session, principal: Principal, record_id: str) -> ServiceRecord:
    """A record the principal may see (not audited; for checks such as a rating's).

    Raises:
        ServiceRecordNotFound: no such record, or not the principal's to see.
    """
    row = repository.get_record(session, record_id) if ID_PATTERN.match(record_id) else None
    if row is None or not _may_see(session, principal, row):
        raise ServiceRecordNotFound(f"no service record {record_id}")
    return row


def read_record(session: Session, principal: Principal, record_id: str) -> ServiceRecord:
    """One service record; the read is audited (it shows a person's health data).

    Raises:
        ServiceRecordNotFound: no such record, or not the principal's to see.
    """
    row = visible_record(session, principal, record_id)
    audit.record(
        session,
        actor=principal.username,
        action="read_service_record",
        entity="service_record",
        entity_id=row.id,
        detail={"person": row.person_id},
    )
    return row


def list_records(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    person_id: str | None = None,
    provider_id: str | None = None,
    booking_id: str | None = None,
    service: str | None = None,
) -> tuple[int, list[ServiceRecord]]:
    """Service records, newest visit first: staff's jurisdiction, a resident's own and
    dependants'. The read is audited (one entry naming the person when one is asked for)."""
    resident = principal.role == "resident"
    jurisdiction = principal.jurisdiction
    total, rows = repository.list_records(
        session,
        limit=limit,
        offset=offset,
        region_prefix=None if resident or not jurisdiction else region_prefix(jurisdiction),
        person_ids=own_persons(session, principal) if resident else None,
        person_id=person_id,
        provider_id=provider_id,
        booking_id=booking_id,
        service=service,
    )
    audit.record(
        session,
        actor=principal.username,
        action="list_service_records",
        entity="person" if person_id else "service_record",
        entity_id=person_id or "*",
        detail={"count": len(rows), "offset": offset},
    )
    return total, rows


def followups_due(
    session: Session,
    principal: Principal,
    *,
    until: date,
    limit: int = 50,
) -> list[ServiceRecord]:
    """Follow-ups of the jurisdiction due by ``until`` that no later visit has held yet."""
    jurisdiction = principal.jurisdiction
    return repository.followups_due(
        session,
        region_prefix=region_prefix(jurisdiction) if jurisdiction else None,
        until=until,
        limit=limit,
    )

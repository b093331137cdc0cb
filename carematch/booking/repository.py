"""Every query of the booking domain.

Places are taken and given back only by conditional UPDATEs (:func:`take_place`,
:func:`release_place`): the database decides, row by row, whether a place is free, so two
requests can never both take the last one — on PostgreSQL the second waits for the first's row
lock and re-checks ``booked < capacity`` on the committed row; on SQLite writers are serialised
by the database lock. Status changes are conditional on the status they leave, for the same
reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from carematch.booking.models import (
    HOLDING_STATUSES,
    Booking,
    Dependant,
    Rating,
    ServiceRecord,
    SlaClock,
    Slot,
    WaitlistEntry,
)
from carematch.security.models import User

CHUNK = 500


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- slots ----------------------------------------------------------------------------------


def get_slot(session: Session, slot_id: str) -> Slot | None:
    """The slot, read afresh (its ``booked`` may have changed in this transaction)."""
    return session.scalar(
        select(Slot).where(Slot.id == slot_id).execution_options(populate_existing=True)
    )


def lock_slots(session: Session, slot_ids: Sequence[str]) -> list[Slot]:
    """The slots, row-locked in id order until the transaction ends (PostgreSQL).

    Every use case that changes several rows locks its slots first, in id order, so two of them
    never wait on each other. SQLite has no row locks (``FOR UPDATE`` is left out there): its
    writers take the whole database in turn.
    """
    return list(
        session.scalars(
            select(Slot)
            .where(Slot.id.in_(sorted(set(slot_ids))))
            .order_by(Slot.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def take_place(session: Session, slot_id: str) -> int | None:
    """Take one place if one is free; the slot's new ``booked``, or None when it is full.

    One statement decides and changes (``RETURNING`` saves reading the count back).
    """
    return session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked < Slot.capacity)
        .values(booked=Slot.booked + 1)
        .returning(Slot.booked)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def note_booked(slot: Slot, booked: int) -> None:
    """Tell a loaded slot its ``booked`` as the database now has it (no write follows)."""
    set_committed_value(slot, "booked", booked)


def release_place(session: Session, slot_id: str) -> bool:
    """Give one place back; False when none was taken."""
    result = session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked > 0)
        .values(booked=Slot.booked - 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _slot_filters(
    *,
    region_prefix: str | None,
    provider_id: str | None,
    service: str | None,
    region: str | None,
    start_from: datetime | None,
    start_to: datetime | None,
    available: bool | None,
) -> list[Any]:
    where: list[Any] = []
    if region_prefix is not None:
        where.append(Slot.region_code.startswith(region_prefix, autoescape=True))
    if region is not None:
        where.append(Slot.region_code.startswith(region, autoescape=True))
    if provider_id is not None:
        where.append(Slot.provider_id == provider_id)
    if service is not None:
        where.append(Slot.service == service)
    if start_from is not None:
        where.append(Slot.starts_at >= start_from)
    if start_to is not None:
        where.append(Slot.starts_at < start_to)
    if available is True:
        where.append(Slot.booked < Slot.capacity)
    elif available is False:
        where.append(Slot.booked >= Slot.capacity)
    return where


def list_slots(
    session: Session, *, limit: int, offset: int, **filters: Any
) -> tuple[int, list[Slot]]:
    """Slots matching the filters, earliest first, with the total count."""
    where = _slot_filters(**filters)
    total = session.scalar(select(func.count()).select_from(Slot).where(*where)) or 0
    rows = session.scalars(
        select(Slot).where(*where).order_by(Slot.starts_at, Slot.id).limit(limit).offset(offset)
    )
    return total, list(rows)


def existing_slot_ids(session: Session, ids: Sequence[str]) -> set[str]:
    """Which of these slot ids are stored already."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(session.scalars(select(Slot.id).where(Slot.id.in_(chunk))))
    return found


def insert_slots(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert slots; a row whose id exists already is left as it is (a concurrent rerun)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for chunk in _chunks(rows):
        session.execute(insert(Slot).on_conflict_do_nothing(index_elements=["id"]), list(chunk))
    session.flush()


# --- bookings -------------------------------------------------------------------------------


def get_booking(session: Session, booking_id: str) -> tuple[Booking, Slot] | None:
    """The booking and its slot, read afresh."""
    row = session.execute(
        select(Booking, Slot)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Booking.id == booking_id)
        .execution_options(populate_existing=True)
    ).first()
    return (row[0], row[1]) if row else None


def holding(session: Session, slot_id: str, person_id: str) -> Booking | None:
    """The person's booking that holds a place in the slot, if any."""
    return session.scalar(
        select(Booking).where(
            Booking.slot_id == slot_id,
            Booking.person_id == person_id,
            Booking.status.in_(HOLDING_STATUSES),
        )
    )


def by_idempotency_key(session: Session, created_by: str, key: str) -> Booking | None:
    """The booking a user's earlier request with this Idempotency-Key created."""
    return session.scalar(
        select(Booking).where(Booking.created_by == created_by, Booking.idempotency_key == key)
    )


def add(session: Session, row: Any) -> None:
    """Insert a row now, so constraint violations surface here rather than at commit."""
    session.add(row)
    session.flush()


def change_status(
    session: Session, booking_id: str, from_statuses: Sequence[str], **values: Any
) -> bool:
    """Set the booking's columns if its status is one of ``from_statuses``; False otherwise."""
    result = session.execute(
        update(Booking)
        .where(Booking.id == booking_id, Booking.status.in_(from_statuses))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def move_booking(
    session: Session, booking_id: str, old_slot: str, new_slot: str, **values: Any
) -> bool:
    """Move a booked booking from one slot to another; False if it changed meanwhile."""
    result = session.execute(
        update(Booking)
        .where(Booking.id == booking_id, Booking.slot_id == old_slot, Booking.status == "booked")
        .values(slot_id=new_slot, previous_slot_id=old_slot, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _booking_query(
    *,
    region_prefix: str | None,
    person_ids: Sequence[str] | None,
    person_id: str | None,
    status: str | None,
    slot_id: str | None,
    provider_id: str | None,
    service: str | None,
    start_from: datetime | None,
    start_to: datetime | None,
) -> list[Any]:
    where: list[Any] = []
    if region_prefix is not None:
        where.append(Slot.region_code.startswith(region_prefix, autoescape=True))
    if person_ids is not None:
        where.append(Booking.person_id.in_(person_ids))
    if person_id is not None:
        where.append(Booking.person_id == person_id)
    if status is not None:
        where.append(Booking.status == status)
    if slot_id is not None:
        where.append(Booking.slot_id == slot_id)
    if provider_id is not None:
        where.append(Slot.provider_id == provider_id)
    if service is not None:
        where.append(Slot.service == service)
    if start_from is not None:
        where.append(Slot.starts_at >= start_from)
    if start_to is not None:
        where.append(Slot.starts_at < start_to)
    return where


def list_bookings(
    session: Session, *, limit: int, offset: int, **filters: Any
) -> tuple[int, list[tuple[Booking, Slot]]]:
    """Bookings with their slots, by slot start, with the total count."""
    where = _booking_query(**filters)
    joined = select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id)
    total = (
        session.scalar(
            select(func.count())
            .select_from(Booking)
            .join(Slot, Slot.id == Booking.slot_id)
            .where(*where)
        )
        or 0
    )
    rows = session.execute(
        joined.where(*where).order_by(Slot.starts_at, Booking.id).limit(limit).offset(offset)
    ).all()
    return total, [(b, s) for b, s in rows]


def due_bookings(
    session: Session, start_from: datetime, start_to: datetime, statuses: Sequence[str]
) -> list[tuple[Booking, Slot]]:
    """Bookings in these statuses whose slot starts in ``[start_from, start_to)``."""
    rows = session.execute(
        select(Booking, Slot)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(
            Booking.status.in_(statuses),
            Slot.starts_at >= start_from,
            Slot.starts_at < start_to,
        )
        .order_by(Slot.starts_at, Booking.id)
    ).all()
    return [(b, s) for b, s in rows]


# --- waitlist -------------------------------------------------------------------------------


def next_waiting(session: Session, slot_id: str) -> WaitlistEntry | None:
    """The first waiting entry of the slot whose person does not already hold a place in it."""
    holder = (
        select(Booking.id)
        .where(
            Booking.slot_id == WaitlistEntry.slot_id,
            Booking.person_id == WaitlistEntry.person_id,
            Booking.status.in_(HOLDING_STATUSES),
        )
        .correlate(WaitlistEntry)
    )
    return session.scalar(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.slot_id == slot_id,
            WaitlistEntry.status == "waiting",
            ~exists(holder),
        )
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(1)
    )


def waiting_entry(session: Session, slot_id: str, person_id: str) -> WaitlistEntry | None:
    """The person's waiting entry for the slot, if any."""
    return session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.slot_id == slot_id,
            WaitlistEntry.person_id == person_id,
            WaitlistEntry.status == "waiting",
        )
    )


def get_entry(session: Session, entry_id: str) -> tuple[WaitlistEntry, Slot] | None:
    """The waitlist entry and its slot."""
    row = session.execute(
        select(WaitlistEntry, Slot)
        .join(Slot, Slot.id == WaitlistEntry.slot_id)
        .where(WaitlistEntry.id == entry_id)
        .execution_options(populate_existing=True)
    ).first()
    return (row[0], row[1]) if row else None


def close_entries(
    session: Session, slot_id: str, person_id: str, status: str, **values: Any
) -> int:
    """Close the person's waiting entries for the slot (they have a place now)."""
    result = session.execute(
        update(WaitlistEntry)
        .where(
            WaitlistEntry.slot_id == slot_id,
            WaitlistEntry.person_id == person_id,
            WaitlistEntry.status == "waiting",
        )
        .values(status=status, **values)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def change_entry(session: Session, entry_id: str, from_status: str, **values: Any) -> bool:
    """Change a waitlist entry if it is still in ``from_status``."""
    result = session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.id == entry_id, WaitlistEntry.status == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def list_entries(
    session: Session,
    *,
    limit: int,
    offset: int,
    region_prefix: str | None,
    person_ids: Sequence[str] | None,
    slot_id: str | None,
    status: str | None,
) -> tuple[int, list[tuple[WaitlistEntry, Slot]]]:
    """Waitlist entries with their slots, oldest first, with the total count."""
    where: list[Any] = []
    if region_prefix is not None:
        where.append(Slot.region_code.startswith(region_prefix, autoescape=True))
    if person_ids is not None:
        where.append(WaitlistEntry.person_id.in_(person_ids))
    if slot_id is not None:
        where.append(WaitlistEntry.slot_id == slot_id)
    if status is not None:
        where.append(WaitlistEntry.status == status)
    join = and_(Slot.id == WaitlistEntry.slot_id)
    total = (
        session.scalar(
            select(func.count()).select_from(WaitlistEntry).join(Slot, join).where(*where)
        )
        or 0
    )
    rows = session.execute(
        select(WaitlistEntry, Slot)
        .join(Slot, join)
        .where(*where)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return total, [(e, s) for e, s in rows]


# --- dependants -----------------------------------------------------------------------------


def dependants_of(session: Session, guardian_id: str) -> list[Dependant]:
    """The persons a guardian may book for."""
    return list(
        session.scalars(
            select(Dependant)
            .where(Dependant.guardian_id == guardian_id)
            .order_by(Dependant.dependant_id)
        )
    )


def get_dependant(session: Session, guardian_id: str, dependant_id: str) -> Dependant | None:
    """The link between a guardian and a dependant, if registered."""
    return session.get(Dependant, (guardian_id, dependant_id))


# --- service records ------------------------------------------------------------------------


def record_for_booking(session: Session, booking_id: str) -> ServiceRecord | None:
    """The service record written for a booking, if any."""
    return session.scalar(select(ServiceRecord).where(ServiceRecord.booking_id == booking_id))


def get_record(session: Session, record_id: str) -> ServiceRecord | None:
    """A service record by id."""
    return session.get(ServiceRecord, record_id)


def list_records(
    session: Session,
    *,
    limit: int,
    offset: int,
    region_prefix: str | None,
    person_ids: Sequence[str] | None,
    person_id: str | None = None,
    provider_id: str | None = None,
    booking_id: str | None = None,
    service: str | None = None,
) -> tuple[int, list[ServiceRecord]]:
    """Service records matching the filters, newest visit first, with the total count."""
    where: list[Any] = []
    if region_prefix is not None:
        where.append(ServiceRecord.region_code.startswith(region_prefix, autoescape=True))
    if person_ids is not None:
        where.append(ServiceRecord.person_id.in_(person_ids))
    for column, value in (
        (ServiceRecord.person_id, person_id),
        (ServiceRecord.provider_id, provider_id),
        (ServiceRecord.booking_id, booking_id),
        (ServiceRecord.service, service),
    ):
        if value is not None:
            where.append(column == value)
    total = session.scalar(select(func.count()).select_from(ServiceRecord).where(*where)) or 0
    rows = session.scalars(
        select(ServiceRecord)
        .where(*where)
        .order_by(ServiceRecord.performed_at.desc(), ServiceRecord.id)
        .limit(limit)
        .offset(offset)
    )
    return total, list(rows)


def followups_due(
    session: Session, *, region_prefix: str | None, until: date, limit: int
) -> list[ServiceRecord]:
    """Records whose next follow-up falls on or before ``until``, earliest first, leaving out
    any a later record of the same person and service has superseded (the follow-up was held)."""
    later = aliased(ServiceRecord)
    superseded = exists(
        select(later.id).where(
            later.person_id == ServiceRecord.person_id,
            later.service == ServiceRecord.service,
            later.performed_at > ServiceRecord.performed_at,
        )
    )
    where: list[Any] = [
        ServiceRecord.next_followup_on.is_not(None),
        ServiceRecord.next_followup_on <= until,
        ~superseded,
    ]
    if region_prefix is not None:
        where.append(ServiceRecord.region_code.startswith(region_prefix, autoescape=True))
    return list(
        session.scalars(
            select(ServiceRecord)
            .where(*where)
            .order_by(ServiceRecord.next_followup_on, ServiceRecord.id)
            .limit(limit)
        )
    )


# --- ratings --------------------------------------------------------------------------------


def rating_for_record(session: Session, record_id: str) -> Rating | None:
    """The rating of a service record, if it has one."""
    return session.scalar(select(Rating).where(Rating.service_record_id == record_id))


def list_ratings(
    session: Session,
    *,
    limit: int,
    offset: int,
    region_prefix: str | None,
    person_ids: Sequence[str] | None,
    provider_id: str | None = None,
    service_record_id: str | None = None,
) -> tuple[int, list[Rating]]:
    """Ratings, newest first, with the total count; staff's by the visit's region."""
    where: list[Any] = []
    joined = select(Rating).join(ServiceRecord, ServiceRecord.id == Rating.service_record_id)
    if region_prefix is not None:
        where.append(ServiceRecord.region_code.startswith(region_prefix, autoescape=True))
    if person_ids is not None:
        where.append(Rating.person_id.in_(person_ids))
    if provider_id is not None:
        where.append(Rating.provider_id == provider_id)
    if service_record_id is not None:
        where.append(Rating.service_record_id == service_record_id)
    total = (
        session.scalar(
            select(func.count())
            .select_from(Rating)
            .join(ServiceRecord, ServiceRecord.id == Rating.service_record_id)
            .where(*where)
        )
        or 0
    )
    rows = session.scalars(
        joined.where(*where).order_by(Rating.rated_at.desc(), Rating.id).limit(limit).offset(offset)
    )
    return total, list(rows)


def rating_month_totals(
    session: Session,
    *,
    since_month: str | None,
    before_month: str | None,
    provider_ids: Sequence[str] | None,
) -> list[tuple[str, str, int, int]]:
    """``(provider_id, visit_month, sum of scores, count)`` per provider and month, summed by
    the database; months are ``YYYY-MM`` text, so ranges compare as strings."""
    where: list[Any] = []
    if since_month is not None:
        where.append(Rating.visit_month >= since_month)
    if before_month is not None:
        where.append(Rating.visit_month < before_month)
    if provider_ids is not None:
        where.append(Rating.provider_id.in_(provider_ids))
    rows = session.execute(
        select(Rating.provider_id, Rating.visit_month, func.sum(Rating.score), func.count())
        .where(*where)
        .group_by(Rating.provider_id, Rating.visit_month)
        .order_by(Rating.provider_id, Rating.visit_month)
    ).all()
    return [(p, m, int(total), int(count)) for p, m, total, count in rows]


# --- SLA clocks -----------------------------------------------------------------------------


def insert_clocks(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert clocks; one whose (kind, subject) exists already is left as it is."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for chunk in _chunks(rows):
        session.execute(
            insert(SlaClock).on_conflict_do_nothing(index_elements=["kind", "subject_id"]),
            list(chunk),
        )
    session.flush()


def get_clock(session: Session, clock_id: str) -> SlaClock | None:
    """A clock by id, read afresh."""
    return session.scalar(
        select(SlaClock).where(SlaClock.id == clock_id).execution_options(populate_existing=True)
    )


def clock_for(session: Session, kind: str, subject_id: str) -> SlaClock | None:
    """The clock of a kind running on a subject, read afresh."""
    return session.scalar(
        select(SlaClock)
        .where(SlaClock.kind == kind, SlaClock.subject_id == subject_id)
        .execution_options(populate_existing=True)
    )


def _running() -> Any:
    return and_(SlaClock.answered_at.is_(None), SlaClock.voided_at.is_(None))


def answer_clocks(
    session: Session,
    kind: str,
    subject_ids: Sequence[str],
    *,
    at: datetime,
    answer: str,
    answered_by: str,
) -> int:
    """Stop the running clocks of these subjects with an answer; how many were stopped.

    A clock already answered or voided keeps its first stop; a breached one takes the (late)
    answer and stays breached.
    """
    stopped = 0
    for chunk in _chunks(list(subject_ids)):
        result = session.execute(
            update(SlaClock)
            .where(SlaClock.kind == kind, SlaClock.subject_id.in_(chunk), _running())
            .values(answered_at=at, answer=answer, answered_by=answered_by)
            .execution_options(synchronize_session=False)
        )
        stopped += int(result.rowcount)  # type: ignore[attr-defined]
    return stopped


def void_clocks(
    session: Session, kind: str, subject_ids: Sequence[str], *, at: datetime, reason: str
) -> int:
    """Stop the running clocks of these subjects without an answer (the need went away)."""
    stopped = 0
    for chunk in _chunks(list(subject_ids)):
        result = session.execute(
            update(SlaClock)
            .where(SlaClock.kind == kind, SlaClock.subject_id.in_(chunk), _running())
            .values(voided_at=at, void_reason=reason)
            .execution_options(synchronize_session=False)
        )
        stopped += int(result.rowcount)  # type: ignore[attr-defined]
    return stopped


def restart_clock(
    session: Session, kind: str, subject_id: str, *, started_at: datetime, deadline_at: datetime
) -> bool:
    """Move a running, unbreached clock to a new start (a rescheduled consultation)."""
    result = session.execute(
        update(SlaClock)
        .where(
            SlaClock.kind == kind,
            SlaClock.subject_id == subject_id,
            _running(),
            SlaClock.breached_at.is_(None),
        )
        .values(started_at=started_at, deadline_at=deadline_at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def clocked_subjects(session: Session, kind: str, subject_ids: Sequence[str]) -> set[str]:
    """Which of these subjects have a clock of the kind already."""
    found: set[str] = set()
    for chunk in _chunks(list(subject_ids)):
        found.update(
            session.scalars(
                select(SlaClock.subject_id).where(
                    SlaClock.kind == kind, SlaClock.subject_id.in_(chunk)
                )
            )
        )
    return found


def running_subjects(session: Session, kind: str) -> list[str]:
    """The subjects of a kind's clocks that are neither answered nor voided."""
    return list(
        session.scalars(select(SlaClock.subject_id).where(SlaClock.kind == kind, _running()))
    )


def breached_condition(now: datetime) -> Any:
    """SQL for "breached at ``now``": the deadline has passed with no answer or void by it.

    The same rule as :func:`carematch.booking.sla.state_at` (tests hold them together): a stop
    by the deadline is necessarily before ``now`` once the deadline has passed.
    """
    return and_(
        SlaClock.deadline_at < now,
        or_(SlaClock.answered_at.is_(None), SlaClock.answered_at > SlaClock.deadline_at),
        or_(SlaClock.voided_at.is_(None), SlaClock.voided_at > SlaClock.deadline_at),
    )


def state_expression(now: datetime) -> Any:
    """SQL CASE giving each clock's :class:`~carematch.booking.sla.ClockState` at ``now``."""
    answered_known = and_(SlaClock.answered_at.is_not(None), SlaClock.answered_at <= now)
    voided_known = and_(SlaClock.voided_at.is_not(None), SlaClock.voided_at <= now)
    return case(
        (
            and_(
                answered_known,
                SlaClock.answered_at <= SlaClock.deadline_at,
                or_(
                    SlaClock.voided_at.is_(None),
                    SlaClock.voided_at > now,
                    SlaClock.voided_at >= SlaClock.answered_at,
                ),
            ),
            literal("met"),
        ),
        (and_(voided_known, SlaClock.voided_at <= SlaClock.deadline_at), literal("void")),
        (SlaClock.deadline_at < now, literal("breached")),
        else_=literal("running"),
    )


def unrecorded_breaches(session: Session, now: datetime, limit: int) -> list[SlaClock]:
    """Clocks breached at ``now`` that no sweep has recorded yet, earliest deadline first."""
    return list(
        session.scalars(
            select(SlaClock)
            .where(SlaClock.breached_at.is_(None), breached_condition(now))
            .order_by(SlaClock.deadline_at, SlaClock.id)
            .limit(limit)
        )
    )


def mark_breached(session: Session, clock_id: str, at: datetime) -> bool:
    """Record a breach once; False when it was recorded already (a concurrent sweep)."""
    result = session.execute(
        update(SlaClock)
        .where(SlaClock.id == clock_id, SlaClock.breached_at.is_(None))
        .values(breached_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def mark_alerted(session: Session, clock_id: str, at: datetime) -> None:
    """Note that the breach's alert was enqueued."""
    session.execute(
        update(SlaClock)
        .where(SlaClock.id == clock_id, SlaClock.alerted_at.is_(None))
        .values(alerted_at=at)
        .execution_options(synchronize_session=False)
    )


def _clock_scope(
    region_prefix: str | None, kind: str | None, since: datetime | None, until: datetime | None
) -> list[Any]:
    where: list[Any] = []
    if region_prefix is not None:
        where.append(SlaClock.region_code.startswith(region_prefix, autoescape=True))
    if kind is not None:
        where.append(SlaClock.kind == kind)
    if since is not None:
        where.append(SlaClock.deadline_at >= since)
    if until is not None:
        where.append(SlaClock.deadline_at < until)
    return where


def clock_state_counts(
    session: Session,
    *,
    now: datetime,
    region_prefix: str | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, int]:
    """How many clocks are in each state at ``now``, among those whose deadline lies in
    ``[since, until)``."""
    state = state_expression(now).label("state")
    rows = session.execute(
        select(state, func.count())
        .select_from(SlaClock)
        .where(*_clock_scope(region_prefix, kind, since, until))
        .group_by(state)
    ).all()
    return {str(name): int(count) for name, count in rows}


def open_breaches(
    session: Session, *, now: datetime, region_prefix: str | None, limit: int
) -> list[SlaClock]:
    """Breached clocks still waiting for an answer, longest overdue first."""
    return list(
        session.scalars(
            select(SlaClock)
            .where(
                breached_condition(now),
                _running(),
                *_clock_scope(region_prefix, None, None, None),
            )
            .order_by(SlaClock.deadline_at, SlaClock.id)
            .limit(limit)
        )
    )


def clocks_due_soon(
    session: Session, *, now: datetime, within: timedelta, region_prefix: str | None, limit: int
) -> list[SlaClock]:
    """Running clocks whose deadline falls in ``[now, now + within]``, soonest first."""
    return list(
        session.scalars(
            select(SlaClock)
            .where(
                _running(),
                SlaClock.deadline_at >= now,
                SlaClock.deadline_at <= now + within,
                *_clock_scope(region_prefix, None, None, None),
            )
            .order_by(SlaClock.deadline_at, SlaClock.id)
            .limit(limit)
        )
    )


def first_bookings_for_demands(session: Session, demand_ids: Sequence[str]) -> dict[str, Any]:
    """The earliest booking made for each of these demands: demand id → (created_at, by)."""
    found: dict[str, Any] = {}
    for chunk in _chunks(list(demand_ids)):
        rows = session.execute(
            select(Booking.demand_id, Booking.created_at, Booking.created_by)
            .where(Booking.demand_id.in_(chunk))
            .order_by(Booking.demand_id, Booking.created_at)
        ).all()
        for demand_id, created_at, created_by in rows:
            if demand_id is not None:
                found.setdefault(demand_id, (created_at, created_by))
    return found


def alert_staff(session: Session, roles: Sequence[str]) -> list[tuple[str, str]]:
    """Active staff users of these roles with a region: ``(user id, region code)``."""
    rows = session.execute(
        select(User.id, User.region_code).where(
            User.active.is_(True), User.role.in_(roles), User.region_code.is_not(None)
        )
    ).all()
    return [(user_id, region) for user_id, region in rows if region]

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
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from carematch.booking.models import (
    HOLDING_STATUSES,
    Booking,
    Dependant,
    Slot,
    WaitlistEntry,
)

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

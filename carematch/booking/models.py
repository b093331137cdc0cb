"""Tables of the booking domain: slots, bookings, the waitlist and dependants.

Capacity is guarded twice: every place is taken with one conditional UPDATE
(``booked = booked + 1 WHERE booked < capacity``, see :mod:`carematch.booking.repository`)
and the table itself refuses ``booked > capacity`` (a CHECK constraint), so no interleaving of
requests, on PostgreSQL or SQLite, can overbook a slot.

Times are stored in UTC (SQLite keeps the UTC wall time without an offset; read them through
:func:`carematch.booking.service.as_utc`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base

# generated: from a provider's opening hours or van stops (`carematch booking slots`);
# staff: created through the API.
SLOT_SOURCES = ("generated", "staff")

# booked → checked_in → completed; booked → no_show; booked → cancelled.
BOOKING_STATUSES = ("booked", "checked_in", "completed", "no_show", "cancelled")
# A booking in one of these holds its place in the slot (and counts in ``Slot.booked``); a
# no-show keeps it because the time it held has passed and cannot be offered again.
HOLDING_STATUSES = ("booked", "checked_in", "completed", "no_show")
_HOLDING_SQL = "status IN ('booked', 'checked_in', 'completed', 'no_show')"

# waiting → booked (a freed place was given to the person) or withdrawn (they left the list,
# or booked the slot themselves).
WAITLIST_STATUSES = ("waiting", "booked", "withdrawn")


class Slot(Base):
    """A bookable period of one service at one provider, with a number of places (号源).

    ``booked`` counts the bookings that hold a place (:data:`HOLDING_STATUSES`); it changes only
    by conditional UPDATEs, never by writing a number computed in Python. ``region_code`` is the
    provider's region, copied when the slot is made, so jurisdiction needs no join; ``site`` is
    the van stop's name for a mobile van's slot.
    """

    __tablename__ = "slots"
    __table_args__ = (
        CheckConstraint("booked >= 0 AND booked <= capacity", name="within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_slots_service_starts_at", "service", "starts_at"),
        Index("ix_slots_provider_starts_at", "provider_id", "starts_at"),
        Index("ix_slots_region_starts_at", "region_code", "starts_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    service: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    site: Mapped[str | None] = mapped_column(String(200), default=None)
    source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Booking(Base):
    """One person's place in one slot (预约), and what became of it.

    A person holds a slot at most once: a partial unique index over the holding statuses, so a
    cancelled booking does not stop them booking the same slot again. ``idempotency_key`` is the
    client's ``Idempotency-Key``, unique per user (``created_by``): a retried request finds the
    booking its first attempt made. A reschedule moves the booking to another slot and keeps its
    id (reminders and records that name it stay valid); ``previous_slot_id`` says where it was.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index(
            "uq_bookings_holding",
            "slot_id",
            "person_id",
            unique=True,
            postgresql_where=text(_HOLDING_SQL),
            sqlite_where=text(_HOLDING_SQL),
        ),
        UniqueConstraint("created_by", "idempotency_key"),
        Index("ix_bookings_person_id_status", "person_id", "status"),
        Index("ix_bookings_slot_id_status", "slot_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot_id: Mapped[str] = mapped_column(ForeignKey("slots.id"))
    person_id: Mapped[str] = mapped_column(String(32))
    # The demand (profiling) the booking serves, when it was booked for one.
    demand_id: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    # sha256 of the request body the key first came with.
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The waitlist entry a freed place was given to, when the booking came from the waitlist.
    waitlist_entry_id: Mapped[str | None] = mapped_column(String(32), default=None)
    previous_slot_id: Mapped[str | None] = mapped_column(String(32), default=None)
    rescheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # Who made the last change of status, and when.
    changed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class WaitlistEntry(Base):
    """A person waiting for a place in a full slot (候补), first come first served.

    When a place frees (a cancellation, a reschedule away), the first waiting entry becomes a
    booking in the same transaction: ``status`` turns ``booked`` and ``booking_id`` names it.
    """

    __tablename__ = "waitlist"
    __table_args__ = (
        Index(
            "uq_waitlist_waiting",
            "slot_id",
            "person_id",
            unique=True,
            postgresql_where=text("status = 'waiting'"),
            sqlite_where=text("status = 'waiting'"),
        ),
        Index("ix_waitlist_slot_id_status_created_at", "slot_id", "status", "created_at"),
        Index("ix_waitlist_person_id", "person_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot_id: Mapped[str] = mapped_column(ForeignKey("slots.id"))
    person_id: Mapped[str] = mapped_column(String(32))
    demand_id: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    booking_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Dependant(Base):
    """A person another person may book for (家属代办): a child, an elderly parent, a ward.

    Registered by staff, who see both persons; a resident signed in as the guardian may then
    book, reschedule and cancel for the dependant as for themselves.
    """

    __tablename__ = "dependants"

    guardian_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dependant_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

"""Tables of the booking domain: slots, bookings, the waitlist and dependants.

Capacity is guarded twice: every place is taken with one conditional UPDATE
(``booked = booked + 1 WHERE booked < capacity``, see :mod:`carematch.booking.repository`)
and the table itself refuses ``booked > capacity`` (a CHECK constraint), so no interleaving of
requests, on PostgreSQL or SQLite, can overbook a slot.

Times are stored in UTC (SQLite keeps the UTC wall time without an offset; read them through
:func:`carematch.booking.service.as_utc`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
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
from carematch.security.crypto import EncryptedText

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


# What became of a visit (服务结果): done and nothing more needed; done, follow up later; sent
# on to another provider; or not done (the person declined, or could not be served).
OUTCOMES = ("resolved", "follow_up", "referred", "not_done")


class ServiceRecord(Base):
    """What staff did for a person at a visit (服务记录): a checked-in booking, or a walk-in.

    Writing it completes the booking (if any) and serves the person's open demands for the
    service. At most one record per booking (a partial unique index: walk-ins have none).
    ``summary`` (what was done) and ``notes`` are health data and stored encrypted;
    ``region_code`` is the provider's region, copied like a slot's, so jurisdiction needs no
    join. ``demand_ids`` lists the demands the record served, space-separated.
    """

    __tablename__ = "service_records"
    __table_args__ = (
        Index(
            "uq_service_records_booking_id",
            "booking_id",
            unique=True,
            postgresql_where=text("booking_id IS NOT NULL"),
            sqlite_where=text("booking_id IS NOT NULL"),
        ),
        CheckConstraint(
            "outcome IN ('resolved', 'follow_up', 'referred', 'not_done')", name="known_outcome"
        ),
        Index("ix_service_records_person_id_performed_at", "person_id", "performed_at"),
        Index("ix_service_records_region_code_next_followup_on", "region_code", "next_followup_on"),
        Index("ix_service_records_provider_id_performed_at", "provider_id", "performed_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    booking_id: Mapped[str | None] = mapped_column(String(32), default=None)
    person_id: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    service: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    demand_ids: Mapped[str] = mapped_column(String(400), default="")
    performed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    summary: Mapped[str] = mapped_column(EncryptedText)
    outcome: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    next_followup_on: Mapped[date | None] = mapped_column(Date, default=None)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Rating(Base):
    """A resident's rating of one visit (满意度评价): 1 to 5 and an optional comment.

    One per service record (unique), so a visit is rated once. ``provider_id`` and
    ``visit_month`` (``YYYY-MM`` of the visit, city time) are copied from the record so the
    provider's ratings per period are one GROUP BY; the comment is stored encrypted (it may
    name people or illnesses).
    """

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint("score >= 1 AND score <= 5", name="score_1_to_5"),
        Index("ix_ratings_provider_id_visit_month", "provider_id", "visit_month"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_record_id: Mapped[str] = mapped_column(ForeignKey("service_records.id"), unique=True)
    booking_id: Mapped[str | None] = mapped_column(String(32), default=None)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    provider_id: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(64))
    visit_month: Mapped[str] = mapped_column(String(7))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    rated_by: Mapped[str] = mapped_column(String(64))
    rated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SlaClock(Base):
    """A time limit running on one need (服务时限): see :mod:`carematch.booking.sla`.

    One per (kind, subject): a demand's 24-hour response clock, a booking's 30-minute online
    consultation clock. ``answered_at``/``voided_at`` stop it; ``breached_at`` is set (to the
    deadline) by the sweep that finds it breached, and ``alerted_at`` when the alert went out,
    so a breach is alerted once. ``region_code`` places it in a jurisdiction (the person's
    community for a demand, the slot's region for a booking).
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id"),
        Index("ix_sla_clocks_region_code_deadline_at", "region_code", "deadline_at"),
        Index("ix_sla_clocks_breached_at", "breached_at"),
        Index("ix_sla_clocks_deadline_at", "deadline_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str | None] = mapped_column(String(32), default=None)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # booking, contact, check_in or service_record; and who answered.
    answer: Mapped[str | None] = mapped_column(String(16), default=None)
    answered_by: Mapped[str | None] = mapped_column(String(64), default=None)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    void_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

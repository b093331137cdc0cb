"""Tables of vaccination appointments (R-VX-2): which dose a booking is for, group bookings,
home-vaccination requests.

The booking itself lives in the booking domain (slots, places, waitlist); these tables only add
what vaccination needs to know about it, keyed by the booking's id, so no booking invariant
(capacity, one place per person per slot, idempotency) is touched here.
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

# What became of a person of a group list: a place, a waitlist entry, or nothing (no free place
# and the upload asked for no waitlist) — the last is tried again when the list is uploaded again.
MEMBER_OUTCOMES = ("booked", "waitlisted", "unplaced")

# requested → accepted → done; requested → declined; requested/accepted → cancelled.
HOME_REQUEST_STATUSES = ("requested", "accepted", "declined", "done", "cancelled")
OPEN_HOME_STATUSES = ("requested", "accepted")
# Why the person cannot travel: disability (checked against the features: level ≥ 3), bedridden
# (stated by the requester, checked at triage) or another reason a staff member assessed.
HOME_REASONS = ("disability", "bedridden", "staff_assessed")


class VaccinationAppointment(Base):
    """The series and dose a vaccination booking is for (接种预约): one row per booking.

    Kept beside the booking rather than in it so that "which bookings are for MMR dose 2" is one
    indexed query and the booking engine stays service-neutral. ``group_booking_id`` names the
    group upload that made it, if any.
    """

    __tablename__ = "vaccination_appointments"
    __table_args__ = (Index("ix_vaccination_appointments_person_id_series", "person_id", "series"),)

    booking_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    series: Mapped[str] = mapped_column(String(32))
    dose: Mapped[int | None] = mapped_column(Integer, default=None)
    group_booking_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupBooking(Base):
    """One upload of an employer's or a school's list for a vaccination session (团体预约).

    The session is (provider, service, window); ``session_key`` is its fingerprint, shared by
    every upload for the same session, so that uploading the list again finds the persons placed
    before (see :class:`GroupMember`). ``report`` is the upload's JSON report (row numbers,
    person ids, reasons; no names or ID numbers).
    """

    __tablename__ = "vaccination_group_bookings"
    __table_args__ = (Index("ix_vaccination_group_bookings_region_code", "region_code"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_key: Mapped[str] = mapped_column(String(64), index=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    service: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    organisation: Mapped[str | None] = mapped_column(String(200), default=None)
    series: Mapped[str | None] = mapped_column(String(32), default=None)
    list_sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    waitlisted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[str] = mapped_column(EncryptedText)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupMember(Base):
    """A person of a group session and where they were placed: at most one per session.

    The unique (session_key, person_id) pair is what makes a re-upload book nobody twice, even
    when two uploads of the same list run at once: the second insert waits for the first
    transaction and then fails, and that upload reports the person as placed already.
    """

    __tablename__ = "vaccination_group_members"
    __table_args__ = (
        UniqueConstraint("session_key", "person_id"),
        CheckConstraint("outcome IN ('booked', 'waitlisted', 'unplaced')", name="known_outcome"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_key: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    group_booking_id: Mapped[str] = mapped_column(ForeignKey("vaccination_group_bookings.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    booking_id: Mapped[str | None] = mapped_column(String(32), default=None)
    waitlist_entry_id: Mapped[str | None] = mapped_column(String(32), default=None)
    slot_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HomeVaccinationRequest(Base):
    """A request to vaccinate a person at home (上门接种) for one due dose, and its triage.

    One open request (requested or accepted) per person and series: a partial unique index.
    ``region_code`` is the person's community, copied so staff see their jurisdiction's queue
    without a join; ``note`` and ``decline_reason`` may describe the person's health and are
    stored encrypted. ``disability_level`` is what the person's features said when asked.
    """

    __tablename__ = "vaccination_home_requests"
    __table_args__ = (
        Index(
            "uq_vaccination_home_requests_open",
            "person_id",
            "series",
            unique=True,
            postgresql_where=text("status IN ('requested', 'accepted')"),
            sqlite_where=text("status IN ('requested', 'accepted')"),
        ),
        CheckConstraint(
            "status IN ('requested', 'accepted', 'declined', 'done', 'cancelled')",
            name="known_status",
        ),
        CheckConstraint(
            "reason IN ('disability', 'bedridden', 'staff_assessed')", name="known_reason"
        ),
        Index("ix_vaccination_home_requests_region_code_status", "region_code", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    series: Mapped[str] = mapped_column(String(32))
    dose: Mapped[int | None] = mapped_column(Integer, default=None)
    due_on: Mapped[date | None] = mapped_column(Date, default=None)
    reason: Mapped[str] = mapped_column(String(16))
    disability_level: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    planned_on: Mapped[date | None] = mapped_column(Date, default=None)
    vaccinator: Mapped[str | None] = mapped_column(String(64), default=None)
    decline_reason: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    closed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

"""Tables of the feedback domain: complaints and their history, findings, the rectification
ledger and low-rating flags.

What could name or describe a person is stored encrypted (EncryptedText): a complaint's text,
an anonymous complainant's contact, the notes on its transitions (an answer quotes the case), a
finding and an item's evidence. What the public board (公示) shows is stored in clear and must
stay free of personal data: provider, category, measure, deadline, status, closure date.

Times are stored in UTC (SQLite keeps the UTC wall time without an offset; read them through
:func:`carematch.feedback.service.as_utc`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText


class Complaint(Base):
    """A complaint (投诉) from any channel, with the deadline its category gave it.

    The complainant is a person (``complainant_person_id``: a resident filing in their own
    name, or staff registering a known person) or anonymous with a ``contact`` (a phone or an
    address, encrypted) so the answer can reach them. ``region_code`` decides who handles it:
    the provider's region, else the complainant's community, else the region staff gave.
    ``due_at`` is fixed on receipt; ``answered_at`` is the first answer (what on-time means).
    """

    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_region_code_status", "region_code", "status"),
        Index("ix_complaints_complainant_person_id", "complainant_person_id"),
        Index("ix_complaints_provider_id", "provider_id"),
        Index("ix_complaints_status_due_at", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    complainant_person_id: Mapped[str | None] = mapped_column(String(32), default=None)
    contact: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"), default=None)
    service_code: Mapped[str | None] = mapped_column(String(64), default=None)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    text: Mapped[str] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(16), default="received")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    registered_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ComplaintEvent(Base):
    """One change of a complaint's status, who made it and their note (the answer, the
    reason for a refusal), numbered in order. The audit log holds the same change, without the
    note."""

    __tablename__ = "complaint_events"
    __table_args__ = (UniqueConstraint("complaint_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"))
    # 1 for the receipt, then one more per change: the order of events (times may tie).
    seq: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Finding(Base):
    """What a complaint's investigation or an inspection (督查) found; it becomes one or more
    :class:`RectificationItem` rows. The text may name people, so it is encrypted."""

    __tablename__ = "findings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    complaint_id: Mapped[str | None] = mapped_column(
        ForeignKey("complaints.id"), index=True, default=None
    )
    # An inspection's own reference (e.g. "2030年一季度督查 第12号").
    inspection_ref: Mapped[str | None] = mapped_column(String(100), default=None)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"), default=None)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(EncryptedText)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RectificationItem(Base):
    """One line of the rectification ledger (整改台账): who must fix what by when, and the proof.

    The owner is a provider (``provider_id``) or a department (``department``, e.g. a district
    health bureau's section). ``measure``, ``deadline``, ``status`` and ``verified_at`` are
    public on the progress board: a measure must not name a person. ``status`` is one of open,
    in_progress, done, verified; overdue is computed from ``deadline`` (city date), never
    stored. ``region_code`` and ``category`` are the finding's, copied so the ledger and the
    board need no join.
    """

    __tablename__ = "rectification_items"
    __table_args__ = (
        Index("ix_rectification_items_region_code_status", "region_code", "status"),
        Index("ix_rectification_items_status_deadline", "status", "deadline"),
        Index("ix_rectification_items_provider_id", "provider_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    finding_id: Mapped[str] = mapped_column(ForeignKey("findings.id"), index=True)
    owner_kind: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"), default=None)
    department: Mapped[str | None] = mapped_column(String(100), default=None)
    # The owner's name as the board shows it (the provider's name when the item was made, or
    # the department), so the public board reads no other domain's tables.
    owner_name: Mapped[str] = mapped_column(String(200))
    owner_name_en: Mapped[str] = mapped_column(String(200), default="")
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    category: Mapped[str] = mapped_column(String(32))
    measure: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    evidence_text: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    # A reference to a stored file (document store key or path), not the file itself.
    evidence_file: Mapped[str | None] = mapped_column(String(300), default=None)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # The city date it was done: on time means done_on <= deadline.
    done_on: Mapped[date | None] = mapped_column(Date, default=None)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    verified_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderFlag(Base):
    """A provider flagged for review of its service qualification (资质复核): its ratings were
    low for consecutive periods.

    One flag per run of low periods, keyed by the run's first period, so recomputing adds
    nothing and a run that goes on extends its flag (``last_period`` and ``evidence``).
    ``evidence`` is JSON: the periods with their mean and count. The rule that found it is kept
    beside it.
    """

    __tablename__ = "provider_flags"
    __table_args__ = (UniqueConstraint("provider_id", "first_period"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    region_code: Mapped[str | None] = mapped_column(String(12), index=True, default=None)
    first_period: Mapped[str] = mapped_column(String(7))
    last_period: Mapped[str] = mapped_column(String(7))
    periods: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[str] = mapped_column(Text)
    threshold: Mapped[float] = mapped_column(Float)
    min_ratings: Mapped[int] = mapped_column(Integer)
    required_periods: Mapped[int] = mapped_column(Integer)
    period_months: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

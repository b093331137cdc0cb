"""Tables of the remote-consultation domain (远程会诊): requests and their attachments.

A request names its two ends by provider id and copies each provider's region code when it is
made, so that jurisdiction needs no join (as referrals do). Free text about the patient (the
question, the findings, the advice, reasons) is encrypted; the attachments themselves are
sealed files in the data directory (:mod:`carematch.consultation.storage`) and only their
metadata is here, with the file name encrypted (names often carry the patient's name).
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
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.consultation.attachments import CONTENT_TYPES
from carematch.consultation.workflow import SPECIALTIES, STATUSES, URGENCIES
from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Consultation(Base):
    """A remote consultation request (会诊申请) from a primary-care provider to a specialist of
    the county hospital, about one person.

    ``from_region``/``to_region`` are the requesting and consulting providers' regions: staff
    of the requesting end see their requests, staff of the consulting end their queue.
    ``answered_at - requested_at`` is the turnaround. ``referral_id`` names the two-way
    referral (familydoctor) that followed, if any.
    """

    __tablename__ = "consultations"
    __table_args__ = (
        CheckConstraint("from_provider_id <> to_provider_id", name="two_ends"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        CheckConstraint(_one_of("urgency", URGENCIES), name="urgency"),
        CheckConstraint(_one_of("specialty", SPECIALTIES), name="specialty"),
        Index("ix_consultations_from_region_requested_at", "from_region", "requested_at"),
        Index("ix_consultations_to_region_status", "to_region", "status"),
        Index("ix_consultations_person_id", "person_id"),
        Index("ix_consultations_requested_at", "requested_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    from_provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    to_provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    from_region: Mapped[str | None] = mapped_column(String(12), default=None)
    to_region: Mapped[str | None] = mapped_column(String(12), default=None)
    specialty: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    accepted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    answered_by: Mapped[str | None] = mapped_column(String(64), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    findings: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    advice: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    # Who ended it without an answer (declined or cancelled), when and why.
    ended_by: Mapped[str | None] = mapped_column(String(64), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    end_reason: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    referral_id: Mapped[str | None] = mapped_column(String(32), default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsultationAttachment(Base):
    """A file sent with a consultation (an ECG, an image or a report), sealed on disk.

    ``content_type`` is what the bytes are (sniffed), never what the uploader said;
    ``sha256`` is of the plaintext, checked on every download.
    """

    __tablename__ = "consultation_attachments"
    __table_args__ = (
        CheckConstraint(_one_of("content_type", CONTENT_TYPES), name="content_type"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        UniqueConstraint("consultation_id", "position"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultations.id"), index=True)
    # Upload order (0, 1, …): the order the clinic chose, e.g. the ECG before the report.
    position: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(EncryptedText)
    content_type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

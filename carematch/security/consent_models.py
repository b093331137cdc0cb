"""Tables of consent: a person's permission to share their record for one purpose (知情同意)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base


class Consent(Base):
    """One consent (知情同意书) a person gave for one purpose, to one grantee, for a period.

    Each Consent belongs to a person (by id, without a foreign key: persons belong to the
    identity domain and are rebuilt by linkage, so the security domain does not reach into
    that table). The grantee is a region (a code whose prefix covers every node inside it) and,
    optionally, a named organisation. A consent is never deleted: revoking it keeps the row
    with ``status = "revoked"`` and who revoked it when, so an audit can show what held at the
    time of every export.
    """

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_person_id_purpose", "person_id", "purpose"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(64))
    grantee_region: Mapped[str] = mapped_column(String(12))
    grantee_organization: Mapped[str | None] = mapped_column(String(128), default=None)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="active")
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revocation_reason: Mapped[str | None] = mapped_column(Text, default=None)

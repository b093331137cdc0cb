"""Tables of policy governance: hearings (听证会) with residents' opinions, and policy budgets.

A hearing consults residents on a draft policy (R-PL-4): the draft is stored in the library's
own format, checked like a library entry; residents (or staff, for opinions gathered offline)
add opinions during the consultation period; officials answer each one, adopted or not
adopted — not adopted always with a reason — and close the hearing, whose result is public.
An opinion's text and the person who gave it are personal data: the text is encrypted at rest
and the person is never shown on the public page.

A budget is what officials set aside for a policy in a year (R-PL-5, budget spend progress).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText

HEARING_STATUSES = ("open", "closed")
OPINION_CHANNELS = ("portal", "meeting", "phone", "letter", "visit")
"""Where an opinion came from: the portal form, or gathered offline by staff."""
DECISIONS = ("adopted", "not_adopted")


class PolicyHearing(Base):
    """A hearing on one draft policy (政策需求听证会), open from ``opens_on`` to ``closes_on``.

    ``region_code`` is the area consulted (the opening official's jurisdiction or part of it);
    only residents living there may give an opinion through the portal.
    """

    __tablename__ = "policy_hearings"
    __table_args__ = (Index("ix_policy_hearings_status", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class HearingOpinion(Base):
    """One opinion on a hearing's draft; a resident gives at most one per hearing.

    ``person_id`` is the resident who gave it (NULL for an offline opinion whose author staff
    did not identify); the unique constraint allows any number of those.
    """

    __tablename__ = "hearing_opinions"
    __table_args__ = (
        UniqueConstraint(
            "hearing_id", "person_id", name="uq_hearing_opinions_hearing_id_person_id"
        ),
        Index("ix_hearing_opinions_hearing_id_seq", "hearing_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hearing_id: Mapped[str] = mapped_column(ForeignKey("policy_hearings.id"))
    seq: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[str | None] = mapped_column(String(32), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(EncryptedText)
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class PolicyBudget(Base):
    """The yuan officials set aside for one policy in one calendar year (预算)."""

    __tablename__ = "policy_budgets"
    __table_args__ = (
        UniqueConstraint("policy_id", "year", name="uq_policy_budgets_policy_id_year"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

"""Tables of the relief domain: the watched households, relief cases with their steps, and the
relief fund (防返贫救助基金) with its ledger.

A household's figures (status, income, 12-month out-of-pocket) and a case's amounts, members,
notes and reasons are personal and stored encrypted (EncryptedText). What the cockpit counts
by township is in clear: the household's region, whether it is at risk and which trigger
policies hold. The fund's ledger names no person (a payment points at its case), so its
amounts are in clear, as whole fen (integers: exact on SQLite and PostgreSQL alike).

Times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText


class ReliefHousehold(Base):
    """A household of the civil-affairs registry (民政/乡村振兴登记) as the watch last saw it.

    One row per registered household, rewritten by every recompute. ``episode_open`` is true
    from the recompute that opened a case until the household's figures fall back below every
    trigger line: while it is true no second case opens (one case per episode).
    """

    __tablename__ = "relief_households"
    __table_args__ = (Index("ix_relief_households_at_risk_region_code", "at_risk", "region_code"),)

    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    status: Mapped[str] = mapped_column(EncryptedText)
    income_12m: Mapped[str] = mapped_column(EncryptedText)
    oop_12m: Mapped[str] = mapped_column(EncryptedText)
    members: Mapped[int] = mapped_column(Integer, default=0)
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    # The trigger policies that hold, comma-separated (e.g. "P-ANTI-RETURN,P-TEMP-RELIEF").
    triggers: Mapped[str] = mapped_column(String(200), default="")
    episode_open: Mapped[bool] = mapped_column(Boolean, default=False)
    as_of: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReliefCase(Base):
    """A relief case (救助案件): opened by the watch, verified within 7 days, approved, paid.

    ``status`` is one of triggered, verified, approved, paid, rejected. While triggered, the
    figures follow the household's (each recompute refreshes them); verification freezes them.
    ``amount`` is the relief the library's tiers give on ``oop_12m`` (yuan, as text, encrypted),
    ``steps`` the stacking's steps (JSON, encrypted). Who did each step and when is here and in
    :class:`ReliefCaseEvent`; the audit log holds the same, without notes.
    """

    __tablename__ = "relief_cases"
    __table_args__ = (
        Index("ix_relief_cases_region_code_status", "region_code", "status"),
        Index("ix_relief_cases_household_id", "household_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    status: Mapped[str] = mapped_column(String(16), default="triggered")
    triggers: Mapped[str] = mapped_column(String(200))
    cause: Mapped[str] = mapped_column(String(32))
    cause_evidence: Mapped[str] = mapped_column(EncryptedText)
    tier: Mapped[str | None] = mapped_column(String(64), default=None)
    household_status: Mapped[str] = mapped_column(EncryptedText)
    members: Mapped[str] = mapped_column(EncryptedText)
    oop_12m: Mapped[str] = mapped_column(EncryptedText)
    income_12m: Mapped[str] = mapped_column(EncryptedText)
    amount: Mapped[str] = mapped_column(EncryptedText)
    steps: Mapped[str] = mapped_column(EncryptedText)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    verify_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str | None] = mapped_column(String(64), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    approved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    paid_by: Mapped[str | None] = mapped_column(String(64), default=None)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    rejected_by: Mapped[str | None] = mapped_column(String(64), default=None)
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    reject_reason: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReliefCaseEvent(Base):
    """One step of a case (opened, verified, approved, paid, rejected): who, when, a note."""

    __tablename__ = "relief_case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("relief_cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReliefFund(Base):
    """The relief fund (防返贫救助基金): one row holding the balance, in fen.

    A payment lowers it with one conditional UPDATE (``balance >= amount``), so two payments at
    once can never overdraw it, on either database.
    """

    __tablename__ = "relief_funds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReliefFundEntry(Base):
    """One line of the fund's ledger: a deposit or a payment (to a case), in fen, and the
    balance after it."""

    __tablename__ = "relief_fund_entries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fund_id: Mapped[str] = mapped_column(ForeignKey("relief_funds.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    balance_fen: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[str | None] = mapped_column(
        ForeignKey("relief_cases.id"), index=True, default=None
    )
    note: Mapped[str | None] = mapped_column(String(200), default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

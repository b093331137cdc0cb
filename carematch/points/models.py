"""Tables of the points domain: accounts, journal entries and their lines (健康积分与时间银行).

A double-entry ledger. Each :class:`PointsEntry` has two or more :class:`PointsLine` rows whose
amounts sum to zero per unit; an account's balance is the sum of its lines. The account row also
keeps that sum in ``balance``, moved by one conditional ``UPDATE`` per line in the same
transaction as the line, so "no negative balance" is decided by the database under any
concurrency; ``repository.reconcile`` recomputes every balance from the lines to prove the two
agree, and a ``CHECK`` constraint refuses a negative person balance even if code went wrong.

Entries and lines are written once and never updated: a correction is a reversing entry.
Nothing here is an identifying field (persons are ids; memos are short staff notes).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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


class PointsAccount(Base):
    """An account of the ledger: a person's points or minutes, or a programme account.

    ``id`` is derived from ``key`` (``person:<id>:points``, ``issuance:health_talk``, …) so a
    posting knows every account id without a query and creates a missing one with
    ``INSERT … ON CONFLICT DO NOTHING``.
    """

    __tablename__ = "points_accounts"
    __table_args__ = (
        CheckConstraint("overdraft_allowed OR balance >= 0", name="non_negative"),
        Index("ix_points_accounts_person", "person_id", "unit"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(8))
    person_id: Mapped[str | None] = mapped_column(String(32), default=None)
    overdraft_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PointsEntry(Base):
    """A journal entry (记账凭证): why points or minutes moved, for whom, caused by what.

    ``(source_kind, source_id, person_id)`` is unique: it is the idempotency key, so the same
    service record never earns twice, and (with ``source_kind='reversal'``) an entry is
    reversed at most once.
    """

    __tablename__ = "points_entries"
    __table_args__ = (UniqueConstraint("source_kind", "source_id", "person_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(48))
    source_kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    reverses_id: Mapped[str | None] = mapped_column(
        ForeignKey("points_entries.id"), index=True, default=None
    )
    memo: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PointsLine(Base):
    """One line of an entry: a signed amount on one account (positive adds to its balance)."""

    __tablename__ = "points_lines"
    __table_args__ = (CheckConstraint("amount <> 0", name="non_zero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("points_entries.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("points_accounts.id"), index=True)
    unit: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)

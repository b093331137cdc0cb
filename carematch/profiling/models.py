"""Tables of the profiling domain: demands and the runs that computed them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText

DEMAND_STATUSES = ("open", "served", "closed")


class Demand(Base):
    """A person's need for one service, raised by a demand tag (需求).

    One row per (person, tag, service): recomputing the tags updates it rather than adding
    another. It is ``open`` while the tag holds, ``served`` once a service record meets it
    (it is never reopened), and ``closed`` when the tag no longer holds. ``because`` keeps
    the feature values that made the tag true (encrypted: they are health data).
    """

    __tablename__ = "demands"
    __table_args__ = (
        Index("ix_demands_community_status", "community_code", "status"),
        Index("ix_demands_person", "person_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    tag: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    demand_type: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(16), default="open")
    closed_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    because: Mapped[str] = mapped_column(EncryptedText)
    community_code: Mapped[str | None] = mapped_column(String(12), default=None)
    as_of: Mapped[date] = mapped_column(Date)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProfileRun(Base):
    """One computation of features, tags and demands for every person (画像批次)."""

    __tablename__ = "profile_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    persons: Mapped[int] = mapped_column(Integer, default=0)
    tag_instances: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    kept: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="{}")

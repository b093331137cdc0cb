"""Tables of the policy domain: the versions of each policy with their effective dates.

The packaged library is the demo city's starting point; officials' edits are stored as
versions (R-PL-1: officials edit policies with versioning; old versions are kept). A version
holds the whole policy in the library's own format (JSON), checked like a library file before
it is stored, and is in force from ``effective_from`` (inclusive) to ``effective_to``
(exclusive; NULL while it is the latest). Versions are never updated except to close them.
Nothing here names a person, so nothing is encrypted.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base


class PolicyVersion(Base):
    """One version of one policy, in force over ``[effective_from, effective_to)``."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("policy_id", "version", name="uq_policy_versions_policy_id_version"),
        Index("ix_policy_versions_policy_id_effective_from", "policy_id", "effective_from"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, default=None)
    definition: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

"""Tables of vaccination safety: pre-screenings and their review, AEFI reports and clusters,
and outreach contacts with lapsed children.

Persons, users and providers belong to other domains and are named by id; the region code a
row is seen by is copied when it is made, so jurisdiction needs no join. What a row says about
a person's health (answers, reasons, notes, event descriptions) is encrypted; status columns
are limited to their values by CHECK constraints.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText

SCREEN_OUTCOMES = ("pass", "defer", "contraindicated", "needs_review")
DECISIONS = ("approve", "defer", "contraindicate")
CONTACT_OUTCOMES = ("reached", "unreachable", "moved_away", "refused", "will_come")
LAPSE_REASONS = (
    "moved",  # 搬迁/流动
    "forgot",  # 忘记
    "illness",  # 生病
    "fear_of_reactions",  # 担心不良反应
    "travel_cost",  # 路远/交通费用
    "work_hours",  # 家长工作时间冲突
    "vaccine_shortage",  # 疫苗缺货
    "other",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Prescreening(Base):
    """A pre-screening (预检) of one person for one vaccine series, and its human review.

    ``outcome`` and ``suggested`` are what the rule table said (the latter without the
    high-risk rules) and never change; ``status`` is the outcome in force: ``needs_review``
    while a review is required and not made, then the reviewer's. Keeping the automatic outcome
    beside the decision lets the quality indicators measure machine-reviewer agreement.
    """

    __tablename__ = "vaccination_prescreenings"
    __table_args__ = (
        CheckConstraint(_one_of("outcome", SCREEN_OUTCOMES), name="outcome"),
        CheckConstraint(_one_of("suggested", SCREEN_OUTCOMES), name="suggested"),
        CheckConstraint(_one_of("status", SCREEN_OUTCOMES), name="status"),
        CheckConstraint(f"decision IS NULL OR {_one_of('decision', DECISIONS)}", name="decision"),
        CheckConstraint(
            "(decision IS NULL) = (decided_at IS NULL)", name="decided_at_exactly_when_decided"
        ),
        Index("ix_vaccination_prescreenings_region_code_status", "region_code", "status"),
        Index("ix_vaccination_prescreenings_person_id_created_at", "person_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    series: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    answers: Mapped[str] = mapped_column(EncryptedText)
    findings: Mapped[str] = mapped_column(EncryptedText)
    outcome: Mapped[str] = mapped_column(String(16))
    suggested: Mapped[str] = mapped_column(String(16))
    review_required: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    decision_note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AefiCluster(Base):
    """A cluster of serious similar AEFI (群体性疑似预防接种异常反应): one site, one category,
    one series or lot, onsets within the rules' window; raised (alerted) once, stretched by
    each further event."""

    __tablename__ = "vaccination_aefi_clusters"
    __table_args__ = (
        Index("ix_vaccination_aefi_clusters_provider_id_category", "provider_id", "category"),
        Index("ix_vaccination_aefi_clusters_region_code", "region_code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    category: Mapped[str] = mapped_column(String(32))
    series: Mapped[str] = mapped_column(String(16))
    lot: Mapped[str | None] = mapped_column(String(64), default=None)
    first_onset_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_onset_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AefiReport(Base):
    """A report of a suspected adverse event following immunization (疑似预防接种异常反应报告).

    ``deadline_at`` counts from ``found_at`` (48 h, or 2 h for a death, a serious or a clustered
    event); the report is overdue when it was submitted upstream after it, or is still not
    submitted past it. ``region_code`` is the site's (the provider where the dose was given).
    """

    __tablename__ = "vaccination_aefi_reports"
    __table_args__ = (
        CheckConstraint("dose IS NULL OR dose >= 1", name="dose_positive"),
        Index("ix_vaccination_aefi_reports_region_code_reported_at", "region_code", "reported_at"),
        Index("ix_vaccination_aefi_reports_provider_id_category", "provider_id", "category"),
        Index("ix_vaccination_aefi_reports_person_id", "person_id"),
        Index("ix_vaccination_aefi_reports_cluster_id", "cluster_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    series: Mapped[str] = mapped_column(String(16))
    dose: Mapped[int | None] = mapped_column(Integer, default=None)
    lot: Mapped[str | None] = mapped_column(String(64), default=None)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    dose_given_on: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(32))
    serious: Mapped[bool] = mapped_column(Boolean)
    death: Mapped[bool] = mapped_column(Boolean)
    onset_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    onset_in_window: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str] = mapped_column(EncryptedText)
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cluster_id: Mapped[str | None] = mapped_column(
        ForeignKey("vaccination_aefi_clusters.id"), default=None
    )
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class OutreachContact(Base):
    """One attempt to reach the family of a child with overdue doses (追踪补种), its outcome and
    the reason the child lapsed; ``reminder_key`` names the catch-up reminder it enqueued."""

    __tablename__ = "vaccination_outreach_contacts"
    __table_args__ = (
        CheckConstraint(_one_of("outcome", CONTACT_OUTCOMES), name="outcome"),
        CheckConstraint(f"reason IS NULL OR {_one_of('reason', LAPSE_REASONS)}", name="reason"),
        Index("ix_vaccination_outreach_contacts_community_code", "community_code"),
        Index("ix_vaccination_outreach_contacts_person_id", "person_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    community_code: Mapped[str | None] = mapped_column(String(12), default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    doses_overdue: Mapped[int] = mapped_column(Integer)
    remind_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    reminder_key: Mapped[str | None] = mapped_column(String(200), default=None)
    contacted_by: Mapped[str] = mapped_column(String(64))
    contacted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

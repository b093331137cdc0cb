"""Tables of the special funds (专项基金): budgets, projects, their indicators and reviews.

A community applies for a project under a fund's budget, with its own indicators (baseline and
target); experts score it; an official approves it (only within what is left of the budget) or
rejects it; at the end the project is evaluated against its own indicators. A project moves
``applied → under_review → approved | rejected``, and ``approved → evaluated``; a step out of
that order is refused with 409. Nothing here names a person, so nothing is encrypted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base

APPLIED = "applied"
UNDER_REVIEW = "under_review"
APPROVED = "approved"
REJECTED = "rejected"
EVALUATED = "evaluated"
PROJECT_STATES = (APPLIED, UNDER_REVIEW, APPROVED, REJECTED, EVALUATED)


class SpecialFundBudget(Base):
    """One special fund's budget (yuan) for a region and year; projects are approved within it."""

    __tablename__ = "special_fund_budgets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    year: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SpecialFundProject(Base):
    """A community's project application under one budget, and what became of it."""

    __tablename__ = "special_fund_projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    budget_id: Mapped[str] = mapped_column(ForeignKey("special_fund_budgets.id"), index=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=APPLIED)
    applied_by: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    decision_note: Mapped[str | None] = mapped_column(String(500), default=None)
    evaluated_by: Mapped[str | None] = mapped_column(String(64), default=None)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)


class SpecialFundIndicator(Base):
    """One of a project's own indicators: baseline, target, direction, and the value reached."""

    __tablename__ = "special_fund_indicators"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_special_fund_indicators_project_id_name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("special_fund_projects.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32), default="")
    direction: Mapped[str] = mapped_column(String(8))
    baseline: Mapped[float] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)
    achieved_value: Mapped[float | None] = mapped_column(Float, default=None)
    achieved: Mapped[bool | None] = mapped_column(Boolean, default=None)


class SpecialFundReview(Base):
    """One expert's scores of one project (0–100 per criterion); one review per expert."""

    __tablename__ = "special_fund_reviews"
    __table_args__ = (
        UniqueConstraint("project_id", "expert", name="uq_special_fund_reviews_project_id_expert"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("special_fund_projects.id"), index=True)
    expert: Mapped[str] = mapped_column(String(64))
    scores: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(String(1000), default="")
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

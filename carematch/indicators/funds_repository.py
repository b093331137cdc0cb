"""Every query of the special funds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from carematch.indicators.funds_models import (
    APPROVED,
    EVALUATED,
    SpecialFundBudget,
    SpecialFundIndicator,
    SpecialFundProject,
    SpecialFundReview,
)
from carematch.security.jurisdiction import region_prefix


def _in_region(column: Any, prefix: str | None) -> ColumnElement[bool]:
    return true() if prefix is None else column.startswith(region_prefix(prefix))


def committed(session: Session, budget_id: str) -> int:
    """Yuan already promised under a budget (approved and evaluated projects)."""
    total = session.scalar(
        select(func.coalesce(func.sum(SpecialFundProject.amount), 0)).where(
            SpecialFundProject.budget_id == budget_id,
            SpecialFundProject.status.in_((APPROVED, EVALUATED)),
        )
    )
    return int(total or 0)


def budgets(session: Session) -> Sequence[SpecialFundBudget]:
    """Every budget, newest year first (a handful: the service filters by jurisdiction)."""
    return session.scalars(
        select(SpecialFundBudget).order_by(SpecialFundBudget.year.desc(), SpecialFundBudget.id)
    ).all()


def projects(
    session: Session,
    region: str | None,
    *,
    budget_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[SpecialFundProject]:
    """Projects of communities inside ``region`` (None: all), newest first."""
    query = select(SpecialFundProject).where(_in_region(SpecialFundProject.community_code, region))
    if budget_id is not None:
        query = query.where(SpecialFundProject.budget_id == budget_id)
    if status is not None:
        query = query.where(SpecialFundProject.status == status)
    query = query.order_by(SpecialFundProject.applied_at.desc(), SpecialFundProject.id)
    return session.scalars(query.limit(limit).offset(offset)).all()


def indicators(session: Session, project_id: str) -> Sequence[SpecialFundIndicator]:
    return session.scalars(
        select(SpecialFundIndicator)
        .where(SpecialFundIndicator.project_id == project_id)
        .order_by(SpecialFundIndicator.position)
    ).all()


def reviews(session: Session, project_id: str) -> Sequence[SpecialFundReview]:
    return session.scalars(
        select(SpecialFundReview)
        .where(SpecialFundReview.project_id == project_id)
        .order_by(SpecialFundReview.submitted_at, SpecialFundReview.id)
    ).all()

"""Every query of the indicators domain: the stored series and warnings, and the reads the
engine's inputs need.

The inputs come from other domains' tables (demands, bookings, service records, ratings,
complaints): the engine needs them whole, in bulk, as columns, which no service function of
those domains offers; these reads are the only place they are touched, and only read. Times come
back naive UTC (SQLite stores naive UTC; PostgreSQL's aware times are converted).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.orm import Session

from carematch.booking.models import Booking, Rating, ServiceRecord
from carematch.core.models import Region
from carematch.feedback.models import Complaint
from carematch.indicators.models import IndicatorValue, IndicatorWarning
from carematch.profiling.models import Demand
from carematch.security.jurisdiction import region_prefix
from carematch.security.models import User


def naive_utc(at: datetime | None) -> datetime | None:
    """A stored time as naive UTC (the engine's Arrow timestamps)."""
    if at is None or at.tzinfo is None:
        return at
    return at.astimezone(UTC).replace(tzinfo=None)


# --- inputs ---------------------------------------------------------------------------------


def demand_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every demand with when it was first seen and first answered (a booking, or served)."""
    first_booking = (
        select(Booking.demand_id, func.min(Booking.created_at).label("booked_at"))
        .where(Booking.demand_id.is_not(None))
        .group_by(Booking.demand_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Demand.id,
            Demand.person_id,
            Demand.community_code,
            Demand.status,
            Demand.first_seen_at,
            Demand.status_changed_at,
            first_booking.c.booked_at,
        ).outerjoin(first_booking, first_booking.c.demand_id == Demand.id)
    )
    for did, person, community, status, seen, changed, booked in rows:
        answers = [naive_utc(booked)] if booked is not None else []
        if status == "served":
            answers.append(naive_utc(changed))
        yield {
            "demand_id": did,
            "person_id": person,
            "community": community,
            "status": status,
            "first_seen_at": naive_utc(seen),
            "responded_at": min((a for a in answers if a is not None), default=None),
        }


def rating_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every rating, placed where its service was given."""
    rows = session.execute(
        select(
            Rating.person_id,
            ServiceRecord.region_code,
            Rating.service,
            Rating.score,
            Rating.rated_at,
        ).join(ServiceRecord, ServiceRecord.id == Rating.service_record_id)
    )
    for person, region, service, score, rated_at in rows:
        yield {
            "person_id": person,
            "region_code": region,
            "service": service,
            "score": score,
            "rated_at": naive_utc(rated_at),
        }


def complaint_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every complaint's region, category and receipt time."""
    rows = session.execute(select(Complaint.region_code, Complaint.category, Complaint.received_at))
    for region, category, received in rows:
        yield {"region_code": region, "category": category, "received_at": naive_utc(received)}


def service_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every service record's person, service and time."""
    rows = session.execute(
        select(ServiceRecord.person_id, ServiceRecord.service, ServiceRecord.performed_at)
    )
    for person, service, performed in rows:
        yield {"person_id": person, "service": service, "performed_at": naive_utc(performed)}


def city_code(session: Session) -> str | None:
    """The code of the city region (the top of every breakdown), if regions are loaded."""
    return session.scalar(select(Region.code).where(Region.level == "city").order_by(Region.code))


def region_codes(session: Session, levels: Sequence[str]) -> list[str]:
    """Codes of the regions at these levels."""
    return list(
        session.scalars(select(Region.code).where(Region.level.in_(levels)).order_by(Region.code))
    )


def region_names(session: Session, codes: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Code → (name, English name) of these regions."""
    if not codes:
        return {}
    rows = session.execute(
        select(Region.code, Region.name, Region.name_en).where(Region.code.in_(set(codes)))
    )
    return {code: (name, name_en or "") for code, name, name_en in rows}


def officials_over(session: Session, region_code: str) -> list[str]:
    """Ids of the active officials whose jurisdiction holds the region (its supervisors)."""
    rows = session.execute(
        select(User.id, User.region_code).where(User.role == "official", User.active)
    ).all()
    return sorted(
        uid
        for uid, region in rows
        if region is None or region_code.startswith(region_prefix(region))
    )


# --- the series -----------------------------------------------------------------------------


def replace_period(
    session: Session, period: str, indicator_ids: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Replace one period's points of these indicators with ``rows`` (idempotent refresh)."""
    session.execute(
        delete(IndicatorValue).where(
            IndicatorValue.period == period, IndicatorValue.indicator_id.in_(indicator_ids)
        )
    )
    if rows:
        session.execute(insert(IndicatorValue), list(rows))


def _scope(column: Any, region: str | None) -> list[ColumnElement[bool]]:
    return [column.startswith(region_prefix(region), autoescape=True)] if region else []


def latest_period(session: Session) -> str | None:
    return session.scalar(select(func.max(IndicatorValue.period)))


def values(
    session: Session,
    *,
    period: str | None = None,
    periods: tuple[str, str] | None = None,
    indicator_id: str | None = None,
    region_code: str | None = None,
    within: str | None = None,
    disaggregation: str | None = None,
    group_key: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[IndicatorValue]:
    """Stored points, filtered; ordered by indicator, region, breakdown and period."""
    query = select(IndicatorValue)
    if period is not None:
        query = query.where(IndicatorValue.period == period)
    if periods is not None:
        query = query.where(IndicatorValue.period.between(*periods))
    if indicator_id is not None:
        query = query.where(IndicatorValue.indicator_id == indicator_id)
    if region_code is not None:
        query = query.where(IndicatorValue.region_code == region_code)
    if disaggregation is not None:
        query = query.where(IndicatorValue.disaggregation == disaggregation)
    if group_key is not None:
        query = query.where(IndicatorValue.group_key == group_key)
    query = query.where(*_scope(IndicatorValue.region_code, within)).order_by(
        IndicatorValue.indicator_id,
        IndicatorValue.region_code,
        IndicatorValue.disaggregation,
        IndicatorValue.group_key,
        IndicatorValue.period,
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(session.scalars(query))


def history(session: Session, period: str, indicator_ids: Sequence[str]) -> list[IndicatorValue]:
    """Every stored point up to and including ``period`` of these indicators (for warnings)."""
    return list(
        session.scalars(
            select(IndicatorValue)
            .where(IndicatorValue.period <= period, IndicatorValue.indicator_id.in_(indicator_ids))
            .order_by(IndicatorValue.period)
        )
    )


# --- warnings -------------------------------------------------------------------------------


def open_warning_series(session: Session) -> set[tuple[str, str, str, str]]:
    """The series that already have a warning not yet dismissed."""
    rows = session.execute(
        select(
            IndicatorWarning.indicator_id,
            IndicatorWarning.region_code,
            IndicatorWarning.disaggregation,
            IndicatorWarning.group_key,
        ).where(IndicatorWarning.status != "dismissed")
    )
    return {tuple(r) for r in rows}  # type: ignore[misc]


def warning_at(
    session: Session, indicator_id: str, period: str, region: str, disaggregation: str, key: str
) -> IndicatorWarning | None:
    return session.scalar(
        select(IndicatorWarning).where(
            IndicatorWarning.indicator_id == indicator_id,
            IndicatorWarning.period == period,
            IndicatorWarning.region_code == region,
            IndicatorWarning.disaggregation == disaggregation,
            IndicatorWarning.group_key == key,
        )
    )


def warnings(
    session: Session,
    *,
    within: str | None,
    status: str | None = None,
    indicator_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[IndicatorWarning]:
    query = select(IndicatorWarning).where(*_scope(IndicatorWarning.region_code, within))
    if status is not None:
        query = query.where(IndicatorWarning.status == status)
    if indicator_id is not None:
        query = query.where(IndicatorWarning.indicator_id == indicator_id)
    query = query.order_by(IndicatorWarning.created_at.desc(), IndicatorWarning.id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def get_warning(session: Session, warning_id: str) -> IndicatorWarning | None:
    return session.get(IndicatorWarning, warning_id)

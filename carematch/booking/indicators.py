"""Service-delivery counts for the cockpit's closed loop (服务闭环): bookings, visits, ratings.

Each count is cut to a region at any level the way the rest of the domain is: bookings by
their slot's region, service records by theirs, ratings by the record they rate. The numbers
are read live (no nightly table), so a visit recorded on the workbench moves the cockpit at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from carematch.booking.clocks import clock_counts
from carematch.booking.models import Booking, Rating, ServiceRecord, Slot
from carematch.core.clock import utcnow
from carematch.security.jurisdiction import region_prefix


@dataclass(frozen=True)
class DeliveryCounts:
    """Bookings by status, service records, ratings and SLA breaches inside one region."""

    booked: int  # holding a place, not yet seen (booked or checked in)
    completed: int
    no_show: int
    cancelled: int
    records: int
    ratings: int
    mean_rating: float | None  # None when nobody has rated yet
    sla_breached: int


def _in_region(column: Any, region: str | None) -> list[ColumnElement[bool]]:
    if not region:
        return []
    return [column.startswith(region_prefix(region), autoescape=True)]


def delivery_counts(
    session: Session, region: str | None, *, now: datetime | None = None
) -> DeliveryCounts:
    """Counts for a region (None: the whole installation), as they stand at ``now``."""
    by_status = dict(
        session.execute(
            select(Booking.status, func.count())
            .join(Slot, Slot.id == Booking.slot_id)
            .where(*_in_region(Slot.region_code, region))
            .group_by(Booking.status)
        ).all()
    )
    records = session.scalar(
        select(func.count())
        .select_from(ServiceRecord)
        .where(*_in_region(ServiceRecord.region_code, region))
    )
    rated, mean = session.execute(
        select(func.count(), func.avg(Rating.score))
        .join(ServiceRecord, ServiceRecord.id == Rating.service_record_id)
        .where(*_in_region(ServiceRecord.region_code, region))
    ).one()
    clocks = clock_counts(session, now=now or utcnow(), region=region)
    return DeliveryCounts(
        booked=int(by_status.get("booked", 0)) + int(by_status.get("checked_in", 0)),
        completed=int(by_status.get("completed", 0)),
        no_show=int(by_status.get("no_show", 0)),
        cancelled=int(by_status.get("cancelled", 0)),
        records=int(records or 0),
        ratings=int(rated or 0),
        mean_rating=float(mean) if mean is not None else None,
        sla_breached=clocks.breached,
    )


def served_rows(
    session: Session, start: datetime, end: datetime, region: str | None
) -> list[tuple[str, str, str]]:
    """``(person_id, service, provider_id)`` of every service record performed in
    ``[start, end)`` in a region (None: all), for the policy execution indicators."""
    rows = session.execute(
        select(ServiceRecord.person_id, ServiceRecord.service, ServiceRecord.provider_id).where(
            ServiceRecord.performed_at >= start,
            ServiceRecord.performed_at < end,
            *_in_region(ServiceRecord.region_code, region),
        )
    )
    return [(str(p), str(s), str(v)) for p, s, v in rows]


def served_times(
    session: Session, start: datetime, end: datetime, region: str | None
) -> list[tuple[str, str, datetime]]:
    """``(person_id, service, performed_at)`` of every service record performed in
    ``[start, end)`` in a region (None: all), for chronic monitoring's TB case management."""
    rows = session.execute(
        select(ServiceRecord.person_id, ServiceRecord.service, ServiceRecord.performed_at).where(
            ServiceRecord.performed_at >= start,
            ServiceRecord.performed_at < end,
            *_in_region(ServiceRecord.region_code, region),
        )
    )
    return [(str(p), str(s), at) for p, s, at in rows]

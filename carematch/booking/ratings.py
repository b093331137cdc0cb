"""Ratings (满意度评价): the resident rates a visit once, 1 to 5 with an optional comment.

A visit is rated through its service record (a booking's, or a walk-in's): only a visit that
took place can be rated, and only once — a second rating is a 409, also when two arrive at once
(a unique index decides). Only a resident rates, for themselves or a registered dependant; any
other person's visit is "not found". The comment is stored encrypted (it may name people or
illnesses) and kept out of the audit log.

Each rating carries its provider and the month of the visit (city time), so a provider's
ratings per month are one GROUP BY: :func:`rating_month_totals` gives the sums and counts, and
:func:`ratings_by_provider_period` folds them into periods of 1, 2, 3, 4, 6 or 12 months
aligned to January — what the feedback domain's low-rating flag (资质复核) reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.booking import records, repository
from carematch.booking.errors import AlreadyRated, BookingStateConflict, RatingNotAllowed
from carematch.booking.models import Rating
from carematch.booking.service import city_time, own_persons, visible_booking
from carematch.core.clock import utcnow
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix

SCORES = (1, 2, 3, 4, 5)
MAX_COMMENT = 1000
PERIOD_MONTHS = (1, 2, 3, 4, 6, 12)


def _comment(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    if len(cleaned) > MAX_COMMENT:
        raise InvalidInput(f"comment: at most {MAX_COMMENT} characters")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in cleaned):
        raise InvalidInput("comment holds control characters")
    return cleaned


def rate(
    session: Session,
    principal: Principal,
    *,
    score: int,
    comment: str | None = None,
    service_record_id: str | None = None,
    booking_id: str | None = None,
    now: datetime | None = None,
) -> Rating:
    """Rate a visit, named by its service record or its booking (exactly one of them).

    Raises:
        RatingNotAllowed: the caller is not a resident.
        InvalidInput: neither or both visit ids; a score outside 1-5; a comment too long.
        ServiceRecordNotFound, BookingNotFound: not the resident's or a dependant's visit.
        BookingStateConflict: the booking has no service record yet (the visit is not done).
        AlreadyRated: the visit has its rating.
    """
    now = now or utcnow()
    if principal.role != "resident":
        raise RatingNotAllowed("only the resident rates a visit")
    if (service_record_id is None) == (booking_id is None):
        raise InvalidInput("name the visit by service_record_id or by booking_id")
    if isinstance(score, bool) or score not in SCORES:
        raise InvalidInput("score must be 1, 2, 3, 4 or 5")
    text = _comment(comment)
    if booking_id is not None:
        view = visible_booking(session, principal, booking_id)
        record = repository.record_for_booking(session, view.booking.id)
        if record is None:
            raise BookingStateConflict(f"booking {booking_id} has no service record yet")
    else:
        assert service_record_id is not None
        record = records.visible_record(session, principal, service_record_id)
    if repository.rating_for_record(session, record.id) is not None:
        raise AlreadyRated(f"the visit {record.id} has been rated")
    rating = Rating(
        id=new_id(),
        service_record_id=record.id,
        booking_id=record.booking_id,
        person_id=record.person_id,
        provider_id=record.provider_id,
        service=record.service,
        visit_month=f"{city_time(record.performed_at):%Y-%m}",
        score=score,
        comment=text,
        rated_by=principal.username,
        rated_at=now.astimezone(UTC),
    )
    try:
        repository.add(session, rating)
    except IntegrityError:
        raise AlreadyRated(f"the visit {record.id} has been rated") from None
    audit.record(
        session,
        actor=principal.username,
        action="rate_visit",
        entity="service_record",
        entity_id=record.id,
        detail={"person": record.person_id, "score": score, "comment": text is not None},
    )
    return rating


def list_ratings(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    provider_id: str | None = None,
    service_record_id: str | None = None,
) -> tuple[int, list[Rating]]:
    """Ratings, newest first: a resident's own and dependants'; staff's by the visit's region."""
    resident = principal.role == "resident"
    jurisdiction = principal.jurisdiction
    return repository.list_ratings(
        session,
        limit=limit,
        offset=offset,
        region_prefix=None if resident or not jurisdiction else region_prefix(jurisdiction),
        person_ids=own_persons(session, principal) if resident else None,
        provider_id=provider_id,
        service_record_id=service_record_id,
    )


# --- per provider and period (the feedback domain's low-rating flag) -----------------------


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def rating_month_totals(
    session: Session,
    *,
    since_month: str | None = None,
    before_month: str | None = None,
    provider_ids: Sequence[str] | None = None,
) -> list[tuple[str, str, int, int]]:
    """``(provider_id, "YYYY-MM", sum of scores, count)`` per provider and month of the visit,
    for months in ``[since_month, before_month)``, summed by the database.

    Raises:
        InvalidInput: a month that is not ``YYYY-MM``.
    """
    for month in (since_month, before_month):
        if month is not None:
            try:
                datetime.strptime(month, "%Y-%m")
            except ValueError:
                raise InvalidInput(f"month {month!r} is not YYYY-MM") from None
    return repository.rating_month_totals(
        session, since_month=since_month, before_month=before_month, provider_ids=provider_ids
    )


@dataclass(frozen=True)
class ProviderPeriodRating:
    """A provider's ratings in one period: their mean and count. ``period`` names its first
    month (``2030-04`` for the second quarter)."""

    provider_id: str
    period: str
    mean: float
    count: int


def ratings_by_provider_period(
    session: Session,
    *,
    period_months: int = 1,
    before: date | None = None,
    since: date | None = None,
    provider_ids: Sequence[str] | None = None,
) -> list[ProviderPeriodRating]:
    """Each provider's mean rating and count per period, by provider then period.

    Periods are ``period_months`` calendar months aligned to January. Only whole months count:
    those from ``since``'s month up to (not including) ``before``'s month; so with ``before``
    today, the month under way is left out. Every rating weighs once (a quarter's mean is over
    its ratings, not a mean of monthly means).

    Raises:
        InvalidInput: ``period_months`` does not divide a year.

    Examples:
        ``ratings_by_provider_period(session, period_months=3, before=date(2030, 7, 1))``
        gives each provider's quarters up to the second quarter of 2030.
    """
    if period_months not in PERIOD_MONTHS:
        raise InvalidInput("period_months must be 1, 2, 3, 4, 6 or 12")
    totals = rating_month_totals(
        session,
        since_month=_month(since) if since else None,
        before_month=_month(before) if before else None,
        provider_ids=provider_ids,
    )
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for provider_id, month, total, count in totals:
        year, number = int(month[:4]), int(month[5:7])
        first = (number - 1) // period_months * period_months + 1
        acc = sums[(provider_id, f"{year:04d}-{first:02d}")]
        acc[0] += total
        acc[1] += count
    return [
        ProviderPeriodRating(provider_id, period, total / count, count)
        for (provider_id, period), (total, count) in sorted(sums.items())
    ]

"""Vaccination quality indicators (接种服务质量指标, R-VX-7), computed from what was recorded.

For a period ``[since, until)`` and a region at any level:

- **booking success rate**: of the vaccination bookings whose slot fell in the period and that
  were not cancelled, the share kept (checked in or completed) rather than missed (no-show);
- **pre-screening outcomes** by the outcome the rule table gave, and **review agreement**: of
  the screenings a vaccinator decided, the share where the decision matches what the table
  suggested without its high-risk rules (approve ↔ pass, defer ↔ defer, contraindicate ↔
  contraindicated) — how often the machine and the human agree;
- **waiting time**: the median days from making a vaccination booking to its slot, and the
  median minutes from check-in to the dose being given (same person, same day);
- **doses given**;
- **AEFI rate**: AEFI reports whose dose was given in the period, per 100,000 doses given in it
  (the unit China's AEFI surveillance reports in), with the serious ones counted apart;
- **miss rate of children by hukou**: among children under 7 listed by the immunization
  registry (or vaccinated here), the share with at least one dose overdue as of the period's
  end, migrants beside locals — the gap R-VX-7 asks to close (~15 % of migrant children miss
  doses).

Counts are cut by region as each record places itself: bookings by their slot, screenings,
doses and AEFI reports by their own region, children by their community.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from carematch.booking.models import Booking, Slot
from carematch.core.errors import InvalidInput
from carematch.providers.hours import CITY_TZ
from carematch.security.jurisdiction import region_prefix
from carematch.vaccination.appointments import VACCINATION_SERVICES
from carematch.vaccination.models import Administration
from carematch.vaccination.safety_models import AefiReport, Prescreening

# What a reviewer's decision means as a screening outcome, for the agreement measure.
DECISION_OUTCOME = {"approve": "pass", "defer": "defer", "contraindicate": "contraindicated"}
DECISION_OUTCOME_ORDER = ("pass", "defer", "contraindicated", "needs_review")
CHILD_AGE_LIMIT = 7
PER_DOSES = 100_000
# A check-in and a dose more than this apart are not one visit's wait.
SAME_VISIT = timedelta(hours=12)


@dataclass(frozen=True)
class ChildMiss:
    """Children under 7 of one hukou group and those with a dose overdue."""

    children: int
    missed: int

    @property
    def rate(self) -> float | None:
        return self.missed / self.children if self.children else None


@dataclass(frozen=True)
class QualityIndicators:
    """The indicators of one period and region (see the module docstring for definitions)."""

    since: date
    until: date
    region: str | None
    bookings: int
    kept: int
    no_show: int
    prescreen_outcomes: dict[str, int]
    reviewed: int
    review_agreed: int
    booking_lead_days_median: float | None
    clinic_wait_minutes_median: float | None
    doses_given: int
    aefi_reports: int
    aefi_serious: int
    children: dict[str, ChildMiss] = field(default_factory=dict)

    @property
    def booking_success_rate(self) -> float | None:
        decided = self.kept + self.no_show
        return self.kept / decided if decided else None

    @property
    def review_agreement(self) -> float | None:
        return self.review_agreed / self.reviewed if self.reviewed else None

    @property
    def aefi_rate_per_100k(self) -> float | None:
        return self.aefi_reports * PER_DOSES / self.doses_given if self.doses_given else None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["since"], out["until"] = self.since.isoformat(), self.until.isoformat()
        out["children"] = {
            group: {**asdict(miss), "rate": _round(miss.rate)}
            for group, miss in self.children.items()
        }
        out["booking_success_rate"] = _round(self.booking_success_rate)
        out["review_agreement"] = _round(self.review_agreement)
        out["aefi_rate_per_100k"] = _round(self.aefi_rate_per_100k, 1)
        return out


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _start(day: date) -> datetime:
    """Midnight of a city day, as an aware time."""
    return datetime.combine(day, datetime.min.time(), tzinfo=CITY_TZ)


def _in(column: Any, region: str | None) -> list[Any]:
    return [column.startswith(region_prefix(region), autoescape=True)] if region else []


def _aware(at: datetime) -> datetime:
    # SQLite hands stored times back naive; they are UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _bookings(
    session: Session, start: datetime, end: datetime, region: str | None
) -> tuple[Counter[str], list[float], list[tuple[str, str | None, datetime]]]:
    rows = session.execute(
        select(Booking.person_id, Booking.status, Booking.created_at, Booking.checked_in_at)
        .add_columns(Slot.starts_at, Slot.provider_id)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(
            Slot.service.in_(VACCINATION_SERVICES),
            Slot.starts_at >= start,
            Slot.starts_at < end,
            *_in(Slot.region_code, region),
        )
    ).all()
    statuses: Counter[str] = Counter()
    lead_days: list[float] = []
    check_ins: list[tuple[str, str | None, datetime]] = []
    for person_id, status, created, checked_in, starts, provider in rows:
        statuses[status] += 1
        if status != "cancelled":
            lead = (_aware(starts) - _aware(created)).total_seconds() / 86400
            lead_days.append(max(lead, 0.0))
        if checked_in is not None:
            check_ins.append((person_id, provider, _aware(checked_in)))
    return statuses, lead_days, check_ins


def _clinic_waits(
    doses: list[tuple[str, str | None, datetime]],
    check_ins: list[tuple[str, str | None, datetime]],
) -> list[float]:
    """Minutes from each check-in to the first dose given to that person there after it."""
    waits = []
    for person_id, provider, checked in check_ins:
        later = [
            at
            for p, prov, at in doses
            if p == person_id and prov == provider and checked <= at <= checked + SAME_VISIT
        ]
        if later:
            waits.append((min(later) - checked).total_seconds() / 60)
    return waits


def _children(session: Session, as_of: date, region: str | None) -> dict[str, ChildMiss]:
    """Children under 7 known to the registry (or dosed here), by hukou, with the overdue ones."""
    from carematch.profiling.service import features_for

    table = features_for(session, as_of=as_of).to_pylist()
    dosed = set(session.scalars(select(Administration.person_id).distinct()))
    prefix = region_prefix(region) if region else None
    groups: dict[str, list[int]] = {"migrant": [0, 0], "local": [0, 0]}
    for row in table:
        age = row.get("age")
        if age is None or age >= CHILD_AGE_LIMIT:
            continue
        if not row.get("immunization_record") and row["person_id"] not in dosed:
            continue
        if prefix and not str(row.get("community") or "").startswith(prefix):
            continue
        group = "migrant" if row.get("hukou") == "migrant" else "local"
        groups[group][0] += 1
        groups[group][1] += int((row.get("doses_overdue") or 0) > 0)
    return {group: ChildMiss(n, missed) for group, (n, missed) in groups.items()}


def quality_indicators(
    session: Session,
    since: date,
    until: date,
    *,
    region: str | None = None,
    with_children: bool = True,
) -> QualityIndicators:
    """The indicators for city days ``[since, until)`` in a region (None: everywhere).

    Raises:
        InvalidInput: an empty or reversed period, or one longer than ten years.
    """
    if until <= since:
        raise InvalidInput("the period must end after it starts (until > since)")
    if (until - since).days > 3660:
        raise InvalidInput("the period may span at most ten years")
    start, end = _start(since), _start(until)
    statuses, lead_days, check_ins = _bookings(session, start, end, region)

    outcomes = Counter(
        dict(
            session.execute(
                select(Prescreening.outcome, func.count())
                .where(
                    Prescreening.created_at >= start,
                    Prescreening.created_at < end,
                    *_in(Prescreening.region_code, region),
                )
                .group_by(Prescreening.outcome)
            ).all()
        )
    )
    decided = session.execute(
        select(Prescreening.suggested, Prescreening.decision).where(
            Prescreening.decision.is_not(None),
            Prescreening.decided_at >= start,
            Prescreening.decided_at < end,
            *_in(Prescreening.region_code, region),
        )
    ).all()
    agreed = sum(
        1 for suggested, decision in decided if DECISION_OUTCOME.get(decision or "") == suggested
    )

    doses = [
        (person_id, provider, _aware(at))
        for person_id, provider, at in session.execute(
            select(
                Administration.person_id, Administration.provider_id, Administration.administered_at
            ).where(
                Administration.administered_at >= start,
                Administration.administered_at < end,
                *_in(Administration.region_code, region),
            )
        )
    ]
    aefi = session.execute(
        select(func.count(), func.sum(case((AefiReport.serious, 1), else_=0))).where(
            AefiReport.dose_given_on >= since,
            AefiReport.dose_given_on < until,
            *_in(AefiReport.region_code, region),
        )
    ).one()
    return QualityIndicators(
        since=since,
        until=until,
        region=region,
        bookings=sum(statuses.values()) - statuses["cancelled"],
        kept=statuses["checked_in"] + statuses["completed"],
        no_show=statuses["no_show"],
        prescreen_outcomes={k: int(outcomes.get(k, 0)) for k in DECISION_OUTCOME_ORDER},
        reviewed=len(decided),
        review_agreed=agreed,
        booking_lead_days_median=_median(lead_days),
        clinic_wait_minutes_median=_median(_clinic_waits(doses, check_ins)),
        doses_given=len(doses),
        aefi_reports=int(aefi[0] or 0),
        aefi_serious=int(aefi[1] or 0),
        children=_children(session, until - timedelta(days=1), region) if with_children else {},
    )

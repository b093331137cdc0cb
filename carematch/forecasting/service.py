"""Demand forecasts in the app: weekly new demands per district × service, and hot spots.

The weekly series counts **demands created** (a demand's ``first_seen_at``, in city days),
whatever their status now: that is when a need arose. Bookings are not used, because a week's
bookings are capped by the slots on offer, so they measure supply, not demand.

A series runs from the week of its first demand to the last complete week before ``as_of``'s
week (weeks without a demand count 0). The district is a community code's first six digits.
Counts are taken inside the caller's jurisdiction only: an official bound to a street sees the
street's share of its district.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from carematch.core.clock import CITY_TZ, city_today
from carematch.forecasting.errors import BadForecastRequest, SeriesNotFound
from carematch.forecasting.forecast import SeriesForecast, forecast_series
from carematch.forecasting.holidays import monday_of
from carematch.forecasting.series import WeeklySeries
from carematch.security.authz import Principal
from carematch.security.jurisdiction import within

DISTRICT_DIGITS = 6
MIN_HISTORY_WEEKS = 8  # a hot spot needs some history to rise from
MIN_WEEKLY_VOLUME = 1.0  # below this recent weekly mean, a relative rise is noise
HORIZONS = range(1, 27)
RANKS = ("absolute", "relative")
EARLIEST = date(2000, 1, 10)  # the Spring Festival table starts in 2000
Key = tuple[str, str]


@dataclass(frozen=True)
class Hotspot:
    """A district × service whose weekly demand is expected to rise (需求热点)."""

    district: str
    service: str
    recent_weekly: float  # mean of the last `horizon` weeks (at most), observed
    expected_weekly: float  # mean forecast over the horizon
    expected_lo80: float  # mean of the weekly lower bounds
    expected_hi80: float
    rise: float  # expected_weekly - recent_weekly
    rise_relative: float | None  # rise / recent_weekly (None when recent is tiny)
    peak_week: date
    peak_forecast: float
    peak_lo80: float
    peak_hi80: float
    history_weeks: int
    method: str

    @property
    def id(self) -> str:
        return f"{self.district}:{self.service}"


@dataclass(frozen=True)
class SeriesView:
    """One district × service: the observed weeks and the forecast after them."""

    district: str
    service: str
    history: WeeklySeries
    forecast: SeriesForecast


def last_complete_week(as_of: date | None = None) -> date:
    """The Monday of the last full week before the week holding ``as_of`` (default: today).

    ``as_of`` lies between :data:`EARLIEST` and today: weeks that have not happened have no
    demand to count (and a far-off day would make a long series of empty weeks).
    """
    today = city_today()
    day = as_of or today
    if not EARLIEST <= day <= today:
        raise BadForecastRequest(f"as_of must be between {EARLIEST} and today ({today})")
    return monday_of(day) - timedelta(weeks=1)


def _city_day(at: datetime) -> date:
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(CITY_TZ).date()


def weekly_series(
    arrivals: Iterable[tuple[str | None, str | None, datetime | None, int]], until: date
) -> dict[Key, WeeklySeries]:
    """Count arrivals by (district, service, week) up to the week ``until`` (a Monday).

    Pure: takes ``(community_code, service, first_seen_at, demands)`` rows.
    """
    counts: dict[Key, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for community, service, seen, demands in arrivals:
        if not community or not service or seen is None:
            continue
        week = monday_of(_city_day(seen))
        if week > until:
            continue
        counts[(community[:DISTRICT_DIGITS], service)][week] += demands
    out = {}
    for key, by_week in sorted(counts.items()):
        first = min(by_week)
        weeks = [first + timedelta(weeks=k) for k in range((until - first).days // 7 + 1)]
        values = [float(by_week.get(w, 0)) for w in weeks]
        out[key] = WeeklySeries(f"{key[0]}:{key[1]}", weeks, values)
    return out


def _arrivals(session: Session, principal: Principal, district: str | None = None) -> list:
    from carematch.profiling.service import demand_arrivals

    table = demand_arrivals(session, principal.jurisdiction)
    rows = zip(
        table.column("community_code").to_pylist(),
        table.column("service").to_pylist(),
        table.column("first_seen_at").to_pylist(),
        table.column("demands").to_pylist(),
        strict=True,
    )
    if district is None:
        return list(rows)
    return [r for r in rows if r[0] and r[0].startswith(district)]


def _check_horizon(horizon: int) -> None:
    if horizon not in HORIZONS:
        raise BadForecastRequest(f"horizon must be 1-{HORIZONS[-1]} weeks, not {horizon}")


def hotspots(
    session: Session,
    principal: Principal,
    *,
    horizon: int = 13,
    rank: str = "absolute",
    as_of: date | None = None,
) -> list[Hotspot]:
    """Every district × service with an expected rise, largest first.

    ``rank="absolute"`` orders by the rise in demands per week; ``"relative"`` by the rise as a
    share of recent demand (series under :data:`MIN_WEEKLY_VOLUME` a week are left out of that
    ranking, their shares are noise).
    """
    _check_horizon(horizon)
    if rank not in RANKS:
        raise BadForecastRequest(f"rank must be one of {', '.join(RANKS)}, not {rank!r}")
    until = last_complete_week(as_of)
    found = []
    for (district, service), series in weekly_series(_arrivals(session, principal), until).items():
        if len(series.weeks) < MIN_HISTORY_WEEKS:
            continue
        result = forecast_series(series.weeks, series.values, horizon)
        spot = _hotspot(district, service, series, result, horizon)
        if spot.rise <= 0:
            continue
        if rank == "relative" and spot.rise_relative is None:
            continue
        found.append(spot)
    if rank == "relative":
        found.sort(key=lambda s: (-(s.rise_relative or 0.0), -s.rise, s.id))
    else:
        found.sort(key=lambda s: (-s.rise, s.id))
    return found


def _hotspot(
    district: str, service: str, series: WeeklySeries, result: SeriesForecast, horizon: int
) -> Hotspot:
    recent = float(np.mean(series.values[-horizon:]))
    expected = float(np.mean(result.forecast))
    peak = int(np.argmax(result.forecast))
    rise = expected - recent
    return Hotspot(
        district=district,
        service=service,
        recent_weekly=recent,
        expected_weekly=expected,
        expected_lo80=float(np.mean(result.lo80)),
        expected_hi80=float(np.mean(result.hi80)),
        rise=rise,
        rise_relative=rise / recent if recent >= MIN_WEEKLY_VOLUME else None,
        peak_week=result.weeks[peak],
        peak_forecast=float(result.forecast[peak]),
        peak_lo80=float(result.lo80[peak]),
        peak_hi80=float(result.hi80[peak]),
        history_weeks=len(series.weeks),
        method=result.method,
    )


def series_view(
    session: Session,
    principal: Principal,
    district: str,
    service: str,
    *,
    horizon: int = 13,
    as_of: date | None = None,
) -> SeriesView:
    """The weekly history of one district × service and its forecast with the 80 % interval."""
    _check_horizon(horizon)
    district = district.strip()
    if len(district) != DISTRICT_DIGITS or not district.isdigit():
        raise BadForecastRequest(f"district must be a 6-digit district code, not {district!r}")
    jurisdiction = principal.jurisdiction
    missing = SeriesNotFound(f"no demand for {service!r} in district {district} in your area")
    # Inside the caller's area, or the district holding it (then only the caller's part
    # counts). Outside it the answer is the same 404 as for no data: nothing leaks.
    if not (within(district, jurisdiction) or within(jurisdiction, district)):
        raise missing
    until = last_complete_week(as_of)
    found = weekly_series(_arrivals(session, principal, district), until)
    series = found.get((district, service))
    if series is None:
        raise missing
    result = forecast_series(series.weeks, series.values, horizon)
    return SeriesView(district, service, series, result)

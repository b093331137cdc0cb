"""Generated weekly demand with a Spring Festival effect, for tests, the benchmark and demos.

Each series is simulated day by day and summed to weeks, so a festival that falls mid-week
splits its effect over two weeks as real demand does:

    rate(day) = level · (1 + trend)^(years) · solar(day) · festival(day − 春节) · weekday(day)
    value(week) = Poisson(Σ rate over the week's seven days)

``solar`` is a yearly cycle on the Gregorian calendar (two harmonics); ``festival`` is a
profile in days from the Spring Festival: a pre-festival surge (cross-province insurance
settlement, health certificates before the travel season 春运), a deep dip over the holiday and
a gradual return. Amplitudes and signs vary by series.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from carematch.forecasting.holidays import monday_of, spring_festival

YEAR_DAYS = 365.2425


def _festival_factor(gap: np.ndarray, surge: float, dip: float) -> np.ndarray:
    """Multiplier by days from the festival: surge before, dip during, recovery after."""
    factor = np.ones_like(gap, dtype=float)
    before = (gap >= -21) & (gap < -1)
    factor[before] += surge * np.sin(np.pi * (gap[before] + 21) / 20)
    holiday = (gap >= -1) & (gap <= 6)
    factor[holiday] *= 1 - dip
    after = (gap > 6) & (gap <= 20)
    factor[after] *= 1 - dip * (20 - gap[after]) / 14 * 0.6
    return factor


def spring_festival_series(
    n_series: int = 20,
    years: float = 4.0,
    *,
    seed: int = 0,
    end: date = date(2026, 6, 29),
    level: tuple[float, float] = (80.0, 600.0),
) -> pd.DataFrame:
    """Weekly series ``series_id, week, value`` ending on the Monday ``end`` (inclusive).

    Args:
        n_series: how many series.
        years: history length in years (rounded down to whole weeks).
        seed: random seed: same seed, same series.
        end: the last week (a Monday).
        level: range of the mean weekly demand.
    """
    rng = np.random.default_rng(seed)
    end = monday_of(end)
    weeks = int(years * 52)
    first = end - timedelta(weeks=weeks - 1)
    days = np.array([first + timedelta(days=i) for i in range(weeks * 7)])
    ordinal = np.array([d.toordinal() for d in days], dtype=float)
    t_years = (ordinal - ordinal[0]) / YEAR_DAYS
    angle = 2 * np.pi * (ordinal - date(2000, 1, 1).toordinal()) / YEAR_DAYS
    # Nearest festival for every day (this year's or next year's).
    gap = np.empty(days.size)
    for i, d in enumerate(days):
        gaps = [(d - spring_festival(y)).days for y in (d.year, d.year + 1)]
        gap[i] = min(gaps, key=abs)
    weekday = np.array([d.weekday() for d in days])
    frames = []
    for s in range(n_series):
        base = rng.uniform(*level) / 7
        trend = rng.uniform(-0.05, 0.15)
        a1, a2 = rng.uniform(0.05, 0.25), rng.uniform(0.0, 0.1)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        solar = 1 + a1 * np.sin(angle + p1) + a2 * np.sin(2 * angle + p2)
        surge = rng.uniform(0.2, 0.8)
        dip = rng.uniform(0.3, 0.7)
        festival = _festival_factor(gap, surge, dip)
        week_shape = np.where(weekday >= 5, 0.6, 1.1)
        rate = base * (1 + trend) ** t_years * solar * festival * week_shape
        noise = rng.lognormal(0.0, 0.04, size=weeks)  # extra-Poisson variation, week to week
        weekly = rate.reshape(weeks, 7).sum(axis=1) * noise
        values = rng.poisson(weekly)
        frames.append(
            pd.DataFrame(
                {
                    "series_id": f"S{s:03d}",
                    "week": days[::7],
                    "value": values.astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)

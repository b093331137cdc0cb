"""Weekly demand forecasts with intervals: the lunar-aligned profile model and its baselines.

Pure: plain weeks and values in, plain arrays out (no database, no web).

The default model, ``profile_ets``, de-seasonalises and re-seasonalises with a profile that
knows the lunar calendar:

1. On log(1 + value) (counts: effects are proportional), fit by least squares
   ``intercept + trend + yearly Fourier terms + Spring Festival week flags + holiday days``.
   The Fourier terms follow the solar year (period 365.2425 days, so no drift of a 52-week
   season); the festival terms follow the festival (see :mod:`.holidays`).
2. Subtract the seasonal and holiday part (not the trend) and fit statsforecast's AutoETS
   (level and trend, chosen by AICc) to what is left.
3. Forecast the adjusted series with its 80 % interval (widened by √(n / (n − p)) for the p
   profile parameters fitted to the same n weeks) and add the profile of the future weeks
   back; transform back to counts.

``arimax`` fits the same regressors jointly with the ARMA errors (statsforecast AutoARIMA with
exogenous regressors); it is as accurate on the generated series but about 100× slower, so it is
kept for comparison (bench/bench_demand_forecast.py). ``snaive`` (seasonal naive, 52 weeks) is
the baseline.

Short histories fall back gracefully (see :func:`choose_method`):
fewer than two seasons (104 weeks) drops the yearly Fourier terms (one year cannot separate a
yearly cycle from the trend), fewer than :data:`MIN_PROFILE_WEEKS` drops the holiday profile
too (plain AutoETS), and fewer than :data:`MIN_MODEL_WEEKS` uses the last value with an interval
from the week-to-week changes (or, with fewer than three weeks, a Poisson-sized one) Weeks
outside the years whose Spring Festival is known (2001-2049 with a year's margin) get plain
AutoETS too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from carematch.forecasting.holidays import FEATURES, FIRST_YEAR, LAST_YEAR, holiday_matrix

SEASON = 52
LEVEL = 80
Z80 = 1.2815515655446004
FOURIER_TERMS = 4
TWO_SEASONS = 2 * SEASON
MIN_PROFILE_WEEKS = 30
MIN_MODEL_WEEKS = 8
METHODS = ("auto", "profile_ets", "arimax", "snaive")
# Travel-season days are nearly the sum of the week flags -3…+3, so they are left out of the
# regression to keep it well conditioned; the flags carry the festival's shape.
_REGRESSORS = [FEATURES.index(name) for name in FEATURES if name != "chunyun_days"]


@dataclass(frozen=True)
class SeriesForecast:
    """Forecasts for the weeks after a series' last week, with the 80 % interval."""

    weeks: list[date]
    forecast: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    method: str


def future_weeks(last: date, horizon: int) -> list[date]:
    """The ``horizon`` Mondays after ``last``."""
    return [last + timedelta(weeks=k) for k in range(1, horizon + 1)]


def fourier(weeks: Sequence[date], terms: int = FOURIER_TERMS) -> np.ndarray:
    """Sine and cosine pairs of the solar year at each week's middle (Thursday)."""
    if terms == 0:
        return np.zeros((len(weeks), 0))
    day = np.array([w.toordinal() + 3 for w in weeks], dtype=float)
    angle = 2 * np.pi * day / 365.2425
    return np.column_stack([f(k * angle) for k in range(1, terms + 1) for f in (np.sin, np.cos)])


def regressors(weeks: Sequence[date], terms: int) -> np.ndarray:
    """The seasonal and holiday regressors of each week."""
    return np.column_stack([fourier(weeks, terms), holiday_matrix(list(weeks))[:, _REGRESSORS]])


def choose_method(n_weeks: int, method: str = "auto") -> str:
    """The method a history of ``n_weeks`` gets (``auto``: the best one it supports)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of: {', '.join(METHODS)}")
    if n_weeks < MIN_MODEL_WEEKS:
        return "naive"
    if method == "snaive":
        return "snaive" if n_weeks > SEASON else "naive"
    if n_weeks < MIN_PROFILE_WEEKS:
        return "ets"
    return "profile_ets" if method == "auto" else method


def forecast_series(
    weeks: Sequence[date],
    values: Sequence[float] | np.ndarray,
    horizon: int,
    method: str = "auto",
) -> SeriesForecast:
    """Forecast ``horizon`` weeks after the last of ``weeks`` (consecutive Mondays).

    Counts (no negative value) are modelled on the log scale and the forecast and interval are
    never negative; a series with negative values is modelled as is. Always
    ``lo80 <= forecast <= hi80``.

    Args:
        weeks: the Mondays of the history, consecutive, oldest first.
        values: one value per week.
        horizon: weeks to forecast (at least 1).
        method: ``auto`` (default), ``profile_ets``, ``arimax`` or ``snaive``.
    """
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    if not weeks or len(weeks) != len(values):
        raise ValueError("need one value per week and at least one week")
    y = np.asarray(values, dtype=float)
    try:
        ahead = future_weeks(weeks[-1], horizon)
    except OverflowError:
        raise ValueError(f"{horizon} weeks after {weeks[-1]} run past the calendar's end") from None
    chosen = choose_method(len(y), method)
    counts = bool(np.all(y >= 0))
    z = np.log1p(y) if counts else y
    if chosen in ("profile_ets", "arimax") and not _calendar_covers(weeks[0], ahead[-1]):
        # No Spring Festival dates for these years: the model without holiday terms.
        chosen = "ets (no holiday calendar for these years)"
    try:
        mean, lo, hi = _FITTERS[chosen](list(weeks), z, ahead, counts)
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError, FloatingPointError):
        # A degenerate history (constant, or a fit that does not converge): say so in the
        # method name and fall back to the last value.
        chosen = f"naive (after {chosen} failed)"
        mean, lo, hi = _naive(list(weeks), z, ahead, counts)
    if counts:
        mean, lo, hi = np.expm1(mean), np.expm1(lo), np.expm1(hi)
        mean, lo, hi = (np.maximum(a, 0.0) for a in (mean, lo, hi))
    lo, hi = np.minimum(lo, mean), np.maximum(hi, mean)
    return SeriesForecast(ahead, mean, lo, hi, chosen)


def _statsforecast(model: object, y: np.ndarray, h: int, **kw: np.ndarray) -> tuple:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.forecast(y, h, level=[LEVEL], **kw)  # type: ignore[attr-defined]
    mean, lo, hi = out["mean"], out[f"lo-{LEVEL}"], out[f"hi-{LEVEL}"]
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("the model gave non-finite forecasts")
    return mean, lo, hi


def _profile(weeks: list[date], z: np.ndarray, ahead: list[date]) -> tuple:
    """Least-squares seasonal and holiday profile of the history and of the future weeks."""
    terms = FOURIER_TERMS if len(z) >= TWO_SEASONS else 0
    past, future = regressors(weeks, terms), regressors(ahead, terms)
    trend = np.arange(len(z), dtype=float) / SEASON
    design = np.column_stack([np.ones(len(z)), trend, past])
    beta, *_ = np.linalg.lstsq(design, z, rcond=None)
    return past @ beta[2:], future @ beta[2:], past, future


def _profile_ets(weeks: list[date], z: np.ndarray, ahead: list[date], counts: bool) -> tuple:
    from statsforecast.models import AutoETS

    now, later, past, _ = _profile(weeks, z, ahead)
    mean, lo, hi = _statsforecast(AutoETS(season_length=1), z - now, len(ahead))
    # ETS measures its spread on what the profile left, after the profile's own parameters
    # were fitted to the same weeks: that spread is short by n / (n - p). Widening by its root
    # took the backtest coverage of the 80 % interval from 0.78 to 0.80.
    n, p = len(z), past.shape[1] + 2
    widen = math.sqrt(n / (n - p)) if n > p else 1.0
    lo, hi = mean - widen * (mean - lo), mean + widen * (hi - mean)
    return mean + later, lo + later, hi + later


def _arimax(weeks: list[date], z: np.ndarray, ahead: list[date], counts: bool) -> tuple:
    from statsforecast.models import AutoARIMA

    terms = FOURIER_TERMS if len(z) >= TWO_SEASONS else 0
    past, future = regressors(weeks, terms), regressors(ahead, terms)
    # Drop regressors that never vary in the history (a flag whose week never occurred):
    # they would make the regression singular.
    keep = np.ptp(past, axis=0) > 0
    return _statsforecast(
        AutoARIMA(season_length=1), z, len(ahead), X=past[:, keep], X_future=future[:, keep]
    )


def _ets(weeks: list[date], z: np.ndarray, ahead: list[date], counts: bool) -> tuple:
    from statsforecast.models import AutoETS

    return _statsforecast(AutoETS(season_length=1), z, len(ahead))


def _snaive(weeks: list[date], z: np.ndarray, ahead: list[date], counts: bool) -> tuple:
    from statsforecast.models import SeasonalNaive

    return _statsforecast(SeasonalNaive(season_length=SEASON), z, len(ahead))


def _naive(weeks: list[date], z: np.ndarray, ahead: list[date], counts: bool) -> tuple:
    """The last value; the interval widens with the square root of the horizon."""
    h = len(ahead)
    last = z[-1]
    if len(z) >= 3 and np.std(np.diff(z)) > 0:
        sigma = float(np.std(np.diff(z), ddof=1))
    elif counts:
        # Too little history to measure the spread: a Poisson count's, on the log scale.
        sigma = 1.0 / math.sqrt(max(float(np.expm1(last)), 1.0))
    else:
        sigma = max(abs(float(last)) * 0.1, 1.0)
    width = Z80 * sigma * np.sqrt(np.arange(1, h + 1))
    mean = np.full(h, last)
    return mean, mean - width, mean + width


def _calendar_covers(first: date, last: date) -> bool:
    return first.year > FIRST_YEAR and last.year < LAST_YEAR


_FITTERS = {
    "profile_ets": _profile_ets,
    "arimax": _arimax,
    "ets": _ets,
    "ets (no holiday calendar for these years)": _ets,
    "snaive": _snaive,
    "naive": _naive,
}

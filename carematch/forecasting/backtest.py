"""Rolling-origin backtests: forecast from several past origins and score against what came.

For each series and each origin ``o`` (the last origin leaves exactly ``horizon`` weeks after
it, earlier ones step back by ``step`` weeks), the model sees weeks ``[0, o)`` and forecasts
``[o, o + horizon)``. Scores are pooled over every series, origin and week:

- sMAPE, in percent: mean of ``2·|actual − forecast| / (|actual| + |forecast|)`` (0 when both
  are 0);
- coverage: the share of actual values inside the 80 % interval (ideally near 0.80).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from carematch.forecasting.forecast import forecast_series
from carematch.forecasting.series import WeeklySeries


def smape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Symmetric absolute percentage error of each point, in percent (0 where both are 0)."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    scale = np.abs(actual) + np.abs(forecast)
    safe = np.where(scale == 0, 1.0, scale)
    return np.where(scale == 0, 0.0, 200.0 * np.abs(actual - forecast) / safe)


@dataclass
class MethodScore:
    """One method's pooled backtest scores."""

    method: str
    smape: float
    coverage80: float
    seconds: float
    forecasts: int
    errors: list[float] = field(default_factory=list, repr=False)


def origins(n_weeks: int, horizon: int, count: int, step: int) -> list[int]:
    """Up to ``count`` origins, latest first, each leaving ``horizon`` weeks to score."""
    latest = n_weeks - horizon
    return [o for o in (latest - k * step for k in range(count)) if o > 0]


def backtest(
    series: Sequence[WeeklySeries],
    methods: Sequence[str] = ("auto", "snaive"),
    *,
    horizon: int = 26,
    count: int = 4,
    step: int = 13,
) -> dict[str, MethodScore]:
    """Score each method by rolling-origin backtest over every series.

    Args:
        series: the histories (consecutive weeks).
        methods: forecasting methods to compare (see :func:`forecast_series`).
        horizon: weeks forecast from each origin (13-26 is the app's range).
        count: origins per series.
        step: weeks between origins.
    """
    scores: dict[str, MethodScore] = {}
    for method in methods:
        errors: list[np.ndarray] = []
        inside: list[np.ndarray] = []
        spent = 0.0
        fits = 0
        for item in series:
            values = np.asarray(item.values, dtype=float)
            for origin in origins(len(values), horizon, count, step):
                actual = values[origin : origin + horizon]
                start = time.perf_counter()
                result = forecast_series(item.weeks[:origin], values[:origin], horizon, method)
                spent += time.perf_counter() - start
                fits += 1
                errors.append(smape(actual, result.forecast))
                inside.append((actual >= result.lo80) & (actual <= result.hi80))
        pooled = np.concatenate(errors) if errors else np.zeros(0)
        covered = np.concatenate(inside) if inside else np.zeros(0, dtype=bool)
        scores[method] = MethodScore(
            method=method,
            smape=float(pooled.mean()) if pooled.size else float("nan"),
            coverage80=float(covered.mean()) if covered.size else float("nan"),
            seconds=spent,
            forecasts=fits,
            errors=[float(e.mean()) for e in errors],
        )
    return scores


def improvement(model: MethodScore, baseline: MethodScore) -> float:
    """Relative sMAPE reduction of ``model`` over ``baseline`` (0.15 = 15 % lower)."""
    return 1.0 - model.smape / baseline.smape


def frame_to_series(frame: pd.DataFrame) -> list[WeeklySeries]:
    """A ``series_id, week, value`` DataFrame (consecutive weeks) as :class:`WeeklySeries`."""
    out = []
    for series_id, group in frame.groupby("series_id", sort=True):
        group = group.sort_values("week")
        out.append(
            WeeklySeries(str(series_id), list(group["week"]), group["value"].astype(float).tolist())
        )
    return out

"""The forecasting engine: shape and order of every forecast, and accuracy in backtests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.forecasting.backtest import backtest, frame_to_series, improvement, origins, smape
from carematch.forecasting.forecast import (
    MIN_MODEL_WEEKS,
    MIN_PROFILE_WEEKS,
    choose_method,
    forecast_series,
)
from carematch.forecasting.synthetic import spring_festival_series

START = date(2023, 1, 2)


def _weeks(n: int) -> list[date]:
    return [START + timedelta(weeks=k) for k in range(n)]


@settings(max_examples=30)
@given(
    values=st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=70),
    horizon=st.integers(min_value=1, max_value=30),
)
def test_every_count_forecast_is_ordered_non_negative_and_on_the_following_mondays(values, horizon):
    result = forecast_series(_weeks(len(values)), values, horizon)

    last = _weeks(len(values))[-1]
    assert result.weeks == [last + timedelta(weeks=k) for k in range(1, horizon + 1)]
    for array in (result.forecast, result.lo80, result.hi80):
        assert array.shape == (horizon,)
        assert np.all(np.isfinite(array))
        assert np.all(array >= 0)
    assert np.all(result.lo80 <= result.forecast)
    assert np.all(result.forecast <= result.hi80)


def test_a_series_with_negative_values_is_not_clipped():
    values = [-50.0 + (k % 7) for k in range(40)]
    result = forecast_series(_weeks(40), values, 5)
    assert np.all(result.forecast < 0)
    assert np.all(result.lo80 <= result.forecast) and np.all(result.forecast <= result.hi80)


def test_short_histories_fall_back_to_simpler_models():
    assert choose_method(1) == choose_method(MIN_MODEL_WEEKS - 1) == "naive"
    assert choose_method(MIN_MODEL_WEEKS) == "ets"
    assert choose_method(MIN_PROFILE_WEEKS) == "profile_ets"
    assert choose_method(60, "snaive") == "snaive"
    assert choose_method(40, "snaive") == "naive"  # no full season to repeat
    with pytest.raises(ValueError, match="unknown method"):
        choose_method(100, "prophet")


def test_a_single_week_still_forecasts_with_an_interval_around_it():
    result = forecast_series([START], [100.0], 4)
    assert np.allclose(result.forecast, 100.0)
    assert np.all(result.lo80 < 100.0) and np.all(result.hi80 > 100.0)
    # and the interval widens with the horizon
    assert np.all(np.diff(result.hi80 - result.lo80) > 0)


def test_smape_is_zero_when_exact_and_two_hundred_when_one_side_is_zero():
    assert smape(np.array([0.0, 5.0]), np.array([0.0, 5.0])).tolist() == [0.0, 0.0]
    assert smape(np.array([0.0]), np.array([3.0])).tolist() == [200.0]


def test_origins_step_back_from_the_last_full_horizon():
    assert origins(100, 26, 4, 13) == [74, 61, 48, 35]
    assert origins(30, 26, 4, 13) == [4]


def test_the_holiday_aware_model_beats_seasonal_naive_by_fifteen_percent():
    # Given seeded weekly series with trend, a yearly cycle and a lunar Spring Festival effect
    series = frame_to_series(spring_festival_series(6, 4.0, seed=11))

    # When both are backtested from four rolling origins, 26 weeks ahead
    scores = backtest(series, ("auto", "snaive"), horizon=26, count=4, step=13)

    # Then the model's sMAPE is at least 15 % below seasonal naive's
    assert scores["auto"].forecasts == scores["snaive"].forecasts == 24
    assert improvement(scores["auto"], scores["snaive"]) >= 0.15
    # and its 80 % interval covers roughly 80 % of what happened
    assert 0.65 <= scores["auto"].coverage80 <= 0.95


def test_the_festival_dip_moves_with_the_lunar_calendar_where_seasonal_naive_repeats_last_year():
    # Given series whose history ends in June 2026 (festival of 2026: 17 February)
    frame = spring_festival_series(4, 4.0, seed=21)
    hits = 0
    for series in frame_to_series(frame):
        # When both forecast 40 weeks, into the festival of 2027 (6 February)
        model = forecast_series(series.weeks, series.values, 40)
        naive = forecast_series(series.weeks, series.values, 40, "snaive")
        window = [k for k, w in enumerate(model.weeks) if date(2027, 1, 4) <= w <= date(2027, 3, 8)]
        low_model = model.weeks[min(window, key=lambda k: model.forecast[k])]
        low_naive = naive.weeks[min(window, key=lambda k: naive.forecast[k])]
        # Then the model's lowest week is the festival's (1 or 8 February 2027) and seasonal
        # naive's is 2026's festival week a year on (15 February)
        hits += low_model in (date(2027, 2, 1), date(2027, 2, 8))
        assert low_naive == date(2027, 2, 15)
    assert hits == 4


def test_years_beyond_the_festival_table_get_the_model_without_holiday_terms():
    weeks = [date(2049, 1, 4) + timedelta(weeks=k) for k in range(60)]
    result = forecast_series(weeks, [50 + k % 5 for k in range(60)], 8)
    assert result.method == "ets (no holiday calendar for these years)"
    assert np.all(result.lo80 <= result.forecast) and np.all(result.forecast <= result.hi80)

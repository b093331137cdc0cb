"""Abnormal-drop detection on indicator series: constructed cases and a seeded simulation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.indicators.anomaly import MIN_HISTORY, Point, detect, scan, simulate

CALM = [Point(v, 200) for v in (0.85, 0.84, 0.86, 0.85, 0.83, 0.86, 0.85, 0.84)]


def test_the_diabetes_management_rate_falling_from_85_to_70_percent_warns():
    drop = detect(CALM, Point(0.70, 200))
    assert drop is not None
    assert drop.baseline == 0.85 and drop.change < -0.14 and drop.score >= 4


def test_ordinary_noise_does_not_warn():
    assert detect(CALM, Point(0.82, 200)) is None
    assert detect(CALM, Point(0.95, 200)) is None  # a rise of a ">=" indicator is good news


def test_a_small_denominator_needs_a_bigger_drop():
    # 85 % → 72 % of 200 patients is far outside chance; of 20 patients it is two or three.
    assert detect(CALM, Point(0.72, 200)) is not None
    assert detect([Point(p.value, 20) for p in CALM], Point(0.72, 20)) is None


def test_an_indicator_that_should_be_low_warns_on_a_rise():
    hours = [Point(v) for v in (20.0, 22.0, 21.0, 19.0, 20.0, 21.0)]
    assert detect(hours, Point(40.0), higher_is_better=False, is_rate=False) is not None
    assert detect(hours, Point(12.0), higher_is_better=False, is_rate=False) is None


def test_counts_of_a_few_events_move_by_chance():
    complaints = [Point(float(v)) for v in (2, 1, 3, 2, 2, 1)]
    assert (
        detect(complaints, Point(5.0), higher_is_better=False, is_rate=False, is_count=True) is None
    )
    assert (
        detect(complaints, Point(14.0), higher_is_better=False, is_rate=False, is_count=True)
        is not None
    )


def test_too_short_a_history_never_warns():
    assert detect(CALM[: MIN_HISTORY - 1], Point(0.1, 200)) is None


def test_a_drop_just_too_small_for_one_month_is_caught_the_next():
    history = [Point(v, 150) for v in (0.80, 0.81, 0.79, 0.80, 0.80, 0.82, 0.79, 0.80)]
    first = Point(0.68, 150)
    assert detect(history, first) is None
    assert detect([*history, first], Point(0.69, 150)) is not None


@given(
    st.lists(st.floats(0.80, 0.83), min_size=MIN_HISTORY, max_size=14),
    st.floats(0.80, 0.83),
    st.integers(20, 100_000),
)
@settings(max_examples=150, deadline=None)
def test_a_change_smaller_than_the_minimum_never_warns(values, latest, denominator):
    # Every point within 3 points of 80-83 %: less than 5 % of any baseline, however many
    # patients make it certain.
    history = [Point(v, denominator) for v in values]
    assert detect(history, Point(latest, denominator)) is None


def test_scan_finds_the_month_of_the_drop():
    series = [*CALM, Point(0.70, 200), Point(0.71, 200)]
    assert scan(series)[0] == len(CALM)


def test_simulation_catches_injected_drops_and_rarely_warns_on_clean_series():
    """Acceptance (R-PL-5): ≥ 95 % of drops caught within one period, ≤ 5 % false warnings."""
    result = simulate(200, seed=20261123)
    assert result.detection_rate >= 0.95
    assert result.false_warning_rate <= 0.05

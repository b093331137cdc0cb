"""Property tests: the header's date arithmetic and the forecast's invariants."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.synth.dates import add_duration as synth_add_duration
from carematch.vaccination.forecast import (
    GivenDose,
    count_overdue,
    count_overdue_batch,
    forecast,
)
from carematch.vaccination.schedule import Duration, add_duration, add_months, default_schedule

SCHEDULE = default_schedule()
SERIES = {s.code: s for s in SCHEDULE.series}
CODES = list(SERIES)
LIVE = [s.code for s in SCHEDULE.series if s.live_injectable]

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))
durations = st.builds(Duration, st.integers(0, 20), st.integers(0, 40), st.integers(0, 400))


def _first_of_month_after(year: int, month0: int) -> date:
    """The 1st of the month after (year, zero-based month)."""
    return date(year + (month0 + 1) // 12, (month0 + 1) % 12 + 1, 1)


# --- date arithmetic -------------------------------------------------------------------------


@given(days, durations)
def test_adding_never_goes_back(d, dur):
    assert add_duration(d, dur) >= d


@given(days, days, durations)
def test_adding_is_monotone_in_the_start(a, b, dur):
    low, high = sorted((a, b))
    assert add_duration(low, dur) <= add_duration(high, dur)


@given(days)
def test_zero_is_the_identity(d):
    assert add_duration(d, Duration(0, 0, 0)) == d
    assert add_duration(d, Duration.parse("0d")) == d


@given(days, st.integers(0, 400))
def test_adding_months_lands_in_the_target_month_or_on_the_first_after_it(d, months):
    result = add_months(d, months)
    total = d.year * 12 + d.month - 1 + months
    year, month0 = divmod(total, 12)
    first_after = _first_of_month_after(year, month0)
    assert result <= first_after
    if d.day <= calendar.monthrange(year, month0 + 1)[1]:
        assert result == date(year, month0 + 1, d.day)
    else:
        assert result == first_after


@given(days, durations)
def test_days_are_added_last_as_plain_days(d, dur):
    without_days = add_duration(d, Duration(dur.years, dur.months, 0))
    assert add_duration(d, dur) == without_days + timedelta(days=dur.days)


@given(days, st.integers(0, 20), st.integers(0, 40))
def test_years_then_months_step_by_step(d, years, months):
    assert add_duration(d, Duration(years, months, 0)) == add_months(
        add_months(d, 12 * years), months
    )


@given(st.lists(days, min_size=1, max_size=20), durations)
def test_agrees_with_the_synthetic_citys_vectorised_arithmetic(starts, dur):
    # Two implementations of the same header: the generator's numpy one and the engine's.
    ours = [add_duration(d, dur) for d in starts]
    theirs = synth_add_duration(
        np.array(starts, dtype="datetime64[D]"), dur.years, dur.months, dur.days
    )
    assert ours == [date.fromisoformat(str(x)) for x in theirs]


# --- forecast invariants ---------------------------------------------------------------------


@st.composite
def people(draw):
    """A child (or adult), an assessment date and a history up to that date: random doses
    (mostly invalid) mixed with doses near their scheduled age (mostly valid)."""
    dob = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)))
    age_days = draw(st.integers(-60, 20 * 365))
    as_of = dob + timedelta(days=age_days)
    span = max(age_days, 0)
    history = draw(
        st.lists(
            st.builds(
                GivenDose,
                st.sampled_from([*CODES, "Flu"]),
                st.integers(-10, span).map(lambda n: dob + timedelta(days=n)),
            ),
            max_size=12,
        )
    )
    for series in SCHEDULE.series:
        for rule in series.doses:
            if draw(st.integers(0, 3)) == 0:
                continue  # missed
            late = draw(st.integers(-5, 90))
            history.append(GivenDose(series.code, add_duration(dob, rule.age) + timedelta(late)))
    return dob, as_of, [h for h in history if h.date <= as_of]


@settings(max_examples=200, deadline=None)
@given(people())
def test_statuses_agree_with_their_dates(person):
    dob, as_of, history = person
    result = forecast(SCHEDULE, dob, as_of, history)
    assert [e.series for e in result.entries] == CODES
    for entry in result.entries:
        series = SERIES[entry.series]
        if entry.status == "complete":
            assert entry.dose is None and entry.due_date is None and not entry.requires
            continue
        if entry.status == "not_recommended":
            assert as_of >= add_duration(dob, series.max_age)
            assert entry.dose is None and entry.due_date is None and not entry.requires
            continue
        assert as_of < add_duration(dob, series.max_age)
        assert entry.dose is not None and entry.due_date is not None
        rule = series.doses[entry.dose - 1]
        assert entry.due_date >= add_duration(dob, rule.age)
        overdue_age = add_duration(dob, rule.overdue_after)
        assert (entry.status == "overdue") == (as_of >= overdue_age)
        if entry.status == "due":
            assert entry.due_date <= as_of
        if entry.status == "upcoming":
            assert entry.due_date > as_of
    assert count_overdue(SCHEDULE, dob, as_of, history) == result.doses_overdue


@settings(max_examples=200, deadline=None)
@given(people())
def test_a_dose_on_its_future_due_date_moves_the_series_forward(person):
    dob, as_of, history = person
    before = forecast(SCHEDULE, dob, as_of, history)
    for entry in before.entries:
        if entry.due_date is None or entry.due_date < as_of:
            continue
        # Given on the due date, with nothing given since as_of
        later = forecast(
            SCHEDULE, dob, entry.due_date, [*history, GivenDose(entry.series, entry.due_date)]
        )
        after = next(e for e in later.entries if e.series == entry.series)
        assert (
            after.status == "complete"
            or after.dose == entry.dose + 1
            or (after.status == "not_recommended")
        ), (entry, after)
        assert (entry.series, entry.due_date) not in {(d.series, d.date) for d in later.invalid}


@settings(max_examples=200, deadline=None)
@given(people(), st.randoms(use_true_random=False))
def test_order_duplicates_and_unknown_series_change_nothing(person, rng):
    dob, as_of, history = person
    base = forecast(SCHEDULE, dob, as_of, history)
    shuffled = list(history) + list(history[:3])
    rng.shuffle(shuffled)
    noisy = [*shuffled, GivenDose("Rabies", dob)]
    other = forecast(SCHEDULE, dob, as_of, noisy)
    assert other.entries == base.entries
    assert [d for d in other.invalid if d.series != "Rabies"] == [
        d for d in base.invalid if d.series != "Rabies"
    ]


@settings(max_examples=200, deadline=None)
@given(people())
def test_invalid_doses_do_not_move_anything(person):
    # Removing the invalid doses of series outside the live-injectable rule (whose doses space
    # other series even when invalid) leaves every entry as it was.
    dob, as_of, history = person
    base = forecast(SCHEDULE, dob, as_of, history)
    dropped = {(d.series, d.date) for d in base.invalid if d.series not in LIVE}
    kept = [h for h in history if (h.series, h.date) not in dropped]
    assert forecast(SCHEDULE, dob, as_of, kept).entries == base.entries


@settings(max_examples=100, deadline=None)
@given(people(), st.integers(1, 3000))
def test_overdue_stays_overdue_until_not_recommended(person, later_by):
    dob, as_of, history = person
    now = forecast(SCHEDULE, dob, as_of, history)
    later = forecast(SCHEDULE, dob, as_of + timedelta(days=later_by), history)
    for a, b in zip(now.entries, later.entries, strict=True):
        if a.status == "overdue":
            assert b.status in ("overdue", "not_recommended")


@settings(max_examples=200, deadline=None)
@given(
    st.dates(min_value=date(2010, 1, 1), max_value=date(2030, 1, 1)),
    st.sampled_from([(a, b) for a in LIVE for b in LIVE if a != b]),
    st.integers(0, 60),
)
def test_live_injectables_are_28_days_apart_or_on_the_same_day(dob, pair, gap):
    first_day = dob + timedelta(days=2 * 365)  # old enough for every live series' first dose
    second_day = first_day + timedelta(days=gap)
    history = [GivenDose(pair[0], first_day), GivenDose(pair[1], second_day)]
    result = forecast(SCHEDULE, dob, second_day, history)
    refused = [(d.series, d.reason) for d in result.invalid]
    if gap == 0 or gap >= SCHEDULE.live_spacing.days:
        assert refused == []
    else:
        assert refused == [(pair[1], "live_spacing")]


@settings(max_examples=50, deadline=None)
@given(st.lists(people(), min_size=1, max_size=10), st.dates(date(2000, 1, 1), date(2040, 1, 1)))
def test_the_batch_counts_what_the_forecast_counts(persons, as_of):
    births = [p[0] for p in persons] + [None]
    texts = ["|".join(f"{h.series}:{h.date.isoformat()}" for h in p[2]) for p in persons] + [""]
    expected = [forecast(SCHEDULE, p[0], as_of, p[2]).doses_overdue for p in persons] + [0]
    assert count_overdue_batch(SCHEDULE, as_of, births, texts) == expected

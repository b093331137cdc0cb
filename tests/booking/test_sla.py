"""The SLA clock engine: breached iff no answer by start + limit; breaches found once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.booking import sla
from carematch.booking.sla import Clock, ClockState

T0 = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
HALF_HOUR = timedelta(minutes=30)

offsets = st.integers(min_value=0, max_value=4 * 24 * 3600)
limits = st.sampled_from([DAY, HALF_HOUR, timedelta(seconds=1), timedelta(hours=3)])


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@st.composite
def clocks(draw: st.DrawFn) -> Clock:
    start = at(draw(st.integers(min_value=0, max_value=24 * 3600)))
    limit = draw(limits)
    answered = draw(st.none() | offsets.map(at))
    voided = draw(st.none() | offsets.map(at))
    # A stop never precedes its clock's start.
    answered = answered if answered is None or answered >= start else start
    voided = voided if voided is None or voided >= start else start
    return Clock(start, limit, answered_at=answered, voided_at=voided)


def test_the_two_rules_of_the_issue():
    assert sla.rule(sla.DEMAND_RESPONSE).limit == timedelta(hours=24)
    assert sla.rule(sla.ONLINE_CONSULTATION).limit == timedelta(minutes=30)


def test_a_demand_answered_in_23_hours_is_met_and_one_left_25_hours_is_breached():
    met = Clock(T0, DAY, answered_at=T0 + timedelta(hours=23))
    late = Clock(T0, DAY)
    assert sla.state_at(met, T0 + timedelta(hours=30)) is ClockState.MET
    assert sla.state_at(late, T0 + timedelta(hours=23)) is ClockState.RUNNING
    assert sla.state_at(late, T0 + timedelta(hours=25)) is ClockState.BREACHED


def test_an_answer_exactly_at_the_deadline_is_in_time_and_a_second_later_is_not():
    on_time = Clock(T0, HALF_HOUR, answered_at=T0 + HALF_HOUR)
    late = Clock(T0, HALF_HOUR, answered_at=T0 + HALF_HOUR + timedelta(seconds=1))
    later = T0 + timedelta(hours=1)
    assert sla.state_at(on_time, later) is ClockState.MET
    assert sla.state_at(late, later) is ClockState.BREACHED
    # At the deadline itself, with no answer yet, the clock still runs.
    assert sla.state_at(Clock(T0, HALF_HOUR), T0 + HALF_HOUR) is ClockState.RUNNING


def test_a_cancellation_before_the_deadline_voids_the_clock_but_one_after_it_does_not():
    early = Clock(T0, HALF_HOUR, voided_at=T0 + timedelta(minutes=10))
    after = Clock(T0, HALF_HOUR, voided_at=T0 + timedelta(minutes=40))
    later = T0 + timedelta(hours=2)
    assert sla.state_at(early, later) is ClockState.VOID
    assert sla.state_at(after, later) is ClockState.BREACHED


def test_a_stop_recorded_after_now_is_not_known_at_now():
    clock = Clock(T0, HALF_HOUR, answered_at=T0 + timedelta(minutes=20))
    assert sla.state_at(clock, T0 + timedelta(minutes=10)) is ClockState.RUNNING


def test_clocks_refuse_naive_times_and_non_positive_limits():
    with pytest.raises(ValueError):
        Clock(datetime(2030, 1, 1), DAY)
    with pytest.raises(ValueError):
        Clock(T0, timedelta(0))
    with pytest.raises(ValueError):
        sla.state_at(Clock(T0, DAY), datetime(2030, 1, 3))


def test_the_limit_is_calendar_time_through_nights_and_weekends():
    friday_evening = datetime(2030, 5, 3, 10, 0, tzinfo=UTC)  # 18:00 city time
    clock = Clock(friday_evening, DAY)
    assert clock.deadline == datetime(2030, 5, 4, 10, 0, tzinfo=UTC)  # Saturday 18:00


@given(clocks(), offsets)
def test_breached_iff_no_answer_or_void_by_the_deadline(clock: Clock, now_offset: int):
    now = at(now_offset)
    deadline = clock.started_at + clock.limit
    stopped_in_time = any(
        stop is not None and stop <= deadline and stop <= now
        for stop in (clock.answered_at, clock.voided_at)
    )
    assert sla.is_breached(clock, now) == (now > deadline and not stopped_in_time)


@given(clocks(), offsets, offsets)
def test_a_breach_is_permanent(clock: Clock, first: int, extra: int):
    now = at(first)
    if sla.is_breached(clock, now):
        later = now + timedelta(seconds=extra)
        assert sla.is_breached(clock, later)
        assert sla.breach_time(clock, later) == clock.deadline


@given(st.integers(min_value=0, max_value=10 * 24 * 3600), limits, offsets)
def test_an_answer_by_the_deadline_is_never_a_breach(start_s: int, limit, now_s: int):
    start = at(start_s)
    answer = start + limit * 0.5
    clock = Clock(start, limit, answered_at=answer)
    assert not sla.is_breached(clock, at(now_s))


@given(
    st.lists(st.tuples(clocks(), st.booleans()), max_size=20),
    offsets,
    st.integers(min_value=0, max_value=48 * 3600),
)
def test_recomputing_breaches_is_idempotent(items, now_offset: int, later_by: int):
    now = at(now_offset)
    recorded: dict[int, datetime | None] = {
        i: (c.deadline if pre and sla.is_breached(c, now) else None)
        for i, (c, pre) in enumerate(items)
    }
    rows = [(i, c, recorded[i]) for i, (c, _) in enumerate(items)]
    first = sla.new_breaches(rows, now)
    # Every new breach is a clock breached now and not recorded before, at its deadline.
    assert set(first) == {
        i for i, (c, _) in enumerate(items) if sla.is_breached(c, now) and recorded[i] is None
    }
    assert all(first[i] == items[i][0].deadline for i in first)
    recorded.update(first)
    again = [(i, c, recorded[i]) for i, (c, _) in enumerate(items)]
    assert sla.new_breaches(again, now) == {}
    # Later, only clocks that were not yet breached can be new.
    later = sla.new_breaches(again, now + timedelta(seconds=later_by))
    assert not set(later) & {i for i in recorded if recorded[i] is not None}


def test_a_key_given_twice_is_refused():
    clock = Clock(T0, HALF_HOUR)
    with pytest.raises(ValueError):
        sla.new_breaches([("a", clock, None), ("a", clock, None)], T0 + DAY)


def test_limits_read_in_both_languages():
    assert sla.format_limit(DAY) == "24小时"
    assert sla.format_limit(HALF_HOUR) == "30分钟"
    assert sla.format_limit(DAY, "en") == "24 hours"
    assert sla.format_limit(timedelta(hours=1), "en") == "1 hour"

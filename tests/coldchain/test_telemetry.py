"""Temperature alarms: the issue's acceptance series, irregular sampling, streaming, recalls."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.coldchain.errors import TelemetryInputRejected
from carematch.coldchain.telemetry import (
    DEFAULT_RULES,
    Alarm,
    AlarmKind,
    AlarmMonitor,
    AlarmRules,
    Dose,
    ExcursionWindow,
    LotStay,
    Reading,
    evaluate,
    excursion_windows,
    lots_exposed,
    recall_list,
)

T0 = datetime(2025, 7, 1, 6, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def hold(celsius: float, start: datetime, duration: timedelta, every: timedelta) -> list[Reading]:
    """Readings of one temperature from ``start`` to ``start + duration`` inclusive."""
    steps = int(duration / every)
    assert start + steps * every == start + duration, "duration must be a multiple of every"
    return [Reading(start + i * every, celsius) for i in range(steps + 1)]


def excursion(celsius: float, duration: timedelta, every: timedelta = MIN) -> list[Reading]:
    """Two hours at 5 °C every 5 min, the excursion, then two hours at 5 °C again."""
    before = hold(5.0, T0, 2 * HOUR - 5 * MIN, 5 * MIN)
    start = T0 + 2 * HOUR
    out = hold(celsius, start, duration, every)
    after_start = out[-1].at + 5 * MIN
    return before + out + hold(5.0, after_start, 2 * HOUR, 5 * MIN)


# --- the acceptance series --------------------------------------------------------


def test_9h59_above_8c_raises_nothing() -> None:
    assert evaluate(excursion(8.1, 9 * HOUR + 59 * MIN)) == []


def test_10h_above_8c_raises_one_heat_alarm() -> None:
    alarms = evaluate(excursion(8.1, 10 * HOUR))
    start = T0 + 2 * HOUR
    assert alarms == [Alarm(AlarmKind.HEAT, start, start + 10 * HOUR, 8.1)]


def test_59_min_at_minus_half_a_degree_raises_nothing() -> None:
    assert evaluate(excursion(-0.5, 59 * MIN)) == []


def test_60_min_at_minus_half_a_degree_raises_one_freeze_alarm() -> None:
    alarms = evaluate(excursion(-0.5, 60 * MIN))
    start = T0 + 2 * HOUR
    assert alarms == [Alarm(AlarmKind.FREEZE, start, start + HOUR, -0.5)]


def test_a_data_gap_raises_no_data() -> None:
    before = hold(5.0, T0, 3 * HOUR, 5 * MIN)
    after = hold(5.0, before[-1].at + 3 * HOUR, HOUR, 5 * MIN)
    alarms = evaluate(before + after)
    last = before[-1].at
    assert alarms == [Alarm(AlarmKind.NO_DATA, last, last + DEFAULT_RULES.no_data_after)]


def test_the_no_data_gap_is_configurable() -> None:
    before = hold(5.0, T0, HOUR, 5 * MIN)
    after = hold(5.0, before[-1].at + 90 * MIN, HOUR, 5 * MIN)
    assert [a.kind for a in evaluate(before + after)] == [AlarmKind.NO_DATA]
    patient = AlarmRules(no_data_after=2 * HOUR)
    assert evaluate(before + after, patient) == []
    late = hold(5.0, before[-1].at + 2 * HOUR, HOUR, 5 * MIN)
    assert [a.kind for a in evaluate(before + late, patient)] == [AlarmKind.NO_DATA]
    # Just under the limit: nothing.
    almost = hold(5.0, before[-1].at + 59 * MIN, HOUR, 5 * MIN)
    assert evaluate(before + almost) == []


# --- one excursion, one alarm ----------------------------------------------------------------


def test_one_long_excursion_raises_one_alarm_not_one_per_reading() -> None:
    readings = excursion(12.0, 30 * HOUR, every=5 * MIN)
    alarms = evaluate(readings)
    assert [a.kind for a in alarms] == [AlarmKind.HEAT]
    [window] = excursion_windows(readings)
    assert window.duration == 30 * HOUR
    assert window.alarm_at - window.start == 10 * HOUR


def test_two_excursions_raise_two_alarms() -> None:
    first = hold(9.0, T0, 11 * HOUR, 10 * MIN)
    cool = hold(4.0, first[-1].at + 10 * MIN, 30 * MIN, 10 * MIN)
    second = hold(9.0, cool[-1].at + 10 * MIN, 10 * HOUR, 10 * MIN)
    alarms = evaluate(first + cool + second)
    assert [(a.kind, a.since) for a in alarms] == [
        (AlarmKind.HEAT, first[0].at),
        (AlarmKind.HEAT, second[0].at),
    ]


def test_exactly_at_the_limits() -> None:
    # 8 °C is not above 8 °C; −0.49 °C is not at or below −0.5 °C.
    assert evaluate(excursion(8.0, 12 * HOUR)) == []
    assert evaluate(excursion(-0.49, 2 * HOUR)) == []
    assert [a.kind for a in evaluate(excursion(-3.0, 2 * HOUR))] == [AlarmKind.FREEZE]


# --- "continuously" with irregular sampling ------------------------------------------------


def test_one_reading_in_range_ends_the_run() -> None:
    hot = hold(9.0, T0, 5 * HOUR, 30 * MIN)
    dip = [Reading(hot[-1].at + 30 * MIN, 7.5)]
    hot_again = hold(9.0, dip[0].at + 30 * MIN, 5 * HOUR, 30 * MIN)
    # 10.5 h from the first to the last warm reading, but not continuously.
    assert evaluate(hot + dip + hot_again) == []


def test_duration_counts_from_first_to_last_reading_beyond_the_limit() -> None:
    # Warm at 06:00, back in range at 16:00: no reading shows it was warm after 06:00.
    assert (
        evaluate(
            [Reading(T0, 9.0), Reading(T0 + 10 * HOUR, 5.0)], AlarmRules(no_data_after=11 * HOUR)
        )
        == []
    )
    # Warm at 06:00 and at 16:00 with nothing in between: both ends observed warm, and nothing
    # shows it recovered, so the run stands; the silence raises its own alarm.
    alarms = evaluate([Reading(T0, 9.0), Reading(T0 + 10 * HOUR, 9.5)])
    assert alarms == [
        Alarm(AlarmKind.NO_DATA, T0, T0 + HOUR),
        Alarm(AlarmKind.HEAT, T0, T0 + 10 * HOUR, 9.5),
    ]


def test_sparse_irregular_readings() -> None:
    offsets = [0, 17, 95, 160, 230, 299, 340, 410, 480, 530, 599, 600]  # minutes
    readings = [Reading(T0 + m * MIN, 8.5) for m in offsets]
    alarms = evaluate(readings, AlarmRules(no_data_after=2 * HOUR))
    assert alarms == [Alarm(AlarmKind.HEAT, T0, T0 + 600 * MIN, 8.5)]
    assert evaluate(readings[:-1], AlarmRules(no_data_after=2 * HOUR)) == []


# --- windows -----------------------------------------------------------------------------------


def test_windows_run_from_the_first_reading_beyond_to_the_first_back_in_range() -> None:
    readings = excursion(10.0, 11 * HOUR, every=30 * MIN)
    [window] = excursion_windows(readings)
    start = T0 + 2 * HOUR
    assert window == ExcursionWindow(
        AlarmKind.HEAT,
        start,
        start + 11 * HOUR,
        start + 11 * HOUR + 5 * MIN,
        start + 10 * HOUR,
        10.0,
    )
    # An excursion still going on at the end of the data (the 25 cool readings after it cut
    # off) has an open window.
    [open_window] = excursion_windows(readings[:-25])
    assert open_window.end is None and open_window.start == start
    # Excursions that never reach the alarm are not windows.
    assert excursion_windows(excursion(10.0, 9 * HOUR)) == []


def test_the_window_keeps_the_extreme_reading() -> None:
    temps = [9.0, 14.5, 11.0, 9.5]
    readings = [Reading(T0 + i * 4 * HOUR, t) for i, t in enumerate(temps)]
    [window] = excursion_windows(readings, AlarmRules(no_data_after=5 * HOUR))
    assert window.extreme_c == 14.5
    cold = [Reading(T0 + i * 30 * MIN, t) for i, t in enumerate([-1.0, -4.0, -2.0, 3.0])]
    [window] = excursion_windows(cold)
    assert (window.kind, window.extreme_c, window.end) == (AlarmKind.FREEZE, -4.0, cold[-1].at)


# --- streaming ---------------------------------------------------------------------------------


def test_polling_raises_a_silence_once() -> None:
    monitor = AlarmMonitor()
    monitor.feed(hold(5.0, T0, HOUR, 5 * MIN))
    last = T0 + HOUR
    assert monitor.poll(last + 59 * MIN) == []
    assert monitor.poll(last + HOUR) == [Alarm(AlarmKind.NO_DATA, last, last + HOUR)]
    assert monitor.poll(last + 5 * HOUR) == []
    # The late reading does not raise the same silence again.
    assert monitor.feed([Reading(last + 6 * HOUR, 5.0)]) == []
    assert [a.kind for a in monitor.alarms] == [AlarmKind.NO_DATA]


def test_a_device_silent_since_it_was_installed() -> None:
    monitor = AlarmMonitor(watching_since=T0)
    assert monitor.poll(T0 + 3 * HOUR) == [Alarm(AlarmKind.NO_DATA, T0, T0 + HOUR)]
    assert evaluate([Reading(T0 + 2 * HOUR, 5.0)], watching_since=T0) == [
        Alarm(AlarmKind.NO_DATA, T0, T0 + HOUR)
    ]
    assert evaluate([Reading(T0, 5.0)], watching_since=T0) == []
    assert evaluate([], now=T0 + HOUR, watching_since=T0) == [
        Alarm(AlarmKind.NO_DATA, T0, T0 + HOUR)
    ]


def test_bad_readings_are_refused() -> None:
    naive = datetime(2025, 7, 1, 6, 0)
    for readings in (
        [Reading(T0, 5.0), Reading(T0, 5.0)],
        [Reading(T0, 5.0), Reading(T0 - MIN, 5.0)],
        [Reading(naive, 5.0)],
        [Reading(T0, math.nan)],
        [Reading(T0, math.inf)],
    ):
        with pytest.raises(TelemetryInputRejected):
            evaluate(readings)
    with pytest.raises(TelemetryInputRejected):
        evaluate([Reading(T0, 5.0)], watching_since=T0 + MIN)
    with pytest.raises(TelemetryInputRejected):
        AlarmRules(heat_for=timedelta(0))
    with pytest.raises(TelemetryInputRejected):
        AlarmRules(freeze_at_or_below_c=9.0)


def test_tuples_and_time_zones_are_accepted() -> None:
    beijing = timezone(timedelta(hours=8))
    readings = [(T0.astimezone(beijing) + i * 30 * MIN, 9.0) for i in range(21)]
    [alarm] = evaluate(readings)
    assert alarm.kind is AlarmKind.HEAT and alarm.raised_at == T0 + 10 * HOUR


# --- properties --------------------------------------------------------------------------------

RULES = AlarmRules(no_data_after=3 * HOUR)

_temperature = st.one_of(
    st.sampled_from([-0.5, 8.0, 8.000001, -0.500001, 5.0]),
    st.floats(-4.0, -0.5),
    st.floats(-0.49, 8.0),
    st.floats(8.01, 14.0),
)


@st.composite
def series(draw: st.DrawFn, max_size: int = 120) -> list[Reading]:
    """Readings 1 min to 4 h apart, runs long and short, at and around the limits."""
    n = draw(st.integers(0, max_size))
    gaps = draw(st.lists(st.integers(1, 240), min_size=n, max_size=n))
    # Repeat temperatures so that runs are long enough to matter.
    temps = draw(st.lists(st.tuples(_temperature, st.integers(1, 40)), min_size=1, max_size=8))
    flat = list(itertools.chain.from_iterable([t] * k for t, k in temps))
    at, out = T0, []
    for i, gap in enumerate(gaps):
        at += gap * MIN
        out.append(Reading(at, flat[i % len(flat)]))
    return out


def reference(readings: list[Reading], rules: AlarmRules) -> list[Alarm]:
    """The rules applied to the whole series at once, straight from their definitions."""
    alarms = [
        Alarm(AlarmKind.NO_DATA, a.at, a.at + rules.no_data_after)
        for a, b in itertools.pairwise(readings)
        if b.at - a.at >= rules.no_data_after
    ]

    def kind(r: Reading) -> AlarmKind | None:
        if r.celsius > rules.heat_above_c:
            return AlarmKind.HEAT
        if r.celsius <= rules.freeze_at_or_below_c:
            return AlarmKind.FREEZE
        return None

    for k, group in itertools.groupby(readings, key=kind):
        run = list(group)
        limit = rules.heat_for if k is AlarmKind.HEAT else rules.freeze_for
        if k is not None:
            hit = next((r for r in run if r.at - run[0].at >= limit), None)
            if hit is not None:
                alarms.append(Alarm(k, run[0].at, hit.at, hit.celsius))
    return sorted(alarms, key=lambda a: (a.raised_at, a.kind != AlarmKind.NO_DATA))


@settings(max_examples=150, deadline=None)
@given(series())
def test_alarms_follow_the_rules_as_defined(readings: list[Reading]) -> None:
    assert evaluate(readings, RULES) == reference(readings, RULES)


@settings(max_examples=150, deadline=None)
@given(series(), st.data())
def test_feeding_in_chunks_equals_feeding_whole(
    readings: list[Reading], data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(readings)), max_size=6), label="cuts"))
    whole = AlarmMonitor(RULES)
    whole.feed(readings)
    chunked = AlarmMonitor(RULES)
    raised: list[Alarm] = []
    for lo, hi in itertools.pairwise([0, *cuts, len(readings)]):
        raised += chunked.feed(readings[lo:hi])
    assert raised == list(chunked.alarms) == list(whole.alarms)
    assert chunked.windows() == whole.windows()


@settings(max_examples=150, deadline=None)
@given(series(), st.lists(st.tuples(st.integers(0, 10**6), st.floats(-0.49, 8.0)), max_size=40))
def test_adding_in_range_readings_never_creates_an_alarm(
    readings: list[Reading], extra: list[tuple[int, float]]
) -> None:
    if not readings:
        return
    # Inside the series: a reading before its start would open a silence that was not there.
    first = readings[0].at
    span = int((readings[-1].at - first).total_seconds())
    taken = {r.at for r in readings}
    added = {
        first + timedelta(seconds=s % (span + 1)): Reading(
            first + timedelta(seconds=s % (span + 1)), c
        )
        for s, c in extra
    }
    more = sorted(
        [*readings, *(r for at, r in added.items() if at not in taken)], key=lambda r: r.at
    )
    before, after = evaluate(readings, RULES), evaluate(more, RULES)
    # No kind of alarm appears that was not there …
    assert {a.kind for a in after} <= {a.kind for a in before}
    # … and every excursion left is part of one that had raised its alarm already.
    for window in excursion_windows(more, RULES):
        assert any(
            w.kind == window.kind
            and w.start <= window.start
            and window.last_beyond <= w.last_beyond
            for w in excursion_windows(readings, RULES)
        )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 59), st.floats(-0.49, 8.0)), max_size=200))
def test_in_range_readings_without_gaps_raise_nothing(steps: list[tuple[int, float]]) -> None:
    at, readings = T0, []
    for minutes, celsius in steps:
        at += minutes * MIN
        readings.append(Reading(at, celsius))
    assert evaluate(readings) == []


# --- exposed lots and the recall list ----------------------------------------------------------


def _fridge_excursion() -> list[ExcursionWindow]:
    """Fridge F1 warm from 10:00 (first warm reading) until a cool reading at 22:05."""
    cool = hold(5.0, T0, 4 * HOUR - 5 * MIN, 5 * MIN)  # 06:00 … 09:55
    warm = hold(11.0, T0 + 4 * HOUR, 12 * HOUR, 5 * MIN)  # 10:00 … 22:00
    back = hold(5.0, T0 + 16 * HOUR + 5 * MIN, HOUR, 5 * MIN)  # 22:05 …
    return excursion_windows(cool + warm + back)


def test_lots_inside_during_the_excursion_are_exposed() -> None:
    [window] = _fridge_excursion()
    ten, five_past_ten_pm = T0 + 4 * HOUR, T0 + 16 * HOUR + 5 * MIN
    assert (window.start, window.end) == (ten, five_past_ten_pm)
    stays = [
        LotStay("A", "F1", T0, ten + HOUR),  # in at the start
        LotStay("B", "F1", five_past_ten_pm, None),  # arrived as it was cool again
        LotStay("C", "F1", T0, ten),  # left as the first warm reading came
        LotStay("D", "F2", T0, None),  # another fridge
        LotStay("E", "F1", T0 + 3 * HOUR, None),  # still there
        LotStay("F", "F1", five_past_ten_pm - MIN, T0 + 20 * HOUR),  # in for the last minute
    ]
    exposed = lots_exposed({"F1": [window], "F2": []}, stays)
    assert [(e.lot_id, e.location_id) for e in exposed] == [("A", "F1"), ("E", "F1"), ("F", "F1")]
    assert all(e.window == window for e in exposed)


def test_an_excursion_still_going_on_exposes_every_later_arrival() -> None:
    warm = hold(11.0, T0, 12 * HOUR, 30 * MIN)
    [window] = excursion_windows(warm)
    assert window.end is None
    stays = [LotStay("late", "box-7", T0 + 30 * HOUR), LotStay("gone", "box-7", T0 - HOUR, T0)]
    assert [e.lot_id for e in lots_exposed({"box-7": [window]}, stays)] == ["late"]


def test_the_recall_list_is_exactly_the_people_dosed_from_exposed_lots() -> None:
    [window] = _fridge_excursion()
    stays = [
        LotStay("A", "F1", T0, T0 + 5 * HOUR),
        LotStay("B", "F1", T0 + 17 * HOUR),
        LotStay("E", "F1", T0 + 3 * HOUR),
        LotStay("A", "F2", T0 + 5 * HOUR),  # lot A moved on to another fridge
    ]
    exposed = lots_exposed({"F1": [window]}, stays)
    doses = [
        Dose("p1", "A", T0 + HOUR),  # before the excursion
        Dose("p2", "A", T0 + 30 * HOUR),  # after, from the other fridge
        Dose("p3", "B", T0 + 18 * HOUR),  # lot never exposed
        Dose("p4", "E", T0 + 20 * HOUR),
        Dose("p5", "Z", T0 + 20 * HOUR),  # a lot nobody stored
        Dose("p2", "E", T0 + 31 * HOUR),  # a second dose of p2
    ]
    recall = recall_list(exposed, doses)
    assert sorted({e.person_id for e in recall}) == ["p1", "p2", "p4"]
    assert [(e.person_id, e.lot_id, e.after_exposure) for e in recall] == [
        ("p1", "A", False),
        ("p2", "A", True),
        ("p2", "E", True),
        ("p4", "E", True),
    ]
    assert recall_list([], doses) == []

"""Temperature excursion alarms (温度超标报警) for a vaccine fridge or a transport box.

Vaccines are kept between +2 °C and +8 °C. A device reports readings ``(time, °C)`` at whatever
rhythm it has; this engine turns them into alarms and excursion windows, and the windows into
the lots that were inside and the people dosed from them (the recall list, 召回名单).

**Rules** (``AlarmRules``; the defaults are the programme's):

- *heat*: above +8 °C (strictly) continuously for 10 h → one heat alarm;
- *freeze*: at or below −0.5 °C continuously for 60 min → one freeze alarm;
- *no data*: no reading for ``no_data_after`` (1 h by default; set it per device, well above
  its reporting interval) → one no-data alarm per silence.

**"Continuously" with irregular sampling.** An excursion is a *run*: a maximal sequence of
consecutive readings all beyond the limit. Its duration runs from the first reading of the run
to the last one: both ends are observed, so the duration is never more than the evidence shows
(a reading beyond the limit followed by one back in range proves nothing about the time in
between, and counts nothing). The alarm is raised by the reading at which the duration first
reaches the limit (≥: exactly 10 h raises, 9 h 59 min does not). A run ends only at a reading
back in range; a silence inside a run does not end it (both sides of the gap were beyond the
limit and nothing shows it recovered), but raises its own no-data alarm. One run raises at most
one alarm of its kind, however long it lasts; a new alarm needs a new run.

**No data.** A silence is the time between consecutive readings (or from ``watching_since``,
when monitoring began, to the first reading, or from the last reading to ``now`` when
polling). A silence of at least ``no_data_after`` raises one no-data alarm, timed at the
instant the silence reached the limit; polling and the late reading never raise it twice.

**Excursion windows** are the runs that raised an alarm: from the first reading beyond the
limit (``start``) to the first reading back in range (``end``; ``None`` while it goes on). The
window reaches past the last reading beyond the limit to the next reading because until then
the last thing known is that the vaccine was out of range: for a recall, doubt counts as
exposure. Before ``start`` the last reading was in range, so that time does not count.

**Streaming.** ``AlarmMonitor`` keeps the state between calls, so feeding a series in chunks,
in order, gives exactly the alarms and windows of feeding it whole. Readings must come in
strictly increasing time, with time zones (a naive time is ambiguous across daylight saving
and across devices), and with finite temperatures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from carematch.coldchain.errors import TelemetryInputRejected


class AlarmKind(StrEnum):
    """What went wrong: too warm, too cold, or silent."""

    HEAT = "heat"
    FREEZE = "freeze"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class Reading:
    """One temperature reading of one device: when, and how warm in degrees Celsius."""

    at: datetime
    celsius: float


@dataclass(frozen=True)
class AlarmRules:
    """Thresholds and durations of the three alarms (configurable per device)."""

    heat_above_c: float = 8.0
    heat_for: timedelta = timedelta(hours=10)
    freeze_at_or_below_c: float = -0.5
    freeze_for: timedelta = timedelta(minutes=60)
    no_data_after: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.heat_above_c) and math.isfinite(self.freeze_at_or_below_c)):
            raise TelemetryInputRejected("alarm thresholds must be finite")
        if self.freeze_at_or_below_c >= self.heat_above_c:
            raise TelemetryInputRejected("the freeze limit must be below the heat limit")
        for name in ("heat_for", "freeze_for", "no_data_after"):
            if getattr(self, name) <= timedelta(0):
                raise TelemetryInputRejected(f"{name} must be a positive duration")


DEFAULT_RULES = AlarmRules()


@dataclass(frozen=True)
class Alarm:
    """An alarm raised once its rule was met.

    ``since`` is when the trouble began (the first reading of the excursion, or the last
    reading before the silence); ``raised_at`` is when the rule was met; ``celsius`` is the
    reading that raised a heat or freeze alarm (``None`` for no data).
    """

    kind: AlarmKind
    since: datetime
    raised_at: datetime
    celsius: float | None = None


@dataclass(frozen=True)
class ExcursionWindow:
    """An excursion that raised an alarm: the time the vaccine counts as exposed.

    From ``start`` (first reading beyond the limit) to ``end`` (first reading back in range,
    excluded; ``None`` while the excursion goes on). ``last_beyond`` is the last reading beyond
    the limit and ``extreme_c`` the warmest (heat) or coldest (freeze) reading of the run.
    """

    kind: AlarmKind
    start: datetime
    last_beyond: datetime
    end: datetime | None
    alarm_at: datetime
    extreme_c: float

    @property
    def duration(self) -> timedelta:
        """The observed duration: first to last reading beyond the limit."""
        return self.last_beyond - self.start

    def overlaps(self, since: datetime, until: datetime | None) -> bool:
        """Whether ``[since, until)`` (``until`` ``None``: still open) meets ``[start, end)``."""
        return (self.end is None or since < self.end) and (until is None or self.start < until)


@dataclass
class _Run:
    """A run of consecutive readings beyond one limit, still open."""

    start: datetime
    last: datetime
    extreme: float
    alarm_at: datetime | None = None


def _as_reading(value: Reading | tuple[datetime, float]) -> Reading:
    if isinstance(value, Reading):
        return value
    at, celsius = value
    return Reading(at, celsius)


def _check_aware(at: object, what: str) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise TelemetryInputRejected(f"{what} must be a datetime with a time zone")
    return at


@dataclass
class AlarmMonitor:
    """The alarm state of one device, fed readings in time order, chunk after chunk."""

    rules: AlarmRules = DEFAULT_RULES
    watching_since: datetime | None = None
    _alarms: list[Alarm] = field(default_factory=list, init=False, repr=False)
    _closed: list[ExcursionWindow] = field(default_factory=list, init=False, repr=False)
    _runs: dict[AlarmKind, _Run | None] = field(init=False, repr=False)
    # _last_at: the latest reading (strict order); _silent_since: where the current silence
    # began (the latest reading, or watching_since before the first one).
    _last_at: datetime | None = field(default=None, init=False, repr=False)
    _silent_since: datetime | None = field(default=None, init=False, repr=False)
    _silence_alarmed: bool = field(default=False, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._runs = {AlarmKind.HEAT: None, AlarmKind.FREEZE: None}
        if self.watching_since is not None:
            self._silent_since = _check_aware(self.watching_since, "watching_since")

    @property
    def alarms(self) -> tuple[Alarm, ...]:
        """Every alarm raised so far, in the order raised."""
        return tuple(self._alarms)

    @property
    def last_reading_at(self) -> datetime | None:
        """The time of the latest reading, ``None`` before the first."""
        return self._last_at

    def feed(self, readings: Iterable[Reading | tuple[datetime, float]]) -> list[Alarm]:
        """Take the next readings (strictly later than all before); return the alarms raised."""
        before = len(self._alarms)
        for value in readings:
            self._take(_as_reading(value))
        return self._alarms[before:]

    def poll(self, now: datetime) -> list[Alarm]:
        """Raise the no-data alarm of a silence still going on at ``now``, once."""
        _check_aware(now, "now")
        last = self._silent_since
        if last is None or self._silence_alarmed or now - last < self.rules.no_data_after:
            return []
        self._silence_alarmed = True
        alarm = Alarm(AlarmKind.NO_DATA, last, last + self.rules.no_data_after)
        self._alarms.append(alarm)
        return [alarm]

    def windows(self) -> list[ExcursionWindow]:
        """Every excursion that raised an alarm, ended or still going on, by start time."""
        found = list(self._closed)
        for kind, run in self._runs.items():
            if run is not None and run.alarm_at is not None:
                found.append(self._window(kind, run, None))
        return sorted(found, key=lambda w: (w.start, w.kind))

    def _take(self, reading: Reading) -> None:
        at = _check_aware(reading.at, f"reading {self._count}'s time")
        celsius = reading.celsius
        if isinstance(celsius, bool) or not isinstance(celsius, int | float):
            raise TelemetryInputRejected(f"reading {self._count} has no numeric temperature")
        if not math.isfinite(celsius):
            raise TelemetryInputRejected(f"reading {self._count} has a non-finite temperature")
        last = self._last_at
        if last is not None and at <= last:
            raise TelemetryInputRejected(
                f"reading {self._count} at {at.isoformat()} is not later than {last.isoformat()}"
            )
        silent = self._silent_since
        if last is None and silent is not None and at < silent:
            raise TelemetryInputRejected(f"reading {self._count} is before watching_since")
        self._count += 1
        gap = self.rules.no_data_after
        if silent is not None and at - silent >= gap and not self._silence_alarmed:
            self._alarms.append(Alarm(AlarmKind.NO_DATA, silent, silent + gap))
        self._last_at = self._silent_since = at
        self._silence_alarmed = False
        rules = self.rules
        self._step(AlarmKind.HEAT, at, celsius, celsius > rules.heat_above_c, rules.heat_for)
        self._step(
            AlarmKind.FREEZE,
            at,
            celsius,
            celsius <= rules.freeze_at_or_below_c,
            rules.freeze_for,
        )

    def _step(
        self, kind: AlarmKind, at: datetime, celsius: float, beyond: bool, limit: timedelta
    ) -> None:
        run = self._runs[kind]
        if not beyond:
            if run is not None and run.alarm_at is not None:
                self._closed.append(self._window(kind, run, at))
            self._runs[kind] = None
            return
        if run is None:
            run = self._runs[kind] = _Run(at, at, celsius)
        else:
            run.last = at
            run.extreme = (
                max(run.extreme, celsius) if kind is AlarmKind.HEAT else min(run.extreme, celsius)
            )
        if run.alarm_at is None and run.last - run.start >= limit:
            run.alarm_at = at
            self._alarms.append(Alarm(kind, run.start, at, celsius))

    @staticmethod
    def _window(kind: AlarmKind, run: _Run, end: datetime | None) -> ExcursionWindow:
        assert run.alarm_at is not None
        return ExcursionWindow(kind, run.start, run.last, end, run.alarm_at, run.extreme)


def evaluate(
    readings: Iterable[Reading | tuple[datetime, float]],
    rules: AlarmRules = DEFAULT_RULES,
    *,
    now: datetime | None = None,
    watching_since: datetime | None = None,
) -> list[Alarm]:
    """The alarms of a whole series (and, given ``now``, of the silence after its end)."""
    monitor = AlarmMonitor(rules, watching_since)
    monitor.feed(readings)
    if now is not None:
        monitor.poll(now)
    return list(monitor.alarms)


def excursion_windows(
    readings: Iterable[Reading | tuple[datetime, float]], rules: AlarmRules = DEFAULT_RULES
) -> list[ExcursionWindow]:
    """The excursions of a series that raised a heat or freeze alarm, by start time."""
    monitor = AlarmMonitor(rules)
    monitor.feed(readings)
    return monitor.windows()


@dataclass(frozen=True)
class LotStay:
    """A vaccine lot (批号) kept at one place (fridge or box) from ``arrived_at`` to ``left_at``.

    ``left_at`` is excluded, and ``None`` while the lot is still there.
    """

    lot_id: str
    location_id: str
    arrived_at: datetime
    left_at: datetime | None = None


@dataclass(frozen=True)
class LotExposure:
    """A lot that was at ``location_id`` during an excursion window there."""

    lot_id: str
    location_id: str
    window: ExcursionWindow


def lots_exposed(
    windows: Mapping[str, Iterable[ExcursionWindow]], stays: Iterable[LotStay]
) -> list[LotExposure]:
    """Every (lot, window) where the lot stayed at the window's location while it was open.

    ``windows`` maps a location (fridge or box) to its excursion windows. A stay
    ``[arrived_at, left_at)`` and a window ``[start, end)`` meet if they share any instant.
    """
    by_location = {location: list(found) for location, found in windows.items()}
    exposures = {
        LotExposure(stay.lot_id, stay.location_id, window)
        for stay in stays
        for window in by_location.get(stay.location_id, ())
        if window.overlaps(stay.arrived_at, stay.left_at)
    }
    return sorted(exposures, key=lambda e: (e.lot_id, e.location_id, e.window.start, e.window.kind))


@dataclass(frozen=True)
class Dose:
    """A dose given to a person from a lot (接种记录), as far as a recall needs it."""

    person_id: str
    lot_id: str
    administered_at: datetime


@dataclass(frozen=True)
class RecallEntry:
    """A dose on the recall list.

    ``after_exposure`` says whether it was given at or after the start of the lot's first
    exposure; doses before it are listed too (every person dosed from the lot is recalled, as
    the issue requires) but can be told apart.
    """

    person_id: str
    lot_id: str
    administered_at: datetime
    after_exposure: bool


def recall_list(exposures: Iterable[LotExposure], doses: Iterable[Dose]) -> list[RecallEntry]:
    """Every dose from an exposed lot, by person and time: the recall list."""
    first_exposed: dict[str, datetime] = {}
    for exposure in exposures:
        start = exposure.window.start
        known = first_exposed.get(exposure.lot_id)
        if known is None or start < known:
            first_exposed[exposure.lot_id] = start
    entries = [
        RecallEntry(d.person_id, d.lot_id, d.administered_at, d.administered_at >= exposed)
        for d in doses
        if (exposed := first_exposed.get(d.lot_id)) is not None
    ]
    return sorted(entries, key=lambda e: (e.person_id, e.administered_at, e.lot_id))

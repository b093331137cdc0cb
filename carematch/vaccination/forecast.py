"""The vaccination forecaster (接种预测): which dose of each series is next, when, and how late.

Follows the semantics in the schedule file's header literally (see
``carematch/data/nip_schedule.yaml``): given doses are walked in date order per series and each
is valid or invalid (too_young, too_soon, after_constraint, live_spacing); the next dose's due
date is the latest of its constraints; the status is complete, not_recommended, overdue, due or
upcoming. Every number comes from the :class:`~carematch.vaccination.schedule.Schedule`.

Where the header is silent this engine decides, and the tests pin each decision:

* A history entry whose series the schedule does not know is reported invalid with reason
  ``unknown_series`` and otherwise ignored (a registry may record vaccines outside the
  programme, such as influenza).
* A dose dated after ``as_of`` has not been given yet at the assessment date: it is reported
  invalid with reason ``after_as_of`` and otherwise ignored, so a forecast "as of" a past date
  is what a clinician would have seen that day.
* The same series recorded twice on the same day is one dose recorded twice (a registry
  duplicate, or the same dose in two merged source records): counted once, reported nowhere.
* A dose dated before the date of birth is ``too_young`` (it precedes DOB + min_age).
* Doses beyond the last dose of a completed series are neither valid nor invalid: they are
  ignored (the series is complete; the header's reasons do not describe them).
* When several rules fail, the reason reported is the first in the header's order: too_young,
  too_soon, after_constraint, live_spacing.
* The 28-day rule looks at every recorded dose of another live injectable series (valid or
  not: the vaccine was administered either way); "given within the last 28 days" in rule 4
  means ``dose + 28d > as_of``, i.e. the rule still binds on the assessment date.
* An ``after`` constraint looks at the other series' valid doses in the whole history up to
  ``as_of`` ("that dose of that series" is one fixed dose, whenever it was given).
* ``as_of`` before the date of birth is allowed (a forecast for an expected child): every
  rule applies unchanged, which makes every series upcoming.
* ``requires`` flags are reported only with a forecast (overdue, due, upcoming): a complete or
  not-recommended series has no next dose to check them for. The window is
  [DOB + from_age, DOB + to_age), half-open like ``max_age``.

Pure: plain values in, plain values out. Dates are handled as proleptic ordinals inside so that
the batch count (``doses_overdue`` for a whole city) stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Final, Literal

from carematch.vaccination.schedule import Duration, Schedule, add_duration

Status = Literal["complete", "not_recommended", "overdue", "due", "upcoming"]
Reason = Literal[
    "too_young", "too_soon", "after_constraint", "live_spacing", "unknown_series", "after_as_of"
]

COMPLETE: Final = "complete"
NOT_RECOMMENDED: Final = "not_recommended"
OVERDUE: Final = "overdue"
DUE: Final = "due"
UPCOMING: Final = "upcoming"


@dataclass(frozen=True, slots=True)
class GivenDose:
    """One dose as a registry records it: the series code and the day it was given."""

    series: str
    date: date


@dataclass(frozen=True, slots=True)
class InvalidDose:
    """A recorded dose that does not count, and why."""

    series: str
    date: date
    reason: Reason


@dataclass(frozen=True, slots=True)
class SeriesForecast:
    """The state of one series on the assessment date.

    ``dose`` and ``due_date`` are None when the series is complete or not recommended.
    """

    series: str
    status: Status
    dose: int | None = None
    due_date: date | None = None
    requires: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Forecast:
    """One entry per series of the schedule, in schedule order, and the doses that do not count."""

    entries: tuple[SeriesForecast, ...]
    invalid: tuple[InvalidDose, ...]

    @property
    def doses_overdue(self) -> int:
        """The feature ``doses_overdue``: how many series are overdue."""
        return sum(1 for e in self.entries if e.status == OVERDUE)


# --- the plan: the schedule with durations numbered, and per-date caches ---------------------


@dataclass(frozen=True, slots=True)
class _DosePlan:
    min_age: int  # ids into _Plan.durations, so that _Plan.plus can memoise per duration
    age: int
    min_interval: int | None
    overdue_after: int
    after: tuple[tuple[int, int | None, int], ...]  # (series position, dose number|None, interval)


@dataclass(frozen=True, slots=True)
class _SeriesPlan:
    code: str
    live_injectable: bool
    max_age: int
    doses: tuple[_DosePlan, ...]
    requires: tuple[tuple[str, int, int], ...]
    min_overdue: tuple[int, ...]  # overdue_after ids of every dose (for the count's early out)
    needs: tuple[int, ...]  # series this one's `after` constraints read, transitively


class _Plan:
    """A schedule compiled for the engine: durations numbered, day arithmetic memoised.

    Children born the same day share every DOB-based date, and doses cluster on few days, so
    caching ``day + duration`` per (duration, day) turns the month arithmetic into dict hits.
    """

    _CACHE_LIMIT = 2_000_000

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.durations: list[Duration] = []
        self._ids: dict[Duration, int] = {}
        self.live_spacing = self._id(schedule.live_spacing)
        codes = [s.code for s in schedule.series]
        series = []
        for s in schedule.series:
            doses = tuple(
                _DosePlan(
                    self._id(d.min_age),
                    self._id(d.age),
                    None if d.min_interval is None else self._id(d.min_interval),
                    self._id(d.overdue_after),
                    tuple((codes.index(a.series), a.dose, self._id(a.interval)) for a in d.after),
                )
                for d in s.doses
            )
            series.append(
                _SeriesPlan(
                    code=s.code,
                    live_injectable=s.live_injectable,
                    max_age=self._id(s.max_age),
                    doses=doses,
                    requires=tuple(
                        (r.flag, self._id(r.from_age), self._id(r.to_age)) for r in s.requires
                    ),
                    min_overdue=tuple(d.overdue_after for d in doses),
                    needs=(),
                )
            )
        self.series = tuple(_with_needs(series))
        self.order = schedule.evaluation_order
        self.positions = dict(schedule.positions)
        self._shift: list[dict[int, int]] = [{} for _ in self.durations]
        self._cached = 0

    def _id(self, duration: Duration) -> int:
        if duration not in self._ids:
            self._ids[duration] = len(self.durations)
            self.durations.append(duration)
        return self._ids[duration]

    def plus(self, day: int, duration: int) -> int:
        """Ordinal of ``day + durations[duration]`` under the header's calendar rule."""
        table = self._shift[duration]
        result = table.get(day)
        if result is None:
            result = add_duration(date.fromordinal(day), self.durations[duration]).toordinal()
            if self._cached >= self._CACHE_LIMIT:
                # A long-running server sees ever new days; start afresh rather than grow forever.
                for t in self._shift:
                    t.clear()
                self._cached = 0
            table[day] = result
            self._cached += 1
        return result


def _with_needs(series: list[_SeriesPlan]) -> list[_SeriesPlan]:
    """Each series with the series its `after` constraints depend on, directly or not: the
    count walks only what it needs, and an `after` target must be walked to be read."""
    direct = [{a[0] for d in s.doses for a in d.after} for s in series]
    out = []
    for i, s in enumerate(series):
        seen: set[int] = set()
        stack = list(direct[i])
        while stack:
            j = stack.pop()
            if j not in seen:
                seen.add(j)
                stack.extend(direct[j])
        out.append(replace(s, needs=tuple(sorted(seen))))
    return out


_PLANS: dict[int, _Plan] = {}


def _plan(schedule: Schedule) -> _Plan:
    # Keyed by identity: a schedule is loaded once and reused, and the plan keeps it alive.
    plan = _PLANS.get(id(schedule))
    if plan is None or plan.schedule is not schedule:
        plan = _Plan(schedule)
        _PLANS[id(schedule)] = plan
    return plan


# --- the walk --------------------------------------------------------------------------------


class _History:
    """A person's recorded doses grouped per schedule position, deduplicated, in date order."""

    __slots__ = ("by_series", "future", "live", "unknown")

    def __init__(self, plan: _Plan, as_of: int, doses: Iterable[tuple[str, int]]) -> None:
        by_series: list[set[int] | None] = [None] * len(plan.series)
        unknown: set[tuple[str, int]] = set()
        future: set[tuple[int, int]] = set()
        positions = plan.positions
        for code, day in doses:
            pos = positions.get(code)
            if pos is None:
                unknown.add((code, day))
            elif day > as_of:
                future.add((pos, day))
            else:
                bucket = by_series[pos]
                if bucket is None:
                    by_series[pos] = {day}
                else:
                    bucket.add(day)
        self.by_series = [sorted(b) if b else () for b in by_series]
        # Every recorded dose of a live injectable series up to as_of: the 28-day rule reads them.
        live = [
            (day, pos)
            for pos, days in enumerate(self.by_series)
            if days and plan.series[pos].live_injectable
            for day in days
        ]
        live.sort()
        self.live = live
        self.unknown = unknown
        self.future = future


def _last_other_live(live: list[tuple[int, int]], pos: int, before: int) -> int | None:
    """Latest recorded live-injectable dose of another series strictly before day ``before``."""
    for day, other in reversed(live):
        if day < before and other != pos:
            return day
    return None


def _after_reference(valid: list[list[int]], other: int, number: int | None) -> int | None:
    days = valid[other]
    if number is None:
        return days[-1] if days else None
    return days[number - 1] if len(days) >= number else None


def _walk_series(
    plan: _Plan,
    pos: int,
    dob: int,
    history: _History,
    valid: list[list[int]],
    invalid: list[tuple[int, int, Reason]] | None,
) -> None:
    """Fill ``valid[pos]`` (and ``invalid`` when asked) by the header's rule 1."""
    series = plan.series[pos]
    doses = series.doses
    plus = plan.plus
    mine: list[int] = []
    for day in history.by_series[pos]:
        k = len(mine) + 1
        if k > len(doses):
            break  # complete: further doses are neither valid nor invalid
        rule = doses[k - 1]
        reason: Reason | None = None
        if day < plus(dob, rule.min_age):
            reason = "too_young"
        elif rule.min_interval is not None and mine and day < plus(mine[-1], rule.min_interval):
            reason = "too_soon"
        else:
            for other, number, interval in rule.after:
                ref = _after_reference(valid, other, number)
                if ref is not None and day < plus(ref, interval):
                    reason = "after_constraint"
                    break
            if reason is None and series.live_injectable:
                last = _last_other_live(history.live, pos, day)
                if last is not None and day < plus(last, plan.live_spacing):
                    reason = "live_spacing"
        if reason is None:
            mine.append(day)
        elif invalid is not None:
            invalid.append((pos, day, reason))
    valid[pos] = mine


def _due(
    plan: _Plan, pos: int, dob: int, as_of: int, history: _History, valid: list[list[int]]
) -> int:
    """Rule 4: the latest of every constraint on the next dose."""
    series = plan.series[pos]
    mine = valid[pos]
    rule = series.doses[len(mine)]
    plus = plan.plus
    due = plus(dob, rule.age)
    if mine and rule.min_interval is not None:
        due = max(due, plus(mine[-1], rule.min_interval))
    for other, number, interval in rule.after:
        ref = _after_reference(valid, other, number)
        if ref is not None:
            due = max(due, plus(ref, interval))
    if series.live_injectable:
        last = _last_other_live(history.live, pos, as_of + 1)
        if last is not None:
            spaced = plus(last, plan.live_spacing)
            if spaced > as_of:  # that dose was given within the spacing window
                due = max(due, spaced)
    return due


def forecast(schedule: Schedule, dob: date, as_of: date, history: Iterable[GivenDose]) -> Forecast:
    """Forecast every series of ``schedule`` for a person born ``dob``, assessed on ``as_of``.

    One entry per series in schedule order, and the recorded doses that do not count with their
    reason (in schedule order, then date; unknown series last). See the module docstring for
    the cases the schedule header leaves open.
    """
    plan = _plan(schedule)
    dob_d, as_of_d = dob.toordinal(), as_of.toordinal()
    h = _History(plan, as_of_d, ((g.series, g.date.toordinal()) for g in history))
    valid: list[list[int]] = [[] for _ in plan.series]
    found: list[tuple[int, int, Reason]] = []
    for pos in plan.order:
        _walk_series(plan, pos, dob_d, h, valid, found)
    plus = plan.plus
    entries = []
    for pos, series in enumerate(plan.series):
        k = len(valid[pos]) + 1
        if k > len(series.doses):
            entries.append(SeriesForecast(series.code, COMPLETE))
            continue
        if as_of_d >= plus(dob_d, series.max_age):
            entries.append(SeriesForecast(series.code, NOT_RECOMMENDED))
            continue
        due = _due(plan, pos, dob_d, as_of_d, h, valid)
        status: Status
        if as_of_d >= plus(dob_d, series.doses[k - 1].overdue_after):
            status = OVERDUE
        elif due <= as_of_d:
            status = DUE
        else:
            status = UPCOMING
        requires = tuple(
            flag
            for flag, start, end in series.requires
            if plus(dob_d, start) <= as_of_d < plus(dob_d, end)
        )
        entries.append(SeriesForecast(series.code, status, k, date.fromordinal(due), requires))
    for pos, day in h.future:
        found.append((pos, day, "after_as_of"))
    found.sort(key=lambda item: (item[0], item[1]))
    codes = [s.code for s in plan.series]
    invalid = [InvalidDose(codes[pos], date.fromordinal(day), reason) for pos, day, reason in found]
    invalid.extend(
        InvalidDose(code, date.fromordinal(day), "unknown_series")
        for code, day in sorted(h.unknown, key=lambda item: (item[1], item[0]))
    )
    return Forecast(tuple(entries), tuple(invalid))


def count_overdue(schedule: Schedule, dob: date, as_of: date, history: Iterable[GivenDose]) -> int:
    """``doses_overdue`` for one person: the number of series whose status is overdue.

    Equal to ``forecast(...).doses_overdue`` but skips the series that cannot be overdue on
    ``as_of`` (too young for any overdue age, or past the series' max age), which is most of
    them for most people.
    """
    plan = _plan(schedule)
    as_of_d = as_of.toordinal()
    return _count(plan, dob.toordinal(), as_of_d, ((g.series, g.date.toordinal()) for g in history))


def _count(plan: _Plan, dob: int, as_of: int, doses: Iterable[tuple[str, int]]) -> int:
    plus = plan.plus
    # Series that could be overdue today: past their earliest overdue age, before max age.
    candidates = [
        pos
        for pos, s in enumerate(plan.series)
        if as_of < plus(dob, s.max_age) and any(as_of >= plus(dob, o) for o in s.min_overdue)
    ]
    if not candidates:
        return 0
    history = _History(plan, as_of, doses)
    needed = set(candidates)
    for pos in candidates:
        needed.update(plan.series[pos].needs)
    valid: list[list[int]] = [[] for _ in plan.series]
    for pos in plan.order:
        if pos in needed:
            _walk_series(plan, pos, dob, history, valid, None)
    count = 0
    for pos in candidates:
        doses_plan = plan.series[pos].doses
        k = len(valid[pos]) + 1
        if k <= len(doses_plan) and as_of >= plus(dob, doses_plan[k - 1].overdue_after):
            count += 1
    return count


# --- the registry's text format --------------------------------------------------------------


def parse_registry_doses(text: str | None) -> tuple[list[GivenDose], list[str]]:
    """Read the immunization registry's ``doses`` column: ``HepB:2021-03-04|BCG:2021-03-04``.

    Returns the doses and the pieces that could not be read (kept so that a caller can show
    them: a dose silently dropped could make a child look overdue).
    """
    pairs, unreadable = _read_pieces(text, {})
    return [GivenDose(code, date.fromordinal(day)) for code, day in pairs], unreadable


def _read_pieces(
    text: str | None, days: dict[str, int | None]
) -> tuple[list[tuple[str, int]], list[str]]:
    """(series, ordinal) pairs and unreadable pieces; ``days`` memoises ISO date parsing."""
    pairs: list[tuple[str, int]] = []
    unreadable: list[str] = []
    if not text:
        return pairs, unreadable
    for piece in text.split("|"):
        code, colon, iso = piece.partition(":")
        code = code.strip()
        day = days.get(iso, -1)
        if day == -1:
            day = _read_day(iso)
            days[iso] = day
        if colon and code and day is not None:
            pairs.append((code, day))
        elif piece.strip():
            unreadable.append(piece.strip())
    return pairs, unreadable


def count_overdue_batch(
    schedule: Schedule,
    as_of: date,
    births: Sequence[date | None],
    doses: Sequence[str | None],
) -> list[int]:
    """``doses_overdue`` for many persons at once, from the registry's ``doses`` text.

    Why a dedicated batch: the profiling pipeline computes the feature for every person of a
    city. Adults and infants are decided from their date of birth alone; children share the
    per-day caches. A person with no date of birth counts 0 (nothing can be said), and pieces of
    text that cannot be read count as no dose.

    Args:
        schedule: the schedule to forecast with.
        as_of: the evaluation date, the same for everyone.
        births: each person's date of birth (None when unknown).
        doses: each person's doses in the registry format (None or "" for none); the texts of
            several records of one person may be joined with ``|``.

    Returns:
        One count per person, in input order.
    """
    if len(births) != len(doses):
        raise ValueError("births and doses must have the same length")
    plan = _plan(schedule)
    as_of_d = as_of.toordinal()
    days: dict[str, int | None] = {}
    out: list[int] = []
    for born, text in zip(births, doses, strict=True):
        if born is None:
            out.append(0)
            continue
        pairs, _ = _read_pieces(text, days)
        out.append(_count(plan, born.toordinal(), as_of_d, pairs))
    return out


def _read_day(iso: str) -> int | None:
    iso = iso.strip()
    if len(iso) != 10 or iso[4] != "-" or iso[7] != "-":
        return None
    try:
        return date.fromisoformat(iso).toordinal()
    except ValueError:
        return None

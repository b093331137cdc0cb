"""Immunization schedule files (免疫程序): load, validate, and the calendar arithmetic they define.

A schedule is data a health authority signs off, in the format of
``carematch/data/nip_schedule.yaml`` (its header states the semantics). This module turns the
file into frozen values with every duration parsed once, and refuses a malformed file with a
:class:`ScheduleError` that names the series, the dose and the problem, because a typo in a
clinical schedule must stop the forecaster rather than silently shift due dates.

Pure: no database, no web framework.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from carematch.vaccination.errors import ScheduleError

_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?")

LIVE_SPACING_DEFAULT = "28d"
"""The header's live-injectable rule: another live injectable waits this long (unless the file
sets ``live_spacing``). Kept as the header's text, parsed like any schedule duration."""


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A schedule duration (years, months, days), as in ``"1y6m"`` or ``"28d"``."""

    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: object) -> Duration:
        """Parse the file's notation: ``[Ny][Nm][Nd]``, at least one part, in that order.

        Raises:
            ValueError: when the text is not a duration (``"6 months"``, ``"1m1y"``, ``6``).
        """
        if not isinstance(text, str):
            raise ValueError(f"not a duration: {text!r} (write e.g. '28d', '6m', '1y6m')")
        match = _DURATION.fullmatch(text.strip())
        if match is None or not any(match.groups()):
            raise ValueError(f"not a duration: {text!r} (write e.g. '28d', '6m', '1y6m')")
        years, months, days = (int(g) if g else 0 for g in match.groups())
        return cls(years, months, days)

    def __str__(self) -> str:
        text = "".join(
            f"{n}{unit}"
            for n, unit in ((self.years, "y"), (self.months, "m"), (self.days, "d"))
            if n
        )
        return text or "0d"


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months; a day the target month lacks rolls to the next month's 1st.

    The header's rule (31 Jan + 1m = 1 Mar), not the usual clamp to the month end (28 Feb):
    a dose can never fall due before the child is as old as the schedule says.
    """
    total = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    if start.day <= calendar.monthrange(year, month)[1]:
        return date(year, month, start.day)
    # Only a month shorter than 31 days can lack the day, and none of those is December.
    return date(year, month + 1, 1)


def add_duration(start: date, duration: Duration) -> date:
    """``start + duration`` as the header defines it: years, then months, then days.

    Each step rolls on its own, so 29 Feb 2024 + 1y = 1 Mar 2025, and 29 Feb 2024 + 1y1m is
    that 1 Mar plus a month (1 Apr 2025), not 29 Mar 2025.

    Raises:
        OverflowError / ValueError: when the result lies beyond year 9999.
    """
    day = start
    if duration.years:
        day = add_months(day, 12 * duration.years)
    if duration.months:
        day = add_months(day, duration.months)
    if duration.days:
        day = day + timedelta(days=duration.days)
    return day


@dataclass(frozen=True, slots=True)
class After:
    """Dose k of this series may not precede ``dose`` (a number, or None for the last valid
    dose) of ``series`` plus ``interval``; void while that series has no such valid dose."""

    series: str
    dose: int | None
    interval: Duration


@dataclass(frozen=True, slots=True)
class DoseRule:
    """One dose of a series: recommended age, minimum age, spacing and overdue age."""

    number: int
    age: Duration
    min_age: Duration
    min_interval: Duration | None
    overdue_after: Duration
    after: tuple[After, ...] = ()
    product: str | None = None


@dataclass(frozen=True, slots=True)
class Requirement:
    """A flag (e.g. a negative TB skin test) the vaccinator must check while as_of lies in
    [DOB + from_age, DOB + to_age)."""

    flag: str
    from_age: Duration
    to_age: Duration


@dataclass(frozen=True, slots=True)
class Series:
    """One vaccine series (乙肝疫苗, 麻腮风疫苗 …) and its doses in order."""

    code: str
    name: str
    live: bool
    injectable: bool
    max_age: Duration
    doses: tuple[DoseRule, ...]
    requires: tuple[Requirement, ...] = ()

    @property
    def live_injectable(self) -> bool:
        """Whether the 28-day rule between live injectable vaccines applies to this series."""
        return self.live and self.injectable


@dataclass(frozen=True)
class Schedule:
    """A whole schedule: its series in file order (the order every forecast reports them)."""

    name: str
    series: tuple[Series, ...]
    live_spacing: Duration
    catch_up_max_age: Duration | None = None
    """Read and kept for display; the header gives it no rule, so the forecast ignores it (each
    series' own ``max_age`` decides when it is no longer recommended)."""
    evaluation_order: tuple[int, ...] = ()
    """Series positions ordered so that every ``after`` target is walked first."""
    positions: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {s.code: i for i, s in enumerate(self.series)})
        if not self.evaluation_order:
            order = _evaluation_order(self.series, [s.code for s in self.series], _Where(self.name))
            object.__setattr__(self, "evaluation_order", order)

    def position(self, code: str) -> int | None:
        """Index of the series called ``code`` in file order, or None when it is not here."""
        return self.positions.get(code)


# --- loading ---------------------------------------------------------------------------------

_TOP_KEYS = {"schedule", "catch_up_max_age", "live_spacing", "series"}
_SERIES_KEYS = {"code", "name", "live", "injectable", "max_age", "requires", "doses"}
_DOSE_KEYS = {"dose", "age", "min_age", "min_interval", "overdue_after", "after", "product"}
_AFTER_KEYS = {"series", "dose", "interval"}
_REQUIRES_KEYS = {"flag", "from_age", "to_age"}


def default_schedule() -> Schedule:
    """The demo city's schedule shipped in the package (``carematch/data/nip_schedule.yaml``)."""
    text = resources.files("carematch.data").joinpath("nip_schedule.yaml").read_text("utf-8")
    return parse_schedule(text, "nip_schedule.yaml")


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate a schedule file.

    Raises:
        ScheduleError: the file is missing, unreadable, not YAML, or breaks the format.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError(f"{path}: cannot read ({exc})") from None
    return parse_schedule(text, str(path))


def parse_schedule(text: str, origin: str = "<schedule>") -> Schedule:
    """Validate a schedule's YAML text and build the :class:`Schedule`.

    Raises:
        ScheduleError: naming the series and dose at fault and the problem.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScheduleError(f"{origin}: not valid YAML ({exc})") from None
    where = _Where(origin)
    top = _mapping(data, where, "the file")
    _no_unknown_keys(top, _TOP_KEYS, where)
    name = top.get("schedule")
    if not isinstance(name, str) or not name.strip():
        raise where.error("`schedule` (the schedule's name) is missing")
    raw_series = top.get("series")
    if not isinstance(raw_series, list) or not raw_series:
        raise where.error("`series` must be a non-empty list")
    catch_up = (
        _duration(top["catch_up_max_age"], where, "catch_up_max_age")
        if top.get("catch_up_max_age") is not None
        else None
    )
    live_spacing = _duration(top.get("live_spacing", LIVE_SPACING_DEFAULT), where, "live_spacing")

    codes: list[str] = []
    for i, raw in enumerate(raw_series):
        code = raw.get("code") if isinstance(raw, Mapping) else None
        if not isinstance(code, str) or not code.strip():
            raise where.error(f"series #{i + 1} has no `code`")
        if code in codes:
            raise where.error(f"series {code!r} appears twice")
        codes.append(code)
    series = tuple(_series(raw, where.of_series(raw["code"]), codes) for raw in raw_series)
    _check_after_targets(series, where)
    order = _evaluation_order(series, codes, where)
    return Schedule(
        name=name.strip(),
        series=series,
        live_spacing=live_spacing,
        catch_up_max_age=catch_up,
        evaluation_order=order,
    )


@dataclass(frozen=True)
class _Where:
    """Where in the file a problem is: prefixes every error message."""

    origin: str
    series: str | None = None
    dose: int | None = None

    def of_series(self, code: str) -> _Where:
        return _Where(self.origin, code)

    def of_dose(self, number: int) -> _Where:
        return _Where(self.origin, self.series, number)

    def error(self, problem: str) -> ScheduleError:
        place = self.origin
        if self.series is not None:
            place += f": series {self.series}"
        if self.dose is not None:
            place += f" dose {self.dose}"
        return ScheduleError(f"{place}: {problem}", series=self.series, dose=self.dose)


def _mapping(value: Any, where: _Where, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(f"{what} must be a mapping of keys to values")
    return value


def _no_unknown_keys(raw: Mapping[str, Any], known: set[str], where: _Where) -> None:
    # A misspelt key (`min_intervall`) silently ignored would move due dates: refuse it.
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise where.error(
            f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _duration(value: Any, where: _Where, key: str) -> Duration:
    try:
        return Duration.parse(value)
    except ValueError as exc:
        raise where.error(f"`{key}`: {exc}") from None


def _bool(raw: Mapping[str, Any], key: str, default: bool | None, where: _Where) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise where.error(f"`{key}` must be true or false")
    return value


def _series(raw: Mapping[str, Any], where: _Where, codes: list[str]) -> Series:
    _no_unknown_keys(raw, _SERIES_KEYS, where)
    live = _bool(raw, "live", None, where)
    # Most live vaccines in a childhood schedule are injected; the file says `injectable: false`
    # for the others (BCG is intradermal, bOPV oral). The synthetic-city generator reads the same
    # default, so both agree on which doses the 28-day rule spaces.
    injectable = _bool(raw, "injectable", True, where)
    if "max_age" not in raw:
        raise where.error("`max_age` is missing")
    max_age = _duration(raw["max_age"], where, "max_age")
    raw_doses = raw.get("doses")
    if not isinstance(raw_doses, list) or not raw_doses:
        raise where.error("`doses` must be a non-empty list")
    doses = []
    for position, raw_dose in enumerate(raw_doses, start=1):
        doses.append(_dose(_mapping(raw_dose, where, "a dose"), position, where, codes))
    raw_requires = raw.get("requires") or []
    if not isinstance(raw_requires, list):
        raise where.error("`requires` must be a list")
    requires = tuple(_requirement(r, where) for r in raw_requires)
    name = raw.get("name", raw["code"])
    return Series(
        code=raw["code"],
        name=str(name),
        live=live,
        injectable=injectable,
        max_age=max_age,
        doses=tuple(doses),
        requires=requires,
    )


def _dose(raw: Mapping[str, Any], position: int, where: _Where, codes: list[str]) -> DoseRule:
    number = raw.get("dose")
    if not isinstance(number, int) or isinstance(number, bool):
        raise where.error(f"dose #{position} has no integer `dose` number")
    if number != position:
        raise where.error(
            f"doses out of order: dose #{position} in the list is numbered {number} "
            f"(doses must be numbered 1, 2, 3 … in order)"
        )
    here = where.of_dose(number)
    _no_unknown_keys(raw, _DOSE_KEYS, here)
    for key in ("age", "overdue_after"):
        if key not in raw:
            raise here.error(f"`{key}` is missing")
    age = _duration(raw["age"], here, "age")
    min_age = _duration(raw["min_age"], here, "min_age") if "min_age" in raw else age
    if "min_interval" in raw:
        if number == 1:
            raise here.error("`min_interval` on dose 1: there is no previous dose to space from")
        min_interval: Duration | None = _duration(raw["min_interval"], here, "min_interval")
    else:
        min_interval = None
    overdue_after = _duration(raw["overdue_after"], here, "overdue_after")
    raw_after = raw.get("after") or []
    if not isinstance(raw_after, list):
        raise here.error("`after` must be a list of {series, dose, interval}")
    after = tuple(_after(a, here, codes) for a in raw_after)
    product = raw.get("product")
    return DoseRule(
        number=number,
        age=age,
        min_age=min_age,
        min_interval=min_interval,
        overdue_after=overdue_after,
        after=after,
        product=None if product is None else str(product),
    )


def _after(raw: Any, where: _Where, codes: list[str]) -> After:
    raw = _mapping(raw, where, "an `after` constraint")
    _no_unknown_keys(raw, _AFTER_KEYS, where)
    series = raw.get("series")
    if series not in codes:
        raise where.error(f"`after` names an unknown series {series!r}")
    if series == where.series:
        raise where.error("`after` names its own series (use min_interval for that)")
    dose = raw.get("dose")
    if dose == "last":
        number: int | None = None
    elif isinstance(dose, int) and not isinstance(dose, bool) and dose >= 1:
        number = dose
    else:
        raise where.error(f"`after` dose must be a number or 'last', not {dose!r}")
    if "interval" not in raw:
        raise where.error("`after` has no `interval`")
    return After(series, number, _duration(raw["interval"], where, "after.interval"))


def _check_after_targets(series: tuple[Series, ...], where: _Where) -> None:
    # A numbered `after` target that the other series never reaches would be silently void.
    sizes = {s.code: len(s.doses) for s in series}
    for s in series:
        for d in s.doses:
            for a in d.after:
                if a.dose is not None and a.dose > sizes[a.series]:
                    raise (
                        where.of_series(s.code)
                        .of_dose(d.number)
                        .error(
                            f"`after` names dose {a.dose} of {a.series}, "
                            f"which has {sizes[a.series]} dose(s)"
                        )
                    )


def _requirement(raw: Any, where: _Where) -> Requirement:
    raw = _mapping(raw, where, "a `requires` entry")
    _no_unknown_keys(raw, _REQUIRES_KEYS, where)
    flag = raw.get("flag")
    if not isinstance(flag, str) or not flag.strip():
        raise where.error("a `requires` entry has no `flag`")
    for key in ("from_age", "to_age"):
        if key not in raw:
            raise where.error(f"requirement {flag!r}: `{key}` is missing")
    return Requirement(
        flag,
        _duration(raw["from_age"], where, f"{flag}.from_age"),
        _duration(raw["to_age"], where, f"{flag}.to_age"),
    )


def _evaluation_order(
    series: tuple[Series, ...], codes: list[str], where: _Where
) -> tuple[int, ...]:
    """File positions in an order where each `after` target comes first (a cycle is an error).

    An `after` constraint depends on the other series' *valid* doses, so that series must be
    walked before this one.
    """
    deps = {
        i: {codes.index(a.series) for d in s.doses for a in d.after} for i, s in enumerate(series)
    }
    done: list[int] = []
    state: dict[int, str] = {}

    def visit(i: int, path: list[str]) -> None:
        if state.get(i) == "done":
            return
        if state.get(i) == "visiting":
            cycle = " → ".join([*path, codes[i]])
            raise where.error(f"`after` constraints form a cycle: {cycle}")
        state[i] = "visiting"
        for j in sorted(deps[i]):
            visit(j, [*path, codes[i]])
        state[i] = "done"
        done.append(i)

    for i in range(len(series)):
        visit(i, [])
    return tuple(done)

"""The follow-up schedule engine: packages, programmes and when each follow-up falls due.

Pure: no database, no web framework; the service feeds it plain values and stores what it
returns, so the rules below are tested in milliseconds (and by hypothesis).

The rules, for one person and one programme (hypertension, diabetes, the elderly check-up …)
under a contract term ``[starts_on, ends_on]`` with a follow-up every ``m`` months:

- At most one task is open (pending or overdue) at a time; the next is planned only when it
  is done. A missed follow-up stays overdue until it is done: it is not silently replaced.
- The next due date is the latest of: the term's start; the last follow-up plus ``m`` months;
  the last task's due date plus ``m`` months. So a follow-up is never due sooner than ``m``
  months after the last one, two tasks are never due within ``m`` months of each other (one
  done early does not pull the next one forward), and a person never followed up is due on
  the first day of the term.
- Nothing is due after the term ends: the renewal's term continues the series.
- A task is overdue from the day after its due date.

Months are calendar months rolled forward (31 Jan + 1 month = 1 Mar), as the immunization
schedule counts them: a follow-up can never fall due before its interval has passed.

The packages (a free basic package, paid personalised ones) and programmes are data:
``carematch/familydoctor/packages.yaml`` (its header states the format), checked at load.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

import yaml

from carematch.familydoctor.errors import PackageFileError

TERM_MONTHS = 12
SEXES = ("M", "F")
_PROGRAM_KEYS = {"name", "name_en", "condition", "min_age", "max_age", "chronic", "service"}
_PACKAGE_KEYS = {"name", "name_en", "price", "includes", "eligibility", "services", "followups"}
_ELIGIBILITY_KEYS = {"min_age", "max_age", "sex", "conditions_any"}
MAX_EVERY_MONTHS = 24


# --- calendar -------------------------------------------------------------------------------


def add_months(start: date, months: int) -> date:
    """``start`` plus whole calendar months; a day the target month lacks rolls to the 1st of
    the month after (31 Jan + 1 = 1 Mar), so the interval is never shorter than asked.

    Examples:
        >>> add_months(date(2026, 1, 31), 1)
        datetime.date(2026, 3, 1)
        >>> add_months(date(2026, 11, 15), 3)
        datetime.date(2027, 2, 15)
    """
    total = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    if start.day <= calendar.monthrange(year, month)[1]:
        return date(year, month, start.day)
    # Only a month shorter than 31 days can lack the day, and none of those is December.
    return date(year, month + 1, 1)


@dataclass(frozen=True, slots=True)
class Term:
    """One contract term (签约周期): the days it covers, both ends included."""

    starts_on: date
    ends_on: date

    @classmethod
    def of_year(cls, starts_on: date) -> Term:
        """The one-year term starting on ``starts_on`` (2026-03-01 → 2027-02-28)."""
        return cls(starts_on, add_months(starts_on, TERM_MONTHS) - timedelta(days=1))

    def next(self) -> Term:
        """The renewal's term: the year starting the day after this one ends."""
        return Term.of_year(self.ends_on + timedelta(days=1))

    def covers(self, day: date) -> bool:
        """True when ``day`` lies in the term."""
        return self.starts_on <= day <= self.ends_on


# --- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskState:
    """A task as the engine sees it: when it is due and, once done, the day of the follow-up."""

    due_on: date
    done_on: date | None = None

    @property
    def open(self) -> bool:
        """True while the follow-up has not been done (pending or overdue)."""
        return self.done_on is None


def next_due(
    term: Term,
    every_months: int,
    last_followup: date | None,
    last_due: date | None = None,
) -> date | None:
    """The next follow-up's due date in ``term``, or None when it would fall after the term.

    Args:
        term: the contract term the follow-up belongs to.
        every_months: the programme's interval under the person's package (≥ 1).
        last_followup: the day of the last follow-up of this programme, if any.
        last_due: the due date of the last task of this programme, if any.

    Examples:
        >>> t = Term.of_year(date(2026, 1, 10))
        >>> next_due(t, 3, None)
        datetime.date(2026, 1, 10)
        >>> next_due(t, 3, date(2025, 12, 1))
        datetime.date(2026, 3, 1)
        >>> next_due(t, 3, date(2026, 2, 1), last_due=date(2026, 3, 1))
        datetime.date(2026, 6, 1)
    """
    if every_months < 1:
        raise ValueError("every_months must be at least 1")
    candidates = [term.starts_on]
    if last_followup is not None:
        candidates.append(add_months(last_followup, every_months))
    if last_due is not None:
        candidates.append(add_months(last_due, every_months))
    due = max(candidates)
    return due if due <= term.ends_on else None


def plan_next(
    term: Term,
    every_months: int,
    tasks: Sequence[TaskState],
    outside_followup: date | None = None,
) -> date | None:
    """The due date of the task to create now for one programme, or None.

    None while a task is open (one at a time), and when the next one would fall after the term.
    Running it again after storing its answer gives None: the new task is open.

    Args:
        term: the person's current contract term.
        every_months: the interval under their package.
        tasks: every task of this person and programme so far (any order; cancelled ones left
            out by the caller).
        outside_followup: a follow-up known from outside the platform (the EHR's last chronic
            follow-up), counted when it is later than every follow-up recorded here.
    """
    if any(t.open for t in tasks):
        return None
    done = [t.done_on for t in tasks if t.done_on is not None]
    if outside_followup is not None:
        done.append(outside_followup)
    last_followup = max(done) if done else None
    last_due = max((t.due_on for t in tasks), default=None)
    return next_due(term, every_months, last_followup, last_due)


def is_overdue(due_on: date, today: date) -> bool:
    """An open task is overdue from the day after its due date."""
    return today > due_on


def reminder_day(due_on: date, days_before: int = 7) -> date:
    """The day the resident is reminded: a week before the due date."""
    return due_on - timedelta(days=days_before)


# --- programmes and packages ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """What a schedule needs to know about a person (from profiling's features)."""

    age: int | None = None
    sex: str | None = None
    conditions: frozenset[str] = frozenset()
    # The EHR's last chronic-disease follow-up (随访), if any.
    last_followup: date | None = None


@dataclass(frozen=True, slots=True)
class Program:
    """A follow-up programme (随访项目): who it is for and which service carries it out."""

    code: str
    name: str
    name_en: str
    service: str
    condition: str | None = None
    min_age: int | None = None
    max_age: int | None = None
    chronic: bool = False

    def applies_to(self, facts: PersonFacts) -> bool:
        """True when the person has the condition, or their age lies in the range."""
        if self.condition is not None:
            return self.condition in facts.conditions
        if facts.age is None:
            return False
        low = self.min_age if self.min_age is not None else 0
        high = self.max_age if self.max_age is not None else 200
        return low <= facts.age <= high


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who may sign a package; every condition given must hold."""

    min_age: int | None = None
    max_age: int | None = None
    sex: str | None = None
    conditions_any: tuple[str, ...] = ()

    def refusal(self, facts: PersonFacts) -> str | None:
        """Why the person may not sign, or None when they may."""
        if self.min_age is not None and (facts.age is None or facts.age < self.min_age):
            return f"the package is for people aged {self.min_age} or over"
        if self.max_age is not None and (facts.age is None or facts.age > self.max_age):
            return f"the package is for people aged {self.max_age} or under"
        if self.sex is not None and facts.sex != self.sex:
            return f"the package is for sex {self.sex}"
        if self.conditions_any and not facts.conditions & set(self.conditions_any):
            return f"the package is for people with one of: {', '.join(self.conditions_any)}"
        return None


@dataclass(frozen=True, slots=True)
class Package:
    """A service package (服务包): free basic or paid personalised, for one year.

    ``followups`` is resolved: an included package's frequencies with this package's own
    overriding them, in the file's programme order.
    """

    code: str
    name: str
    name_en: str
    price: Decimal
    services: tuple[str, ...]
    followups: Mapping[str, int]
    eligibility: Eligibility = field(default_factory=Eligibility)
    includes: str | None = None

    @property
    def free(self) -> bool:
        """True for the free basic package."""
        return self.price == 0


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every programme and package of a packages file, by code, in file order."""

    programs: Mapping[str, Program]
    packages: Mapping[str, Package]

    @property
    def basic(self) -> Package:
        """The free basic public-health package."""
        return next(p for p in self.packages.values() if p.free)

    def schedule_for(self, package: Package, facts: PersonFacts) -> dict[str, int]:
        """Programme → months between follow-ups, for the programmes that apply to the person
        under the package (hypertension every 3 months if they have it, …)."""
        return {
            code: every
            for code, every in package.followups.items()
            if self.programs[code].applies_to(facts)
        }


@cache
def default_catalogue() -> Catalogue:
    """The packaged ``packages.yaml``, read and checked once (services against the registry's
    service catalogue)."""
    from carematch.providers.catalogue import service_catalogue

    text = resources.files("carematch.familydoctor").joinpath("packages.yaml").read_text("utf-8")
    return parse_catalogue(text, service_catalogue())


def parse_catalogue(text: str, services: Iterable[str] | None = None) -> Catalogue:
    """Read a packages file (see its header) and check it.

    Args:
        text: the YAML text.
        services: the known catalogue service codes; None skips that check.

    Raises:
        PackageFileError: naming the programme or package and what is wrong with it.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PackageFileError(f"not YAML: {exc}") from exc
    if not isinstance(raw, dict) or set(raw) != {"programs", "packages"}:
        raise PackageFileError("the file has exactly two sections: programs and packages")
    known_services = set(services) if services is not None else None
    programs = {
        code: _program(code, body, known_services)
        for code, body in _mapping(raw["programs"], "programs").items()
    }
    bodies = _mapping(raw["packages"], "packages")
    packages: dict[str, Package] = {}
    for code in bodies:
        _package(code, bodies, programs, known_services, packages, ())
    free = [p.code for p in packages.values() if p.free]
    if len(free) != 1:
        raise PackageFileError(f"exactly one package is free (the basic one); found {free}")
    return Catalogue(programs, packages)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise PackageFileError(f"{where}: a non-empty mapping is expected")
    for key in value:
        if not isinstance(key, str) or not key.replace("_", "").isalnum() or len(key) > 32:
            raise PackageFileError(f"{where}: {key!r} is not a code (letters, digits, _)")
    return value


def _text(body: dict[str, Any], key: str, where: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PackageFileError(f"{where}: {key} must be a non-empty string")
    return value


def _age(body: dict[str, Any], key: str, where: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 150:
        raise PackageFileError(f"{where}: {key} must be a whole number of years (0-150)")
    return value


def _check_range(low: int | None, high: int | None, where: str) -> None:
    if low is not None and high is not None and low > high:
        raise PackageFileError(f"{where}: min_age {low} is above max_age {high}")


def _check_service(code: Any, known: set[str] | None, where: str) -> str:
    if not isinstance(code, str) or (known is not None and code not in known):
        raise PackageFileError(f"{where}: {code!r} is not in the service catalogue")
    return code


def _program(code: str, body: Any, services: set[str] | None) -> Program:
    where = f"programs.{code}"
    if not isinstance(body, dict):
        raise PackageFileError(f"{where}: a mapping is expected")
    unknown = set(body) - _PROGRAM_KEYS
    if unknown:
        raise PackageFileError(f"{where}: unknown keys {sorted(unknown)}")
    condition = body.get("condition")
    min_age, max_age = _age(body, "min_age", where), _age(body, "max_age", where)
    _check_range(min_age, max_age, where)
    by_age = min_age is not None or max_age is not None
    if condition is not None and not isinstance(condition, str):
        raise PackageFileError(f"{where}: condition must be a code")
    if (condition is None) == (not by_age):
        raise PackageFileError(f"{where}: give a condition or an age range (one of the two)")
    chronic = body.get("chronic", False)
    if not isinstance(chronic, bool):
        raise PackageFileError(f"{where}: chronic must be true or false")
    return Program(
        code=code,
        name=_text(body, "name", where),
        name_en=_text(body, "name_en", where),
        service=_check_service(body.get("service"), services, f"{where}.service"),
        condition=condition,
        min_age=min_age,
        max_age=max_age,
        chronic=chronic,
    )


def _price(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise PackageFileError(f'{where}: price must be a string such as "120.00"')
    try:
        price = Decimal(value)
    except InvalidOperation as exc:
        raise PackageFileError(f"{where}: price {value!r} is not a number") from exc
    if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.01")):
        raise PackageFileError(f"{where}: price must be ≥ 0 with at most 2 decimals")
    if price > 100_000:
        raise PackageFileError(f"{where}: price {value} is implausible for a yearly package")
    return price.quantize(Decimal("0.01"))


def _eligibility(raw: Any, where: str) -> Eligibility:
    if raw is None:
        return Eligibility()
    if not isinstance(raw, dict):
        raise PackageFileError(f"{where}: a mapping is expected")
    unknown = set(raw) - _ELIGIBILITY_KEYS
    if unknown:
        raise PackageFileError(f"{where}: unknown keys {sorted(unknown)}")
    min_age, max_age = _age(raw, "min_age", where), _age(raw, "max_age", where)
    _check_range(min_age, max_age, where)
    sex = raw.get("sex")
    if sex is not None and sex not in SEXES:
        raise PackageFileError(f"{where}: sex must be M or F")
    conditions = raw.get("conditions_any", [])
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        raise PackageFileError(f"{where}: conditions_any must be a list of codes")
    return Eligibility(min_age, max_age, sex, tuple(conditions))


def _package(
    code: str,
    bodies: dict[str, Any],
    programs: dict[str, Program],
    services: set[str] | None,
    done: dict[str, Package],
    chain: tuple[str, ...],
) -> Package:
    """Build one package after the one it includes (depth first, refusing cycles)."""
    if code in done:
        return done[code]
    where = f"packages.{code}"
    if code in chain:
        raise PackageFileError(f"{where}: includes itself ({' → '.join((*chain, code))})")
    body = bodies[code]
    if not isinstance(body, dict):
        raise PackageFileError(f"{where}: a mapping is expected")
    unknown = set(body) - _PACKAGE_KEYS
    if unknown:
        raise PackageFileError(f"{where}: unknown keys {sorted(unknown)}")
    base: Package | None = None
    includes = body.get("includes")
    if includes is not None:
        if includes not in bodies:
            raise PackageFileError(f"{where}: includes unknown package {includes!r}")
        base = _package(includes, bodies, programs, services, done, (*chain, code))
    own_services = body.get("services", [])
    if not isinstance(own_services, list):
        raise PackageFileError(f"{where}: services must be a list of codes")
    listed = [_check_service(s, services, f"{where}.services") for s in own_services]
    merged_services = tuple(dict.fromkeys([*(base.services if base else ()), *listed]))
    own = body.get("followups", {})
    if not isinstance(own, dict):
        raise PackageFileError(f"{where}: followups must map programmes to months")
    for program, every in own.items():
        if program not in programs:
            raise PackageFileError(f"{where}.followups: unknown programme {program!r}")
        if isinstance(every, bool) or not isinstance(every, int):
            raise PackageFileError(f"{where}.followups.{program}: months must be a number")
        if not 1 <= every <= MAX_EVERY_MONTHS:
            raise PackageFileError(
                f"{where}.followups.{program}: every 1 to {MAX_EVERY_MONTHS} months"
            )
    combined = {**(base.followups if base else {}), **own}
    followups = {p: combined[p] for p in programs if p in combined}
    if not followups:
        raise PackageFileError(f"{where}: a package carries at least one follow-up")
    package = Package(
        code=code,
        name=_text(body, "name", where),
        name_en=_text(body, "name_en", where),
        price=_price(body.get("price"), where),
        services=merged_services,
        followups=followups,
        eligibility=_eligibility(body.get("eligibility"), f"{where}.eligibility"),
        includes=includes,
    )
    done[code] = package
    return package

"""Complaint deadlines (办理时限): a category's rule, working days and the instant a reply is due.

Pure: no database, no web. The table of categories and the working-day calendar are read from
``categories.yaml`` beside this module (its header documents every default and why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache
from importlib import resources
from typing import Any

import yaml

# A deadline further than this is a typo in the table, not a policy.
MAX_WORKING_DAYS = 90
MAX_HOURS = 24 * 30


class CategoryTableError(ValueError):
    """The category table is malformed; the message names the entry and what is wrong."""


@dataclass(frozen=True)
class Calendar:
    """Working days (工作日): Monday to Friday, less public holidays, plus make-up days (调休)."""

    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        """True when ``day`` is a working day.

        Examples:
            >>> Calendar().is_working_day(date(2030, 3, 9))  # a Saturday
            False
            >>> Calendar(extra_workdays=frozenset({date(2030, 3, 9)})).is_working_day(
            ...     date(2030, 3, 9))
            True
        """
        if day in self.extra_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself does not count).

        Examples:
            >>> Calendar().add_working_days(date(2030, 3, 8), 1)  # Friday → Monday
            datetime.date(2030, 3, 11)
            >>> Calendar().add_working_days(date(2030, 3, 9), 5)  # Saturday → next Friday
            datetime.date(2030, 3, 15)
        """
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        day, counted = start, 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day


@dataclass(frozen=True)
class Category:
    """A complaint category (投诉类别) with its deadline: ``working_days`` or ``hours``."""

    code: str
    name: str
    name_en: str
    working_days: int | None = None
    hours: int | None = None
    urgent: bool = False

    def __post_init__(self) -> None:
        if (self.working_days is None) == (self.hours is None):
            raise CategoryTableError(f"category {self.code!r}: give working_days or hours")
        if self.working_days is not None and not 1 <= self.working_days <= MAX_WORKING_DAYS:
            raise CategoryTableError(
                f"category {self.code!r}: working_days must be 1..{MAX_WORKING_DAYS}"
            )
        if self.hours is not None and not 1 <= self.hours <= MAX_HOURS:
            raise CategoryTableError(f"category {self.code!r}: hours must be 1..{MAX_HOURS}")

    @property
    def deadline_text(self) -> str:
        """The rule in words, for the API (``5 working days``, ``24 hours``)."""
        if self.hours is not None:
            return f"{self.hours} hours"
        return f"{self.working_days} working days"


def due_at(received_at: datetime, category: Category, calendar: Calendar, tz: tzinfo) -> datetime:
    """The instant a complaint received at ``received_at`` must be answered before.

    ``hours`` count from the moment of receipt; ``working_days`` end at 24:00 (in ``tz``) of the
    last working day, so the result is midnight at the start of the following day. A reply is
    late when it comes at or after this instant.

    Examples:
        >>> from datetime import UTC, timezone
        >>> cst = timezone(timedelta(hours=8))
        >>> five = Category("x", "x", "x", working_days=5)
        >>> friday_10am = datetime(2030, 3, 8, 2, 0, tzinfo=UTC)
        >>> due_at(friday_10am, five, Calendar(), cst).isoformat()  # the end of next Friday
        '2030-03-16T00:00:00+08:00'
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    if category.hours is not None:
        return received_at + timedelta(hours=category.hours)
    assert category.working_days is not None
    local_day = received_at.astimezone(tz).date()
    last = calendar.add_working_days(local_day, category.working_days)
    return datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)


@dataclass(frozen=True)
class CategoryTable:
    """Every category by code, in table order, and the working-day calendar."""

    categories: Mapping[str, Category]
    calendar: Calendar

    def get(self, code: str) -> Category | None:
        return self.categories.get(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.categories)


def _dates(values: Any, what: str) -> frozenset[date]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise CategoryTableError(f"calendar.{what} must be a list of ISO dates")
    days: set[date] = set()
    for value in values:
        if isinstance(value, date) and not isinstance(value, datetime):
            days.add(value)
            continue
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError:
            raise CategoryTableError(f"calendar.{what}: {value!r} is not a date") from None
    return frozenset(days)


def parse_table(document: Any) -> CategoryTable:
    """Validate a loaded category table (the shape of ``categories.yaml``)."""
    if not isinstance(document, dict) or not isinstance(document.get("categories"), list):
        raise CategoryTableError("the table needs a `categories` list")
    found: dict[str, Category] = {}
    for n, entry in enumerate(document["categories"], start=1):
        if not isinstance(entry, dict):
            raise CategoryTableError(f"category #{n} is not a mapping")
        code = entry.get("code")
        if not isinstance(code, str) or not code.isidentifier():
            raise CategoryTableError(f"category #{n}: code must be an identifier")
        if code in found:
            raise CategoryTableError(f"category {code!r} appears twice")
        deadline = entry.get("deadline")
        if not isinstance(deadline, dict) or set(deadline) - {"working_days", "hours"}:
            raise CategoryTableError(f"category {code!r}: deadline needs working_days or hours")
        found[code] = Category(
            code=code,
            name=str(entry.get("name") or code),
            name_en=str(entry.get("name_en") or code),
            working_days=_int_or_none(deadline.get("working_days"), code),
            hours=_int_or_none(deadline.get("hours"), code),
            urgent=bool(entry.get("urgent", False)),
        )
    if not found:
        raise CategoryTableError("the table has no categories")
    calendar = document.get("calendar") or {}
    if not isinstance(calendar, dict):
        raise CategoryTableError("calendar must be a mapping")
    return CategoryTable(
        categories=found,
        calendar=Calendar(
            holidays=_dates(calendar.get("holidays"), "holidays"),
            extra_workdays=_dates(calendar.get("extra_workdays"), "extra_workdays"),
        ),
    )


def _int_or_none(value: Any, code: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise CategoryTableError(f"category {code!r}: deadline values are whole numbers")
    return value


@cache
def category_table() -> CategoryTable:
    """The packaged table (``categories.yaml``), read once."""
    text = resources.files("carematch.feedback").joinpath("categories.yaml").read_text("utf-8")
    return parse_table(yaml.safe_load(text))


def category_codes() -> Iterable[str]:
    """The codes of the packaged categories, in table order."""
    return category_table().codes

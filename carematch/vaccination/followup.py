"""Follow-up reminders after a dose (接种后随访提醒), planned from a data file and enqueued in the
notification outbox in the caller's transaction.

The reminders (``followup_reminders.yaml``; its header is the format) say what to watch for and
when: the 30-minute observation for every vaccine, a rash and fever window for the measles
series, the BCG ulcer weeks later. :func:`plan` is pure; :func:`schedule_followups` is what the
administration code calls when a dose is recorded. Each reminder has an outbox key naming the
person, the series, the dose and the reminder, so recording the same dose twice (a retried
request, a corrected record) reminds once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import InvalidInput
from carematch.notifications import service as notifications
from carematch.notifications.outbox import Recipient
from carematch.providers.hours import CITY_TZ
from carematch.vaccination.schedule import Schedule

REMINDERS_FILE = "followup_reminders.yaml"
TEMPLATE = "vaccination_followup"
CHANNELS = frozenset({"inbox", "sms"})
SCOPES = frozenset({"all", "live", "inactivated"})
STALE_AFTER = timedelta(days=1)
"""A reminder planned further in the past than this when the dose is recorded is not sent."""
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class FollowupFileError(InvalidInput):
    """A follow-up reminders file that cannot be used; the message lists every problem."""

    type = "/problems/invalid-followup-reminders"
    title = "Invalid follow-up reminders"


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder of the file: which vaccines, when after the dose, by which channel, what."""

    id: str
    applies_to: str | tuple[str, ...]
    after: timedelta | None
    """Minutes after the dose (None: on ``day`` at ``at``)."""
    day: int | None
    at: time | None
    channel: str
    advice_zh: str
    advice_en: str


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """A reminder of one dose and when it is sent (UTC)."""

    reminder: Reminder
    due_at: datetime


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_reminders(data: Any, schedule: Schedule) -> tuple[Reminder, ...]:
    """Check the loaded file against the schedule.

    Raises:
        FollowupFileError: naming every problem (unknown series, channel or scope, a send time
            that is neither minutes nor a day and a clock time, missing text, a repeated id).
    """
    raw = data.get("reminders") if isinstance(data, Mapping) else None
    if not isinstance(raw, list) or not raw:
        raise FollowupFileError("the file needs a non-empty 'reminders' list")
    codes = {s.code for s in schedule.series}
    problems: list[str] = []
    found: list[Reminder] = []
    seen: set[str] = set()
    for number, entry in enumerate(raw, start=1):
        if not isinstance(entry, Mapping):
            problems.append(f"reminder #{number}: must be a mapping")
            continue
        rid = entry.get("id")
        where = f"reminder {rid or '#' + str(number)}"
        if not isinstance(rid, str) or not re.fullmatch(r"[\w.-]{1,60}", rid) or rid in seen:
            problems.append(f"{where}: id must be unique, 1-60 letters, digits, _ . -")
            continue
        seen.add(rid)
        scope = entry.get("applies_to")
        applies: str | tuple[str, ...] = "all"
        if isinstance(scope, list) and scope:
            unknown = [c for c in scope if c not in codes]
            if unknown:
                problems.append(f"{where}: unknown series {unknown}")
            applies = tuple(str(c) for c in scope)
        elif scope in SCOPES:
            applies = str(scope)
        else:
            problems.append(f"{where}: applies_to must be one of {sorted(SCOPES)} or series codes")
        send = entry.get("send")
        after: timedelta | None = None
        day: int | None = None
        at: time | None = None
        if isinstance(send, Mapping) and set(send) == {"after_minutes"}:
            minutes = send["after_minutes"]
            if isinstance(minutes, int) and not isinstance(minutes, bool) and minutes >= 0:
                after = timedelta(minutes=minutes)
            else:
                problems.append(f"{where}: after_minutes must be a whole number >= 0")
        elif isinstance(send, Mapping) and set(send) == {"day", "at"}:
            day_raw, clock = send["day"], send["at"]
            match = _CLOCK.match(clock) if isinstance(clock, str) else None
            if (
                isinstance(day_raw, int)
                and not isinstance(day_raw, bool)
                and day_raw >= 0
                and match
            ):
                day, at = day_raw, time(int(match[1]), int(match[2]))
            else:
                problems.append(f"{where}: send needs day >= 0 and at 'HH:MM'")
        else:
            problems.append(f"{where}: send is {{after_minutes: N}} or {{day: N, at: 'HH:MM'}}")
        channel = entry.get("channel")
        if channel not in CHANNELS:
            problems.append(f"{where}: channel must be one of {sorted(CHANNELS)}")
        advice = entry.get("advice")
        if not isinstance(advice, Mapping) or not all(
            isinstance(advice.get(k), str) and advice[k].strip() for k in ("zh", "en")
        ):
            problems.append(f"{where}: advice needs zh and en text")
            advice = {"zh": "", "en": ""}
        found.append(
            Reminder(rid, applies, after, day, at, str(channel), advice["zh"], advice["en"])
        )
    if problems:
        raise FollowupFileError("; ".join(problems))
    return tuple(found)


@lru_cache(maxsize=4)
def shipped_reminders(schedule: Schedule) -> tuple[Reminder, ...]:
    """The reminders shipped in the package, checked once per process."""
    text = resources.files("carematch.vaccination").joinpath(REMINDERS_FILE).read_text("utf-8")
    return parse_reminders(yaml.safe_load(text), schedule)


def applies(reminder: Reminder, schedule: Schedule, series_code: str) -> bool:
    """Whether ``reminder`` follows a dose of ``series_code``."""
    if isinstance(reminder.applies_to, tuple):
        return series_code in reminder.applies_to
    if reminder.applies_to == "all":
        return True
    position = schedule.position(series_code)
    live = position is not None and schedule.series[position].live
    return live if reminder.applies_to == "live" else not live


def plan(
    reminders: tuple[Reminder, ...],
    schedule: Schedule,
    series_code: str,
    given_at: datetime,
    now: datetime,
) -> list[PlannedReminder]:
    """The reminders of a dose given at ``given_at``, as recorded at ``now``, in time order.

    A reminder planned more than :data:`STALE_AFTER` before ``now`` is left out; one planned
    less far in the past is sent at ``now``.
    """
    given = _aware(given_at)
    now = _aware(now)
    dose_day = given.astimezone(CITY_TZ).date()
    out: list[PlannedReminder] = []
    for reminder in reminders:
        if not applies(reminder, schedule, series_code):
            continue
        if reminder.after is not None:
            at = given + reminder.after
        else:
            assert reminder.day is not None and reminder.at is not None
            local = datetime.combine(dose_day + timedelta(days=reminder.day), reminder.at, CITY_TZ)
            at = local.astimezone(UTC)
        if at < now - STALE_AFTER:
            continue
        out.append(PlannedReminder(reminder, max(at, now)))
    out.sort(key=lambda p: p.due_at)
    return out


def followup_key(person_id: str, series_code: str, dose: int, reminder_id: str) -> str:
    """The outbox key of one reminder of one dose: at most one message per key, ever."""
    return f"vaccination-followup:{person_id}:{series_code}:{dose}:{reminder_id}"


def schedule_followups(
    session: Session,
    person_id: str,
    series: str,
    dose: int,
    given_at: datetime,
    *,
    now: datetime | None = None,
    locale: str = "zh",
) -> int:
    """Enqueue the follow-up reminders of a dose just recorded; how many were new.

    Call it in the transaction that records the dose (it flushes, never commits): the dose and
    its reminders commit together. Calling it again for the same person, series and dose is a
    no-op (0), whatever ``given_at`` says then.

    Args:
        session: the caller's session.
        person_id: who was vaccinated (the reminder goes to their inbox or phone; a child's
            reaches the guardian through the inbox's dependants).
        series: the schedule's series code (``MMR``, ``BCG`` …).
        dose: the dose number in the series.
        given_at: when it was given (timezone-aware; naive means UTC).
        now: the time of recording (tests); the clock's now otherwise.
        locale: the language of the messages, ``zh`` (default) or ``en``.

    Raises:
        InvalidInput: an unknown series or a dose number below 1.
    """
    from carematch.vaccination.service import city_schedule

    schedule = city_schedule()
    position = schedule.position(series)
    if position is None:
        raise InvalidInput(f"unknown vaccine series {series!r}")
    if dose < 1:
        raise InvalidInput("a dose number counts from 1")
    name = schedule.series[position].name
    created = 0
    for planned in plan(shipped_reminders(schedule), schedule, series, given_at, now or utcnow()):
        reminder = planned.reminder
        result = notifications.enqueue(
            session,
            recipient=Recipient.person(person_id),
            channel=reminder.channel,
            template=TEMPLATE,
            params={
                "vaccine": name,
                "advice": reminder.advice_en if locale == "en" else reminder.advice_zh,
            },
            due_at=planned.due_at,
            dedupe_key=followup_key(person_id, series, dose, reminder.id),
            locale=locale,
        )
        created += int(result.created)
    return created

"""SLA clocks (服务时限): how long a need may wait for an answer, and when it has waited too long.

Pure: plain values in, plain values out; no database, no web. The service layer
(:mod:`carematch.booking.clocks`) stores clocks and applies these rules to them.

The rules (issue 5, item 2):

- **demand_response** — a raised demand (需求) must be answered within **24 hours**. It starts
  when the demand is raised (its ``first_seen_at``) and is answered by a booking made for it,
  a contact recorded by staff, or a service record that meets it.
- **online_consultation** — an online consultation (互联网在线问诊) must be answered within
  **30 minutes**. It starts when the consultation is due: the later of the booking being made
  and its slot's start. It is answered when the doctor takes the consultation (check-in) or
  writes its service record.
- **remote_consultation** — a clinic's remote consultation request to a county specialist
  (远程会诊) must be answered within **30 minutes** of being sent: answered by the specialist's
  answer or decline, voided by the clinic cancelling it (:mod:`carematch.consultation.service`).

**Calendar time, not working hours.** Every limit is elapsed time, round the clock, weekends
and holidays included. Residents raise needs and book online at any hour, and the platform's
answer (a booking, a call from the duty doctor, an online reply) does not wait for office
hours; a 24-hour limit that paused at night and over a holiday week would let a need raised on
the eve of the Spring Festival wait nine days. Elapsed time also keeps every deadline a single
addition anyone can check (``deadline = start + limit``), with no holiday calendar to agree on.

**When is a clock breached?** A clock started at ``t`` with limit ``d`` has its deadline at
``t + d``. It is *breached* at time ``now`` iff ``now > t + d`` and it was not stopped by
``t + d``. It is stopped by its answer or by being *voided* — the need went away before
anyone answered (the booking was cancelled, the demand closed because it no longer applies):
nobody can answer what no longer exists, so that is not a breach — unless the deadline had
passed first. An answer exactly at the deadline is in time. A stop recorded after ``now`` is
not yet known at ``now``, so the state of a clock at a past moment is what was knowable then.

A breach is permanent: a late answer is recorded, but the clock stays breached, and its
breach time is the deadline itself (not the moment someone noticed). That makes breaches
idempotent to compute: recomputing at any later time finds the same breaches with the same
times, so an alert is raised once and the indicators count each breach once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

DEMAND_RESPONSE = "demand_response"
ONLINE_CONSULTATION = "online_consultation"
# A clinic's remote consultation request to a county specialist (远程会诊, R-SV-5): the same
# 30-minute online target, counted apart from residents' booked online consultations.
REMOTE_CONSULTATION = "remote_consultation"

K = TypeVar("K", bound=Hashable)


class ClockState(StrEnum):
    """Where a clock stands at a moment."""

    RUNNING = "running"  # not stopped, deadline not passed
    MET = "met"  # answered by the deadline
    VOID = "void"  # the need went away by the deadline, unanswered
    BREACHED = "breached"  # the deadline passed before any answer


@dataclass(frozen=True)
class ClockRule:
    """One kind of clock: its limit in calendar time and what it is called."""

    kind: str
    limit: timedelta
    label: str
    label_en: str

    def __post_init__(self) -> None:
        if self.limit <= timedelta(0):
            raise ValueError(f"the limit of {self.kind} must be positive")


RULES: Mapping[str, ClockRule] = MappingProxyType(
    {
        DEMAND_RESPONSE: ClockRule(
            DEMAND_RESPONSE, timedelta(hours=24), "需求响应", "Demand response"
        ),
        ONLINE_CONSULTATION: ClockRule(
            ONLINE_CONSULTATION, timedelta(minutes=30), "在线问诊响应", "Online consultation"
        ),
        REMOTE_CONSULTATION: ClockRule(
            REMOTE_CONSULTATION, timedelta(minutes=30), "远程会诊响应", "Remote consultation"
        ),
    }
)


def rule(kind: str) -> ClockRule:
    """The rule of a kind of clock.

    Raises:
        KeyError: no such kind.
    """
    return RULES[kind]


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return at


@dataclass(frozen=True)
class Clock:
    """One clock: when it started, its limit, and when (if ever) it was answered or voided.

    Every time must be timezone-aware.
    """

    started_at: datetime
    limit: timedelta
    answered_at: datetime | None = None
    voided_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.started_at, "started_at")
        if self.limit <= timedelta(0):
            raise ValueError("limit must be positive")
        for name in ("answered_at", "voided_at"):
            value = getattr(self, name)
            if value is not None:
                _aware(value, name)

    @property
    def deadline(self) -> datetime:
        """``started_at + limit``: an answer at or before it is in time."""
        return self.started_at + self.limit


def _known(at: datetime | None, now: datetime) -> datetime | None:
    """A stop time as known at ``now``: one recorded later has not happened yet."""
    return at if at is not None and at <= now else None


def state_at(clock: Clock, now: datetime) -> ClockState:
    """The clock's state at ``now`` (see the module docstring for the rules).

    Examples:
        >>> from datetime import UTC
        >>> t = datetime(2030, 5, 1, 8, tzinfo=UTC)
        >>> c = Clock(t, timedelta(hours=24), answered_at=t + timedelta(hours=3))
        >>> state_at(c, t + timedelta(hours=1)), state_at(c, t + timedelta(days=2))
        (<ClockState.RUNNING: 'running'>, <ClockState.MET: 'met'>)
        >>> state_at(Clock(t, timedelta(minutes=30)), t + timedelta(minutes=31))
        <ClockState.BREACHED: 'breached'>
    """
    _aware(now, "now")
    deadline = clock.deadline
    answered = _known(clock.answered_at, now)
    voided = _known(clock.voided_at, now)
    in_time = [
        (at, state)
        for at, state in ((answered, ClockState.MET), (voided, ClockState.VOID))
        if at is not None and at <= deadline
    ]
    if in_time:
        # Whichever stopped it first decides (an answer and a void at the same instant: met).
        return min(in_time, key=lambda pair: (pair[0], pair[1] != ClockState.MET))[1]
    if now > deadline:
        return ClockState.BREACHED
    return ClockState.RUNNING


def is_breached(clock: Clock, now: datetime) -> bool:
    """True when the clock's deadline has passed at ``now`` with no answer or void by it."""
    return state_at(clock, now) is ClockState.BREACHED


def remaining(clock: Clock, now: datetime) -> timedelta:
    """Time left to the deadline at ``now`` (negative once it has passed)."""
    return clock.deadline - _aware(now, "now")


def breach_time(clock: Clock, now: datetime) -> datetime | None:
    """When the clock became breached (its deadline), if it is breached at ``now``; else None."""
    return clock.deadline if is_breached(clock, now) else None


def new_breaches(
    clocks: Iterable[tuple[K, Clock, datetime | None]], now: datetime
) -> dict[K, datetime]:
    """The clocks breached at ``now`` that are not yet recorded as breached, with breach times.

    Each item is ``(key, clock, recorded_breach)``; ``recorded_breach`` is the breach time an
    earlier computation stored (None if none). Recording the result and computing again at the
    same or any later ``now`` returns nothing new: a breach is raised once.

    Raises:
        ValueError: a key appears twice.
    """
    found: dict[K, datetime] = {}
    seen: set[K] = set()
    for key, clock, recorded in clocks:
        if key in seen:
            raise ValueError(f"clock {key!r} given twice")
        seen.add(key)
        if recorded is not None:
            continue
        at = breach_time(clock, now)
        if at is not None:
            found[key] = at
    return found


def format_limit(limit: timedelta, locale: str = "zh") -> str:
    """A limit in words for an alert: ``24小时`` / ``24 hours``, ``30分钟`` / ``30 minutes``.

    Examples:
        >>> format_limit(timedelta(hours=24)), format_limit(timedelta(minutes=30), "en")
        ('24小时', '30 minutes')
    """
    minutes = int(limit.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours}小时" if locale == "zh" else f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes}分钟" if locale == "zh" else f"{minutes} minute{'s' if minutes != 1 else ''}"

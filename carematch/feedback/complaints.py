"""The complaint's life (投诉办理): channels, statuses and the transitions between them.

Pure: no database, no web. ::

    received ──► accepted ──► investigating ──► answered ──► closed
        │            └──────────────────────────►  ▲  │
        ▼                                          │  ▼
    rejected                            investigating (reopened: the answer was disputed)

``received`` → ``rejected`` is the refusal to accept (不予受理), with its reason; a complaint
that was accepted and turns out unfounded is answered, not rejected. ``closed`` and
``rejected`` are terminal. Answering and rejecting need a note: the answer, or the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

# 12345 hotline, the web portal, WeChat, at a counter, by letter.
CHANNELS = ("hotline_12345", "web", "wechat", "in_person", "letter")
# The channels a resident uses on their own; staff register the others.
RESIDENT_CHANNELS = ("web", "wechat")

STATUSES = ("received", "accepted", "investigating", "answered", "closed", "rejected")
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "received": ("accepted", "rejected"),
    "accepted": ("investigating", "answered"),
    "investigating": ("answered",),
    "answered": ("closed", "investigating"),
    "closed": (),
    "rejected": (),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# Statuses in which the complaint still waits for its answer (and can be late).
AWAITING_ANSWER = frozenset({"received", "accepted", "investigating"})
# The complainant is owed words: the answer itself, or why the complaint was not accepted.
NOTE_REQUIRED = frozenset({"answered", "rejected"})
# A finding (and its rectification items) comes from a complaint that was accepted.
FINDING_STATUSES = frozenset({"accepted", "investigating", "answered", "closed"})


class TransitionRefused(ValueError):
    """A change of status the state machine does not allow; says what is allowed instead."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.current = current
        self.target = target
        self.allowed = allowed


def allowed_from(status: str) -> tuple[str, ...]:
    """The statuses a complaint in ``status`` may move to (none for a terminal one)."""
    return TRANSITIONS.get(status, ())


def check_transition(current: str, target: str, note: str | None) -> str:
    """Return ``target`` when a complaint in ``current`` may move there with this ``note``.

    Raises:
        TransitionRefused: an unknown status, a move the machine does not have, or a missing
            note where one is required.

    Examples:
        >>> check_transition("received", "accepted", None)
        'accepted'
        >>> check_transition("closed", "investigating", None)
        Traceback (most recent call last):
        ...
        carematch.feedback.complaints.TransitionRefused: a closed complaint cannot change
    """
    allowed = allowed_from(current)
    if current not in TRANSITIONS:
        raise TransitionRefused(current, target, (), f"unknown current status {current!r}")
    if target not in TRANSITIONS:
        raise TransitionRefused(current, target, allowed, f"unknown status {target!r}")
    if current in TERMINAL:
        raise TransitionRefused(current, target, allowed, f"a {current} complaint cannot change")
    if target not in allowed:
        raise TransitionRefused(
            current,
            target,
            allowed,
            f"a {current} complaint can move to {', '.join(allowed)}, not {target}",
        )
    if target in NOTE_REQUIRED and not (note and note.strip()):
        what = "the answer" if target == "answered" else "the reason"
        raise TransitionRefused(current, target, allowed, f"{target} needs a note: {what}")
    return target


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    """True when the complaint still awaits its answer and its deadline has passed."""
    return status in AWAITING_ANSWER and now >= due_at


def answered_on_time(due_at: datetime, answered_at: datetime | None) -> bool:
    """True when the (first) answer came before the deadline."""
    return answered_at is not None and answered_at < due_at

"""The rectification ledger (整改台账): an item's statuses, overdue and on-time rates.

Pure: no database, no web. ::

    open ──► in_progress ──► done ──► verified
      └──────────────────────►  ▲ │
                                │ ▼
                        in_progress (the official refused the evidence)

``done`` needs evidence (a text or a file reference); ``verified`` is the official's closure
(整改销号) and is terminal. ``overdue`` is never stored: an item that is ``open`` or
``in_progress`` after its deadline is shown as overdue, so it cannot go stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

ITEM_STATUSES = ("open", "in_progress", "done", "verified")
# What the API and the board show: the stored statuses, and overdue in place of an unfinished
# one past its deadline.
SHOWN_STATUSES = (*ITEM_STATUSES, "overdue")
ITEM_TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "open": ("in_progress", "done"),
    "in_progress": ("done",),
    "done": ("verified", "in_progress"),
    "verified": (),
}
UNFINISHED = frozenset({"open", "in_progress"})
FINISHED = frozenset({"done", "verified"})
OWNER_KINDS = ("provider", "department")
FINDING_SOURCES = ("complaint", "inspection")


class ItemChangeRefused(ValueError):
    """A change to a rectification item the ledger does not allow."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.current = current
        self.target = target
        self.allowed = allowed


def shown_status(status: str, deadline: date, today: date) -> str:
    """The status to show: ``overdue`` for an unfinished item after its deadline day.

    Examples:
        >>> shown_status("open", date(2030, 3, 1), date(2030, 3, 2))
        'overdue'
        >>> shown_status("done", date(2030, 3, 1), date(2030, 3, 9))
        'done'
    """
    return "overdue" if status in UNFINISHED and today > deadline else status


def check_item_change(current: str, target: str, *, has_evidence: bool, may_verify: bool) -> str:
    """Return ``target`` when an item in ``current`` may move there.

    Args:
        has_evidence: the item carries evidence once this change is applied.
        may_verify: the caller is an official (only officials verify a closure).

    Raises:
        ItemChangeRefused: a move the ledger does not have, ``done`` without evidence, a
            verification by someone who is not an official, or any change to a verified item.
    """
    allowed = ITEM_TRANSITIONS.get(current, ())
    if current not in ITEM_TRANSITIONS:
        raise ItemChangeRefused(current, target, (), f"unknown current status {current!r}")
    if current == "verified":
        raise ItemChangeRefused(current, target, allowed, "a verified item cannot change")
    if target not in allowed:
        raise ItemChangeRefused(
            current,
            target,
            allowed,
            f"an item that is {current} can move to {', '.join(allowed)}, not {target}",
        )
    if target == "done" and not has_evidence:
        raise ItemChangeRefused(current, target, allowed, "done needs evidence: a text or a file")
    if target == "verified" and not may_verify:
        raise ItemChangeRefused(current, target, allowed, "only an official verifies a closure")
    return target


def finished_on_time(deadline: date, finished_on: date | None) -> bool:
    """True when the item was done on or before its deadline day."""
    return finished_on is not None and finished_on <= deadline


def on_time_rate(on_time: int, due: int) -> float | None:
    """Share of what fell due that was done in time; None when nothing has fallen due.

    "Fell due" counts what is finished (in time or late) and what is unfinished past its
    deadline: an overdue item is already late, so leaving it open cannot raise the rate.

    Examples:
        >>> on_time_rate(3, 4)
        0.75
        >>> on_time_rate(0, 0) is None
        True
    """
    if due < 0 or on_time < 0 or on_time > due:
        raise ValueError(f"need 0 <= on_time <= due, got {on_time} of {due}")
    return None if due == 0 else on_time / due

"""Two-way referral (双向转诊) rules inside a county medical community (县域医共体).

Pure: no database, no web framework.

A referral moves a patient between the levels of one medical community: **upward** (上转) from a
village clinic, health station, community health centre or township hospital to a higher level
(the county/city hospital, here ``tertiary_hospital``); **downward** (下转) back to primary care
for rehabilitation and chronic-disease management. Providers of the same level do not refer to
each other here, and neither do NGOs, private clinics or vans, which are not members of a
medical community.

A medical community is the tree the registry records with ``parent_id`` (village clinic →
township hospital → county hospital): two providers belong to the same one when their chains
of parents end at the same lead hospital.

The state machine (the receiving end answers every step)::

    requested ──accept──► accepted ──arrived──► arrived ──complete──► completed
        │                                          │
        └──reject──► rejected                      └──return──► returned (sent back, 回转)

``rejected`` and ``returned`` need a note saying why or what follows.
"""

from __future__ import annotations

from collections.abc import Callable

REQUESTED = "requested"
ACCEPTED = "accepted"
REJECTED = "rejected"
ARRIVED = "arrived"
COMPLETED = "completed"
RETURNED = "returned"
STATUSES = (REQUESTED, ACCEPTED, REJECTED, ARRIVED, COMPLETED, RETURNED)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    REQUESTED: (ACCEPTED, REJECTED),
    ACCEPTED: (ARRIVED,),
    ARRIVED: (COMPLETED, RETURNED),
}
FINAL = tuple(s for s in STATUSES if s not in TRANSITIONS)
NEEDS_NOTE = (REJECTED, RETURNED)

UP = "up"
DOWN = "down"
DIRECTIONS = (UP, DOWN)
URGENCIES = ("routine", "urgent", "emergency")

# Level of care of each provider kind that takes part in two-way referral.
LEVELS: dict[str, int] = {
    "village_clinic": 1,  # 村卫生室
    "health_station": 1,  # 健康驿站
    "community_health_centre": 2,  # 社区卫生服务中心
    "township_hospital": 2,  # 乡镇卫生院
    "tertiary_hospital": 3,  # 县/市级医院
}
# How far up a chain of parents is followed (village → township → county is 3 long).
MAX_CHAIN = 8


class TransitionRefused(ValueError):
    """A status change the state machine does not allow; says what is allowed instead."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.current = current
        self.target = target
        self.allowed = allowed


def allowed_from(status: str) -> tuple[str, ...]:
    """The statuses a referral in ``status`` may move to (none from a final one)."""
    return TRANSITIONS.get(status, ())


def check_transition(current: str, target: str, note: str | None) -> None:
    """Refuse a change the machine does not allow.

    Raises:
        TransitionRefused: unknown target, a final status, a move not allowed from ``current``,
            or a rejection or return without a note.
    """
    allowed = allowed_from(current)
    if target not in STATUSES:
        raise TransitionRefused(current, target, allowed, f"unknown status {target!r}")
    if current in FINAL:
        raise TransitionRefused(current, target, allowed, f"a {current} referral cannot change")
    if target not in allowed:
        raise TransitionRefused(
            current,
            target,
            allowed,
            f"a {current} referral can move to {', '.join(allowed)}, not {target}",
        )
    if target in NEEDS_NOTE and not (note and note.strip()):
        raise TransitionRefused(current, target, allowed, f"{target} needs a note saying why")


def direction(from_kind: str, to_kind: str) -> str:
    """``up`` to a higher level of care, ``down`` to a lower one.

    Raises:
        ValueError: a kind that takes no referrals, or two providers of the same level.
    """
    for kind in (from_kind, to_kind):
        if kind not in LEVELS:
            raise ValueError(f"a {kind} takes no part in two-way referral")
    low, high = LEVELS[from_kind], LEVELS[to_kind]
    if low == high:
        raise ValueError("both providers are of the same level: a referral goes up or down")
    return UP if high > low else DOWN


def community_root(provider_id: str, parent_of: Callable[[str], str | None]) -> str:
    """The lead provider of the medical community ``provider_id`` belongs to: the end of its
    chain of parents (itself when it has none).

    Args:
        provider_id: where to start.
        parent_of: a provider's parent id, or None (also for a parent not in the registry).

    Raises:
        ValueError: the chain loops or is longer than :data:`MAX_CHAIN`.
    """
    seen = [provider_id]
    current = provider_id
    for _ in range(MAX_CHAIN):
        parent = parent_of(current)
        if parent is None:
            return current
        if parent in seen:
            raise ValueError(f"the parents of {provider_id} form a loop: {' → '.join(seen)}")
        seen.append(parent)
        current = parent
    raise ValueError(f"the chain of parents of {provider_id} is longer than {MAX_CHAIN}")

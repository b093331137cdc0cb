"""The remote-consultation state machine (远程会诊流程). Pure: no database, no web framework.

A village clinic or township hospital (the *requesting end*) asks a specialist of the county
hospital (the *consulting end*) about a patient; the consulting end takes the request, answers
it with findings and advice, or declines it; the requesting end may cancel while it waits and
closes it once it has read the answer::

    requested ──accept──► accepted ──answer──► answered ──close──► closed
        │  │                 │  │
        │  └──decline──┐     │  └──decline──► declined
        │              ▼     │
        └──cancel──► cancelled ◄──cancel──┘

``declined`` and ``cancelled`` need a reason. Which end may make which move is in
:data:`ACTORS`: the state machine does not know who is asking, the service checks that.
"""

from __future__ import annotations

REQUESTED = "requested"
ACCEPTED = "accepted"
ANSWERED = "answered"
CLOSED = "closed"
DECLINED = "declined"
CANCELLED = "cancelled"
STATUSES = (REQUESTED, ACCEPTED, ANSWERED, CLOSED, DECLINED, CANCELLED)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    REQUESTED: (ACCEPTED, DECLINED, CANCELLED),
    ACCEPTED: (ANSWERED, DECLINED, CANCELLED),
    ANSWERED: (CLOSED,),
}
FINAL = tuple(s for s in STATUSES if s not in TRANSITIONS)
NEEDS_REASON = (DECLINED, CANCELLED)
# Still waiting for the consulting end: the specialist's queue.
WAITING = (REQUESTED, ACCEPTED)

REQUESTING = "requesting"
CONSULTING = "consulting"
# Which end makes each move: the specialist takes, answers or declines; the clinic that asked
# cancels its own request and closes it once read.
ACTORS: dict[str, str] = {
    ACCEPTED: CONSULTING,
    ANSWERED: CONSULTING,
    DECLINED: CONSULTING,
    CANCELLED: REQUESTING,
    CLOSED: REQUESTING,
}

URGENCIES = ("routine", "urgent", "emergency")
# The specialties a county hospital answers remotely (会诊科室).
SPECIALTIES = (
    "cardiology",  # 心内科 (ECG)
    "radiology",  # 放射科 (X-ray, CT, MR)
    "ultrasound",  # 超声科
    "internal_medicine",  # 内科
    "endocrinology",  # 内分泌科
    "neurology",  # 神经内科
    "respiratory",  # 呼吸科
    "paediatrics",  # 儿科
    "obstetrics",  # 妇产科
    "dermatology",  # 皮肤科
    "general_surgery",  # 普外科
)


class TransitionRefused(ValueError):
    """A status change the state machine does not allow; says what is allowed instead."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.current = current
        self.target = target
        self.allowed = allowed


def allowed_from(status: str) -> tuple[str, ...]:
    """The statuses a consultation in ``status`` may move to (none from a final one)."""
    return TRANSITIONS.get(status, ())


def check_transition(current: str, target: str, reason: str | None = None) -> None:
    """Refuse a change the machine does not allow.

    Raises:
        TransitionRefused: unknown target, a final status, a move not allowed from ``current``,
            or a decline or cancellation without a reason.

    Examples:
        >>> check_transition("requested", "accepted")
        >>> try:
        ...     check_transition("answered", "accepted")
        ... except TransitionRefused as refused:
        ...     print(refused, refused.allowed)
        an answered consultation can move to closed, not accepted ('closed',)
    """
    allowed = allowed_from(current)
    if target not in STATUSES:
        raise TransitionRefused(current, target, allowed, f"unknown status {target!r}")
    if current in FINAL:
        raise TransitionRefused(current, target, allowed, f"a {current} consultation cannot change")
    if target not in allowed:
        article = "an" if current[0] in "aeiou" else "a"
        raise TransitionRefused(
            current,
            target,
            allowed,
            f"{article} {current} consultation can move to {', '.join(allowed)}, not {target}",
        )
    if target in NEEDS_REASON and not (reason and reason.strip()):
        raise TransitionRefused(current, target, allowed, f"{target} needs a reason saying why")

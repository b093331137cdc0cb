"""The outbox's plain rules: message states, recipients, retry back-off, what a channel receives.

Pure: no database, no web, so the rules are tested in milliseconds.

A message's life::

    pending ──claim──► sending ──sent──► sent
       ▲                 │  │
       │    (shutdown)   │  └─fails, attempts < max──► failed ──(next_attempt_at)──► sending …
       └───release───────┘  └─fails, attempts = max, or a permanent error──► dead
    pending / failed ──cancel──► cancelled

A ``sending`` message holds a lease (token + expiry). A worker that dies leaves the lease to
expire; the next claim takes the message again, and the channel, idempotent on the message id,
does not deliver it a second time (see channels.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
DEAD = "dead"
CANCELLED = "cancelled"
STATUSES = (PENDING, SENDING, SENT, FAILED, DEAD, CANCELLED)
# States a worker may claim (with next_attempt_at due); SENDING is claimable once its lease ends.
WAITING = (PENDING, FAILED)

RecipientKind = Literal["person", "user"]
RECIPIENT_KINDS: tuple[RecipientKind, ...] = ("person", "user")


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: a resident's person (一人一档) or a signed-in user (staff)."""

    kind: RecipientKind
    id: str

    @classmethod
    def person(cls, person_id: str) -> Recipient:
        """A resident, by person id: their inbox is read by the user linked to that person."""
        return cls("person", person_id)

    @classmethod
    def user(cls, user_id: str) -> Recipient:
        """A user, by user id: staff alerts (SLA breaches) go to a user, not to a person."""
        return cls("user", user_id)


@dataclass(frozen=True)
class Delivery:
    """What a channel adapter receives: one message, rendered in its language.

    ``message_id`` is the idempotency key: an adapter delivers a given id at most once.
    """

    message_id: str
    recipient: Recipient
    channel: str
    template: str
    params: dict[str, str | int | float | bool]
    locale: str
    title: str
    body: str


def retry_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first try failed).

    Exponential back-off with "equal jitter": ``d = min(cap, base · 2^(attempt-1))`` and the
    wait is ``d/2 + U(0, d/2)``. The doubling backs off from a gateway that is down; the
    random half spreads the retries of a batch that failed together, so they do not return to
    the gateway all at once; the fixed half keeps every wait at least ``d/2``.
    (tenacity is not a dependency, and this one formula does not need it.)

    Examples:
        >>> retry_delay(1, base=30, cap=3600, rng=random.Random(0)) >= 15
        True
        >>> retry_delay(20, base=30, cap=3600, rng=random.Random(0)) <= 3600
        True
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be non-negative")
    # Cap the exponent before raising 2 to it: attempt 2000 must not overflow a float.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    rng = rng or random.Random()
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a message is tried and how long to wait between tries."""

    max_attempts: int = 6
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def gives_up_after(self, attempts: int) -> bool:
        """True when ``attempts`` tries were the last the policy allows."""
        return attempts >= self.max_attempts

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds before the next try after ``attempts`` failed tries."""
        return retry_delay(attempts, base=self.base_seconds, cap=self.cap_seconds, rng=rng)

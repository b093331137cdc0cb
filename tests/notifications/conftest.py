"""Fixtures of the notification tests: a clock the test moves, channels that record or fail."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from carematch.core.db import session_factory
from carematch.notifications.channels import INBOX, Channel, Outcome, default_channels
from carematch.notifications.errors import ChannelError
from carematch.notifications.models import DeliveryLog, InboxItem, OutboxMessage
from carematch.notifications.outbox import Delivery, Recipient
from carematch.notifications.service import enqueue

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingChannel:
    """A channel that is NOT idempotent: it records every hand-over, so doubles show."""

    def __init__(self, name: str = INBOX) -> None:
        self.name = name
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def send(self, delivery: Delivery) -> Outcome:
        with self._lock:
            self.calls.append(delivery.message_id)
        return Outcome.DELIVERED

    def was_delivered(self, message_id: str) -> bool:
        with self._lock:
            return message_id in self.calls

    def counts(self) -> Counter[str]:
        return Counter(self.calls)


class FlakyChannel:
    """Fails the first ``failures`` hand-overs with a transient error, then delegates."""

    def __init__(self, inner: Channel, failures: int) -> None:
        self.name = inner.name
        self.inner = inner
        self.failures = failures
        self.tries = 0

    def send(self, delivery: Delivery) -> Outcome:
        self.tries += 1
        if self.tries <= self.failures:
            raise ChannelError(f"gateway timeout (try {self.tries})")
        return self.inner.send(delivery)

    def was_delivered(self, message_id: str) -> bool:
        return self.inner.was_delivered(message_id)


@pytest.fixture
def sessions(env) -> sessionmaker[Session]:
    return session_factory()


@pytest.fixture
def channels(sessions):
    return default_channels(sessions)


def enqueue_many(
    sessions: sessionmaker[Session],
    count: int,
    *,
    channel: str = INBOX,
    due_at: datetime = T0,
    prefix: str = "r",
) -> list[str]:
    """Enqueue ``count`` booking reminders due at ``due_at``; their message ids."""
    ids = []
    with sessions.begin() as session:
        for n in range(count):
            done = enqueue(
                session,
                recipient=Recipient.person(f"person{n:05d}"),
                channel=channel,
                template="booking_reminder",
                params={"service": "高血压随访", "start": "5月21日 09:00", "provider": "白云社区"},
                due_at=due_at,
                dedupe_key=f"{prefix}:{channel}:{n}",
            )
            ids.append(done.id)
    return ids


def statuses(sessions: sessionmaker[Session]) -> Counter[str]:
    with sessions() as session:
        return Counter(session.scalars(select(OutboxMessage.status)))


def count_rows(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def delivered_ids(sessions: sessionmaker[Session]) -> list[str]:
    """Every message id with a delivery record, in the inbox or the delivery log (with repeats)."""
    with sessions() as session:
        inbox = list(session.scalars(select(InboxItem.message_id)))
        logged = list(session.scalars(select(DeliveryLog.message_id)))
    return inbox + logged


def worker_command() -> list[str]:
    """argv that runs ``carematch worker`` in a fresh interpreter."""
    return [sys.executable, "-m", "carematch.cli", "worker"]

"""The outbox worker: claim due messages under a lease, hand them to channels, record the result.

Each step is its own short transaction, so a worker killed at any instant leaves the outbox
consistent:

1. claim a batch (one conditional update, committed): the messages are ``sending`` under this
   worker's lease token until ``lease_expires_at``;
2. for each message, the channel delivers and commits its own record, idempotent on the
   message id (channels.py says why that makes delivery exactly-once);
3. the worker marks the message sent (or failed with a back-off, or dead), fenced by its lease
   token, and commits.

A worker killed between 2 and 3 leaves a delivered message ``sending``; when the lease expires
another worker claims it, the channel reports a duplicate, and the message is marked sent
without a second delivery. SIGTERM (and Ctrl-C) stop the worker between messages: it finishes
the message in hand and hands the rest of its batch back at once instead of waiting out the
lease.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from carematch.core.clock import utcnow
from carematch.core.errors import CareMatchError
from carematch.core.ids import new_id
from carematch.core.logging import get_logger
from carematch.notifications import repository
from carematch.notifications.channels import Channel, Outcome
from carematch.notifications.errors import PermanentChannelError
from carematch.notifications.outbox import Delivery, RetryPolicy
from carematch.notifications.repository import ClaimedMessage
from carematch.notifications.templates import get_template

log = get_logger("notifications.worker")
# Longest last_error kept: enough for a gateway's message, not a whole traceback.
ERROR_CHARS = 500


class WorkerSettings(BaseSettings):
    """The worker's defaults, from ``CAREMATCH_WORKER_*``; command-line flags override them."""

    model_config = SettingsConfigDict(env_prefix="CAREMATCH_WORKER_", extra="ignore")

    batch: int = Field(default=50, ge=1, le=10_000, description="messages claimed per batch")
    poll_seconds: float = Field(default=5.0, gt=0, description="pause when nothing is due")
    lease_seconds: float = Field(
        default=120.0, gt=0, description="how long a claim holds; must outlast a batch"
    )
    max_attempts: int = Field(default=6, ge=1, description="tries before a message is dead")
    backoff_base_seconds: float = Field(
        default=30.0, ge=0, description="wait after the first failure"
    )
    backoff_cap_seconds: float = Field(
        default=3600.0, ge=0, description="longest wait between tries"
    )
    rate: float = Field(default=0.0, ge=0, description="messages per second at most; 0: no limit")


class StopFlag:
    """A request to stop that a signal handler may set.

    Not ``threading.Event``: its ``set()`` takes a non-reentrant lock that the interrupted main
    thread may be holding inside ``wait()``, so setting it from a signal handler can deadlock.
    A plain attribute write cannot; ``wait`` sleeps in short steps and looks at it.
    """

    STEP = 0.05

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, returning early (True) once a stop is asked for."""
        deadline = time.monotonic() + seconds
        while not self._set:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, self.STEP))
        return self._set


@dataclass
class WorkerReport:
    """What a worker did: messages claimed, and how each claim ended."""

    claimed: int = 0
    sent: int = 0
    # Claimed again after a crash, found already delivered by the channel: marked sent only.
    duplicates: int = 0
    retried: int = 0
    dead: int = 0
    # The lease ran out and another worker took the message over: this worker recorded nothing.
    lost: int = 0
    # Handed back untried at shutdown or when the lease ran short.
    released: int = 0

    def add(self, other: WorkerReport) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Worker:
    """Delivers the outbox through ``channels``; one instance per process or thread."""

    sessions: sessionmaker[Session]
    channels: Mapping[str, Channel]
    batch: int = 50
    lease_seconds: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate: float = 0.0
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)
    stop: StopFlag = field(default_factory=StopFlag)

    def run_once(self) -> WorkerReport:
        """Claim one batch of due messages and deliver it."""
        report = WorkerReport()
        if self.stop.is_set():
            return report
        now = self.clock()
        token = new_id()
        with self.sessions.begin() as session:
            claimed = repository.claim_due(
                session,
                now=now,
                limit=self.batch,
                lease_token=token,
                lease_until=now + timedelta(seconds=self.lease_seconds),
                worker=self.name,
            )
        report.claimed = len(claimed)
        for index, message in enumerate(claimed):
            # A message whose lease has run out may be in another worker's hands already:
            # hand the rest back rather than race it.
            if self.stop.is_set() or self.clock() >= message.lease_expires_at:
                with self.sessions.begin() as session:
                    report.released += repository.release(
                        session, [m.id for m in claimed[index:]], token
                    )
                break
            self._deliver(message, report)
            if self.rate and index + 1 < len(claimed):
                self.stop.wait(1.0 / self.rate)
        if claimed:
            log.info("outbox.batch", worker=self.name, **report.as_dict())
        return report

    def drain(self) -> WorkerReport:
        """Deliver batches until nothing is due (or a stop is asked for)."""
        total = WorkerReport()
        while not self.stop.is_set():
            report = self.run_once()
            total.add(report)
            if report.claimed == 0:
                break
        return total

    def run(self, poll_seconds: float) -> WorkerReport:
        """Deliver forever, pausing ``poll_seconds`` when nothing is due, until stopped."""
        total = WorkerReport()
        log.info("outbox.worker_started", worker=self.name, batch=self.batch)
        while not self.stop.is_set():
            try:
                report = self.run_once()
            except DBAPIError as exc:
                # The database went away (restart, failover): wait and carry on. Whatever this
                # batch held comes back when its lease ends, and the channels skip what they
                # delivered already.
                log.error("outbox.database_error", worker=self.name, error=str(exc)[:ERROR_CHARS])
                self.stop.wait(poll_seconds)
                continue
            total.add(report)
            if report.claimed == 0:
                self.stop.wait(poll_seconds)
        log.info("outbox.worker_stopped", worker=self.name, **total.as_dict())
        return total

    # -- one message -----------------------------------------------------------------------

    def _deliver(self, message: ClaimedMessage, report: WorkerReport) -> None:
        channel = self.channels.get(message.channel)
        if channel is None:
            self._dead(message, f"no adapter for channel {message.channel!r}", report)
            return
        if message.attempts > self.retry.max_attempts:
            # Claimed again after the last allowed try's lease ran out: that worker died while
            # sending. Record what the channel knows instead of trying past the limit.
            if channel.was_delivered(message.id):
                self._sent(message, Outcome.DUPLICATE, report)
            else:
                self._dead(message, "gave up: the last try never reported back", report)
            return
        try:
            text = get_template(message.template).render(message.params, message.locale)
        except CareMatchError as exc:
            self._dead(message, exc.detail, report)
            return
        delivery = Delivery(
            message_id=message.id,
            recipient=message.recipient,
            channel=message.channel,
            template=message.template,
            params=message.params,
            locale=message.locale,
            title=text.title,
            body=text.body,
        )
        try:
            outcome = channel.send(delivery)
        except PermanentChannelError as exc:
            self._dead(message, f"{type(exc).__name__}: {exc}", report)
        except Exception as exc:
            # Anything else is taken as transient (a gateway timeout, a locked database): retry
            # with back-off, and let the attempt limit end a message that always fails.
            self._failed(message, f"{type(exc).__name__}: {exc}", report)
        else:
            self._sent(message, outcome, report)

    def _sent(self, message: ClaimedMessage, outcome: Outcome, report: WorkerReport) -> None:
        with self.sessions.begin() as session:
            held = repository.mark_sent(session, message.id, message.lease_token, self.clock())
        if not held:
            self._lost(message, report)
        elif outcome is Outcome.DUPLICATE:
            report.duplicates += 1
            log.info("outbox.duplicate_skipped", message_id=message.id, channel=message.channel)
        else:
            report.sent += 1

    def _failed(self, message: ClaimedMessage, error: str, report: WorkerReport) -> None:
        if self.retry.gives_up_after(message.attempts):
            self._dead(message, f"{error} (after {message.attempts} attempts)", report)
            return
        retry_at = self.clock() + timedelta(seconds=self.retry.delay(message.attempts, self.rng))
        with self.sessions.begin() as session:
            held = repository.mark_failed(
                session, message.id, message.lease_token, error[:ERROR_CHARS], retry_at
            )
        if not held:
            self._lost(message, report)
            return
        report.retried += 1
        log.warning(
            "outbox.retry",
            message_id=message.id,
            channel=message.channel,
            attempts=message.attempts,
            retry_at=retry_at.isoformat(),
            error=error[:ERROR_CHARS],
        )

    def _dead(self, message: ClaimedMessage, error: str, report: WorkerReport) -> None:
        with self.sessions.begin() as session:
            held = repository.mark_dead(
                session, message.id, message.lease_token, error[:ERROR_CHARS]
            )
        if not held:
            self._lost(message, report)
            return
        report.dead += 1
        log.error(
            "outbox.dead",
            message_id=message.id,
            channel=message.channel,
            attempts=message.attempts,
            error=error[:ERROR_CHARS],
        )

    def _lost(self, message: ClaimedMessage, report: WorkerReport) -> None:
        report.lost += 1
        log.warning("outbox.lease_lost", message_id=message.id, worker=self.name)


def stop_on_signals(stop: StopFlag) -> None:
    """Set ``stop`` on SIGTERM or SIGINT, so the worker ends after the message in hand."""

    def handler(_signum: int, _frame: object) -> None:
        # Nothing else here: logging takes locks the interrupted code may hold.
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def check_lease(batch: int, rate: float, lease_seconds: float) -> None:
    """Refuse a pace at which a batch cannot be sent within its lease.

    Raises:
        ValueError: ``batch / rate`` is not well inside ``lease_seconds``.
    """
    if rate and batch / rate >= lease_seconds / 2:
        raise ValueError(
            f"a batch of {batch} at {rate}/s takes {batch / rate:.0f} s: "
            f"more than half the {lease_seconds:.0f} s lease; lower --batch or raise --lease"
        )

"""`carematch worker` as a real process: SIGKILL mid-batch, restart, SIGTERM, two at once.

The acceptance of issue 5: every reminder is delivered exactly once even when the worker is
killed mid-batch and restarted. Short leases and a rate limit (--rate) keep each run to a few
seconds while leaving time to kill the worker in the middle of a batch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from carematch.core.clock import utcnow
from carematch.notifications.channels import INBOX, SMS, WECHAT
from carematch.notifications.models import DeliveryLog, InboxItem
from tests.notifications.conftest import (
    count_rows,
    delivered_ids,
    enqueue_many,
    statuses,
    worker_command,
)

pytestmark = pytest.mark.slow

LEASE = 1.5
FAST = ["--batch", "25", "--rate", "100", "--lease", str(LEASE), "--poll", "0.05"]


class WorkerProcess:
    """A `carematch worker` subprocess with its output in files (a pipe could fill and block)."""

    def __init__(self, tmp: Path, name: str, *args: str) -> None:
        self.out = tmp / f"{name}.out"
        self.err = tmp / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*worker_command(), *args], stdout=out, stderr=err, env=os.environ.copy()
            )

    def stop(self, sig: int, timeout: float = 20) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def report(self) -> dict[str, int]:
        return json.loads(self.out.read_text().strip().splitlines()[-1])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"worker exited {self.proc.returncode}: {self.err.read_text()[-3000:]}")


def wait_until(
    condition: Callable[[], bool], workers: list[WorkerProcess], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the worker")
        time.sleep(0.01)


def enqueue_mixed(sessions) -> list[str]:
    """200 inbox reminders, 50 by SMS, 50 by WeChat, all due a minute ago."""
    due = utcnow() - timedelta(minutes=1)
    return [
        *enqueue_many(sessions, 200, channel=INBOX, due_at=due),
        *enqueue_many(sessions, 50, channel=SMS, due_at=due),
        *enqueue_many(sessions, 50, channel=WECHAT, due_at=due),
    ]


def assert_each_delivered_exactly_once(sessions, ids: list[str]) -> None:
    delivered = delivered_ids(sessions)
    assert sorted(delivered) == sorted(ids)  # every message, none twice
    assert count_rows(sessions, InboxItem) == 200
    assert count_rows(sessions, DeliveryLog) == 100
    assert statuses(sessions) == {"sent": len(ids)}  # nothing left pending or sending


def test_a_worker_killed_mid_batch_and_restarted_delivers_every_reminder_once(sessions, tmp_path):
    # Given 300 due reminders and a worker delivering them
    ids = enqueue_mixed(sessions)
    first = WorkerProcess(tmp_path, "first", *FAST)

    # When it is killed (SIGKILL: no clean-up) in the middle of a batch
    def mid_batch() -> bool:
        now = statuses(sessions)
        return now["sent"] >= 60 and now["sending"] >= 5

    wait_until(mid_batch, [first])
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    at_kill = statuses(sessions)
    delivered_at_kill = len(delivered_ids(sessions))
    assert 60 <= at_kill["sent"] < len(ids)
    assert at_kill["sending"] > 0  # claimed messages left under the dead worker's lease
    # A kill between a channel's delivery and the outbox's "sent" leaves a delivered message
    # marked sending; there may be none or one.
    assert delivered_at_kill - at_kill["sent"] in (0, 1)

    # And a new worker starts, waits out the dead lease, and runs until everything is sent
    second = WorkerProcess(tmp_path, "second", *FAST)
    wait_until(lambda: statuses(sessions)["sent"] == len(ids), [second])
    assert second.stop(signal.SIGTERM) == 0

    # Then each reminder was delivered exactly once
    assert_each_delivered_exactly_once(sessions, ids)
    report = second.report()
    left = len(ids) - at_kill["sent"]
    assert report["claimed"] == left
    assert report["sent"] + report["duplicates"] == left
    # What the dead worker had delivered but not marked was recognised, not sent again.
    assert report["duplicates"] == delivered_at_kill - at_kill["sent"]
    assert report["retried"] == report["dead"] == report["lost"] == 0


def test_sigterm_mid_batch_hands_the_batch_back_and_once_finishes_the_rest(sessions, tmp_path):
    ids = enqueue_mixed(sessions)
    worker = WorkerProcess(tmp_path, "worker", *FAST)

    def mid_batch() -> bool:
        now = statuses(sessions)
        return now["sent"] >= 30 and now["sending"] >= 5

    wait_until(mid_batch, [worker])
    started = time.monotonic()
    assert worker.stop(signal.SIGTERM) == 0
    # Graceful: it stops within one message, and hands its claim back instead of leaving it
    # to a lease: nothing is left sending.
    assert time.monotonic() - started < 5
    after = statuses(sessions)
    assert after["sending"] == 0
    report = worker.report()
    assert report["released"] > 0
    assert report["claimed"] == report["sent"] + report["released"]
    assert after["sent"] == report["sent"]

    once = subprocess.run(
        [*worker_command(), "--once", "--batch", "100"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert once.returncode == 0, once.stderr[-3000:]
    finished = json.loads(once.stdout.strip().splitlines()[-1])
    assert finished["sent"] == len(ids) - report["sent"]
    assert finished["duplicates"] == 0
    assert_each_delivered_exactly_once(sessions, ids)


def test_two_worker_processes_share_the_outbox_without_sending_twice(sessions, tmp_path):
    ids = enqueue_mixed(sessions)
    args = ["--batch", "10", "--rate", "150", "--lease", "5", "--poll", "0.05"]
    workers = [WorkerProcess(tmp_path, f"w{n}", *args) for n in range(2)]
    wait_until(lambda: statuses(sessions)["sent"] == len(ids), workers)
    assert [w.stop(signal.SIGTERM) for w in workers] == [0, 0]
    reports = [w.report() for w in workers]
    assert all(r["claimed"] > 0 for r in reports), reports  # both took part
    assert sum(r["claimed"] for r in reports) == len(ids)  # no message claimed twice
    assert sum(r["duplicates"] for r in reports) == 0
    assert_each_delivered_exactly_once(sessions, ids)

"""The worker, in process: due order, retries, dead letters, crashes, stalls and rivals."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from carematch.notifications import repository
from carematch.notifications.channels import INBOX, SMS, WECHAT, Outcome
from carematch.notifications.errors import PermanentChannelError
from carematch.notifications.models import DeliveryLog, InboxItem, OutboxMessage
from carematch.notifications.outbox import Delivery, RetryPolicy
from carematch.notifications.worker import Worker
from tests.notifications.conftest import (
    T0,
    Clock,
    FlakyChannel,
    RecordingChannel,
    count_rows,
    delivered_ids,
    enqueue_many,
    statuses,
)


def make_worker(sessions, channels, clock=None, **kwargs) -> Worker:
    kwargs.setdefault("batch", 10)
    kwargs.setdefault("lease_seconds", 30)
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=100))
    return Worker(
        sessions=sessions,
        channels=channels,
        clock=clock or Clock(T0),
        rng=random.Random(3),
        **kwargs,
    )


def outbox_row(sessions, message_id) -> OutboxMessage:
    with sessions() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row


def test_due_messages_go_earliest_first_and_future_ones_wait(sessions):
    # Given reminders due at scattered times, one of them tomorrow
    offsets = [30, -600, 0, -5, 86_400, -3600, 10]
    ids = {}
    for n, offset in enumerate(offsets):
        [ids[offset]] = enqueue_many(
            sessions, 1, due_at=T0 + timedelta(seconds=offset), prefix=f"o{n}"
        )
    recorder = RecordingChannel()
    clock = Clock(T0 + timedelta(seconds=60))
    worker = make_worker(sessions, {INBOX: recorder}, clock, batch=2)

    # When the worker drains what is due in batches of two
    report = worker.drain()

    # Then it sent the due ones, earliest first, across batches, and left tomorrow's
    due = sorted(o for o in offsets if o <= 60)
    assert recorder.calls == [ids[o] for o in due]
    assert report.claimed == report.sent == len(due)
    assert outbox_row(sessions, ids[86_400]).status == "pending"
    clock.advance(86_400)
    worker.drain()
    assert recorder.calls[-1] == ids[86_400]


def test_each_channel_records_its_delivery_and_the_text_is_rendered(sessions, channels):
    [inbox_id] = enqueue_many(sessions, 1, channel=INBOX, prefix="a")
    [sms_id] = enqueue_many(sessions, 1, channel=SMS, prefix="b")
    [wechat_id] = enqueue_many(sessions, 1, channel=WECHAT, prefix="c")
    report = make_worker(sessions, channels).drain()
    assert report.sent == 3
    with sessions() as session:
        assert session.get(InboxItem, inbox_id) is not None
        logged = {d.message_id: d for d in session.scalars(select(DeliveryLog))}
    assert set(logged) == {sms_id, wechat_id}
    assert logged[sms_id].channel == "sms" and logged[wechat_id].channel == "wechat"
    assert "高血压随访" in logged[sms_id].body and "{" not in logged[sms_id].body
    assert statuses(sessions) == {"sent": 3}
    assert outbox_row(sessions, sms_id).sent_at == T0


def test_a_transient_failure_is_retried_after_a_backoff_then_delivered(sessions, channels):
    # Given an inbox adapter that times out twice
    [message_id] = enqueue_many(sessions, 1)
    flaky = FlakyChannel(channels[INBOX], failures=2)
    clock = Clock(T0)
    worker = make_worker(sessions, {INBOX: flaky}, clock)

    # When the worker tries, fails, and tries again only once the back-off has passed
    assert worker.drain().retried == 1
    first = outbox_row(sessions, message_id)
    assert first.status == "failed" and first.attempts == 1
    assert "gateway timeout" in (first.last_error or "")
    wait = (first.next_attempt_at - T0).total_seconds()
    assert 5 <= wait <= 10  # base 10 s, equal jitter: [d/2, d]
    assert worker.drain().claimed == 0  # not due yet
    clock.now = first.next_attempt_at
    assert worker.drain().retried == 1
    second = outbox_row(sessions, message_id)
    assert 10 <= (second.next_attempt_at - clock.now).total_seconds() <= 20  # doubled
    clock.now = second.next_attempt_at
    report = worker.drain()

    # Then the third try delivers it, once
    assert report.sent == 1
    assert outbox_row(sessions, message_id).status == "sent"
    assert outbox_row(sessions, message_id).attempts == 3
    assert delivered_ids(sessions) == [message_id]


def test_a_message_that_always_fails_is_dead_after_the_last_attempt(sessions, channels):
    [message_id] = enqueue_many(sessions, 1)
    flaky = FlakyChannel(channels[INBOX], failures=10**6)
    clock = Clock(T0)
    worker = make_worker(sessions, {INBOX: flaky}, clock)
    for _ in range(3):
        worker.drain()
        clock.advance(3600)
    row = outbox_row(sessions, message_id)
    assert row.status == "dead" and row.attempts == 3 == flaky.tries
    assert "after 3 attempts" in (row.last_error or "")
    assert worker.drain().claimed == 0  # the dead stay dead
    assert delivered_ids(sessions) == []


def test_a_permanent_failure_is_dead_at_once(sessions):
    class NoSuchSubscriber(RecordingChannel):
        def send(self, delivery: Delivery) -> Outcome:
            raise PermanentChannelError("recipient has no WeChat binding")

    [message_id] = enqueue_many(sessions, 1, channel=WECHAT)
    report = make_worker(sessions, {WECHAT: NoSuchSubscriber(WECHAT)}).drain()
    assert report.dead == 1
    row = outbox_row(sessions, message_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "no WeChat binding" in (row.last_error or "")


def test_a_message_with_no_adapter_or_template_is_dead_not_retried(sessions):
    [no_adapter] = enqueue_many(sessions, 1, channel=SMS, prefix="x")
    [no_template] = enqueue_many(sessions, 1, prefix="y")
    with sessions.begin() as session:
        session.get(OutboxMessage, no_template).template = "withdrawn_template"  # type: ignore[union-attr]
    report = make_worker(sessions, {INBOX: RecordingChannel()}).drain()
    assert report.dead == 2
    assert "no adapter" in (outbox_row(sessions, no_adapter).last_error or "")
    assert "withdrawn_template" in (outbox_row(sessions, no_template).last_error or "")


def test_a_worker_killed_after_delivering_leaves_one_delivery(sessions, channels):
    # Given a worker that claimed a message, delivered it, and died before marking it sent
    [message_id] = enqueue_many(sessions, 1)
    with sessions.begin() as session:
        [claimed] = repository.claim_due(
            session,
            now=T0,
            limit=10,
            lease_token="dead-worker",
            lease_until=T0 + timedelta(seconds=30),
            worker="dead",
        )
    rendered = Delivery(claimed.id, claimed.recipient, INBOX, claimed.template, {}, "zh", "", "")
    assert channels[INBOX].send(rendered) is Outcome.DELIVERED

    # When another worker runs before the lease ends, and again after
    clock = Clock(T0 + timedelta(seconds=29))
    rival = make_worker(sessions, channels, clock)
    assert rival.drain().claimed == 0
    clock.advance(2)
    report = rival.drain()

    # Then it takes the message over, the inbox refuses a second copy, and it is marked sent
    assert (report.claimed, report.duplicates, report.sent) == (1, 1, 0)
    assert outbox_row(sessions, message_id).status == "sent"
    assert delivered_ids(sessions) == [message_id]
    # The dead worker's token no longer fences anything.
    with sessions.begin() as session:
        assert not repository.mark_sent(session, message_id, "dead-worker", T0)


def test_a_stalled_worker_that_wakes_after_a_takeover_delivers_nothing_twice(sessions, channels):
    # Given worker A that stalls inside its first send past its lease, while B takes over
    [message_id] = enqueue_many(sessions, 1)
    b = make_worker(sessions, channels, Clock(T0 + timedelta(seconds=31)), name="B")

    class Stalling:
        name = INBOX

        def send(self, delivery: Delivery) -> Outcome:
            b.drain()  # happens "while A is stuck"
            return channels[INBOX].send(delivery)

        def was_delivered(self, message_id: str) -> bool:
            return channels[INBOX].was_delivered(message_id)

    a = make_worker(sessions, {INBOX: Stalling()}, Clock(T0), name="A")

    # When A finally finishes its send
    report_a = a.drain()

    # Then B delivered, A's late send was a duplicate, and A's fenced mark changed nothing
    assert report_a.lost == 1 and report_a.sent == 0
    row = outbox_row(sessions, message_id)
    assert (row.status, row.claimed_by, row.attempts) == ("sent", "B", 2)
    assert delivered_ids(sessions) == [message_id]


def test_a_lease_expired_after_the_last_attempt_ends_by_what_the_channel_knows(sessions, channels):
    delivered, undelivered = enqueue_many(sessions, 2)
    with sessions.begin() as session:
        claimed = repository.claim_due(
            session,
            now=T0,
            limit=10,
            lease_token="t",
            lease_until=T0 + timedelta(seconds=1),
            worker="dead",
        )
    first = next(c for c in claimed if c.id == delivered)
    channels[INBOX].send(
        Delivery(delivered, first.recipient, INBOX, first.template, {}, "zh", "", "")
    )
    worker = make_worker(sessions, channels, Clock(T0 + timedelta(seconds=5)))
    worker.retry = RetryPolicy(max_attempts=1)
    report = worker.drain()
    assert (report.duplicates, report.dead, report.sent) == (1, 1, 0)
    assert outbox_row(sessions, delivered).status == "sent"
    assert outbox_row(sessions, undelivered).status == "dead"
    assert delivered_ids(sessions) == [delivered]


def test_a_stop_request_finishes_the_message_in_hand_and_hands_the_rest_back(sessions):
    ids = enqueue_many(sessions, 10)

    class StopsAfterThree(RecordingChannel):
        def send(self, delivery: Delivery) -> Outcome:
            outcome = super().send(delivery)
            if len(self.calls) == 3:
                worker.stop.set()  # SIGTERM arrives while the third message is sent
            return outcome

    channel = StopsAfterThree()
    worker = make_worker(sessions, {INBOX: channel}, batch=10)
    report = worker.drain()
    assert (report.claimed, report.sent, report.released) == (10, 3, 7)
    assert statuses(sessions) == {"sent": 3, "pending": 7}
    with sessions() as session:
        rest = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending"))
        # Handed back untried: no attempt counted, no lease left to wait out.
        assert {(m.attempts, m.lease_token) for m in rest} == {(0, None)}
    assert channel.calls == sorted(ids)[:3]  # same due time: id order


def test_two_workers_in_parallel_never_hand_one_message_over_twice(sessions):
    # Given 200 due reminders and two workers sharing a channel that keeps every hand-over
    enqueue_many(sessions, 200)
    recorder = RecordingChannel()
    workers = [
        make_worker(sessions, {INBOX: recorder}, batch=7, name=f"w{n}", clock=Clock(T0))
        for n in range(2)
    ]
    start = threading.Barrier(2)
    reports = {}

    def run(worker: Worker) -> None:
        start.wait()
        reports[worker.name] = worker.drain()

    # When both drain the outbox at once
    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    # Then every message was handed over exactly once, and both workers took part
    counts = recorder.counts()
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert all(r.claimed > 0 for r in reports.values()), reports
    assert sum(r.sent for r in reports.values()) == 200
    assert statuses(sessions) == {"sent": 200}


def test_two_workers_with_the_real_channels_deliver_each_once(sessions, channels):
    enqueue_many(sessions, 60, channel=INBOX, prefix="i")
    enqueue_many(sessions, 30, channel=SMS, prefix="s")
    enqueue_many(sessions, 30, channel=WECHAT, prefix="w")
    workers = [make_worker(sessions, channels, batch=5, name=f"w{n}") for n in range(2)]
    reports = []
    threads = [threading.Thread(target=lambda w=w: reports.append(w.drain())) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # No message was even offered twice: the claim keeps the workers apart.
    assert sum(r.duplicates for r in reports) == 0
    assert sum(r.sent for r in reports) == 120
    delivered = delivered_ids(sessions)
    assert len(delivered) == len(set(delivered)) == 120
    assert count_rows(sessions, InboxItem) == 60
    assert count_rows(sessions, DeliveryLog) == 60
    assert statuses(sessions) == {"sent": 120}


def test_a_running_worker_survives_the_database_going_away(sessions, channels):
    # Given a worker whose first claim meets a dropped connection
    ids = enqueue_many(sessions, 5)

    class DropsOnce:
        def __init__(self) -> None:
            self.dropped = False

        def begin(self):
            if not self.dropped:
                self.dropped = True
                raise OperationalError("UPDATE", {}, Exception("server closed the connection"))
            return sessions.begin()

        def __call__(self):
            return sessions()

    flaky = DropsOnce()
    worker = make_worker(flaky, channels)  # type: ignore[arg-type]
    reports = []
    thread = threading.Thread(target=lambda: reports.append(worker.run(poll_seconds=0.01)))

    # When it runs until everything is sent
    thread.start()
    deadline = time.monotonic() + 30
    while statuses(sessions).get("sent", 0) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop.set()
    thread.join(timeout=10)

    # Then it waited the error out and delivered everything, once
    assert flaky.dropped and not thread.is_alive()
    assert reports[0].sent == len(ids)
    assert sorted(delivered_ids(sessions)) == sorted(ids)

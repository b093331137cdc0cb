"""Enqueue: in the caller's transaction, once per dedupe key, checked before it is stored."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from carematch.core.errors import InvalidInput
from carematch.notifications.errors import InvalidParams, UnknownChannel, UnknownTemplate
from carematch.notifications.models import OutboxMessage
from carematch.notifications.outbox import Recipient
from carematch.notifications.service import cancel, enqueue
from tests.notifications.conftest import T0, statuses

PARAMS = {"item": "居民需求 D-17", "limit": "24小时", "deadline": "5月21日 08:00"}


def _enqueue(session, key="sla:D-17", **overrides):
    args = {
        "recipient": Recipient.user("u1"),
        "channel": "inbox",
        "template": "sla_alert",
        "params": PARAMS,
        "due_at": T0,
        "dedupe_key": key,
    } | overrides
    return enqueue(session, **args)


def test_enqueue_stores_a_pending_message_due_when_asked(sessions):
    with sessions.begin() as session:
        done = _enqueue(session, due_at=T0 + timedelta(hours=3), locale="en")
    assert done.created and done.status == "pending"
    with sessions() as session:
        stored = session.get(OutboxMessage, done.id)
        assert stored is not None
        assert (stored.recipient_kind, stored.recipient_id) == ("user", "u1")
        assert json.loads(stored.params) == PARAMS
        assert stored.locale == "en"
        assert stored.due_at == stored.next_attempt_at == T0 + timedelta(hours=3)
        assert stored.attempts == 0


def test_enqueuing_the_same_reminder_twice_leaves_one_message(sessions):
    with sessions.begin() as session:
        first = _enqueue(session)
    with sessions.begin() as session:
        again = _enqueue(session, params={**PARAMS, "item": "changed"}, due_at=T0 + timedelta(1))
    assert first.created and not again.created
    assert again.id == first.id
    assert statuses(sessions) == {"pending": 1}
    with sessions() as session:
        # The first enqueue wins; the repeat changed nothing.
        assert json.loads(session.scalars(select(OutboxMessage.params)).one()) == PARAMS


def test_a_repeat_inside_the_same_transaction_is_a_no_op_too(sessions):
    with sessions.begin() as session:
        first = _enqueue(session)
        again = _enqueue(session)
    assert (first.created, again.created) == (True, False)
    assert statuses(sessions) == {"pending": 1}


def test_the_message_commits_or_rolls_back_with_the_callers_change(sessions):
    session = sessions()
    _enqueue(session)
    session.rollback()  # the booking failed: no reminder for it
    session.close()
    assert statuses(sessions) == {}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"template": "birthday"}, UnknownTemplate),
        ({"params": {"item": "x"}}, InvalidParams),
        ({"channel": "pigeon"}, UnknownChannel),
        ({"recipient": Recipient("household", "h1")}, InvalidInput),  # type: ignore[arg-type]
        ({"due_at": datetime(2026, 5, 20, 8, 0)}, InvalidInput),
        ({"dedupe_key": ""}, InvalidInput),
        ({"locale": "fr"}, InvalidInput),
    ],
)
def test_a_bad_message_is_refused_before_it_is_stored(sessions, overrides, error):
    with sessions.begin() as session, pytest.raises(error):
        _enqueue(session, **overrides)
    assert statuses(sessions) == {}


def test_cancel_stops_a_reminder_not_yet_sent_and_only_that(sessions):
    with sessions.begin() as session:
        _enqueue(session, key="a")
        _enqueue(session, key="b")
    with sessions.begin() as session:
        session.execute(
            OutboxMessage.__table__.update()
            .where(OutboxMessage.dedupe_key == "b")
            .values(status="sent")
        )
    with sessions.begin() as session:
        assert cancel(session, "a") is True
        assert cancel(session, "b") is False  # already sent: a reminder cannot be unsent
        assert cancel(session, "missing") is False
    assert statuses(sessions) == {"cancelled": 1, "sent": 1}

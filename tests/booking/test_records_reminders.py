"""Reminders of bookings and follow-ups through the outbox (SQLite and PostgreSQL): enqueued once
per booking and slot, cancelled with the booking, moved with a reschedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from carematch.booking import records, reminders, service
from carematch.core.db import session_scope
from carematch.notifications.models import OutboxMessage
from carematch.providers.hours import CITY_TZ
from tests.booking.conftest import NOW, World, add_persons, add_slot, principal
from tests.booking.test_records import FOLLOWUP, booked_visit


def messages(prefix: str) -> dict[str, OutboxMessage]:
    """Outbox messages whose dedupe key starts with ``prefix``, by key."""
    with session_scope() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(prefix))
        ).all()
        for row in rows:
            session.expunge(row)
        return {row.dedupe_key: row for row in rows}


def book(world: World, slot: str, key: str | None = None, person: str | None = None) -> str:
    with session_scope() as session:
        return service.book(
            session,
            principal(session, "official_d1"),
            slot_id=slot,
            person_id=person or world.person_d1,
            idempotency_key=key,
            now=NOW,
        ).view.booking.id


def as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def test_a_booking_gets_a_notice_now_a_reminder_the_day_before_and_an_sms_two_hours_before(
    world: World,
):
    start = NOW + timedelta(days=2)
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, start=start)
    booking = book(world, slot, key="retry-me")
    found = messages(f"booking:{booking}:")
    assert sorted(found) == sorted(
        f"booking:{booking}:{slot}:{name}" for name in ("booked", "24h", "2h")
    )
    due = {key.rsplit(":", 1)[1]: as_utc(m.due_at) for key, m in found.items()}
    assert due == {
        "booked": NOW,
        "24h": start - timedelta(hours=24),
        "2h": start - timedelta(hours=2),
    }
    assert {m.channel for m in found.values()} == {"inbox", "sms"}
    sms = found[f"booking:{booking}:{slot}:2h"]
    assert (sms.recipient_kind, sms.recipient_id, sms.template) == (
        "person",
        world.person_d1,
        "booking_reminder",
    )
    params = json.loads(sms.params)
    local = start.astimezone(CITY_TZ)
    assert params["start"] == f"{local.month}月{local.day}日 {local:%H:%M}"
    assert params["service"] == "成人及老年人疫苗接种" and params["provider"] == "机构PRVD1"

    # The same request again (an Idempotency-Key replay) enqueues nothing more.
    assert book(world, slot, key="retry-me") == booking
    assert len(messages(f"booking:{booking}:")) == 3


def test_reminders_whose_time_has_passed_are_not_sent(world: World):
    with session_scope() as session:
        soon = add_slot(session, world.provider_d1, start=NOW + timedelta(hours=1))
    booking = book(world, soon)
    assert [k.rsplit(":", 1)[1] for k in messages(f"booking:{booking}:")] == ["booked"]


def test_cancelling_cancels_the_reminders_not_yet_sent(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, start=NOW + timedelta(days=2))
    booking = book(world, slot)
    with session_scope() as session:
        service.cancel(session, principal(session, "official_d1"), booking, now=NOW)
    assert {m.status for m in messages(f"booking:{booking}:").values()} == {"cancelled"}


def test_a_reschedule_moves_the_reminders_to_the_new_slot(world: World):
    with session_scope() as session:
        old = add_slot(session, world.provider_d1, start=NOW + timedelta(days=2))
        new = add_slot(session, world.provider_d1, start=NOW + timedelta(days=5))
    booking = book(world, old)
    with session_scope() as session:
        service.reschedule(session, principal(session, "official_d1"), booking, new, now=NOW)
    found = messages(f"booking:{booking}:")
    assert {k for k, m in found.items() if m.status == "cancelled"} == {
        f"booking:{booking}:{old}:{n}" for n in ("booked", "24h", "2h")
    }
    pending = {k: m for k, m in found.items() if m.status == "pending"}
    assert set(pending) == {f"booking:{booking}:{new}:{n}" for n in ("booked", "24h", "2h")}
    reminder = pending[f"booking:{booking}:{new}:24h"]
    assert as_utc(reminder.due_at) == NOW + timedelta(days=4)


def test_a_place_given_from_the_waitlist_is_announced_to_its_person(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, capacity=1, start=NOW + timedelta(days=2))
        (waiting,) = add_persons(session, 1)
    first = book(world, slot)
    with session_scope() as session:
        service.join_waitlist(
            session, principal(session, "official_d1"), slot_id=slot, person_id=waiting, now=NOW
        )
        service.cancel(session, principal(session, "official_d1"), first, now=NOW)
    with session_scope() as session:
        rows = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.recipient_id == waiting, OutboxMessage.status == "pending"
            )
        ).all()
        assert sorted(r.dedupe_key.rsplit(":", 1)[1] for r in rows) == ["24h", "2h", "booked"]


def test_a_no_show_cancels_what_is_left(world: World):
    start = NOW + timedelta(hours=3)
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, start=start)
    booking = book(world, slot)
    assert messages(f"booking:{booking}:{slot}:2h")
    with session_scope() as session:
        service.mark_no_show(
            session, principal(session, "doctor_d1"), booking, now=start + timedelta(minutes=20)
        )
    assert messages(f"booking:{booking}:{slot}:2h")[f"booking:{booking}:{slot}:2h"].status == (
        "cancelled"
    )


def test_a_record_with_a_next_date_reminds_the_person_three_days_before(world: World):
    booking_id, _ = booked_visit(world)
    day = (NOW + timedelta(days=90)).date()
    with session_scope() as session:
        record = records.write(
            session,
            principal(session, "doctor_d1"),
            booking_id=booking_id,
            next_followup_on=day,
            now=NOW,
        ).record
    found = messages(reminders.followup_key(record.id))
    (message,) = found.values()
    assert message.template == "followup_due" and message.recipient_id == world.person_d1
    due = as_utc(message.due_at).astimezone(CITY_TZ)
    assert (due.date(), due.hour) == (day - timedelta(days=3), 9)
    assert json.loads(message.params)["program"] == "慢性病随访管理"


def test_a_walk_in_without_a_next_date_sends_no_follow_up_reminder(world: World):
    with session_scope() as session:
        record = records.write(
            session,
            principal(session, "doctor_d1"),
            person_id=world.person_d1,
            provider_id=world.provider_d1,
            service=FOLLOWUP,
            now=NOW,
        ).record
    assert messages(reminders.followup_key(record.id)) == {}

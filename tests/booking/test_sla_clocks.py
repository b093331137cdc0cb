"""SLA clocks as rows on SQLite and PostgreSQL: started by demands and consultations, answered by
bookings, contacts, check-ins and records, swept for breaches once, alerted once, counted."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from carematch.booking import clocks, records, repository, service, sla
from carematch.booking.errors import SlaClockNotFound, SlaClockStateConflict
from carematch.booking.models import SlaClock
from carematch.core.db import session_scope
from carematch.notifications.models import OutboxMessage
from carematch.profiling.models import Demand
from carematch.security.models import User
from tests.booking.conftest import NOW, World, add_persons, add_slot, principal
from tests.booking.test_records import FOLLOWUP, add_demand
from tests.fixtures.people import D1

COMMUNITY = f"{D1}001001"
ONLINE = sla.ONLINE_CONSULTATION
HOUR = timedelta(hours=1)


def sweep(at):
    with session_scope() as session:
        return clocks.sweep(session, now=at)


def clock(kind: str, subject: str) -> SlaClock:
    with session_scope() as session:
        row = repository.clock_for(session, kind, subject)
        assert row is not None
        session.expunge(row)
        return row


def alerts() -> list[tuple[str, dict]]:
    """The SLA alerts in the outbox: (recipient user, params)."""
    with session_scope() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.template == "sla_alert")
        ).all()
        return sorted((m.recipient_id, json.loads(m.params)) for m in rows)


def user_id(username: str) -> str:
    with session_scope() as session:
        found = session.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def raised(world: World, at=NOW, service_code: str = FOLLOWUP) -> str:
    with session_scope() as session:
        return add_demand(
            session, world.person_d1, service_code, first_seen_at=at, community=COMMUNITY
        )


def test_an_unanswered_demand_breaches_after_24_hours_and_is_alerted_once(world: World):
    demand = raised(world)
    first = sweep(NOW + HOUR)
    assert (first.started, first.breached, first.alerts) == (1, 0, 0)
    row = clock(sla.DEMAND_RESPONSE, demand)
    assert clocks.state_of(row, NOW + HOUR) is sla.ClockState.RUNNING
    assert clocks._utc(row.deadline_at) == NOW + timedelta(hours=24)

    assert sweep(NOW + timedelta(hours=23, minutes=59)).breached == 0
    late = sweep(NOW + timedelta(hours=25))
    assert (late.started, late.breached, late.alerts) == (0, 1, 2)
    row = clock(sla.DEMAND_RESPONSE, demand)
    assert clocks._utc(row.breached_at) == NOW + timedelta(hours=24)  # the deadline itself
    assert row.alerted_at is not None
    # Both district-1 staff (the most local level holding the community) are alerted; nobody
    # of district 2, and the text names the service, not the person.
    sent = alerts()
    assert [recipient for recipient, _ in sent] == sorted(
        [user_id("doctor_d1"), user_id("official_d1")]
    )
    assert "慢性病随访管理" in sent[0][1]["item"] and sent[0][1]["limit"] == "24小时"

    again = sweep(NOW + timedelta(hours=48))
    assert (again.started, again.breached, again.alerts) == (0, 0, 0)
    assert len(alerts()) == 2
    with session_scope() as session:
        assert clocks.count_breaches(session, now=NOW + timedelta(hours=48)) == 1
        assert clocks.count_breaches(session, now=NOW + timedelta(hours=48), region="449902") == 0


def test_a_booking_made_for_the_demand_answers_it_even_before_the_clock_exists(world: World):
    demand = raised(world)
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, service=FOLLOWUP, start=NOW + timedelta(days=3))
        service.book(
            session,
            principal(session, "resident1"),
            slot_id=slot,
            person_id=world.person_d1,
            demand_id=demand,
            now=NOW + timedelta(hours=2),
        )
    summary = sweep(NOW + timedelta(hours=30))
    assert (summary.started, summary.breached) == (1, 0)
    row = clock(sla.DEMAND_RESPONSE, demand)
    assert row.answer == "booking" and clocks._utc(row.answered_at) == NOW + timedelta(hours=2)
    with session_scope() as session:
        counts = clocks.clock_counts(session, now=NOW + timedelta(hours=30))
    assert (counts.met, counts.breached, counts.breach_rate) == (1, 0, 0.0)


def test_a_booking_after_the_clock_started_answers_it_too(world: World):
    demand = raised(world)
    sweep(NOW + HOUR)
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, service=FOLLOWUP, start=NOW + timedelta(days=3))
        service.book(
            session,
            principal(session, "official_d1"),
            slot_id=slot,
            person_id=world.person_d1,
            demand_id=demand,
            now=NOW + timedelta(hours=5),
        )
    assert sweep(NOW + timedelta(hours=30)).breached == 0
    assert clock(sla.DEMAND_RESPONSE, demand).answered_by == "official_d1"


def test_staff_answer_a_demand_by_recording_a_contact_within_their_jurisdiction(world: World):
    demand = raised(world)
    sweep(NOW + HOUR)
    clock_id = clocks.clock_id(sla.DEMAND_RESPONSE, demand)
    with pytest.raises(SlaClockNotFound), session_scope() as session:
        clocks.record_contact(session, principal(session, "official_d2"), clock_id)
    with pytest.raises(SlaClockNotFound), session_scope() as session:
        clocks.record_contact(session, principal(session, "resident1"), clock_id)
    with session_scope() as session:
        row = clocks.record_contact(
            session, principal(session, "doctor_d1"), clock_id, now=NOW + 3 * HOUR
        )
        assert row.answer == "contact"
    with session_scope() as session:  # again: nothing changes
        row = clocks.record_contact(
            session, principal(session, "doctor_d1"), clock_id, now=NOW + 4 * HOUR
        )
        assert clocks._utc(row.answered_at) == NOW + 3 * HOUR
    assert sweep(NOW + timedelta(hours=30)).breached == 0


def test_a_demand_closed_before_its_deadline_voids_its_clock(world: World):
    demand = raised(world)
    sweep(NOW + HOUR)
    with session_scope() as session:
        row = session.get(Demand, demand)
        assert row is not None
        row.status = "closed"
    summary = sweep(NOW + 2 * HOUR)
    assert summary.voided == 1
    assert sweep(NOW + timedelta(hours=30)).breached == 0
    with pytest.raises(SlaClockStateConflict), session_scope() as session:
        clocks.record_contact(
            session,
            principal(session, "doctor_d1"),
            clocks.clock_id(sla.DEMAND_RESPONSE, demand),
        )
    with session_scope() as session:
        assert clocks.clock_counts(session, now=NOW + timedelta(hours=30)).void == 1


def test_a_service_record_answers_the_demands_clock(world: World):
    demand = raised(world)
    sweep(NOW + HOUR)
    with session_scope() as session:
        records.write(
            session,
            principal(session, "doctor_d1"),
            person_id=world.person_d1,
            provider_id=world.provider_d1,
            service=FOLLOWUP,
            summary="home visit",
            now=NOW + 5 * HOUR,
        )
    assert sweep(NOW + timedelta(hours=30)).breached == 0
    assert clock(sla.DEMAND_RESPONSE, demand).answer == "service_record"


def online_booking(world: World, *, start, at=NOW) -> str:
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, service=ONLINE, start=start, minutes=10)
        return service.book(
            session,
            principal(session, "official_d1"),
            slot_id=slot,
            person_id=world.person_d1,
            now=at,
        ).view.booking.id


def test_an_online_consultation_must_be_taken_within_30_minutes_of_its_slot(world: World):
    start = NOW + HOUR
    taken = online_booking(world, start=start)
    row = clock(ONLINE, taken)
    assert clocks._utc(row.started_at) == start
    assert clocks._utc(row.deadline_at) == start + timedelta(minutes=30)
    with session_scope() as session:
        service.check_in(
            session, principal(session, "doctor_d1"), taken, now=start + timedelta(minutes=20)
        )
    assert clock(ONLINE, taken).answer == "check_in"

    with session_scope() as session:  # a second person, never taken
        slot = add_slot(session, world.provider_d1, service=ONLINE, start=start, minutes=10)
        (other,) = add_persons(session, 1, COMMUNITY)
        missed = service.book(
            session, principal(session, "official_d1"), slot_id=slot, person_id=other, now=NOW
        ).view.booking.id
    summary = sweep(start + timedelta(minutes=31))
    assert summary.breached == 1
    assert clock(ONLINE, missed).breached_at is not None
    assert [p["limit"] for _, p in alerts()] == ["30分钟", "30分钟"]


def test_a_consultation_booked_late_starts_its_clock_at_the_booking(world: World):
    start = NOW - timedelta(minutes=5)  # the slot has begun; booked now
    booking = online_booking(world, start=start)
    assert clocks._utc(clock(ONLINE, booking).started_at) == NOW


def test_cancelling_voids_and_rescheduling_restarts_the_consultation_clock(world: World):
    cancelled = online_booking(world, start=NOW + HOUR)
    with session_scope() as session:
        service.cancel(
            session, principal(session, "official_d1"), cancelled, now=NOW + timedelta(minutes=5)
        )
    assert clock(ONLINE, cancelled).void_reason == "cancelled"

    moved = online_booking(world, start=NOW + 2 * HOUR)
    with session_scope() as session:
        later = add_slot(
            session, world.provider_d1, service=ONLINE, start=NOW + 5 * HOUR, minutes=10
        )
        service.reschedule(session, principal(session, "official_d1"), moved, later, now=NOW)
    row = clock(ONLINE, moved)
    assert clocks._utc(row.started_at) == NOW + 5 * HOUR
    assert sweep(NOW + 3 * HOUR).breached == 0


def _stop(rng: random.Random, start):
    return None if rng.random() < 0.4 else start + timedelta(minutes=rng.randrange(0, 2000))


def test_the_sql_rule_agrees_with_the_engine_on_every_clock(world: World):
    rng = random.Random(7)
    rows = []
    for i in range(80):
        start = NOW + timedelta(minutes=rng.randrange(0, 600))
        kind = rng.choice([sla.DEMAND_RESPONSE, ONLINE])
        deadline = start + sla.rule(kind).limit
        answered = _stop(rng, start)
        voided = _stop(rng, start) if rng.random() < 0.3 else None
        if rng.random() < 0.1 and answered is not None:
            answered = deadline  # exactly at the deadline: in time
        rows.append(
            {
                "id": f"K{i:03d}",
                "kind": kind,
                "subject_id": f"S{i:03d}",
                "person_id": world.person_d1,
                "service": FOLLOWUP,
                "region_code": COMMUNITY,
                "started_at": start,
                "deadline_at": deadline,
                "answered_at": answered,
                "voided_at": voided,
                "created_at": NOW,
            }
        )
    with session_scope() as session:
        repository.insert_clocks(session, rows)
    seen: set[str] = set()
    for minutes in (0, 30, 200, 700, 1500, 2000, 3000):
        now = NOW + timedelta(minutes=minutes)
        with session_scope() as session:
            counts = clocks.clock_counts(session, now=now)
            stored = session.scalars(select(SlaClock)).all()
            expected = {state: 0 for state in sla.ClockState}
            for row in stored:
                expected[clocks.state_of(row, now)] += 1
            unrecorded = {r.id for r in repository.unrecorded_breaches(session, now, 1000)}
            engine = {r.id for r in stored if clocks.state_of(r, now) is sla.ClockState.BREACHED}
        assert (counts.running, counts.met, counts.void, counts.breached) == (
            expected[sla.ClockState.RUNNING],
            expected[sla.ClockState.MET],
            expected[sla.ClockState.VOID],
            expected[sla.ClockState.BREACHED],
        ), minutes
        assert unrecorded == engine
        seen.update(state for state, n in expected.items() if n)
    assert seen == set(sla.ClockState)  # the sample exercised every state


def test_responsible_staff_are_the_most_local_holders_of_the_region():
    staff = [
        ("city", "449900"),
        ("district", "449901"),
        ("other", "449902"),
        ("street", "449901001"),
    ]
    assert clocks.responsible_staff(staff, "449901001001") == ["street"]
    assert clocks.responsible_staff(staff, "449901002001") == ["district"]
    assert clocks.responsible_staff(staff, "449903001001") == ["city"]
    assert clocks.responsible_staff(staff, None) == []


def test_the_sweep_command_prints_its_summary_and_a_second_run_changes_nothing(world: World):
    from typer.testing import CliRunner

    from carematch.cli import app

    raised(world, at=datetime.now(UTC) - timedelta(hours=30))
    runner = CliRunner()
    first = runner.invoke(app, ["booking", "sla"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"started": 1, "voided": 0, "breached": 1, "alerts": 2}
    again = runner.invoke(app, ["booking", "sla"])
    assert json.loads(again.stdout) == {"started": 0, "voided": 0, "breached": 0, "alerts": 0}

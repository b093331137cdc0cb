"""Service records on SQLite and PostgreSQL: a record completes the booking and serves the demand,
once per booking, within the jurisdiction; text encrypted at rest; writes and reads audited."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.booking import records, service
from carematch.booking.errors import (
    BookingDemandNotFound,
    BookingNotFound,
    BookingStateConflict,
    InvalidServiceRecord,
    ServiceRecordExists,
    ServiceRecordNotFound,
)
from carematch.booking.models import Booking, ServiceRecord
from carematch.core.db import session_scope
from carematch.core.errors import Forbidden
from carematch.identity.errors import PersonNotFound
from carematch.points import service as points
from carematch.profiling.models import Demand
from carematch.providers.errors import ProviderNotFound, UnknownService
from carematch.security.models import AuditEntry
from tests.booking.conftest import NOW, OTHER_SERVICE, SERVICE, World, add_slot, principal

FOLLOWUP = OTHER_SERVICE  # chronic_followup: PRVD1 and PRVD2 offer it


def add_demand(
    session: Session,
    person_id: str,
    service_code: str = FOLLOWUP,
    *,
    tag: str = "hypertension_uncontrolled",
    first_seen_at: datetime = NOW,
    community: str | None = None,
    status: str = "open",
) -> str:
    """An open demand of a person for a service, as profiling would have raised it."""
    demand_id = f"D{tag[:8]}{person_id[-12:]}{service_code[:6]}"[:32]
    session.add(
        Demand(
            id=demand_id,
            person_id=person_id,
            tag=tag,
            service=service_code,
            demand_type="health_management",
            level="maintenance",
            status=status,
            because='{"sbp": 165}',
            community_code=community,
            as_of=first_seen_at.date(),
            first_seen_at=first_seen_at,
            last_seen_at=first_seen_at,
            status_changed_at=first_seen_at,
        )
    )
    session.flush()
    return demand_id


def demand_status(demand_id: str) -> str:
    with session_scope() as session:
        row = session.get(Demand, demand_id)
        assert row is not None
        return row.status


def booked_visit(world: World, *, demand: bool = True, check_in: bool = True) -> tuple[str, str]:
    """A chronic follow-up booked tomorrow at PRVD1 for the district-1 person (for an open
    demand), checked in by the doctor: (booking id, demand id)."""
    with session_scope() as session:
        slot = add_slot(
            session, world.provider_d1, service=FOLLOWUP, start=NOW + timedelta(hours=1)
        )
        demand_id = add_demand(session, world.person_d1)
        official = principal(session, "official_d1")
        booked = service.book(
            session,
            official,
            slot_id=slot,
            person_id=world.person_d1,
            demand_id=demand_id if demand else None,
            now=NOW,
        )
        if check_in:
            service.check_in(
                session, principal(session, "doctor_d1"), booked.view.booking.id, now=NOW
            )
        return booked.view.booking.id, demand_id


def audit_actions(entity_id: str) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == entity_id))
        )


def test_a_service_record_completes_the_booking_and_serves_the_demand(world: World):
    booking_id, demand_id = booked_visit(world)
    with session_scope() as session:
        # A second need for the same service (another tag) and one for another service.
        twin = add_demand(session, world.person_d1, tag="chronic_continuity")
        other = add_demand(session, world.person_d1, SERVICE, tag="elderly_vaccination")
    assert demand_status(demand_id) == "open"

    with session_scope() as session:
        result = records.write(
            session,
            principal(session, "doctor_d1"),
            booking_id=booking_id,
            summary="血压复测 152/95，调整用药",
            outcome="follow_up",
            notes="建议低盐饮食",
            next_followup_on=(NOW + timedelta(days=90)).date(),
            now=NOW + timedelta(hours=1, minutes=10),
        )
        record_id = result.record.id
        assert result.booking is not None and result.booking.booking.status == "completed"
        assert sorted(result.served) == sorted([demand_id, twin])

    with session_scope() as session:
        booking = session.get(Booking, booking_id)
        assert booking is not None and booking.status == "completed"
        assert booking.completed_at is not None
        record = session.get(ServiceRecord, record_id)
        assert record is not None
        assert record.person_id == world.person_d1 and record.provider_id == world.provider_d1
        assert record.summary == "血压复测 152/95，调整用药"
    assert demand_status(demand_id) == "served"
    assert demand_status(twin) == "served"
    assert demand_status(other) == "open"
    assert audit_actions(record_id) == ["write_service_record"]


def test_summary_and_notes_are_encrypted_at_rest(world: World):
    booking_id, _ = booked_visit(world)
    with session_scope() as session:
        result = records.write(
            session,
            principal(session, "doctor_d1"),
            booking_id=booking_id,
            summary="HbA1c 8.1%",
            notes="insulin started",
            now=NOW + timedelta(hours=1),
        )
        record_id = result.record.id
    with session_scope() as session:
        raw = session.execute(
            text("SELECT summary, notes FROM service_records WHERE id = :id"), {"id": record_id}
        ).one()
    assert "HbA1c" not in raw[0] and "insulin" not in raw[1]
    assert raw[0] != raw[1]


def test_a_booking_is_recorded_once(world: World):
    booking_id, _ = booked_visit(world)
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        records.write(session, doctor, booking_id=booking_id, summary="done", now=NOW)
    with pytest.raises(ServiceRecordExists), session_scope() as session:
        records.write(
            session, principal(session, "doctor_d1"), booking_id=booking_id, summary="again"
        )


def test_the_unique_index_refuses_a_second_record_for_a_booking_written_past_the_checks(
    world: World,
):
    booking_id, _ = booked_visit(world)
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        first = records.write(session, doctor, booking_id=booking_id, summary="done", now=NOW)
        values = {c.name: getattr(first.record, c.name) for c in ServiceRecord.__table__.columns}
    values["id"] = "second-record"
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(ServiceRecord(**values))
        session.flush()


def test_a_booked_visit_may_be_recorded_without_check_in_but_not_a_cancelled_one(world: World):
    booking_id, demand_id = booked_visit(world, check_in=False)
    with session_scope() as session:
        result = records.write(
            session, principal(session, "doctor_d1"), booking_id=booking_id, summary="ok", now=NOW
        )
        assert result.booking is not None and result.booking.booking.status == "completed"
    assert demand_status(demand_id) == "served"

    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, service=SERVICE, start=NOW + timedelta(days=1))
        official = principal(session, "official_d1")
        booked = service.book(session, official, slot_id=slot, person_id=world.person_d1, now=NOW)
        service.cancel(session, official, booked.view.booking.id, now=NOW)
        cancelled = booked.view.booking.id
    with pytest.raises(BookingStateConflict), session_scope() as session:
        records.write(session, principal(session, "doctor_d1"), booking_id=cancelled, summary="x")


def test_staff_of_another_district_and_residents_cannot_write_a_record(world: World):
    booking_id, demand_id = booked_visit(world)
    with pytest.raises(BookingNotFound), session_scope() as session:
        records.write(
            session, principal(session, "official_d2"), booking_id=booking_id, summary="x"
        )
    with pytest.raises(Forbidden), session_scope() as session:
        records.write(session, principal(session, "resident1"), booking_id=booking_id, summary="x")
    assert demand_status(demand_id) == "open"


def test_a_walk_in_record_serves_the_persons_demand_for_the_service(world: World):
    with session_scope() as session:
        demand_id = add_demand(session, world.person_d1)
    with session_scope() as session:
        result = records.write(
            session,
            principal(session, "doctor_d1"),
            person_id=world.person_d1,
            provider_id=world.provider_d1,
            service=FOLLOWUP,
            demand_id=demand_id,
            summary="上门随访",
            now=NOW,
        )
        assert result.record.booking_id is None and result.booking is None
        assert result.record.outcome == "resolved"
        assert result.served == [demand_id]
    assert demand_status(demand_id) == "served"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"person_id": None}, InvalidServiceRecord),
        ({"service": "no_such_service"}, UnknownService),
        ({"service": "home_sickbed"}, InvalidServiceRecord),  # PRVD1 does not offer it
        ({"provider_id": "PRVD2"}, ProviderNotFound),
        ({"person_id": "other"}, PersonNotFound),
        ({"demand_id": "D-not-this-persons"}, BookingDemandNotFound),
        ({"outcome": "cured"}, InvalidServiceRecord),
        ({"summary": "x" * 4001}, InvalidServiceRecord),
        ({"next_followup_on": NOW.date()}, InvalidServiceRecord),
        ({"next_followup_on": NOW.date() + timedelta(days=800)}, InvalidServiceRecord),
    ],
)
def test_a_walk_in_record_that_cannot_be_is_refused(world: World, changes, error):
    request = {
        "person_id": world.person_d1,
        "provider_id": world.provider_d1,
        "service": FOLLOWUP,
        "summary": "visit",
        **changes,
    }
    if request["person_id"] == "other":
        request["person_id"] = world.person_d2  # district 2: not the doctor's
    with pytest.raises(error), session_scope() as session:
        records.write(session, principal(session, "doctor_d1"), now=NOW, **request)


def test_a_summary_left_out_is_the_services_name_and_a_next_date_means_follow_up(world: World):
    booking_id, _ = booked_visit(world)
    with session_scope() as session:
        result = records.write(
            session,
            principal(session, "doctor_d1"),
            booking_id=booking_id,
            next_followup_on=date(2030, 6, 1),
            now=NOW,
        )
        assert result.record.summary == "慢性病随访管理"
        assert result.record.outcome == "follow_up"


def test_reads_are_scoped_and_audited(world: World):
    booking_id, _ = booked_visit(world)
    with session_scope() as session:
        record_id = records.write(
            session, principal(session, "doctor_d1"), booking_id=booking_id, summary="s", now=NOW
        ).record.id
    with session_scope() as session:
        seen = records.read_record(session, principal(session, "resident1"), record_id)
        assert seen.id == record_id
        total, rows = records.list_records(
            session, principal(session, "official_d1"), limit=10, offset=0
        )
        assert total == 1 and rows[0].id == record_id
        assert records.list_records(
            session, principal(session, "official_d2"), limit=10, offset=0
        ) == (0, [])
        with pytest.raises(ServiceRecordNotFound):
            records.read_record(session, principal(session, "official_d2"), record_id)
    assert audit_actions(record_id) == ["write_service_record", "read_service_record"]


def test_follow_ups_due_until_a_later_visit_holds_them(world: World):
    booking_id, _ = booked_visit(world)
    due_day = (NOW + timedelta(days=30)).date()
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        first = records.write(
            session, doctor, booking_id=booking_id, next_followup_on=due_day, now=NOW
        ).record.id
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        assert records.followups_due(session, doctor, until=due_day - timedelta(days=1)) == []
        assert [r.id for r in records.followups_due(session, doctor, until=due_day)] == [first]
        assert (
            records.followups_due(session, principal(session, "official_d2"), until=due_day) == []
        )
    with session_scope() as session:
        records.write(
            session,
            principal(session, "doctor_d1"),
            person_id=world.person_d1,
            provider_id=world.provider_d1,
            service=FOLLOWUP,
            summary="follow-up held",
            now=NOW + timedelta(days=29),
        )
    with session_scope() as session:
        assert records.followups_due(session, principal(session, "doctor_d1"), until=due_day) == []


def test_a_chronic_follow_up_earns_health_points_once(world: World):
    booking_id, _ = booked_visit(world)
    with session_scope() as session:
        result = records.write(
            session, principal(session, "doctor_d1"), booking_id=booking_id, summary="s", now=NOW
        )
        assert result.points is not None
    earned = points.point_rules().activities["chronic_followup"].points
    with session_scope() as session:
        assert points.statement(session, world.person_d1).balances["points"] == earned
        # A vaccination earns nothing (rules.yaml lists no activity for it).
        none = records.write(
            session,
            principal(session, "doctor_d1"),
            person_id=world.person_d1,
            provider_id=world.provider_d1,
            service=SERVICE,
            now=NOW,
        )
        assert none.points is None

"""`carematch booking slots`: slots from the registry's hours and van stops, idempotent; and the
migration builds exactly the booking tables the models declare."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from carematch.booking import service
from carematch.booking.models import Slot
from carematch.cli import app
from carematch.core.db import Base, get_engine, session_scope
from carematch.core.migrate import alembic_config, import_all_models
from carematch.providers.hours import CITY_TZ
from tests.booking.conftest import NOW, OTHER_SERVICE, SERVICE, add_persons, add_provider, principal

BOOKING_TABLES = {"slots", "bookings", "waitlist", "dependants"}
MONDAY = date(2030, 3, 4)
runner = CliRunner()


def registry(session) -> None:
    """A clinic open on weekdays and a van with two Monday stops and one on Thursday."""
    add_provider(
        session,
        "CLINIC",
        "449901001001",
        services={SERVICE: 10, OTHER_SERVICE: 4, "emergency_care": 50},
        hours=[(d, "08:00", "12:00") for d in range(1, 6)],
    )
    add_provider(
        session,
        "VAN",
        "449902001001",
        kind="mobile_van",
        services={SERVICE: 6},
        stops=[
            (1, "09:00", "10:00", "农贸市场"),
            (1, "14:00", "15:00", "园区"),
            (4, "09:00", "11:00", "村委会"),
        ],
    )


def slot_rows(session) -> list[Slot]:
    return list(session.scalars(select(Slot)))


def test_generated_slots_follow_hours_stops_and_daily_capacity(env):
    with session_scope() as session:
        registry(session)
        summary = service.generate_slots(session, days=14, first_day=MONDAY)
    with session_scope() as session:
        slots = slot_rows(session)
    assert summary.created == summary.planned == len(slots) > 0
    per_day: dict[tuple[str, str, date], int] = defaultdict(int)
    for s in slots:
        start = service.as_utc(s.starts_at).astimezone(CITY_TZ)
        per_day[(s.provider_id, s.service, start.date())] += s.capacity
        assert s.source == "generated" and s.booked == 0
        if s.provider_id == "CLINIC":
            assert start.weekday() < 5 and 8 <= start.hour < 12 and s.site is None
            assert s.region_code == "449901001001"
        else:
            assert s.site in {"农贸市场", "园区", "村委会"}
    # Emergency care is not booked (slot_minutes 0); each open day gives the daily capacity.
    assert {k[1] for k in per_day} == {SERVICE, OTHER_SERVICE}
    weekdays = [
        MONDAY + timedelta(days=i) for i in range(14) if (MONDAY + timedelta(days=i)).weekday() < 5
    ]
    assert {d for (p, svc, d) in per_day if p == "CLINIC" and svc == SERVICE} == set(weekdays)
    assert all(v == 10 for (p, svc, _), v in per_day.items() if p == "CLINIC" and svc == SERVICE)
    assert all(v == 4 for (p, svc, _), v in per_day.items() if svc == OTHER_SERVICE)
    van_days = sorted(d for (p, _, d) in per_day if p == "VAN")
    assert [d.weekday() for d in van_days] == [0, 3, 0, 3]
    assert all(v == 6 for (p, _, _), v in per_day.items() if p == "VAN")


def test_generating_again_adds_nothing_and_keeps_bookings(env):
    with session_scope() as session:
        registry(session)
        service.generate_slots(session, days=7, first_day=MONDAY)
        person = add_persons(session, 1)[0]
        slot = session.scalar(
            select(Slot).where(Slot.provider_id == "CLINIC", Slot.starts_at > NOW).limit(1)
        )
        slot_id = slot.id
    with session_scope() as session:
        service.book(session, principal_admin(session), slot_id=slot_id, person_id=person, now=NOW)
    with session_scope() as session:
        again = service.generate_slots(session, days=7, first_day=MONDAY)
        wider = service.generate_slots(session, days=8, first_day=MONDAY)
    assert again.created == 0 and again.existing == again.planned
    assert wider.created == wider.planned - again.planned > 0
    with session_scope() as session:
        assert session.get(Slot, slot_id).booked == 1  # type: ignore[union-attr]


def principal_admin(session):
    from carematch.security.service import create_user

    create_user(session, "admin_gen", "admin", "correct-horse-battery")
    return principal(session, "admin_gen")


def test_the_command_prints_its_summary_and_is_idempotent(sqlite_env):
    with session_scope() as session:
        registry(session)
    first = runner.invoke(app, ["booking", "slots", "--days", "14", "--from", MONDAY.isoformat()])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    with session_scope() as session:
        stored = session.scalar(select(func.count()).select_from(Slot))
    assert summary["created"] == summary["slots"] == stored > 0
    assert summary["from"] == MONDAY.isoformat() and summary["days"] == 14
    second = runner.invoke(app, ["booking", "slots", "--days", "14", "--from", MONDAY.isoformat()])
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert (again["created"], again["existing"]) == (0, stored)


def schema_diff() -> list:
    import_all_models()
    with get_engine().connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def test_0008_builds_the_booking_tables_the_models_declare_and_downgrades(env):
    assert set(inspect(get_engine()).get_table_names()) >= BOOKING_TABLES
    assert schema_diff() == []
    command.downgrade(alembic_config(), "0007")
    assert not BOOKING_TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(alembic_config(), "head")
    assert schema_diff() == []

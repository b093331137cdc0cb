"""Readings in, one alert per episode, a task for the responsible doctor, control rates."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from carematch.core.db import Base, get_engine, session_scope
from carematch.core.migrate import alembic_config, import_all_models
from carematch.identity.errors import PersonNotFound
from carematch.monitoring import service
from carematch.monitoring.errors import (
    InvalidReading,
    InvalidWindow,
    MonitoringTaskClosed,
    MonitoringTaskNotFound,
)
from carematch.monitoring.models import MonitoringAlert, MonitoringTask
from carematch.notifications.models import OutboxMessage
from carematch.security.models import AuditEntry
from tests.monitoring.conftest import C1, C2, C3, principal

TABLES = {"monitoring_readings", "monitoring_alerts", "monitoring_tasks", "monitoring_rejects"}
D0 = date(2026, 3, 1)


def _raw(rows: list[tuple[str, str, object, object]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [r[0] for r in rows],
            "measured_at": [r[1] for r in rows],
            "sbp": [str(r[2]) for r in rows],
            "dbp": [str(r[3]) for r in rows],
        }
    )


def _days(person: str, values: list[tuple[int, int]], first: date = D0) -> list:
    return [
        (person, f"{first + timedelta(days=i)}T07:30:00+08:00", s, d)
        for i, (s, d) in enumerate(values)
    ]


def _import(rows: list, **kwargs) -> service.ImportSummary:
    with session_scope() as session:
        return service.import_readings(session, _raw(rows), actor="tester", **kwargs)


def _diff() -> list:
    import_all_models()
    with get_engine().connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models_and_0022_downgrades(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert _diff() == []
    config = alembic_config()
    command.downgrade(config, "0021")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert _diff() == []


def test_three_high_days_alert_once_and_task_the_contract_doctor(city):
    summary = _import(_days("PSIGNED", [(150, 80), (120, 95), (145, 85), (150, 80)]))

    assert (summary.rows, summary.accepted, summary.rejected) == (4, 4, 0)
    assert (summary.alerts, summary.tasks) == (1, 1)
    with session_scope() as session:
        alert = session.scalars(select(MonitoringAlert)).one()
        assert (alert.person_id, alert.rule, alert.alert_date) == (
            "PSIGNED",
            "bp_high_3d",
            date(2026, 3, 3),
        )
        assert alert.streak_start == D0
        task = session.scalars(select(MonitoringTask)).one()
        assert task.assignee_user_id == city.users["doctor_lead"]
        assert task.team_id == "TEAM1"
        assert task.due_on == date(2026, 3, 6)  # three days to follow up
        assert task.region_code == C1
        messages = session.scalars(select(OutboxMessage)).all()
        assert [(m.recipient_id, m.template) for m in messages] == [
            (city.users["doctor_lead"], "monitoring_alert")
        ]


def test_re_import_and_late_readings_do_not_alert_the_same_episode_twice(city):
    rows = _days("PSIGNED", [(150, 80)] * 4)
    _import(rows)

    again = _import(rows)
    # A reading from the day before the streak moves its third day earlier: same episode.
    earlier = _import([("PSIGNED", "2026-02-28T07:30:00+08:00", 160, 100)])

    assert (again.accepted, again.duplicates, again.alerts, again.tasks) == (0, 4, 0, 0)
    assert (earlier.accepted, earlier.alerts) == (1, 0)
    with session_scope() as session:
        assert session.scalar(select(text("count(*)")).select_from(MonitoringTask)) == 1


def test_a_new_episode_after_a_break_alerts_again(city):
    _import(_days("PSIGNED", [(150, 80)] * 3))
    # a normal day, then three high days
    second = _import(
        _days("PSIGNED", [(120, 80), (150, 80), (150, 80), (150, 80)], D0 + timedelta(days=3))
    )

    assert second.alerts == 1
    with session_scope() as session:
        days = sorted(session.scalars(select(MonitoringAlert.alert_date)))
    assert days == [date(2026, 3, 3), date(2026, 3, 7)]


def test_without_a_contract_the_task_falls_to_the_community_clinic_doctors(city):
    _import(_days("PUNSIGNED", [(150, 95)] * 3))

    with session_scope() as session:
        task = session.scalars(select(MonitoringTask)).one()
        recipients = {m.recipient_id for m in session.scalars(select(OutboxMessage))}
    assert (task.assignee_user_id, task.team_id, task.region_code) == (None, None, C2)
    # the clinic's doctor, not the district's: the most specific region that covers the person
    assert recipients == {city.users["doctor_c2"]}


def test_bad_rows_and_unknown_persons_are_kept_with_their_reasons(city):
    summary = _import(
        [
            ("PSIGNED", "2026-03-01T08:00", 150, 80),
            ("PSIGNED", "2026-03-01T08:00", 150, 80),  # the same reading twice in one file
            ("NOBODY", "2026-03-01T08:00", 150, 80),
            ("PSIGNED", "tomorrow", 150, 80),
            ("PSIGNED", "2026-03-02T08:00", 150, "x"),
        ],
        malformed=[(9, "PSIGNED,2026-03-03")],
    )

    assert summary.rows == 6
    assert summary.rows == summary.accepted + summary.duplicates + summary.rejected
    assert (summary.accepted, summary.duplicates, summary.rejected) == (1, 1, 4)
    with session_scope() as session:
        rejects = service.rejects_of(session, summary.batch)
        stored = session.execute(text("SELECT raw FROM monitoring_rejects")).scalars().all()
    assert [(r["row"], r["reason"]) for r in rejects] == [
        (3, "unknown person (or outside your jurisdiction)"),
        (4, "measured_at is not an ISO date-time"),
        (5, "dbp is not a number"),
        (9, "wrong number of fields"),
    ]
    assert rejects[0]["person_id"] == "NOBODY"
    assert all("NOBODY" not in raw and "PSIGNED" not in raw for raw in stored)  # encrypted


def test_an_import_by_staff_takes_only_persons_of_their_jurisdiction(city):
    with session_scope() as session:
        summary = service.import_readings(
            session,
            _raw(_days("PSIGNED", [(150, 80)]) + _days("PD2", [(150, 80)])),
            actor="doctor_d2",
            principal=principal(session, "doctor_d2"),
        )
    assert (summary.accepted, summary.rejected) == (1, 1)


def test_the_api_path_refuses_a_bad_reading_and_a_person_outside(city):
    with session_scope() as session:
        doctor = principal(session, "doctor_d2")
        with pytest.raises(InvalidReading, match="sbp is outside"):
            service.record_reading(
                session, doctor, person_id="PD2", measured_at="2026-03-01T08:00", sbp=20, dbp=80
            )
        with pytest.raises(PersonNotFound):
            service.record_reading(
                session,
                doctor,
                person_id="PSIGNED",
                measured_at="2026-03-01T08:00",
                sbp=120,
                dbp=80,
            )


def test_the_doctor_closes_a_task_with_a_note_once(city):
    _import(_days("PSIGNED", [(150, 80)] * 3))
    with session_scope() as session:
        doctor = principal(session, "doctor_lead")
        total, views = service.list_tasks(session, doctor, today=date(2026, 3, 7))
        assert total == 1 and views[0].overdue  # due on the 6th
        task_id = views[0].task.id
        closed = service.close_task(session, doctor, task_id, "上门随访，调整用药")
        assert closed.task.status == "done"
        assert closed.task.closed_by == "doctor_lead"
    with session_scope() as session:
        doctor = principal(session, "doctor_lead")
        with pytest.raises(MonitoringTaskClosed):
            service.close_task(session, doctor, task_id, "again")
        with pytest.raises(MonitoringTaskNotFound):
            service.close_task(session, principal(session, "doctor_d2"), task_id, "not mine")
        assert service.list_tasks(session, doctor)[0] == 0
        assert (
            service.list_tasks(session, doctor, status="done")[1][0].task.note
            == "上门随访，调整用药"
        )
        raw_note = session.execute(text("SELECT note FROM monitoring_tasks")).scalar_one()
        assert "随访" not in raw_note
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"import_readings", "close_monitoring_task"} <= actions


def test_person_control_counts_readings_and_days_in_range(city):
    _import(
        [
            ("PSIGNED", "2026-03-01T07:00", 130, 80),
            ("PSIGNED", "2026-03-01T19:00", 150, 80),  # day 1: one high reading, day not in range
            ("PSIGNED", "2026-03-02T07:00", 139, 89),  # day 2: in range
            ("PSIGNED", "2026-03-03T07:00", 120, 70),  # day 3: in range
            ("PSIGNED", "2026-03-20T07:00", 170, 99),  # outside the window
        ]
    )
    with session_scope() as session:
        control = service.person_control(
            session, principal(session, "doctor_lead"), "PSIGNED", D0, date(2026, 3, 10)
        )
        with pytest.raises(InvalidWindow):
            service.person_control(session, None, "PSIGNED", date(2026, 3, 10), D0)
        with pytest.raises(PersonNotFound):
            service.person_control(session, principal(session, "doctor_d2"), "PSIGNED", D0, D0)
    assert (control.readings, control.in_range_readings) == (4, 3)
    assert (control.days, control.in_range_days) == (3, 2)
    assert control.reading_share == 0.75
    assert control.day_share == pytest.approx(2 / 3)


def test_population_control_is_latest_reading_in_range_over_managed_per_community(city):
    _import(
        [
            ("PSIGNED", "2026-03-01T07:00", 150, 80),
            ("PSIGNED", "2026-03-05T07:00", 130, 80),  # latest in range: controlled
            ("PUNSIGNED", "2026-03-02T07:00", 120, 80),
            ("PUNSIGNED", "2026-03-04T07:00", 120, 91),  # latest high: not controlled
            ("PD2", "2026-03-04T07:00", 120, 80),
            ("PD2", "2026-03-04T20:00", 141, 80),  # same day, later: not controlled
        ]
    )
    with session_scope() as session:
        rows = service.population_control(session, D0, date(2026, 3, 31))
        d1 = service.population_control(session, D0, date(2026, 3, 31), "449901")
        before = service.population_control(session, D0, date(2026, 3, 3))
    assert [(r.community_code, r.managed, r.controlled) for r in rows] == [
        (C1, 1, 1),
        (C2, 1, 0),
        (C3, 1, 0),
    ]
    assert [r.community_code for r in d1] == [C1, C2]
    # Until the 3rd, PSIGNED's latest is high and PUNSIGNED's in range.
    assert [(r.community_code, r.rate) for r in before] == [(C1, 0.0), (C2, 1.0)]

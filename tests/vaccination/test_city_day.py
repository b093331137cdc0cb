"""Vaccination dates are city days (UTC+8): a dose given early in the city's morning, while it
is still the previous day in UTC, is on the certificate and in the forecast at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from carematch.coldchain.models import VaccineLot
from carematch.core import clock
from carematch.core.db import session_scope
from carematch.security.authz import Principal
from carematch.vaccination import service
from carematch.vaccination.models import Administration
from tests.fixtures.vaccination_world import build_world

# 07:30 in the city on 21 May is 23:30 on 20 May in UTC.
NOW = datetime(2030, 5, 20, 23, 30, tzinfo=UTC)
ADMIN = Principal(user_id="t", username="t", role="admin", region_code=None)


def test_a_dose_given_this_city_morning_is_certified_and_counted(
    sqlite_env, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    world = build_world(tmp_path)
    given = NOW - timedelta(minutes=10)
    with session_scope() as session:
        session.add(
            VaccineLot(
                id="LOT1",
                manufacturer="m",
                product="MPSV-A",
                lot_number="L1",
                expiry=date(2031, 1, 1),
                created_by="t",
            )
        )
        session.flush()
        session.add(
            Administration(
                id="ADM1",
                person_id=world.child,
                lot_id="LOT1",
                series="MPSV-A",
                dose_number=1,
                site="left_deltoid",
                vaccinator_id="v",
                vaccinator="v",
                administered_at=given,
                observe_until=given + timedelta(minutes=30),
                event_index=0,
            )
        )
    monkeypatch.setattr(service, "utcnow", lambda: NOW)
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    assert service.city_today() == date(2030, 5, 21)
    with session_scope() as session:
        issued = service.issue_person_certificate(session, ADMIN, world.child)
        forecast = service.person_forecast(session, ADMIN, world.child)
    certified = {(d.series, d.date) for d in issued.content.doses}
    assert ("MPSV-A", date(2030, 5, 21)) in certified
    assert forecast.as_of == date(2030, 5, 21)
    mpsv = next(e for e in forecast.forecast.entries if e.series == "MPSV-A")
    assert mpsv.dose != 1  # the first dose counts as given


def test_doses_given_here_count_in_the_profiles_overdue_number(sqlite_env, tmp_path):
    """The profile's doses_overdue (and so the catch-up demand and the miss rate) counts the
    doses recorded here, not only the registry extract's: two MPSV-A doses recorded (at 6 and
    9 months) complete the overdue series, and the profile agrees with the forecast."""
    from carematch.profiling.service import features_for
    from carematch.vaccination.schedule import add_months

    world = build_world(tmp_path)

    def overdue() -> tuple[int, int]:
        with session_scope() as session:
            (row,) = features_for(session, [world.child]).to_pylist()
            forecast = service.person_forecast(session, ADMIN, world.child)
        late = [e for e in forecast.forecast.entries if e.status == "overdue"]
        return int(row["doses_overdue"]), len(late)

    before, expected = overdue()
    assert before == expected >= 2  # MPSV-A and MMR are overdue for the 18-month-old
    with session_scope() as session:
        session.add(
            VaccineLot(
                id="LOT2",
                manufacturer="m",
                product="MPSV-A",
                lot_number="L2",
                expiry=date(2099, 1, 1),
                created_by="t",
            )
        )
        session.flush()
        for dose, months in ((1, 6), (2, 9)):
            day = add_months(world.doses.born, months)
            given = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
            session.add(
                Administration(
                    id=f"ADM{dose}",
                    person_id=world.child,
                    lot_id="LOT2",
                    series="MPSV-A",
                    dose_number=dose,
                    site="left_deltoid",
                    vaccinator_id="v",
                    vaccinator="v",
                    administered_at=given,
                    observe_until=given + timedelta(minutes=30),
                    event_index=0,
                )
            )
    assert overdue() == (before - 1, before - 1)

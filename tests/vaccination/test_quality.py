"""Vaccination quality indicators (R-VX-7) over a constructed month: each figure is the one the
records imply, records outside the period or the region do not count, and bad periods are
refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from carematch.booking.models import Booking
from carematch.coldchain.models import VaccineLot
from carematch.core.db import session_scope
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id
from carematch.providers.hours import CITY_TZ
from carematch.vaccination.models import Administration
from carematch.vaccination.quality import quality_indicators
from carematch.vaccination.safety_models import AefiReport, Prescreening
from tests.booking.conftest import bearer
from tests.fixtures.people import D1, D2
from tests.fixtures.vaccination_world import World, build_world, city_today, slot

MONTH = (date(2030, 5, 1), date(2030, 6, 1))


def at(day: int, hour: int = 9, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2030, month, day, hour, minute, tzinfo=CITY_TZ)


@pytest.fixture
def world(env, tmp_path) -> World:
    return build_world(tmp_path)


def _booking(slot_id: str, person: str, status: str, created: datetime, checked=None) -> None:
    with session_scope() as session:
        session.add(
            Booking(
                id=new_id(),
                slot_id=slot_id,
                person_id=person,
                status=status,
                created_by="t",
                created_at=created,
                checked_in_at=checked,
            )
        )


def _screening(person: str, outcome: str, suggested: str, decision=None, region=f"{D1}001001"):
    with session_scope() as session:
        session.add(
            Prescreening(
                id=new_id(),
                person_id=person,
                series="DTaP",
                region_code=region,
                answers="{}",
                findings="[]",
                outcome=outcome,
                suggested=suggested,
                review_required=outcome == "needs_review",
                status=outcome if decision is None else suggested,
                created_by="t",
                created_at=at(10),
                decision=decision,
                decided_at=at(10, 10) if decision else None,
            )
        )


def _dose(person: str, lot: str, given: datetime, provider: str, region: str) -> None:
    with session_scope() as session:
        session.add(
            Administration(
                id=new_id(),
                person_id=person,
                lot_id=lot,
                series="DTaP",
                dose_number=4,
                site="left_deltoid",
                vaccinator_id="v",
                vaccinator="v",
                provider_id=provider,
                region_code=region,
                administered_at=given,
                observe_until=given + timedelta(minutes=30),
                event_index=0,
            )
        )


def _aefi(person: str, given: date, provider: str, serious: bool, region=f"{D1}001001") -> None:
    onset = datetime.combine(given, datetime.min.time(), tzinfo=CITY_TZ) + timedelta(hours=20)
    with session_scope() as session:
        session.add(
            AefiReport(
                id=new_id(),
                person_id=person,
                series="DTaP",
                provider_id=provider,
                region_code=region,
                dose_given_on=given,
                category="general_reaction",
                serious=serious,
                death=False,
                onset_at=onset,
                found_at=onset,
                onset_in_window=True,
                description="发热",
                deadline_at=onset + timedelta(hours=48),
                reported_by="t",
            )
        )


def test_each_indicator_is_what_the_records_of_the_period_imply(world: World):
    may, june = (
        slot(world.provider_d1, date(2030, 5, 20)),
        slot(world.provider_d1, date(2030, 6, 3)),
    )
    other_district = slot(world.provider_d2, date(2030, 5, 20))
    a, b, c = world.adults[:3]
    # Kept: checked in 9:00 and completed; one no-show; one cancelled (not counted).
    _booking(may, a, "completed", at(16), checked=at(20, 9, 0))
    _booking(may, b, "checked_in", at(18), checked=at(20, 9, 5))
    _booking(may, c, "no_show", at(19))
    _booking(may, world.child, "cancelled", at(10))
    _booking(june, world.adults[3], "completed", at(1, month=6))  # next period
    _booking(other_district, world.outsider, "no_show", at(15))  # other region
    # Screenings: two passes, one needs review decided "approve" where the table suggested
    # pass (agree), one decided "defer" where it suggested pass (disagree).
    _screening(a, "pass", "pass")
    _screening(b, "pass", "pass")
    _screening(c, "needs_review", "pass", decision="approve")
    _screening(world.child, "needs_review", "pass", decision="defer")
    _screening(world.outsider, "defer", "defer", region=f"{D2}001001")
    with session_scope() as session:
        session.add(
            VaccineLot(
                id="LOT1",
                manufacturer="m",
                product="DTaP",
                lot_number="L1",
                expiry=date(2031, 1, 1),
                created_by="t",
            )
        )
    region = f"{D1}001001"
    _dose(a, "LOT1", at(20, 9, 20), world.provider_d1, region)  # 20 min after check-in
    _dose(b, "LOT1", at(20, 9, 45), world.provider_d1, region)  # 40 min after check-in
    _dose(c, "LOT1", at(1, month=6), world.provider_d1, region)  # next period
    _aefi(a, date(2030, 5, 20), world.provider_d1, serious=False)
    _aefi(b, date(2030, 5, 20), world.provider_d1, serious=True)
    _aefi(c, date(2030, 6, 1), world.provider_d1, serious=True)  # next period

    with session_scope() as session:
        q = quality_indicators(session, *MONTH, region=D1, with_children=False)

    assert (q.bookings, q.kept, q.no_show) == (3, 2, 1)
    assert q.booking_success_rate == pytest.approx(2 / 3)
    assert q.prescreen_outcomes == {
        "pass": 2,
        "defer": 0,
        "contraindicated": 0,
        "needs_review": 2,
    }
    assert (q.reviewed, q.review_agreed, q.review_agreement) == (2, 1, 0.5)
    # Lead days: 4, 2 and 1 day(s) before the 20th's slot at 09:00 → median 2.
    assert q.booking_lead_days_median == 2.0
    assert q.clinic_wait_minutes_median == 30.0
    assert q.doses_given == 2
    assert (q.aefi_reports, q.aefi_serious) == (2, 1)
    assert q.aefi_rate_per_100k == 100_000.0
    body = q.as_dict()
    assert body["since"] == "2030-05-01" and body["booking_success_rate"] == 0.6667

    with session_scope() as session:
        everywhere = quality_indicators(session, *MONTH, with_children=False)
    assert (everywhere.bookings, everywhere.no_show) == (4, 2)
    assert everywhere.prescreen_outcomes["defer"] == 1


def test_children_missing_doses_are_counted_by_hukou(world: World):
    with session_scope() as session:
        today = city_today()
        q = quality_indicators(session, today - timedelta(days=30), today + timedelta(days=1))
    # The world's two 18-month-olds (registry only: no hukou on record, so local) both have
    # overdue doses; no migrant child is known.
    assert (q.children["local"].children, q.children["local"].missed) == (2, 2)
    assert q.children["migrant"].children == 0 and q.children["migrant"].rate is None


def test_an_empty_or_reversed_period_is_refused(sqlite_env):
    with session_scope() as session:
        with pytest.raises(InvalidInput):
            quality_indicators(session, date(2030, 5, 2), date(2030, 5, 2))
        with pytest.raises(InvalidInput):
            quality_indicators(session, date(2030, 5, 2), date(2030, 5, 1))


def test_the_api_serves_the_indicators_to_staff_of_the_region(world: World, client: TestClient):
    url = "/api/v1/vaccination/quality"
    params = {"since": "2030-05-01", "until": "2030-06-01", "children": "false"}
    ok = client.get(url, params=params, headers=bearer("official_d1"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["region"] == D1
    assert client.get(url, params=params, headers=bearer("resident1")).status_code == 403
    bad = client.get(url, params={**params, "until": "2030-04-01"}, headers=bearer("official_d1"))
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_the_cli_prints_one_json_line_and_refuses_a_bad_period(sqlite_env):
    import json

    from typer.testing import CliRunner

    from carematch.cli import app

    runner = CliRunner()
    ok = runner.invoke(
        app, ["vaccination", "quality", "--from", "2030-05-01", "--to", "2030-06-01"]
    )
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert body["doses_given"] == 0 and body["booking_success_rate"] is None
    assert body["children"]["migrant"] == {"children": 0, "missed": 0, "rate": None}
    bad = runner.invoke(app, ["vaccination", "quality", "--from", "2030-05-01", "--to", "May"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    reversed_ = runner.invoke(
        app, ["vaccination", "quality", "--from", "2030-05-02", "--to", "2030-05-01"]
    )
    assert reversed_.exit_code == 2 and "end after it starts" in reversed_.output

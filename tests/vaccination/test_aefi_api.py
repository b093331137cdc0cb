"""AEFI reports through the API: deadlines, overdue, the cluster alert raised once (on SQLite
and PostgreSQL: the cluster query compares stored times), sites and seriousness."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.notifications.models import OutboxMessage
from carematch.providers.models import Provider
from carematch.security.authz import Principal
from carematch.security.models import User
from carematch.vaccination import aefi_service
from carematch.vaccination.safety_models import AefiCluster, AefiReport
from tests.fixtures.people import D1, token
from tests.vaccination.test_prescreen_api import SITE, app_client, build_world

URL = "/api/v1/vaccination/aefi"
NOW = datetime.now(UTC).replace(microsecond=0)
ONSET = NOW - timedelta(days=20)


@pytest.fixture
def api(sqlite_env):
    """The app on a fresh SQLite installation."""
    yield from app_client()


def report(client, headers, person, *, days=0.0, serious=True, site=SITE, series="MMR", **extra):
    onset = ONSET + timedelta(days=days)
    payload = {
        "person_id": person,
        "series": series,
        "dose": 1,
        "lot": extra.pop("lot", "L2026-01"),
        "provider_id": site,
        "dose_given_on": (onset - timedelta(days=1)).date().isoformat(),
        "category": extra.pop("category", "abnormal"),
        "serious": serious,
        "onset_at": onset.isoformat(),
        "found_at": extra.pop("found_at", onset + timedelta(hours=1)).isoformat(),
        "description": "高热、惊厥",
        **extra,
    }
    response = client.post(URL, json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def alerts() -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = session.execute(
            select(OutboxMessage.dedupe_key, User.username)
            .join(User, User.id == OutboxMessage.recipient_id)
            .where(OutboxMessage.template == "aefi_cluster_alert")
        ).all()
    return sorted((k, u) for k, u in rows)


def test_two_serious_events_seven_days_apart_raise_one_alert_a_third_joins(client, tmp_path):
    world = build_world(tmp_path)
    staff = token(client, "vaccinator_d1")
    first = report(client, staff, world.child)
    assert first["cluster_id"] is None and alerts() == []

    second = report(client, staff, world.adult_d1, days=7)  # exactly 7 days later
    assert second["cluster_id"] is not None
    raised = alerts()
    # The district's official and vaccinator, not district 2's.
    assert sorted(u for _, u in raised) == ["official_d1", "vaccinator_d1"]
    again = client.get(f"{URL}/{first['id']}", headers=staff).json()
    assert again["cluster_id"] == second["cluster_id"]

    third = report(client, staff, world.child, days=12)  # within 7 days of the span's end
    assert third["cluster_id"] == second["cluster_id"]
    assert alerts() == raised  # not raised again
    members = client.get(URL, params={"cluster_id": second["cluster_id"]}, headers=staff).json()
    assert members["total"] == 3


def test_one_event_non_serious_events_and_other_sites_do_not_cluster(api, tmp_path):
    world = build_world(tmp_path)
    with session_scope() as session:
        session.add(
            Provider(
                id="PV2",
                name="另一接种点",
                kind="community_health_centre",
                region_code=f"{D1}001001",
                lat=23.1,
                lon=113.3,
            )
        )
    staff = token(api, "vaccinator_d1")
    report(api, staff, world.child, serious=False)
    report(api, staff, world.child, days=1, serious=False)
    report(api, staff, world.child, days=1)  # the only serious one here
    report(api, staff, world.child, days=2, site="PV2")  # serious, but elsewhere
    report(api, staff, world.child, days=2, category="general")  # serious, other category
    other_vaccine = report(api, staff, world.child, days=2, series="HepB", lot="X9")
    assert other_vaccine["cluster_id"] is None
    assert alerts() == []


def test_deadlines_overdue_and_submission(api, tmp_path):
    world = build_world(tmp_path)
    staff = token(api, "vaccinator_d1")
    found = NOW - timedelta(hours=3)
    mild = report(api, staff, world.child, serious=False, found_at=found, category="general")
    serious = report(api, staff, world.child, days=1, found_at=found, lot="L-other", series="HepB")
    death = report(
        api,
        staff,
        world.child,
        days=1,
        serious=False,
        death=True,
        found_at=found,
        series="BCG",
        lot="L-bcg",
    )
    as_time = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    assert as_time(mild["deadline_at"]) - found == timedelta(hours=48)
    assert as_time(serious["deadline_at"]) - found == timedelta(hours=2)
    assert death["serious"] is True and as_time(death["deadline_at"]) - found == timedelta(hours=2)
    assert (mild["overdue"], serious["overdue"], death["overdue"]) == (False, True, True)
    late = api.get(URL, params={"overdue": "true", "limit": 1}, headers=staff).json()
    assert (late["total"], len(late["items"]), late["limit"]) == (2, 1, 1)

    submitted = api.post(f"{URL}/{mild['id']}/submission", headers=staff)
    assert submitted.status_code == 200 and submitted.json()["overdue"] is False
    assert api.post(f"{URL}/{mild['id']}/submission", headers=staff).status_code == 409
    # Onset windows are flagged, never refused: an abnormal reaction 10 days on is in window.
    assert serious["onset_in_window"] is True


def test_reports_are_scoped_to_the_jurisdiction_and_checked(api, tmp_path):
    world = build_world(tmp_path)
    staff, other = token(api, "vaccinator_d1"), token(api, "vaccinator_d2")
    made = report(api, staff, world.child)
    assert api.get(f"{URL}/{made['id']}", headers=other).status_code == 404
    assert api.get(URL, headers=other).json()["total"] == 0
    resident = token(api, "parent1")
    assert api.get(URL, headers=resident).status_code == 403
    base = {
        "person_id": world.child,
        "series": "MMR",
        "provider_id": SITE,
        "dose_given_on": date.today().isoformat(),
        "category": "abnormal",
        "onset_at": NOW.isoformat(),
        "found_at": NOW.isoformat(),
        "description": "x",
    }
    for change, status in [
        ({"category": "alien"}, 400),
        ({"found_at": (NOW - timedelta(days=1)).isoformat()}, 400),
        ({"provider_id": "NOPE"}, 404),
        ({"person_id": world.adult_d2}, 404),
        ({"onset_at": "2026-01-01T00:00:00"}, 422),
        ({"onset_at": "0001-01-01T00:00:00+00:00"}, 400),
        ({"dose_given_on": "0001-01-01"}, 400),
    ]:
        response = api.post(URL, json={**base, **change}, headers=staff)
        assert response.status_code == status, (change, response.text)


def test_two_serious_reports_filed_at_once_still_cluster(env, tmp_path):
    world = build_world(tmp_path)
    staff = Principal("u1", "vaccinator_d1", "vaccinator", D1)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def file(person: str, days: int) -> None:
        try:
            with session_scope() as session:
                start.wait(timeout=60)
                aefi_service.report_event(
                    session,
                    staff,
                    person_id=person,
                    series="MMR",
                    dose=1,
                    lot="L1",
                    provider_id=SITE,
                    dose_given_on=ONSET.date(),
                    category="abnormal",
                    serious=True,
                    death=False,
                    onset_at=ONSET + timedelta(days=days),
                    found_at=ONSET + timedelta(days=days, hours=1),
                    description="高热",
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=file, args=(world.child, 0)),
        threading.Thread(target=file, args=(world.adult_d1, 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_scope() as session:
        clusters = session.scalars(select(AefiCluster)).all()
        reports = session.scalars(select(AefiReport)).all()
        assert len(clusters) == 1 and clusters[0].events == 2
        assert {r.cluster_id for r in reports} == {clusters[0].id}
    assert len(alerts()) == 2

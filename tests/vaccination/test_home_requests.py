"""Home-vaccination requests (R-VX-2): who may ask on what ground, and the triage's moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.security.models import AuditEntry
from carematch.vaccination.home_requests import HomeRequestConflict, cancel, request_home_visit
from tests.booking.conftest import bearer, principal
from tests.fixtures.vaccination_world import World, build_world, city_today

URL = "/api/v1/vaccination/home-requests"


@pytest.fixture
def api(sqlite_env, tmp_path) -> Iterator[tuple[TestClient, World]]:
    from carematch.api.app import create_app

    built = build_world(tmp_path)
    with TestClient(create_app()) as client:
        yield client, built


def test_who_may_ask_and_on_what_ground(api):
    client, world = api
    resident = bearer("resident1")

    def ask(person: str, series: str, reason: str, user: str = "resident1", **extra):
        body = {"person_id": person, "series": series, "reason": reason, **extra}
        return client.post(URL, json=body, headers=bearer(user))

    # A disability of level 4 in the child's health record qualifies on that ground.
    made = ask(world.disabled_child, "DTaP", "disability")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["status"], body["dose"], body["disability_level"]) == ("requested", 4, 4)
    assert made.headers["Location"].endswith(body["id"])
    # One open request per person and series.
    again = ask(world.disabled_child, "DTaP", "bedridden")
    assert (again.status_code, again.json()["type"]) == (409, "/problems/home-request-conflict")
    # The sibling has no disability on record: not on that ground, but bedridden may be stated.
    refused = ask(world.child, "DTaP", "disability")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/not-eligible-for-home-vaccination"
    assert ask(world.child, "DTaP", "bedridden", note="卧床").status_code == 201
    # A staff-assessed reason is staff's to give, with a note saying why.
    assert ask(world.child, "MPSV-A", "staff_assessed", note="x").status_code == 403
    assert ask(world.child, "MPSV-A", "staff_assessed", user="doctor_d1").status_code == 400
    assessed = ask(world.child, "MPSV-A", "staff_assessed", user="doctor_d1", note="术后行动不便")
    assert assessed.status_code == 201, assessed.text
    # Only a due or overdue dose; only persons the caller acts for; never a 500.
    assert ask(world.child, "HepB", "bedridden").json()["type"] == "/problems/dose-not-due"
    assert ask(world.child, "HepA-L", "bedridden").status_code == 409  # upcoming
    assert ask(world.child, "Nope", "bedridden").status_code == 400
    assert ask(world.child, "MMR", "flying").status_code == 422
    assert ask(world.adults[0], "MMR", "bedridden").status_code == 404
    assert ask(world.child, "MMR", "bedridden", user="official_d2").status_code == 404
    assert ask(world.child, "MMR", "bedridden", user="grid_d1").status_code == 403
    assert ask(world.child, "MMR", "bedridden", note="x" * 2000).status_code == 422

    # The resident sees their family's requests; staff their jurisdiction's queue.
    mine = client.get(URL, headers=resident).json()
    assert mine["total"] == 3
    queue = client.get(URL, params={"status": "requested"}, headers=bearer("doctor_d1")).json()
    assert queue["items"][0]["id"] == body["id"]
    assert client.get(URL, headers=bearer("official_d2")).json()["total"] == 0
    assert client.get(f"{URL}/{body['id']}", headers=bearer("official_d2")).status_code == 404
    assert client.get(f"{URL}/x%00y", headers=resident).status_code == 404


def test_triage_accept_then_done_or_decline_and_cancel(api):
    client, world = api
    doctor, resident = bearer("doctor_d1"), bearer("resident1")
    first = client.post(
        URL,
        json={"person_id": world.disabled_child, "series": "DTaP", "reason": "disability"},
        headers=resident,
    ).json()["id"]
    second = client.post(
        URL,
        json={"person_id": world.child, "series": "DTaP", "reason": "bedridden"},
        headers=resident,
    ).json()["id"]
    today = city_today()

    def accept(request_id: str, day, vaccinator: str = "vaccinator_d1", user=doctor):
        body = {"planned_on": day.isoformat(), "vaccinator": vaccinator}
        return client.post(f"{URL}/{request_id}/accept", json=body, headers=user)

    # Only clinic staff triage; the vaccinator must serve the person's area; a sane day.
    assert accept(first, today + timedelta(days=2), user=resident).status_code == 403
    assert accept(first, today + timedelta(days=2), "vaccinator_d2").status_code == 400
    assert accept(first, today + timedelta(days=2), "grid_d1").status_code == 400
    assert accept(first, today + timedelta(days=2), "nobody").status_code == 400
    assert accept(first, today - timedelta(days=1)).status_code == 400
    assert accept(first, today + timedelta(days=100)).status_code == 400
    assert accept(first, today + timedelta(days=2), user=bearer("official_d2")).status_code == 404

    accepted = accept(first, today + timedelta(days=2))
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["vaccinator"]) == (
        "accepted",
        "vaccinator_d1",
    )
    twice = accept(first, today + timedelta(days=3))
    assert twice.status_code == 409
    assert (twice.json()["status_now"], twice.json()["allowed_from"]) == ("accepted", ["requested"])
    declined_late = client.post(f"{URL}/{first}/decline", json={"reason": "x"}, headers=doctor)
    assert declined_late.status_code == 409
    assert client.post(f"{URL}/{second}/complete", headers=doctor).status_code == 409
    done = client.post(f"{URL}/{first}/complete", headers=bearer("vaccinator_d1"))
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert client.post(f"{URL}/{first}/cancel", headers=resident).status_code == 409

    # Declining needs a reason, which the requester then reads.
    assert (
        client.post(f"{URL}/{second}/decline", json={"reason": ""}, headers=doctor).status_code
        == 422
    )
    declined = client.post(
        f"{URL}/{second}/decline", json={"reason": "请到门诊接种"}, headers=doctor
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    seen = client.get(f"{URL}/{second}", headers=resident).json()
    assert (seen["status"], seen["decline_reason"]) == ("declined", "请到门诊接种")

    # A dose due later than the planned day cannot be planned before it (MMR: in 20 days).
    mmr = client.post(
        URL,
        json={"person_id": world.child, "series": "MMR", "reason": "bedridden"},
        headers=resident,
    ).json()["id"]
    early = accept(mmr, today + timedelta(days=2))
    assert early.status_code == 400 and "due on" in early.json()["detail"]
    assert client.post(f"{URL}/{mmr}/cancel", headers=resident).json()["status"] == "cancelled"

    with session_scope() as session:
        actions = set(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.entity == "vaccination_home_request")
            )
        )
    assert actions >= {
        "request_home_vaccination",
        "accept_home_vaccination",
        "complete_home_vaccination",
        "decline_home_vaccination",
        "cancel_home_vaccination",
    }


def test_one_open_request_per_series_and_a_new_one_after_cancelling(env, tmp_path):
    world = build_world(tmp_path)
    with session_scope() as session:
        who = principal(session, "doctor_d1")
        first = request_home_visit(
            session, who, person_id=world.child, series="DTaP", reason="bedridden"
        )
        first_id = first.id
    with session_scope() as session, pytest.raises(HomeRequestConflict):
        request_home_visit(
            session,
            principal(session, "doctor_d1"),
            person_id=world.child,
            series="DTaP",
            reason="bedridden",
        )
    with session_scope() as session:
        cancel(session, principal(session, "doctor_d1"), first_id)
    with session_scope() as session:
        renewed = request_home_visit(
            session,
            principal(session, "resident1"),
            person_id=world.child,
            series="DTaP",
            reason="bedridden",
        )
        assert renewed.id != first_id and renewed.status == "requested"

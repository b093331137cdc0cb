"""The API contract of item 2 (issue 5, item 11): POST /service-records and POST /ratings, their
lists, and the SLA counts and contact; status codes, shapes, problem+json, scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from carematch.core.db import session_scope
from tests.booking.conftest import World, bearer, build_world
from tests.booking.test_api import PROBLEM, future
from tests.booking.test_records import FOLLOWUP, add_demand, demand_status


@pytest.fixture
def api(client: TestClient) -> tuple[TestClient, World]:
    return client, build_world()


def checked_in_booking(client: TestClient, world: World, demand_id: str | None = None) -> dict:
    """A chronic follow-up slot opened by the official, booked by the resident for their open
    demand, checked in by the doctor."""
    start = future(1)
    slot = client.post(
        "/api/v1/slots",
        json={
            "provider_id": world.provider_d1,
            "service": FOLLOWUP,
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=20)).isoformat(),
            "capacity": 3,
        },
        headers=bearer("official_d1"),
    )
    assert slot.status_code == 201, slot.text
    booked = client.post(
        "/api/v1/bookings",
        json={"slot_id": slot.json()["id"], "person_id": world.person_d1, "demand_id": demand_id},
        headers=bearer("resident1"),
    )
    assert booked.status_code == 201, booked.text
    checked = client.post(
        f"/api/v1/bookings/{booked.json()['id']}/check-in", headers=bearer("doctor_d1")
    )
    assert checked.status_code == 200 and checked.json()["status"] == "checked_in"
    return checked.json()


def test_a_doctor_writes_the_record_of_a_checked_in_booking_and_the_demand_closes(api):
    client, world = api
    with session_scope() as session:
        demand = add_demand(session, world.person_d1)
    booking = checked_in_booking(client, world, demand)
    next_date = (future(90)).date().isoformat()
    response = client.post(
        "/api/v1/service-records",
        json={
            "booking_id": booking["id"],
            "summary": "血压 150/92，加服氨氯地平",
            "outcome": "follow_up",
            "next_followup_on": next_date,
        },
        headers=bearer("doctor_d1"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/service-records/{body['id']}"
    assert body["booking_status"] == "completed" and body["demands_served"] == [demand]
    assert body["person_id"] == world.person_d1 and body["next_followup_on"] == next_date
    assert body["performed_at"].endswith("+08:00")
    assert demand_status(demand) == "served"
    booking_now = client.get(f"/api/v1/bookings/{booking['id']}", headers=bearer("resident1"))
    assert booking_now.json()["status"] == "completed"

    again = client.post(
        "/api/v1/service-records",
        json={"booking_id": booking["id"], "summary": "again"},
        headers=bearer("doctor_d1"),
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(PROBLEM)
    assert again.json()["type"] == "/problems/service-record-exists"


def test_service_record_errors_are_problems(api):
    client, world = api
    booking = checked_in_booking(client, world)
    cases = [
        ("official_d2", {"booking_id": booking["id"]}, 404),
        ("resident1", {"booking_id": booking["id"]}, 403),
        ("doctor_d1", {"booking_id": "no-such-booking"}, 404),
        ("doctor_d1", {"booking_id": booking["id"], "outcome": "cured"}, 422),
        ("doctor_d1", {"person_id": world.person_d1}, 400),
        (
            "doctor_d1",
            {"booking_id": booking["id"], "next_followup_on": "2000-01-01"},
            400,
        ),
        (
            "doctor_d1",
            {"person_id": world.person_d2, "provider_id": world.provider_d1, "service": FOLLOWUP},
            404,
        ),
    ]
    for user, payload, status in cases:
        response = client.post("/api/v1/service-records", json=payload, headers=bearer(user))
        assert response.status_code == status, (user, payload, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
    assert client.post("/api/v1/service-records", json={}).status_code == 401


def test_a_walk_in_record_accepts_the_common_field_names(api):
    client, world = api
    response = client.post(
        "/api/v1/service-records",
        json={
            "person_id": world.person_d1,
            "provider_id": world.provider_d1,
            "service": FOLLOWUP,
            "what_was_done": "家访测血压",
            "next_followup_date": future(30).date().isoformat(),
        },
        headers=bearer("doctor_d1"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["booking_id"] is None and body["booking_status"] is None
    assert body["summary"] == "家访测血压" and body["outcome"] == "follow_up"


def test_records_are_listed_within_scope(api):
    client, world = api
    booking = checked_in_booking(client, world)
    created = client.post(
        "/api/v1/service-records",
        json={"booking_id": booking["id"], "summary": "s"},
        headers=bearer("doctor_d1"),
    ).json()
    mine = client.get("/api/v1/service-records", headers=bearer("resident1")).json()
    assert mine["total"] == 1 and mine["items"][0]["id"] == created["id"]
    assert {"limit", "offset", "total", "items"} <= set(mine)
    other = client.get("/api/v1/service-records", headers=bearer("official_d2")).json()
    assert other["total"] == 0
    one = f"/api/v1/service-records/{created['id']}"
    assert client.get(one, headers=bearer("official_d1")).json()["summary"] == "s"
    assert client.get(one, headers=bearer("official_d2")).status_code == 404
    by_person = client.get(
        "/api/v1/service-records",
        params={"person_id": world.person_d1, "limit": 5},
        headers=bearer("doctor_d1"),
    ).json()
    assert [r["id"] for r in by_person["items"]] == [created["id"]]


def test_the_resident_rates_a_completed_visit_once(api):
    client, world = api
    booking = checked_in_booking(client, world)
    not_yet = client.post(
        "/api/v1/ratings",
        json={"booking_id": booking["id"], "score": 5},
        headers=bearer("resident1"),
    )
    assert not_yet.status_code == 409
    client.post(
        "/api/v1/service-records",
        json={"booking_id": booking["id"], "summary": "s"},
        headers=bearer("doctor_d1"),
    )
    rated = client.post(
        "/api/v1/ratings",
        json={"booking_id": booking["id"], "score": 5, "comment": "很好"},
        headers=bearer("resident1"),
    )
    assert rated.status_code == 201, rated.text
    body = rated.json()
    assert body["score"] == 5 and body["comment"] == "很好"
    assert body["provider_id"] == world.provider_d1
    second = client.post(
        "/api/v1/ratings",
        json={"service_record_id": body["service_record_id"], "score": 1},
        headers=bearer("resident1"),
    )
    assert second.status_code == 409 and second.json()["type"] == "/problems/already-rated"
    for payload, status, user in [
        ({"booking_id": booking["id"], "score": 4}, 403, "doctor_d1"),
        ({"booking_id": booking["id"], "score": 6}, 422, "resident1"),
        ({"booking_id": booking["id"], "score": "4"}, 422, "resident1"),
        ({"booking_id": "nope", "score": 4}, 404, "resident1"),
        ({"score": 4}, 400, "resident1"),
    ]:
        response = client.post("/api/v1/ratings", json=payload, headers=bearer(user))
        assert response.status_code == status, (payload, response.text)
    listed = client.get("/api/v1/ratings", headers=bearer("resident1")).json()
    assert [r["id"] for r in listed["items"]] == [body["id"]]
    assert client.get("/api/v1/ratings", headers=bearer("official_d2")).json()["total"] == 0


def test_sla_counts_and_contact(api):
    client, _ = api
    counts = client.get("/api/v1/sla-clocks/counts", headers=bearer("official_d1"))
    assert counts.status_code == 200
    assert counts.json() == {
        "running": 0,
        "met": 0,
        "void": 0,
        "breached": 0,
        "total": 0,
        "breach_rate": None,
    }
    assert client.get("/api/v1/sla-clocks/counts", headers=bearer("resident1")).status_code == 403
    missing = client.post("/api/v1/sla-clocks/nope/contact", headers=bearer("doctor_d1"))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    # A NUL byte never reaches the database (PostgreSQL would refuse it with a 500).
    nul = client.post("/api/v1/sla-clocks/a%00b/contact", headers=bearer("doctor_d1"))
    assert nul.status_code == 404

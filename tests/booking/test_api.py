"""The booking API contract (issue 5, item 11): status codes, shapes, problem+json, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from carematch.core.db import session_scope
from tests.booking.conftest import SERVICE, World, add_persons, bearer, build_world

PROBLEM = "application/problem+json"


@pytest.fixture
def api(client: TestClient) -> tuple[TestClient, World]:
    return client, build_world()


def future(days: int = 1, hour: int = 9) -> datetime:
    """A time ``days`` ahead at ``hour`` city time, as an aware datetime."""
    base = datetime.now(UTC) + timedelta(days=days)
    return base.replace(
        hour=hour - 8 if hour >= 8 else hour + 16, minute=0, second=0, microsecond=0
    )


def open_slot(
    client: TestClient, headers: dict, provider: str, capacity: int = 5, days: int = 1
) -> dict:
    start = future(days)
    response = client.post(
        "/api/v1/slots",
        json={
            "provider_id": provider,
            "service": SERVICE,
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "capacity": capacity,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_staff_open_a_slot_and_everyone_signed_in_lists_it(api):
    client, world = api
    official = bearer("official_d1")
    slot = open_slot(client, official, world.provider_d1, capacity=7)
    assert slot["capacity"] == 7 and slot["available"] == 7 and slot["booked"] == 0
    assert slot["start"].endswith("+08:00")

    listed = client.get("/api/v1/slots", params={"service": SERVICE, "limit": 10}, headers=official)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 1 and body["limit"] == 10 and body["offset"] == 0
    assert [item["id"] for item in body["items"]] == [slot["id"]]
    assert client.get("/api/v1/slots", headers=bearer("resident1")).json()["total"] == 1
    # Another district's official does not see it, and cannot open slots at its provider.
    other = bearer("official_d2")
    assert client.get("/api/v1/slots", headers=other).json()["total"] == 0
    assert client.get(f"/api/v1/slots/{slot['id']}", headers=other).status_code == 404
    denied = client.post(
        "/api/v1/slots",
        json={
            "provider_id": world.provider_d1,
            "service": SERVICE,
            "start": future().isoformat(),
            "end": (future() + timedelta(hours=1)).isoformat(),
            "capacity": 1,
        },
        headers=other,
    )
    assert denied.status_code == 404
    assert denied.headers["content-type"].startswith(PROBLEM)


def test_residents_cannot_open_slots_and_nobody_unsigned_lists_them(api):
    client, world = api
    start = future()
    body = {
        "provider_id": world.provider_d1,
        "service": SERVICE,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "capacity": 3,
    }
    assert client.post("/api/v1/slots", json=body, headers=bearer("resident1")).status_code == 403
    assert client.get("/api/v1/slots").status_code == 401


def test_booking_answers_201_then_409_when_full_or_already_held(api):
    client, world = api
    official = bearer("official_d1")
    slot = open_slot(client, official, world.provider_d1, capacity=1)
    with session_scope() as session:
        other = add_persons(session, 1)[0]

    created = client.post(
        "/api/v1/bookings",
        json={"slot_id": slot["id"], "person_id": world.person_d1},
        headers=official,
    )
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["status"] == "booked" and booking["slot_id"] == slot["id"]
    assert created.headers["location"] == f"/api/v1/bookings/{booking['id']}"

    again = client.post(
        "/api/v1/bookings",
        json={"slot_id": slot["id"], "person_id": world.person_d1},
        headers=official,
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(PROBLEM)
    assert again.json()["type"] == "/problems/already-booked"

    full = client.post(
        "/api/v1/bookings", json={"slot_id": slot["id"], "person_id": other}, headers=official
    )
    assert full.status_code == 409 and full.json()["type"] == "/problems/slot-full"
    assert client.get(f"/api/v1/slots/{slot['id']}", headers=official).json()["available"] == 0


def test_booking_answers_404_when_the_slot_or_person_is_not_visible(api):
    client, world = api
    slot_d1 = open_slot(client, bearer("official_d1"), world.provider_d1)
    official_d2 = bearer("official_d2")
    cases = [
        ({"slot_id": slot_d1["id"], "person_id": world.person_d2}, official_d2),  # slot elsewhere
        ({"slot_id": slot_d1["id"], "person_id": world.person_d2}, bearer("official_d1")),  # person
        ({"slot_id": "no-such-slot", "person_id": world.person_d1}, bearer("admin1")),
        ({"slot_id": slot_d1["id"], "person_id": "P\x00bad"}, bearer("admin1")),
        ({"slot_id": slot_d1["id"], "person_id": world.person_d2}, bearer("resident1")),
    ]
    for body, headers in cases:
        response = client.post("/api/v1/bookings", json=body, headers=headers)
        assert response.status_code == 404, (body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)


def test_the_idempotency_key_replays_the_first_booking_and_refuses_another_body(api):
    client, world = api
    official = bearer("official_d1")
    slot = open_slot(client, official, world.provider_d1)
    body = {"slot_id": slot["id"], "person_id": world.person_d1}
    key = {**official, "Idempotency-Key": "7f1c2c3e-retry"}
    first = client.post("/api/v1/bookings", json=body, headers=key)
    second = client.post("/api/v1/bookings", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert client.get(f"/api/v1/slots/{slot['id']}", headers=official).json()["booked"] == 1

    changed = client.post(
        "/api/v1/bookings", json={**body, "person_id": world.person_d2}, headers=key
    )
    assert changed.status_code == 422
    assert changed.json()["type"] == "/problems/idempotency-key-reused"


def test_cancel_frees_the_place_for_the_waitlist_and_is_idempotent(api):
    client, world = api
    official = bearer("official_d1")
    slot = open_slot(client, official, world.provider_d1, capacity=1)
    with session_scope() as session:
        waiter = add_persons(session, 1)[0]
    booking = client.post(
        "/api/v1/bookings",
        json={"slot_id": slot["id"], "person_id": world.person_d1},
        headers=official,
    ).json()
    entry = client.post(
        "/api/v1/waitlist", json={"slot_id": slot["id"], "person_id": waiter}, headers=official
    )
    assert entry.status_code == 201 and entry.json()["status"] == "waiting"

    cancelled = client.delete(f"/api/v1/bookings/{booking['id']}", headers=official)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.delete(f"/api/v1/bookings/{booking['id']}", headers=official).status_code == 200

    listed = client.get(
        "/api/v1/bookings", params={"slot_id": slot["id"], "status": "booked"}, headers=official
    )
    items = listed.json()["items"]
    assert [(b["person_id"], b["from_waitlist"]) for b in items] == [(waiter, True)]
    waitlist = client.get(
        "/api/v1/waitlist", params={"slot_id": slot["id"]}, headers=official
    ).json()
    assert [(e["status"], e["booking_id"]) for e in waitlist["items"]] == [
        ("booked", items[0]["id"])
    ]


def test_reschedule_check_in_and_no_show_endpoints(api):
    client, world = api
    official, doctor = bearer("official_d1"), bearer("doctor_d1")
    first = open_slot(client, official, world.provider_d1, capacity=2, days=1)
    full = open_slot(client, official, world.provider_d1, capacity=1, days=2)
    free = open_slot(client, official, world.provider_d1, capacity=2, days=3)
    with session_scope() as session:
        filler = add_persons(session, 1)[0]
    booking = client.post(
        "/api/v1/bookings",
        json={"slot_id": first["id"], "person_id": world.person_d1},
        headers=official,
    ).json()
    client.post(
        "/api/v1/bookings", json={"slot_id": full["id"], "person_id": filler}, headers=official
    )

    refused = client.post(
        f"/api/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": full["id"]},
        headers=official,
    )
    assert refused.status_code == 409
    assert (
        client.get(f"/api/v1/bookings/{booking['id']}", headers=official).json()["slot_id"]
        == first["id"]
    )

    moved = client.post(
        f"/api/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": free["id"]},
        headers=official,
    )
    assert moved.status_code == 200
    assert (moved.json()["slot_id"], moved.json()["previous_slot_id"]) == (free["id"], first["id"])
    assert client.get(f"/api/v1/slots/{first['id']}", headers=official).json()["booked"] == 0

    # Residents may not check people in; the doctor may, once; no-show only after the start.
    assert (
        client.post(
            f"/api/v1/bookings/{booking['id']}/check-in", headers=bearer("resident1")
        ).status_code
        == 403
    )
    early = client.post(f"/api/v1/bookings/{booking['id']}/no-show", headers=doctor)
    assert early.status_code == 409
    checked = client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=doctor)
    assert checked.status_code == 200 and checked.json()["status"] == "checked_in"
    assert checked.json()["checked_in_at"] is not None
    cancel = client.delete(f"/api/v1/bookings/{booking['id']}", headers=official)
    assert cancel.status_code == 409 and cancel.headers["content-type"].startswith(PROBLEM)


def test_a_resident_lists_and_books_for_a_dependant_registered_by_staff(api):
    client, world = api
    resident = bearer("resident1")
    slot = open_slot(client, bearer("official_d2"), world.provider_d2)
    body = {"slot_id": slot["id"], "person_id": world.person_d2}
    assert client.post("/api/v1/bookings", json=body, headers=resident).status_code == 404
    registered = client.post(
        "/api/v1/dependants",
        json={
            "guardian_id": world.person_d1,
            "dependant_id": world.person_d2,
            "relation": "parent",
        },
        headers=bearer("admin1"),
    )
    assert registered.status_code == 201
    assert (
        client.post(
            "/api/v1/dependants",
            json={"guardian_id": world.person_d1, "dependant_id": world.person_d2},
            headers=resident,
        ).status_code
        == 403
    )
    mine = client.get("/api/v1/dependants", headers=resident).json()["items"]
    assert [d["dependant_id"] for d in mine] == [world.person_d2]
    assert client.post("/api/v1/bookings", json=body, headers=resident).status_code == 201
    listed = client.get("/api/v1/bookings", headers=resident).json()
    assert listed["total"] == 1 and listed["items"][0]["person_id"] == world.person_d2


def test_malformed_requests_are_problem_json_never_500(api):
    client, world = api
    official = bearer("official_d1")
    bad = [
        ("post", "/api/v1/bookings", {"slot_id": "", "person_id": world.person_d1}),
        ("post", "/api/v1/bookings", {"slot_id": "x" * 65, "person_id": world.person_d1}),
        (
            "post",
            "/api/v1/slots",
            {
                "provider_id": world.provider_d1,
                "service": SERVICE,
                "start": "0001-01-01T00:00:00",
                "end": "0001-01-01T01:00:00",
                "capacity": 1,
            },
        ),
        (
            "post",
            "/api/v1/slots",
            {
                "provider_id": world.provider_d1,
                "service": SERVICE,
                "start": "2031-01-01T00:00:00",
                "end": "2031-01-01T01:00:00",
                "capacity": 10**12,
            },
        ),
        (
            "post",
            "/api/v1/slots",
            {
                "provider_id": world.provider_d1,
                "service": "no_such_service",
                "start": "2031-01-01T00:00:00",
                "end": "2031-01-01T01:00:00",
                "capacity": 1,
            },
        ),
        ("get", "/api/v1/slots?from=0001-01-01T00:00:00", None),
        ("get", "/api/v1/slots?service=%00", None),
        ("get", "/api/v1/bookings?person_id=%00", None),
        (
            "post",
            "/api/v1/dependants",
            {"guardian_id": world.person_d1, "dependant_id": world.person_d1, "relation": "a\x00"},
        ),
        ("get", "/api/v1/bookings/%00", None),
        ("delete", "/api/v1/bookings/nope", None),
    ]
    for method, url, body in bad:
        response = client.request(method, url, json=body, headers=official)
        assert 400 <= response.status_code < 500, (url, body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM), url

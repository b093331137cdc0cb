"""The inbox API: each signed-in user reads and marks their own messages, nobody else's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from carematch.api.routes import iter_endpoints
from carematch.core.db import session_scope
from carematch.notifications.channels import INBOX
from carematch.notifications.endpoints import router
from carematch.notifications.outbox import Recipient
from carematch.notifications.service import enqueue
from carematch.notifications.worker import Worker
from carematch.security.authz import declared_authz
from carematch.security.service import create_user
from tests.fixtures.people import PASSWORD, token
from tests.notifications.conftest import T0, Clock

PERSON, OTHER_PERSON = "p" * 32, "q" * 32


@pytest.fixture
def api(env) -> Iterator[TestClient]:
    """The app with the inbox router (mounted here until app.py mounts it)."""
    from carematch.api.app import API_PREFIX, create_app

    app = create_app()
    assert any(e.path == f"{API_PREFIX}/inbox" for e in iter_endpoints(app)), "inbox not mounted"
    with TestClient(app) as client:
        yield client


@pytest.fixture
def people(env, sessions, channels) -> dict[str, str]:
    """A resident linked to PERSON, another resident, a doctor; messages delivered to them."""
    with session_scope() as session:
        resident = create_user(session, "resident_a", "resident", PASSWORD)
        resident.person_id = PERSON
        other = create_user(session, "resident_b", "resident", PASSWORD)
        other.person_id = OTHER_PERSON
        doctor = create_user(session, "doctor_a", "doctor", PASSWORD, "449901")
        ids = {"resident": resident.id, "doctor": doctor.id}
        reminders = [
            (Recipient.person(PERSON), "booking_reminder", "r1", {"start": "5月21日 09:00"}),
            (Recipient.person(PERSON), "booking_reminder", "r2", {"start": "5月28日 14:30"}),
            (Recipient.person(OTHER_PERSON), "booking_reminder", "r3", {"start": "6月1日"}),
            (Recipient.user(doctor.id), "sla_alert", "s1", {}),
        ]
        for recipient, template, key, extra in reminders:
            params = (
                {"service": "高血压随访", "provider": "白云社区"} | extra
                if template == "booking_reminder"
                else {"item": "需求 D-17", "limit": "24小时", "deadline": "5月21日 08:00"}
            )
            ids[key] = enqueue(
                session,
                recipient=recipient,
                channel=INBOX,
                template=template,
                params=params,
                due_at=T0,
                dedupe_key=key,
            ).id
    Worker(sessions=sessions, channels=channels, clock=Clock(T0)).drain()
    return ids


def test_inbox_routes_declare_who_may_call_them():
    assert {r.path: declared_authz(r.dependant) for r in router.routes} == {  # type: ignore[attr-defined]
        "/inbox": (
            "admin",
            "civil_affairs",
            "doctor",
            "grid_worker",
            "official",
            "resident",
            "vaccinator",
        ),
        "/inbox/{message_id}/read": (
            "admin",
            "civil_affairs",
            "doctor",
            "grid_worker",
            "official",
            "resident",
            "vaccinator",
        ),
    }


def test_a_resident_reads_their_own_reminders_newest_first(api, people):
    response = api.get("/api/v1/inbox", headers=token(api, "resident_a"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert {i["id"] for i in body["items"]} == {people["r1"], people["r2"]}
    assert (body["total"], body["unread"]) == (2, 2)
    delivered = [i["delivered_at"] for i in body["items"]]
    assert delivered == sorted(delivered, reverse=True)
    first = body["items"][0]
    assert first["title"] == "预约提醒" and "高血压随访" in first["body"]
    assert not first["read"] and first["read_at"] is None


def test_the_english_switch_renders_the_same_message_in_english(api, people):
    headers = token(api, "resident_a")
    body = api.get("/api/v1/inbox", params={"lang": "en"}, headers=headers).json()
    assert {i["title"] for i in body["items"]} == {"Appointment reminder"}
    assert all(i["locale"] == "en" for i in body["items"])
    assert api.get("/api/v1/inbox", params={"lang": "fr"}, headers=headers).status_code == 422


def test_staff_read_alerts_addressed_to_their_user(api, people):
    body = api.get("/api/v1/inbox", headers=token(api, "doctor_a")).json()
    assert [i["id"] for i in body["items"]] == [people["s1"]]
    assert body["items"][0]["title"] == "超时预警"


def test_marking_read_is_idempotent_and_counts_move(api, people):
    headers = token(api, "resident_a")
    first = api.post(f"/api/v1/inbox/{people['r1']}/read", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["read"] is True
    again = api.post(f"/api/v1/inbox/{people['r1']}/read", headers=headers)
    assert again.json()["read_at"] == first.json()["read_at"]
    body = api.get("/api/v1/inbox", headers=headers).json()
    assert (body["total"], body["unread"]) == (2, 1)
    unread = api.get("/api/v1/inbox", params={"unread_only": True}, headers=headers).json()
    assert [i["id"] for i in unread["items"]] == [people["r2"]]


def test_another_users_message_is_not_found(api, people):
    headers = token(api, "resident_b")
    response = api.post(f"/api/v1/inbox/{people['r1']}/read", headers=headers)
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/inbox-item-not-found"
    assert [i["id"] for i in api.get("/api/v1/inbox", headers=headers).json()["items"]] == [
        people["r3"]
    ]


def test_pagination_and_sign_in(api, people):
    headers = token(api, "resident_a")
    page = api.get("/api/v1/inbox", params={"limit": 1, "offset": 1}, headers=headers).json()
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (1, 2, 1, 1)
    assert api.get("/api/v1/inbox").status_code == 401


def test_a_resident_without_a_person_sees_an_empty_inbox(api, people):
    with session_scope() as session:
        create_user(session, "resident_c", "resident", PASSWORD)
    body = api.get("/api/v1/inbox", headers=token(api, "resident_c")).json()
    assert (body["items"], body["total"]) == ([], 0)

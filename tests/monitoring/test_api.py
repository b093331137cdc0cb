"""The monitoring API and the workbench page: roles, jurisdiction, the task's way to closed."""

from __future__ import annotations

import re

from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.security.models import AuditEntry
from tests.monitoring.conftest import C1, bearer

API = "/api/v1/monitoring"


def _post(client, user: str, day: int, sbp: float = 150, dbp: float = 80, person="PSIGNED"):
    return client.post(
        f"{API}/readings",
        headers=bearer(user),
        json={
            "person_id": person,
            "measured_at": f"2026-03-0{day}T07:30:00+08:00",
            "sbp": sbp,
            "dbp": dbp,
            "device_id": "BP-0001",
        },
    )


def test_readings_posted_by_a_device_account_alert_and_the_doctor_closes_the_task(client, city):
    # Given three high days posted by a device signed in as the clinic's doctor
    answers = [_post(client, "doctor_d1", day) for day in (1, 2, 3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.json()["alerts"] for a in answers] == [0, 0, 1]
    assert _post(client, "doctor_d1", 3).json()["duplicates"] == 1

    # When the responsible doctor lists their tasks
    tasks = client.get(f"{API}/tasks", params={"mine": True}, headers=bearer("doctor_lead"))
    assert tasks.status_code == 200
    (task,) = tasks.json()["items"]
    assert (task["person_id"], task["rule"], task["due_on"]) == (
        "PSIGNED",
        "bp_high_3d",
        "2026-03-06",
    )
    assert task["region_code"] == C1

    # Then they close it with a note, once
    closed = client.post(
        f"{API}/tasks/{task['id']}/close", json={"note": "电话随访"}, headers=bearer("doctor_lead")
    )
    assert closed.status_code == 200
    assert closed.json()["status"] == "done"
    again = client.post(
        f"{API}/tasks/{task['id']}/close", json={"note": "x"}, headers=bearer("doctor_lead")
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


def test_roles_and_jurisdiction_are_enforced(client, city):
    assert _post(client, "grid_d1", 1).status_code == 403
    outside = _post(client, "doctor_d2", 1)
    assert outside.status_code == 404
    assert _post(client, "doctor_d1", 1, sbp=10).status_code == 400
    assert client.get(f"{API}/tasks").status_code == 401
    for day in (1, 2, 3):
        _post(client, "doctor_d1", day)
    # A doctor of another district does not see the task, nor can close it.
    other = client.get(f"{API}/tasks", headers=bearer("doctor_d2")).json()
    assert other["total"] == 0
    task_id = client.get(f"{API}/tasks", headers=bearer("doctor_d1")).json()["items"][0]["id"]
    closing = client.post(
        f"{API}/tasks/{task_id}/close", json={"note": "x"}, headers=bearer("doctor_d2")
    )
    assert closing.status_code == 404


def test_control_rates_through_the_api_are_scoped_and_audited(client, city):
    _post(client, "doctor_d1", 1, 150, 80)
    _post(client, "doctor_d1", 2, 120, 80)
    person = client.get(
        f"{API}/persons/PSIGNED/control",
        params={"start": "2026-03-01", "end": "2026-03-31"},
        headers=bearer("doctor_lead"),
    )
    assert person.status_code == 200
    assert (person.json()["readings"], person.json()["in_range_readings"]) == (2, 1)
    bad = client.get(
        f"{API}/persons/PSIGNED/control",
        params={"start": "2026-03-31", "end": "2026-03-01"},
        headers=bearer("doctor_lead"),
    )
    assert bad.status_code == 400
    rates = client.get(
        f"{API}/control",
        params={"start": "2026-03-01", "end": "2026-03-31"},
        headers=bearer("official_d1"),
    )
    assert rates.json() == [{"community_code": C1, "managed": 1, "controlled": 1, "rate": 1.0}]
    with session_scope() as session:
        assert "read_control_rate" in set(session.scalars(select(AuditEntry.action)))


def test_the_workbench_page_lists_and_closes_a_task(client, city):
    for day in (1, 2, 3):
        _post(client, "doctor_d1", day)
    client.cookies.set("cm_token", bearer("doctor_lead")["Authorization"].split()[1])

    page = client.get("/workbench/monitoring?lang=en")

    assert page.status_code == 200
    assert "Blood pressure high three days running" in page.text
    assert "PSIGNED" in page.text and "Assigned to you" in page.text
    assert 'href="/workbench/monitoring"' in client.get("/workbench?lang=en").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="(/workbench/monitoring/[^"]+/close)"', page.text).group(1)
    empty = client.post(action, data={"csrf_token": token, "note": " "})
    assert empty.status_code == 400
    closed = client.post(
        action, data={"csrf_token": token, "note": "上门随访"}, follow_redirects=False
    )
    assert closed.status_code == 303
    assert "No tasks." in client.get("/workbench/monitoring?lang=en").text
    assert "上门随访" in client.get("/workbench/monitoring?show=done").text
    forged = client.post(action, data={"csrf_token": "forged", "note": "x"})
    assert forged.status_code in (400, 403)

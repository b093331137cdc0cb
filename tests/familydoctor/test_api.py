"""The family-doctor API (issue 5, item 4): status codes, shapes, problem+json, scope."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from carematch.api.routes import iter_endpoints
from carematch.core.db import session_scope
from carematch.familydoctor.endpoints import router
from carematch.familydoctor.schedule import add_months
from carematch.security.authz import declared_authz
from tests.familydoctor.conftest import D1, World, add_team, bearer, build_world

PROBLEM = "application/problem+json"
FD = "/api/v1/family-doctor"


@pytest.fixture
def setup(api: TestClient, tmp_path) -> tuple[TestClient, World, str]:
    world = build_world(tmp_path)
    with session_scope() as session:
        team = add_team(session, world)
    return api, world, team


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    return body


def test_every_route_declares_authorisation():
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    routes = [e for e in iter_endpoints(app) if e.is_api_route]
    assert len(routes) >= 18
    assert [e.path for e in routes if declared_authz(e.route.dependant) is None] == []


def test_packages_are_listed_for_every_signed_in_user(setup):
    client, _, _ = setup
    body = client.get(f"{FD}/packages", headers=bearer("resident_ht")).json()
    assert body["total"] == len(body["items"]) >= 5 and body["items"][0]["id"] == "basic"
    basic = body["items"][0]
    assert basic["free"] is True and basic["price"] == "0.00"
    rules = {r["program"]: r["every_months"] for r in basic["followups"]}
    assert rules["hypertension"] == 3 and rules["severe_mental_disorder"] == 1
    paged = client.get(
        f"{FD}/packages", params={"limit": 2, "offset": 1}, headers=bearer("grid_d1")
    )
    assert [p["id"] for p in paged.json()["items"]] == [p["id"] for p in body["items"][1:3]]
    chronic = client.get(f"{FD}/packages/chronic", headers=bearer("doctor_d1")).json()
    assert chronic["price"] == "200.00" and chronic["eligibility"]["conditions_any"]
    problem(client.get(f"{FD}/packages/gold", headers=bearer("doctor_d1")), 404)
    problem(client.get(f"{FD}/packages"), 401)


def test_an_official_makes_a_team_and_adds_a_member(setup):
    client, world, _ = setup
    official = bearer("official_d1")
    made = client.post(
        f"{FD}/teams",
        json={
            "name": "幸福家庭医生团队",
            "provider_id": "PRVC1",
            "lead_user_id": world.users["doctor_d1"],
        },
        headers=official,
    )
    assert made.status_code == 201, made.text
    team = made.json()
    assert made.headers["Location"].endswith(team["id"]) and team["area_code"] == f"{D1}001"
    added = client.post(
        f"{FD}/teams/{team['id']}/members",
        json={"user_id": world.users["grid_d1"], "team_role": "health_manager"},
        headers=official,
    )
    assert added.status_code == 201
    assert {m["username"] for m in added.json()["members"]} == {"doctor_d1", "grid_d1"}
    problem(
        client.post(
            f"{FD}/teams/{team['id']}/members",
            json={"user_id": world.users["grid_d1"], "team_role": "nurse"},
            headers=official,
        ),
        409,
    )
    removed = client.delete(
        f"{FD}/teams/{team['id']}/members/{world.users['grid_d1']}", headers=official
    )
    assert removed.status_code == 200 and len(removed.json()["members"]) == 1
    # Doctors do not make teams; another district's official does not see this one.
    problem(
        client.post(
            f"{FD}/teams",
            json={"name": "x", "provider_id": "PRVC1", "lead_user_id": world.users["doctor_d1"]},
            headers=bearer("doctor_d1"),
        ),
        403,
    )
    problem(client.get(f"{FD}/teams/{team['id']}", headers=bearer("official_d2")), 404)
    problem(
        client.post(
            f"{FD}/teams",
            json={"name": "x", "provider_id": "PRVH1", "lead_user_id": world.users["doctor_d1"]},
            headers=official,
        ),
        400,
    )


def test_a_resident_signs_themselves_and_sees_their_follow_ups(setup):
    client, world, team = setup
    resident = bearer("resident_ht")
    teams = client.get(f"{FD}/teams", headers=resident).json()
    assert [t["id"] for t in teams["items"]] == [team]
    signed = client.post(
        f"{FD}/contracts",
        json={"person_id": world.ht, "team_id": team, "package": "basic"},
        headers=resident,
    )
    assert signed.status_code == 201, signed.text
    contract = signed.json()
    assert contract["status"] == "active" and contract["channel"] == "self"
    assert contract["starts_on"] == world.today.isoformat() and contract["price"] == "0.00"
    tasks = client.get(f"{FD}/tasks", headers=resident).json()
    assert tasks["total"] == 3
    due = {t["program"]: t["due_on"] for t in tasks["items"]}
    assert due["hypertension"] == add_months(world.ht_last_followup, 3).isoformat()
    assert tasks["items"][0]["program"] == "elderly_checkup"  # earliest due first
    assert tasks["items"][0]["program_name"] == "老年人健康体检"
    # Again: 409; for someone else: 404; residents do not record follow-ups.
    again = client.post(
        f"{FD}/contracts",
        json={"person_id": world.ht, "team_id": team, "package": "basic"},
        headers=resident,
    )
    assert problem(again, 409)["type"] == "/problems/family-doctor-already-signed"
    problem(
        client.post(
            f"{FD}/contracts",
            json={"person_id": world.young, "team_id": team, "package": "basic"},
            headers=resident,
        ),
        404,
    )
    first = tasks["items"][0]["id"]
    problem(client.post(f"{FD}/tasks/{first}/complete", json={}, headers=resident), 403)
    mine = client.get(f"{FD}/contracts", headers=resident).json()
    assert [c["id"] for c in mine["items"]] == [contract["id"]]
    assert client.get(f"{FD}/contracts", headers=bearer("resident_young")).json()["total"] == 0
    problem(client.get(f"{FD}/contracts/{contract['id']}", headers=bearer("resident_young")), 404)


def test_staff_sign_record_a_follow_up_renew_and_terminate(setup):
    client, world, team = setup
    doctor = bearer("doctor_d1")
    contract = client.post(
        f"{FD}/contracts",
        json={"person_id": world.ht, "team_id": team, "package": "chronic"},
        headers=doctor,
    ).json()
    assert contract["price"] == "200.00"
    tasks = client.get(
        f"{FD}/tasks", params={"person_id": world.ht, "program": "hypertension"}, headers=doctor
    ).json()
    (task,) = tasks["items"]
    done = client.post(
        f"{FD}/tasks/{task['id']}/complete", json={"note": "血压平稳"}, headers=doctor
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["task"]["status"] == "done" and body["task"]["done_on"] == world.today.isoformat()
    # The chronic package follows hypertension monthly, from the day of the follow-up (or a
    # month after the task's due date, if that is later).
    expected = max(add_months(world.today, 1), add_months(date.fromisoformat(task["due_on"]), 1))
    assert body["next_task"]["due_on"] == expected.isoformat()
    problem(client.post(f"{FD}/tasks/{task['id']}/complete", json={}, headers=doctor), 409)
    future = (world.today + timedelta(days=3)).isoformat()
    problem(
        client.post(
            f"{FD}/tasks/{body['next_task']['id']}/complete",
            json={"done_on": future},
            headers=doctor,
        ),
        400,
    )
    # Renewal is not open yet (the term has just begun).
    early = problem(client.post(f"{FD}/contracts/{contract['id']}/renew", headers=doctor), 409)
    assert early["type"] == "/problems/family-doctor-contract-state-conflict"
    ended = client.post(
        f"{FD}/contracts/{contract['id']}/terminate", json={"reason": "迁居外地"}, headers=doctor
    )
    assert ended.status_code == 200 and ended.json()["status"] == "terminated"
    left = client.get(
        f"{FD}/tasks", params={"person_id": world.ht, "status": "cancelled"}, headers=doctor
    ).json()
    assert left["total"] == 3  # next hypertension, diabetes, check-up
    problem(
        client.post(
            f"{FD}/contracts/{contract['id']}/terminate", json={"reason": "x"}, headers=doctor
        ),
        409,
    )
    refreshed = client.post(f"{FD}/tasks/refresh", headers=doctor)
    assert refreshed.status_code == 200 and refreshed.json()["created"] == 0


def test_another_district_sees_none_of_it(setup):
    client, world, team = setup
    client.post(
        f"{FD}/contracts",
        json={"person_id": world.ht, "team_id": team, "package": "basic"},
        headers=bearer("doctor_d1"),
    )
    other = bearer("official_d2")
    assert client.get(f"{FD}/contracts", headers=other).json()["total"] == 0
    assert client.get(f"{FD}/tasks", headers=other).json()["total"] == 0
    assert client.get(f"{FD}/teams", headers=other).json()["total"] == 0
    signed = problem(
        client.post(
            f"{FD}/contracts",
            json={"person_id": world.ht, "team_id": team, "package": "basic"},
            headers=bearer("doctor_d2"),
        ),
        404,
    )
    assert signed["type"] == "/problems/person-not-found"


def test_a_referral_s_status_is_visible_to_both_ends(setup):
    client, world, _ = setup
    sender, receiver = bearer("doctor_d2"), bearer("doctor_d1")
    made = client.post(
        "/api/v1/referrals",
        json={
            "person_id": world.d2,
            "from_provider_id": "PRVC2",
            "to_provider_id": "PRVH1",
            "reason": "血压控制不佳",
            "urgency": "urgent",
        },
        headers=sender,
    )
    assert made.status_code == 201, made.text
    referral = made.json()
    assert referral["direction"] == "up" and referral["allowed"] == ["accepted", "rejected"]
    rid = referral["id"]
    problem(
        client.post(f"/api/v1/referrals/{rid}/status", json={"status": "accepted"}, headers=sender),
        403,
    )
    accepted = client.post(
        f"/api/v1/referrals/{rid}/status", json={"status": "accepted"}, headers=receiver
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    # The sending end sees the answer.
    seen = client.get(f"/api/v1/referrals/{rid}", headers=sender).json()
    assert seen["status"] == "accepted" and [e["status"] for e in seen["events"]] == [
        "requested",
        "accepted",
    ]
    wrong = problem(
        client.post(
            f"/api/v1/referrals/{rid}/status", json={"status": "completed"}, headers=receiver
        ),
        409,
    )
    assert wrong["current"] == "accepted" and wrong["allowed"] == ["arrived"]
    listed = client.get("/api/v1/referrals", params={"status": "accepted"}, headers=sender).json()
    assert [r["id"] for r in listed["items"]] == [rid]
    assert client.get("/api/v1/referrals", headers=bearer("official_d3")).json()["total"] == 0
    problem(client.get(f"/api/v1/referrals/{rid}", headers=bearer("official_d3")), 404)
    outside = client.post(
        "/api/v1/referrals",
        json={
            "person_id": world.d2,
            "from_provider_id": "PRVC2",
            "to_provider_id": "PRVH2",
            "reason": "x",
        },
        headers=sender,
    )
    assert problem(outside, 400)["type"] == "/problems/invalid-referral"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"{FD}/contracts/%00", None),
        ("get", f"{FD}/tasks/{'x' * 300}", None),
        ("post", f"{FD}/contracts", {"person_id": "", "team_id": "t", "package": "basic"}),
        ("post", f"{FD}/contracts", {"person_id": "p", "team_id": "t", "package": "BASIC!"}),
        ("get", f"{FD}/tasks?status=late", None),
        ("get", f"{FD}/contracts?limit=0", None),
        ("post", "/api/v1/referrals/abc/status", {"status": "teleported"}),
    ],
)
def test_malformed_requests_are_problems_never_500(setup, method, path, body):
    client, _, _ = setup
    response = getattr(client, method)(
        path, **({"json": body} if body is not None else {}), headers=bearer("admin1")
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM)

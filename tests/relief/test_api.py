"""The relief API: roles, jurisdiction, the workflow's order as 409 problems, the fund."""

from __future__ import annotations

import pytest

from carematch.core.db import session_scope
from carematch.security.service import create_user
from tests.fixtures.people import PASSWORD, token
from tests.relief.test_service import AS_OF, D1, D2, _cross_the_line, world  # noqa: F401


@pytest.fixture
def env(sqlite_env):
    """SQLite only: the service tests cover both databases; the API reads through the same ORM."""
    return sqlite_env


@pytest.fixture
def users(world):  # noqa: F811
    with session_scope() as session:
        create_user(session, "civil_d1", "civil_affairs", PASSWORD, D1)
        create_user(session, "official_d2", "official", PASSWORD, D2)
        create_user(session, "doctor_d1", "doctor", PASSWORD, D1)
    _cross_the_line(world)
    from carematch.relief.service import recompute

    with session_scope() as session:
        recompute(session, AS_OF)
    return world


def test_civil_affairs_takes_a_case_through_and_the_order_is_enforced(client, users):
    civil = token(client, "civil_d1")
    cases = client.get("/api/v1/relief/cases", headers=civil).json()
    assert cases["total"] == 1
    case = cases["items"][0]
    assert (case["status"], case["amount"], case["oop_12m"]) == ("triggered", 2800.0, 5600.0)
    assert case["steps"][0]["policy_id"] == "P-MED-ASSIST-MON"

    early = client.post(f"/api/v1/relief/cases/{case['id']}/pay", json={}, headers=civil)
    assert early.status_code == 409
    assert early.json()["type"] == "/problems/relief-case-state-conflict"

    url = f"/api/v1/relief/cases/{case['id']}"
    assert client.post(url + "/verify", json={"note": "属实"}, headers=civil).status_code == 200
    assert client.post(url + "/approve", json={}, headers=civil).status_code == 200
    short = client.post(url + "/pay", json={}, headers=civil)
    assert short.status_code == 409 and short.json()["type"] == "/problems/relief-fund-short"

    deposit = client.post(
        "/api/v1/relief/fund/deposits", json={"amount": "10000.00"}, headers=civil
    )
    assert deposit.status_code == 201 and deposit.json()["balance"] == 10000.0
    paid = client.post(url + "/pay", json={}, headers=civil).json()
    assert paid["status"] == "paid" and paid["paid_by"] == "civil_d1"
    assert paid["out_of_pocket_after"] == 2800.0
    assert client.get("/api/v1/relief/fund", headers=civil).json()["balance"] == 7200.0


def test_roles_and_jurisdiction(client, users):
    civil = token(client, "civil_d1")
    case_id = client.get("/api/v1/relief/cases", headers=civil).json()["items"][0]["id"]

    other = token(client, "official_d2")
    assert client.get(f"/api/v1/relief/cases/{case_id}", headers=other).status_code == 404
    assert client.get("/api/v1/relief/cases", headers=other).json()["total"] == 0
    doctor = token(client, "doctor_d1")
    assert client.get("/api/v1/relief/cases", headers=doctor).status_code == 403
    assert client.get("/api/v1/relief/cases").status_code == 401


def test_bad_input_is_a_clear_problem(client, users):
    civil = token(client, "civil_d1")
    case_id = client.get("/api/v1/relief/cases", headers=civil).json()["items"][0]["id"]

    no_reason = client.post(f"/api/v1/relief/cases/{case_id}/reject", json={}, headers=civil)
    assert no_reason.status_code == 400
    assert no_reason.json()["type"] == "/problems/invalid-relief-input"
    negative = client.post("/api/v1/relief/fund/deposits", json={"amount": -5}, headers=civil)
    assert negative.status_code == 422
    towns = client.get("/api/v1/relief/townships", headers=civil).json()
    assert towns == [
        {
            "township": f"{D1}001",
            "watched": 1,
            "at_risk": 1,
            "anti_return": 1,
            "temporary_relief": 0,
        }
    ]

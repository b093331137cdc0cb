"""The cockpit's relief page served by the app: civil-affairs staff see it and work a case with
CSRF-protected forms; other roles and districts do not; Chinese first."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from carematch.core.db import session_scope
from carematch.security.service import create_user
from tests.fixtures.people import PASSWORD
from tests.relief.test_service import AS_OF, D1, D2, _cross_the_line, world  # noqa: F401


@pytest.fixture
def env(sqlite_env):
    """SQLite only: the page reads through the service, tested on both databases."""
    return sqlite_env


@pytest.fixture
def page(world):  # noqa: F811
    with session_scope() as session:
        create_user(session, "civil_d1", "civil_affairs", PASSWORD, D1)
        create_user(session, "civil_d2", "civil_affairs", PASSWORD, D2)
        create_user(session, "doctor_d1", "doctor", PASSWORD, D1)
    _cross_the_line(world)
    from carematch.relief.service import recompute

    with session_scope() as session:
        recompute(session, AS_OF)
    from carematch.api.app import create_app

    with TestClient(create_app()) as c:
        yield c


def _sign_in(client: TestClient, username: str) -> None:
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def test_civil_affairs_works_a_case_on_the_page(page):
    _sign_in(page, "civil_d1")
    html = page.get("/cockpit/relief").text
    assert "防返贫监测" in html or "返贫" in html  # Chinese first
    case_id = re.search(r'data-case="([0-9a-f]+)"', html).group(1)
    token = _csrf(html)

    forged = page.post(f"/cockpit/relief/cases/{case_id}/verify", data={"csrf_token": "x"})
    assert forged.status_code == 403
    out_of_order = page.post(
        f"/cockpit/relief/cases/{case_id}/pay", data={"csrf_token": token}, follow_redirects=False
    )
    assert out_of_order.status_code == 303 and "message=order" in out_of_order.headers["location"]
    for action in ("verify", "approve"):
        done = page.post(
            f"/cockpit/relief/cases/{case_id}/{action}",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert "message=done" in done.headers["location"]
    short = page.post(
        f"/cockpit/relief/cases/{case_id}/pay", data={"csrf_token": token}, follow_redirects=False
    )
    assert "message=short" in short.headers["location"]
    page.post("/cockpit/relief/fund/deposit", data={"csrf_token": token, "amount": "3000"})
    page.post(f"/cockpit/relief/cases/{case_id}/pay", data={"csrf_token": token})

    html = page.get("/cockpit/relief").text
    assert 'data-status="paid"' in html
    assert 'data-balance="200.00"' in html  # 3,000 − 2,800


def test_other_roles_and_districts(page):
    _sign_in(page, "doctor_d1")
    assert page.get("/cockpit/relief").status_code == 403
    page.cookies.clear()
    _sign_in(page, "civil_d2")
    html = page.get("/cockpit/relief").text
    assert "data-case=" not in html
    page.cookies.clear()
    assert page.get("/cockpit/relief", follow_redirects=False).status_code in (302, 303, 307)

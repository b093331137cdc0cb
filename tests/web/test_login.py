"""Signing in and out through the web form: cookie, redirects by role, errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carematch.security.authz import TOKEN_COOKIE
from carematch.security.models import AuditEntry
from tests.web.conftest import PASSWORD, login


@pytest.mark.parametrize(
    ("username", "home"),
    [
        ("official", "/cockpit"),
        ("admin", "/cockpit"),
        ("doctor", "/workbench"),
        ("grid", "/workbench"),
        ("resident", "/portal"),
    ],
)
def test_login_sends_each_role_to_its_face(client: TestClient, accounts, username, home):
    response = login(client, accounts(username))

    assert response.status_code == 303
    assert response.headers["location"] == home
    assert client.get(home).status_code == 200


def test_session_cookie_is_httponly_and_same_site_strict(client: TestClient, accounts):
    response = login(client, accounts("doctor"))

    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{TOKEN_COOKIE}=")
    attributes = {part.strip().lower() for part in set_cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes


@pytest.mark.parametrize("username", ["doctor", "nobody"])
def test_wrong_password_or_unknown_user_rerenders_the_form_with_one_message(
    client: TestClient, accounts, username
):
    accounts("doctor")

    response = login(client, username, password="not-the-password")

    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "用户名或密码错误" in response.text
    assert 'id="login-error"' in response.text
    assert TOKEN_COOKIE not in response.headers.get("set-cookie", "")
    # The username is kept so the user only retypes the password.
    assert f'value="{username}"' in response.text


def test_empty_form_asks_for_both_fields_instead_of_failing(client: TestClient):
    response = client.post("/login", data={}, follow_redirects=False)

    assert response.status_code == 400
    assert "请输入用户名和密码" in response.text


def test_login_returns_to_the_page_that_asked_for_it(client: TestClient, accounts):
    response = client.post(
        "/login",
        data={"username": accounts("official"), "password": PASSWORD, "next": "/workbench"},
        follow_redirects=False,
    )

    assert response.headers["location"] == "/workbench"


@pytest.mark.parametrize(
    "evil", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_login_never_redirects_off_site(client: TestClient, accounts, evil):
    response = client.post(
        "/login",
        data={"username": accounts("official"), "password": PASSWORD, "next": evil},
        follow_redirects=False,
    )

    assert response.headers["location"] == "/cockpit"


def test_login_form_keeps_a_safe_next_and_drops_an_unsafe_one(client: TestClient):
    kept = client.get("/login", params={"next": "/workbench?offset=20"})
    dropped = client.get("/login", params={"next": "https://evil.example/"})

    assert 'name="next" value="/workbench?offset=20"' in kept.text
    assert 'name="next"' not in dropped.text


@pytest.mark.parametrize("method", ["get", "post"])
def test_logout_forgets_the_session(client: TestClient, signed_in, method):
    signed_in("official")
    assert client.get("/cockpit", follow_redirects=False).status_code == 200

    response = getattr(client, method)("/logout", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert f'{TOKEN_COOKIE}=""' in response.headers["set-cookie"]
    assert client.get("/cockpit", follow_redirects=False).status_code == 303


def test_login_is_audited(client: TestClient, accounts, session):
    login(client, accounts("doctor"))

    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "doctor"))
    assert "login" in list(actions)

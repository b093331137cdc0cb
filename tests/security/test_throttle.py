"""Sign-in throttling: repeated wrong passwords are refused with 429 before any check."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from carematch.core.config import get_settings
from carematch.core.db import session_scope
from carematch.security.service import create_user
from carematch.security.throttle import SignInThrottle, TooManySignInAttempts

PASSWORD = "correct horse battery"
TOKEN = "/api/v1/auth/token"


def _client() -> TestClient:
    from carematch.api.app import create_app

    return TestClient(create_app())


def _users(*names: str) -> None:
    with session_scope() as session:
        for name in names:
            create_user(session, name, "official", PASSWORD, "449901")


def _sign_in(client: TestClient, username: str, password: str = PASSWORD) -> int:
    return client.post(TOKEN, data={"username": username, "password": password}).status_code


def test_an_account_is_refused_after_five_failures_even_with_the_right_password(env):
    _users("alice", "bob")
    with _client() as client:
        assert [_sign_in(client, "alice", "guess") for _ in range(5)] == [401] * 5
        refused = client.post(TOKEN, data={"username": "alice", "password": PASSWORD})
        assert refused.status_code == 429
        assert refused.json()["type"] == "/problems/too-many-sign-in-attempts"
        assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
        # Another account from the same client is not locked out by alice's failures.
        assert _sign_in(client, "bob") == 200


def test_successful_sign_ins_are_never_counted(env):
    _users("carol")
    with _client() as client:
        assert [_sign_in(client, "carol") for _ in range(8)] == [200] * 8
        assert [_sign_in(client, "carol", "guess") for _ in range(4)] == [401] * 4
        assert _sign_in(client, "carol") == 200


def test_one_client_guessing_many_accounts_is_stopped(env, monkeypatch):
    monkeypatch.setenv("CAREMATCH_SIGNIN_PER_CLIENT", "3 per 15 minutes")
    get_settings.cache_clear()
    _users("dave", "erin", "frank", "grace")
    with _client() as client:
        for name in ("dave", "erin", "frank"):
            assert _sign_in(client, name, "guess") == 401
        assert _sign_in(client, "grace") == 429


def test_the_sign_in_form_says_to_wait_in_chinese(env):
    _users("heidi")
    with _client() as client:
        for _ in range(5):
            page = client.post("/login", data={"username": "heidi", "password": "guess"})
            assert page.status_code == 400
        page = client.post(
            "/login",
            data={"username": "heidi", "password": PASSWORD},
            headers={"Accept-Language": "zh-CN"},
            follow_redirects=False,
        )
        assert page.status_code == 429
        assert "错误次数过多" in page.text and "15 分钟" in page.text
        assert "cm_token" not in page.headers.get("set-cookie", "")


def test_the_throttle_counts_usernames_without_regard_to_case() -> None:
    throttle = SignInThrottle(per_account="2 per 1 hour")
    throttle.failed("Alice", "10.0.0.1")
    throttle.failed("ALICE", "10.0.0.2")
    with pytest.raises(TooManySignInAttempts):
        throttle.check("alice", "10.0.0.3")
    throttle.check("bob", "10.0.0.3")

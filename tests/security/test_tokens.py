"""Access tokens: the per-process memory of verified tokens never changes a verdict.

``read_token`` remembers tokens it has verified (the booking API reads one per request); these
tests hold it to what a fresh verification would say: a new key forgets the old key's tokens,
an expired token is refused even when remembered, any altered token is judged afresh, and the
user row is still read on every request, so deactivating a user takes effect at once.
"""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from carematch.core.config import get_settings
from carematch.core.db import session_scope
from carematch.core.errors import Unauthorized
from carematch.security import tokens
from carematch.security.models import User
from carematch.security.service import create_user
from carematch.security.tokens import issue_token, read_token

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()
PASSWORD = "correct horse battery"


@pytest.fixture
def keyed(sqlite_env, monkeypatch: pytest.MonkeyPatch):
    """An installation signing with KEY_A from the environment, and an empty token memory."""
    monkeypatch.setenv("CAREMATCH_JWT_SECRET", KEY_A)
    get_settings.cache_clear()
    tokens._verified.clear()
    yield sqlite_env
    tokens._verified.clear()
    get_settings.cache_clear()


def _use_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("CAREMATCH_JWT_SECRET", key)
    get_settings.cache_clear()


def test_a_remembered_token_is_refused_once_the_key_changes(keyed, monkeypatch):
    old, _ = issue_token("u1", "official", "449901")
    assert read_token(old)["sub"] == "u1"
    assert read_token(old)["sub"] == "u1"  # now from memory

    _use_key(monkeypatch, KEY_B)
    with pytest.raises(Unauthorized, match="invalid token"):
        read_token(old)
    new, _ = issue_token("u2", "official", "449901")
    assert read_token(new)["sub"] == "u2"

    # Back to the first key: its tokens verify again, the second key's do not.
    _use_key(monkeypatch, KEY_A)
    assert read_token(old)["sub"] == "u1"
    with pytest.raises(Unauthorized, match="invalid token"):
        read_token(new)


def test_a_remembered_token_expires_on_time(keyed, monkeypatch):
    token, lifetime = issue_token("u1", "doctor", "449901")
    exp = read_token(token)["exp"]
    assert exp - time.time() <= lifetime
    real_time = time.time
    monkeypatch.setattr(tokens.time, "time", lambda: exp - 0.5)
    assert read_token(token)["sub"] == "u1"
    # PyJWT's rule, without leeway: expired once the clock reaches exp.
    monkeypatch.setattr(tokens.time, "time", lambda: float(exp))
    with pytest.raises(Unauthorized, match="token expired"):
        read_token(token)
    monkeypatch.setattr(tokens.time, "time", real_time)
    assert read_token(token)["sub"] == "u1"


def test_an_expired_token_is_never_remembered(keyed):
    expired = jwt.encode(
        {"sub": "u1", "exp": int(time.time()) - 10}, base64.b64decode(KEY_A), algorithm="HS256"
    )
    for _ in range(2):
        with pytest.raises(Unauthorized, match="token expired"):
            read_token(expired)


def test_changing_returned_claims_does_not_change_the_next_read(keyed):
    token, _ = issue_token("u1", "official", "449901")
    claims = read_token(token)
    claims["role"] = "admin"
    assert read_token(token)["role"] == "official"


def test_the_memory_is_bounded(keyed, monkeypatch):
    monkeypatch.setattr(tokens, "VERIFIED_MAX", 3)
    issued = [issue_token(f"u{i}", "official", "449901")[0] for i in range(7)]
    for token in issued:
        read_token(token)
    _, remembered = tokens._verified._state
    assert 1 <= len(remembered) <= 3
    assert all(read_token(t)["sub"] == f"u{i}" for i, t in enumerate(issued))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AbQz09-_.="))
def test_an_altered_token_gets_the_verdict_a_fresh_verification_gives(keyed, position, replacement):
    token, _ = issue_token("u1", "official", "449901")
    read_token(token)  # the original is remembered
    i = position % len(token)
    altered = token[:i] + replacement + token[i + 1 :]
    try:
        expected = jwt.decode(
            altered, base64.b64decode(KEY_A), algorithms=["HS256"], options={"require": ["exp"]}
        )
    except jwt.PyJWTError:
        expected = None
    if expected is None:
        with pytest.raises(Unauthorized):
            read_token(altered)
    else:
        assert read_token(altered) == expected


def test_a_deactivated_user_is_refused_at_the_next_request_with_the_same_token(keyed):
    from carematch.api.app import create_app

    with session_scope() as session:
        create_user(session, "official_t", "official", PASSWORD, "449901")
    with TestClient(create_app()) as client:
        response = client.post(
            "/api/v1/auth/token", data={"username": "official_t", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        assert client.get("/api/v1/slots", headers=headers).status_code == 200

        with session_scope() as session:
            session.execute(
                update(User).where(User.username == "official_t").values(region_code=None)
            )
        refused = client.get("/api/v1/slots", headers=headers)
        assert refused.status_code == 403, refused.text

        with session_scope() as session:
            session.execute(
                update(User)
                .where(User.username == "official_t")
                .values(region_code="449901", active=False)
            )
        refused = client.get("/api/v1/slots", headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")

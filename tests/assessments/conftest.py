"""Fixtures of the assessments tests: the family-doctor tests' small world (four persons with
real records in two districts, staff of both, two linked residents) and helpers to act as them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carematch.core.db import session_scope
from carematch.security.authz import TOKEN_COOKIE
from tests.familydoctor.conftest import World, bearer, build_world, principal

__all__ = ["World", "barthel_answers", "bearer", "form_fields", "principal", "sign_in"]


def barthel_answers(total: int) -> dict[str, int]:
    """Allowed answers adding up to ``total`` (a multiple of 5): items filled highest first."""
    from carematch.assessments.barthel import barthel

    left, answers = total, {}
    for item in barthel().items:
        score = max(s for s in item.scores if s <= left)
        answers[item.code] = score
        left -= score
    assert left == 0
    return answers


@pytest.fixture
def world(sqlite_env, tmp_path: Path) -> World:
    """The world on SQLite (what the rules need; the database's part is tested on both)."""
    return build_world(tmp_path)


@pytest.fixture
def world_both(env, tmp_path: Path) -> World:
    """The world on each database backend."""
    return build_world(tmp_path)


@pytest.fixture
def app_client(sqlite_env) -> Iterator[TestClient]:
    """The app on the SQLite installation (tests whose rules do not depend on the database)."""
    from carematch.api.app import create_app

    with TestClient(create_app()) as c:
        yield c


def sign_in(client: TestClient, username: str) -> TestClient:
    """Sign a browser in as an existing user (the session cookie, without an argon2 hash)."""
    token = bearer(username)["Authorization"].removeprefix("Bearer ")
    client.cookies.set(TOKEN_COOKIE, token)
    return client


def form_fields(html: str, form_id: str) -> dict[str, str]:
    """The hidden fields of the form with this id, as the browser would send them back."""
    start = html.index(f'id="{form_id}"')
    chunk = html[start : html.index("</form>", start)]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', chunk))


def count(model: type) -> int:
    from sqlalchemy import func, select

    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

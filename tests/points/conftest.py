"""Fixtures of the points tests: two districts, linked residents, the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from carematch.core.db import session_scope
from carematch.security.models import AuditEntry, User
from carematch.security.service import create_user
from carematch.security.tokens import issue_token
from tests.fixtures.people import PASSWORD, build_two_districts


@dataclass
class World:
    """Persons in two districts; ``resident1`` is linked to the district-1 person,
    ``resident2`` to the district-2 person, ``resident3`` to nobody."""

    person_d1: str
    person_d2: str


def build_world(tmp: Path) -> World:
    """build_two_districts, with residents linked to its persons."""
    built = build_two_districts(tmp)
    with session_scope() as session:
        session.execute(
            update(User).where(User.username == "resident1").values(person_id=built.person_d1)
        )
        create_user(session, "resident2", "resident", PASSWORD).person_id = built.person_d2
        create_user(session, "resident3", "resident", PASSWORD)
    return World(built.person_d1, built.person_d2)


@pytest.fixture
def world(env, tmp_path: Path) -> World:
    """The two-district world on the test's backend."""
    return build_world(tmp_path)


def bearer(username: str) -> dict[str, str]:
    """An Authorization header for an existing user (tokens issued directly: no argon2)."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        access, _ = issue_token(user.id, user.role, user.region_code)
    return {"Authorization": f"Bearer {access}"}


def points_app() -> FastAPI:
    """The app under test; app.py mounts the points router."""
    from carematch.api.app import create_app

    return create_app()


@pytest.fixture
def api(env) -> Iterator[TestClient]:
    """A client of the app."""
    with TestClient(points_app()) as client:
        yield client


def audit_rows(entity_id: str) -> list[tuple[str, str, str]]:
    """(actor, action, detail JSON) of every audit entry about one entity, in order."""
    with session_scope() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.entity_id == entity_id)
            .order_by(AuditEntry.seq)
        )
        return [(a, b, c) for a, b, c in rows]

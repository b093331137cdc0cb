"""Fixtures of the feedback tests: two districts with a provider each, users, a pinned clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carematch.core import clock
from carematch.core.db import session_scope
from carematch.core.models import Region
from carematch.providers.models import Provider
from carematch.security.authz import Principal
from carematch.security.models import AuditEntry, User
from carematch.security.service import create_user
from carematch.security.tokens import issue_token
from tests.fixtures.people import D1, D2, PASSWORD, build_two_districts

# Monday 2 March 2026, 09:00 city time: deadlines and overdue are computed against it.
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PROVIDER_D1 = "PRVFB1"
PROVIDER_D2 = "PRVFB2"


class PinnedClock:
    """``carematch.core.clock.utcnow`` replaced by a time the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> PinnedClock:
    """The feedback domain's clock, pinned at NOW."""
    fixed = PinnedClock(NOW)
    monkeypatch.setattr(clock, "utcnow", fixed)
    return fixed


def add_provider(session: Session, provider_id: str, community: str, name: str) -> None:
    session.add(
        Provider(
            id=provider_id,
            name=name,
            name_en=f"Clinic {provider_id}",
            kind="community_health_centre",
            region_code=community,
            lat=23.1,
            lon=113.3,
        )
    )
    session.flush()


@dataclass
class World:
    """Two districts, each with a person, a provider and an official; in district 1 a doctor, a
    grid worker and a resident linked to its person; in district 2 a resident linked to its
    person; an admin."""

    person_d1: str
    person_d2: str
    provider_d1: str = PROVIDER_D1
    provider_d2: str = PROVIDER_D2


def add_regions(session: Session) -> None:
    """The city, its two districts, a street and a community in each."""
    session.add(Region(code="449900", name="示范市", name_en="Demo City", level="city"))
    session.flush()
    for code, name in ((D1, "白云区"), (D2, "青山区")):
        session.add(Region(code=code, name=name, level="district", parent_code="449900"))
        session.flush()
        session.add(Region(code=f"{code}001", name="街道", level="street", parent_code=code))
        session.flush()
        session.add(
            Region(code=f"{code}001001", name="社区", level="community", parent_code=f"{code}001")
        )
    session.flush()


def build_world(tmp: Path) -> World:
    people = build_two_districts(tmp)
    with session_scope() as session:
        add_regions(session)
        add_provider(session, PROVIDER_D1, f"{D1}001001", "幸福社区卫生服务中心")
        add_provider(session, PROVIDER_D2, f"{D2}001001", "和平社区卫生服务站")
        create_user(session, "grid_d1", "grid_worker", PASSWORD, D1)
        create_user(session, "resident2", "resident", PASSWORD)
        session.execute(
            update(User).where(User.username == "resident1").values(person_id=people.person_d1)
        )
        session.execute(
            update(User).where(User.username == "resident2").values(person_id=people.person_d2)
        )
    return World(people.person_d1, people.person_d2)


@pytest.fixture
def world(env, tmp_path: Path, pinned: PinnedClock) -> World:
    """The two-district world on each database backend, with the clock pinned."""
    return build_world(tmp_path)


@pytest.fixture
def api(env) -> Iterator[TestClient]:
    """The app under test (its own client, so a test may use it beside the world)."""
    from carematch.api.app import create_app

    with TestClient(create_app()) as c:
        yield c


def principal(username: str) -> Principal:
    """The principal of an existing user, as the API would build it."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return Principal(user.id, user.username, user.role, user.region_code, user.person_id)


def bearer(username: str) -> dict[str, str]:
    """An Authorization header for an existing user (tokens issued directly: no argon2)."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        access, _ = issue_token(user.id, user.role, user.region_code)
    return {"Authorization": f"Bearer {access}"}


def audit_actions(entity_id: str) -> list[tuple[str, str, str]]:
    """(actor, action, detail) of every audit entry about one entity, in order."""
    with session_scope() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.entity_id == entity_id)
            .order_by(AuditEntry.seq)
        ).all()
    return [tuple(r) for r in rows]

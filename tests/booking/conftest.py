"""Fixtures of the booking tests: two districts with a provider each, persons, principals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carematch.booking.models import Slot
from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.identity.models import Person
from carematch.providers.models import Provider, ProviderHours, ProviderService, VanStop
from carematch.security.authz import Principal
from carematch.security.models import User
from carematch.security.tokens import issue_token
from tests.fixtures.people import D1, D2

SERVICE = "vaccination_adult"
OTHER_SERVICE = "chronic_followup"
# A fixed "now" for service tests: slots are placed relative to it.
NOW = datetime(2030, 3, 4, 1, 0, tzinfo=UTC)  # Monday 09:00 city time


def add_provider(
    session: Session,
    provider_id: str,
    community: str,
    *,
    kind: str = "community_health_centre",
    services: dict[str, int] | None = None,
    hours: list[tuple[int, str, str]] | None = None,
    stops: list[tuple[int, str, str, str]] | None = None,
) -> None:
    """A provider offering ``services`` (code → daily capacity) with hours or van stops."""
    session.add(
        Provider(
            id=provider_id,
            name=f"机构{provider_id}",
            kind=kind,
            region_code=community,
            lat=23.1,
            lon=113.3,
        )
    )
    session.flush()
    for code, capacity in (services or {SERVICE: 40, OTHER_SERVICE: 20}).items():
        session.add(
            ProviderService(
                provider_id=provider_id,
                service_code=code,
                daily_capacity=capacity,
                price=Decimal(0),
            )
        )
    for weekday, opens, closes in hours or []:
        session.add(
            ProviderHours(provider_id=provider_id, weekday=weekday, opens=opens, closes=closes)
        )
    for weekday, start, end, site in stops or []:
        session.add(
            VanStop(
                provider_id=provider_id,
                weekday=weekday,
                start_time=start,
                end_time=end,
                lat=23.1,
                lon=113.3,
                region_code=community,
                site_name=site,
            )
        )
    session.flush()


def add_slot(
    session: Session,
    provider_id: str,
    *,
    capacity: int = 5,
    start: datetime | None = None,
    minutes: int = 30,
    service: str = SERVICE,
    region: str | None = None,
) -> str:
    """A slot straight in the table (the API path is tested on its own)."""
    start = start or NOW + timedelta(days=1)
    slot_id = new_id()
    region = region or session.scalar(
        select(Provider.region_code).where(Provider.id == provider_id)
    )
    session.add(
        Slot(
            id=slot_id,
            provider_id=provider_id,
            service=service,
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            capacity=capacity,
            booked=0,
            region_code=region,
            source="staff",
            created_by="test",
        )
    )
    session.flush()
    return slot_id


def add_persons(session: Session, count: int, community: str = f"{D1}001001") -> list[str]:
    """``count`` bare persons in a community (only the id and community matter to booking)."""
    ids = [f"PT{new_id()[:20]}" for _ in range(count)]
    session.execute(
        insert(Person), [{"id": pid, "community_code": community, "record_count": 0} for pid in ids]
    )
    return ids


def principal(session: Session, username: str) -> Principal:
    """The principal of an existing user, as the API would build it."""
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


@dataclass
class World:
    """Two districts: a person, an official and a provider in each; a doctor and a resident
    (linked to the district-1 person) in district 1; an admin."""

    person_d1: str
    person_d2: str
    provider_d1: str = "PRVD1"
    provider_d2: str = "PRVD2"


# username → (role, region); the resident is linked to the district-1 person.
USERS = {
    "admin1": ("admin", None),
    "official_d1": ("official", D1),
    "official_d2": ("official", D2),
    "doctor_d1": ("doctor", D1),
    "resident1": ("resident", None),
}


def build_world() -> World:
    """Persons, users and providers inserted directly: booking needs only their ids, regions
    and roles (tokens are issued directly, so no password is ever checked or hashed)."""
    weekdays = [(d, "08:00", "17:00") for d in range(1, 6)]
    with session_scope() as session:
        (person_d1,) = add_persons(session, 1, f"{D1}001001")
        (person_d2,) = add_persons(session, 1, f"{D2}001001")
        session.execute(
            insert(User),
            [
                {
                    "id": new_id(),
                    "username": name,
                    "password_hash": "!",
                    "role": role,
                    "region_code": region,
                    "person_id": person_d1 if role == "resident" else None,
                    "active": True,
                }
                for name, (role, region) in USERS.items()
            ],
        )
        add_provider(session, "PRVD1", f"{D1}001001", hours=weekdays)
        add_provider(session, "PRVD2", f"{D2}001001", hours=weekdays)
    return World(person_d1, person_d2)


@pytest.fixture
def world(env) -> World:
    """The two-district world on each database backend."""
    return build_world()

"""A small monitored city: four persons, a clinic with a family-doctor team, staff, tokens.

Persons, providers, users, the team and its contract are inserted directly (identity,
sign-in and signing are tested by their own domains); everything the monitoring domain does is
done through its service, CLI or API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carematch.core.db import session_scope
from carematch.familydoctor.models import FamilyDoctorContract, FamilyDoctorTeam
from carematch.identity.models import Person
from carematch.providers.models import Provider
from carematch.security.authz import Principal
from carematch.security.models import User
from carematch.security.tokens import issue_token

D1, D2 = "449901", "449902"
C1, C2, C3 = f"{D1}001001", f"{D1}001002", f"{D2}001001"
# username → (role, region)
USERS = {
    "admin1": ("admin", None),
    "official_d1": ("official", D1),
    "doctor_lead": ("doctor", f"{D1}001"),  # leads the team that holds the contract of "signed"
    "doctor_c2": ("doctor", C2),  # the community clinic's doctor of "unsigned"
    "doctor_d1": ("doctor", D1),
    "doctor_d2": ("doctor", D2),
    "grid_d1": ("grid_worker", D1),
}
# person → (community, hukou)
PERSONS = {
    "PSIGNED": (C1, "local"),
    "PUNSIGNED": (C2, "migrant"),
    "PD2": (C3, "local"),
    "PNOWHERE": (None, "local"),
}


@dataclass
class City:
    users: dict[str, str]
    team_id: str


def build_city(today: date) -> City:
    users = {name: f"U{name.upper()}"[:32] for name in USERS}
    with session_scope() as session:
        session.execute(
            insert(Person),
            [{"id": pid, "community_code": c, "hukou": h} for pid, (c, h) in PERSONS.items()],
        )
        session.add(
            Provider(
                id="PRVC1",
                name="社区卫生服务中心",
                kind="community_health_centre",
                region_code=C1,
                lat=23.1,
                lon=113.3,
            )
        )
        session.execute(
            insert(User),
            [
                {
                    "id": users[name],
                    "username": name,
                    "password_hash": "!",
                    "role": role,
                    "region_code": region,
                    "active": True,
                }
                for name, (role, region) in USERS.items()
            ],
        )
        session.flush()
        session.add(
            FamilyDoctorTeam(
                id="TEAM1",
                name="林医生团队",
                provider_id="PRVC1",
                region_code=C1,
                area_code=f"{D1}001",
                lead_user_id=users["doctor_lead"],
                created_by="admin1",
            )
        )
        session.flush()
        session.add(
            FamilyDoctorContract(
                id="CON1",
                person_id="PSIGNED",
                team_id="TEAM1",
                package_code="basic",
                starts_on=today - timedelta(days=200),
                ends_on=today + timedelta(days=165),
                status="active",
                price=Decimal("0"),
                region_code=C1,
                channel="staff",
                signed_by="admin1",
            )
        )
    return City(users=users, team_id="TEAM1")


@pytest.fixture
def city(env) -> City:
    return build_city(date(2026, 3, 10))


def principal(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return Principal(user.id, user.username, user.role, user.region_code, user.person_id)


def bearer(username: str) -> dict[str, str]:
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        access, _ = issue_token(user.id, user.role, user.region_code)
    return {"Authorization": f"Bearer {access}"}

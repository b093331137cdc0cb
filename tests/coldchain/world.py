"""A small vaccination world for the cold-chain and administration tests.

Three infants in district 1 (two in one street), one in district 2, registered through the real
path (a police extract ingested and linked), so the forecaster reads their birth dates as in
production; a provider; staff of both districts. Users are inserted directly and tokens issued
without an argon2 hash, as in the family-doctor tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carematch.coldchain import service as coldchain
from carematch.coldchain.models import VaccineLot
from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.identity.models import Person
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.providers.models import Provider
from carematch.security.authz import Principal
from carematch.security.models import User
from carematch.security.tokens import issue_token
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract

D1, D2 = "449901", "449902"
USERS = {
    "admin1": ("admin", None),
    "official_d1": ("official", D1),
    "vaccinator_d1": ("vaccinator", D1),
    "vaccinator_d2": ("vaccinator", D2),
    "doctor_d1": ("doctor", D1),
    "grid_d1": ("grid_worker", D1),
    "resident_a": ("resident", None),
}
INFANTS = {
    "a": ("王小宝", "M", f"{D1}001001"),
    "b": ("李小花", "F", f"{D1}001002"),
    "c": ("张小明", "M", f"{D1}002001"),
    "d2": ("陈小红", "F", f"{D2}001001"),
}


@dataclass
class World:
    persons: dict[str, str]
    users: dict[str, str]
    born: date


def build_world(tmp: Path) -> World:
    """Ingest the infants (born 70 days ago), insert a provider and the users."""
    born = datetime.now(UTC).date() - timedelta(days=70)
    rows = [
        police_row(
            f"P{i}",
            name,
            make_id(community[:6], born, 10 + i, sex),
            community,
            sex=sex,
            born=born.isoformat(),
        )
        for i, (name, sex, community) in enumerate(INFANTS.values(), start=1)
    ]
    write_extract(tmp / "police.csv", POLICE_HEADER, rows)
    with session_scope() as session:
        ingest_file(session, "police", tmp / "police.csv")
        build_persons_exact(session)
        by_community = {p.community_code: p.id for p in session.scalars(select(Person))}
        persons = {key: by_community[c] for key, (_, _, c) in INFANTS.items()}
        session.add(
            Provider(
                id="PRVC1",
                name="社区卫生服务中心",
                kind="community_health_centre",
                region_code=f"{D1}001001",
                lat=23.1,
                lon=113.3,
            )
        )
        users = {name: new_id() for name in USERS}
        session.execute(
            insert(User),
            [
                {
                    "id": users[name],
                    "username": name,
                    "password_hash": "!",
                    "role": role,
                    "region_code": region,
                    "person_id": persons["a"] if name == "resident_a" else None,
                    "active": True,
                }
                for name, (role, region) in USERS.items()
            ],
        )
    return World(persons, users, born)


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


def add_lot(
    session: Session,
    who: str = "vaccinator_d1",
    *,
    product: str = "HepB",
    lot_number: str | None = None,
    expiry: date | None = None,
    vvm_stage: int = 1,
    location: str = "FRIDGE-A",
    received_at: datetime | None = None,
) -> VaccineLot:
    """A lot received into ``location`` through the service (so its event is logged)."""
    lot, _ = coldchain.register_lot(
        session,
        principal(session, who),
        manufacturer="康泰生物",
        product=product,
        lot_number=lot_number or new_id()[:10],
        expiry=expiry or (datetime.now(UTC).date() + timedelta(days=365)),
        vvm_stage=vvm_stage,
        location_id=location,
        received_at=received_at,
    )
    return lot

"""Fixtures of the family-doctor tests: a small county medical community, persons with real
health records, staff of two districts, and helpers to act as them.

Persons come through the real path (a police and an EHR extract, ingested and linked), so their
age, sex, conditions and last follow-up reach the schedule through profiling's features, as in
production. Providers and users are inserted directly: the registry and sign-in are tested by
their own domains, and tokens are issued without an argon2 hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.familydoctor.models import FamilyDoctorTeam, FamilyDoctorTeamMember
from carematch.familydoctor.service import city_today
from carematch.identity.models import Person
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.providers.models import Provider
from carematch.security.authz import Principal
from carematch.security.models import User
from carematch.security.tokens import issue_token
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract

D1, D2, D3 = "449901", "449902", "449903"
EHR_HEADER = (
    "record_id,name,id_number,sex,birth_date,phone,address,community_code,conditions,sbp,dbp,"
    "glucose,last_visit_date,last_followup_date,signed_family_doctor,is_pregnant,"
    "disability_level,lives_alone"
)

# The medical community (县域医共体) led by the county hospital H1: a community health centre
# under it, a village clinic under the centre, and a second centre in district 2. H2 leads
# another community. N1 is an NGO, which takes no referrals.
PROVIDERS = {
    "PRVH1": ("tertiary_hospital", f"{D1}002001", None),
    "PRVC1": ("community_health_centre", f"{D1}001001", "PRVH1"),
    "PRVV1": ("village_clinic", f"{D1}001002", "PRVC1"),
    "PRVC2": ("community_health_centre", f"{D2}001001", "PRVH1"),
    "PRVH2": ("tertiary_hospital", f"{D3}001001", None),
    "PRVN1": ("ngo", f"{D1}001001", None),
}

# username → (role, region); residents are linked to persons by build_world.
USERS = {
    "admin1": ("admin", None),
    "official_d1": ("official", D1),
    "official_d2": ("official", D2),
    "official_d3": ("official", D3),
    "doctor_d1": ("doctor", D1),
    "doctor2_d1": ("doctor", D1),
    "doctor_d2": ("doctor", D2),
    "grid_d1": ("grid_worker", D1),
    "vaccinator_d1": ("vaccinator", D1),
    "resident_ht": ("resident", None),
    "resident_young": ("resident", None),
    "resident_unlinked": ("resident", None),
}


@dataclass
class World:
    """Persons by what matters about them, and user ids by username.

    - ``ht``: a man of 68 in district 1, street 449901001, with hypertension and diabetes, last
      followed up ``ht_last_followup`` (EHR);
    - ``young``: a woman of 36 in the same street, no condition;
    - ``other_street``: a man of 56 in district 1, street 449901002;
    - ``d2``: a woman of 64 in district 2 with hypertension.
    """

    ht: str
    young: str
    other_street: str
    d2: str
    users: dict[str, str]
    today: date
    ht_last_followup: date


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def build_world(tmp: Path, today: date | None = None) -> World:
    """Ingest the four persons, insert the providers and users; return their ids."""
    today = today or city_today()
    last_followup = today - timedelta(days=20)
    people = {
        "ht": ("林国栋", "M", _years_before(today, 68) - timedelta(days=30), f"{D1}001001"),
        "young": ("何小梅", "F", _years_before(today, 36) - timedelta(days=30), f"{D1}001002"),
        "other_street": (
            "陈志强",
            "M",
            _years_before(today, 56) - timedelta(days=30),
            f"{D1}002001",
        ),
        "d2": ("李秀英", "F", _years_before(today, 64) - timedelta(days=30), f"{D2}001001"),
    }
    conditions = {"ht": "hypertension;diabetes", "d2": "hypertension"}
    police, ehr = [], []
    for i, (key, (name, sex, born, community)) in enumerate(people.items(), start=1):
        id_number = make_id(community[:6], born, 10 + i, sex)
        police.append(
            police_row(f"P{i}", name, id_number, community, sex=sex, born=born.isoformat())
        )
        followup = last_followup.isoformat() if key == "ht" else ""
        ehr.append(
            f"E{i},{name},{id_number},{sex},{born.isoformat()},,,{community},"
            f"{conditions.get(key, '')},,,,,{followup},false,false,0,false"
        )
    write_extract(tmp / "police.csv", POLICE_HEADER, police)
    write_extract(tmp / "ehr.csv", EHR_HEADER, ehr)
    with session_scope() as session:
        ingest_file(session, "police", tmp / "police.csv")
        ingest_file(session, "ehr", tmp / "ehr.csv")
        build_persons_exact(session)
        by_community = {p.community_code: p.id for p in session.scalars(select(Person))}
        ids = {key: by_community[community] for key, (*_, community) in people.items()}
        for pid, (kind, region, parent) in PROVIDERS.items():
            session.add(
                Provider(
                    id=pid,
                    name=f"机构{pid}",
                    kind=kind,
                    region_code=region,
                    lat=23.1,
                    lon=113.3,
                    parent_id=parent,
                )
            )
        users = {name: new_id() for name in USERS}
        linked = {"resident_ht": ids["ht"], "resident_young": ids["young"]}
        session.execute(
            insert(User),
            [
                {
                    "id": users[name],
                    "username": name,
                    "password_hash": "!",
                    "role": role,
                    "region_code": region,
                    "person_id": linked.get(name),
                    "active": True,
                }
                for name, (role, region) in USERS.items()
            ],
        )
    return World(
        ht=ids["ht"],
        young=ids["young"],
        other_street=ids["other_street"],
        d2=ids["d2"],
        users=users,
        today=today,
        ht_last_followup=last_followup,
    )


@pytest.fixture
def world(env, tmp_path: Path) -> World:
    """The world on each database backend."""
    return build_world(tmp_path)


def principal(session: Session, username: str) -> Principal:
    """The principal of an existing user, as the API would build it."""
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return Principal(user.id, user.username, user.role, user.region_code, user.person_id)


def bearer(username: str) -> dict[str, str]:
    """An Authorization header for an existing user (issued directly: no argon2)."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        access, _ = issue_token(user.id, user.role, user.region_code)
    return {"Authorization": f"Bearer {access}"}


def add_team(
    session: Session,
    world: World,
    *,
    provider: str = "PRVC1",
    area: str = f"{D1}001",
    lead: str = "doctor_d1",
    name: str = "白云家庭医生团队",
) -> str:
    """A team straight in the table (creation through the service is tested on its own)."""
    team_id = new_id()
    region = PROVIDERS[provider][1]
    session.add(
        FamilyDoctorTeam(
            id=team_id,
            name=name,
            provider_id=provider,
            region_code=region,
            area_code=area,
            lead_user_id=world.users[lead],
            active=True,
            created_by="test",
        )
    )
    session.flush()
    session.add(
        FamilyDoctorTeamMember(
            team_id=team_id,
            user_id=world.users[lead],
            team_role="general_practitioner",
            added_by="test",
        )
    )
    session.flush()
    return team_id


@pytest.fixture
def api(env) -> Iterator[TestClient]:
    """The app with the family-doctor router (mounted here until app.py mounts it)."""
    from carematch.api.app import API_PREFIX, create_app
    from carematch.api.routes import iter_endpoints
    from carematch.familydoctor.endpoints import router

    app = create_app()
    if not any(e.path == f"{API_PREFIX}/referrals" for e in iter_endpoints(app)):
        app.include_router(router, prefix=API_PREFIX)
    with TestClient(app) as client:
        yield client

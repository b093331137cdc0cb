"""GET /api/v1/persons/{id}/vaccination-forecast on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from carematch.core.clock import city_today
from carematch.core.db import session_scope
from carematch.identity.models import Person
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from tests.fixtures.factories import make_id, write_extract
from tests.fixtures.people import D1, PASSWORD, build_two_districts, token

IMM_HEADER = "record_id,name,id_number,sex,birth_date,phone,address,community_code,doses"
CHILD_BORN = date(2021, 5, 15)
CHILD_ID = make_id(D1, CHILD_BORN, 31, "F")
URL = "/api/v1/persons/{}/vaccination-forecast"


@dataclass
class World:
    adult_d1: str
    adult_d2: str
    child_d1: str


def build_world(tmp: Path) -> World:
    """The two districts' adults, plus a girl in district 1 known twice to the registry."""
    people = build_two_districts(tmp)
    identity = f"林小雨,{CHILD_ID},F,{CHILD_BORN},13800138001,江城市白云区幸福路1号,{D1}001001"
    write_extract(
        tmp / "immunization.csv",
        IMM_HEADER,
        [
            # HepB at birth; 1 Jun is before DOB+1m (too young); 15 Jun is dose 2; BCG;
            # influenza (outside the schedule); and a piece nobody can read.
            f"IMM1,{identity},HepB:2021-05-15|BCG:2021-05-16|HepB:2021-06-01|"
            "HepB:2021-06-15|Flu:2023-10-01|junk",
            # The same girl registered again elsewhere: the birth dose once more, and MMR.
            f"IMM2,{identity},HepB:2021-05-15|MMR:2022-01-15",
        ],
    )
    with session_scope() as session:
        ingest_file(session, "immunization", tmp / "immunization.csv")
        build_persons_exact(session)
        create_user(session, "vaccinator_d1", "vaccinator", PASSWORD, D1)
        create_user(session, "civil_d1", "civil_affairs", PASSWORD, D1)
        child = session.scalar(select(Person.id).where(Person.birth_date == CHILD_BORN))
    assert child is not None
    return World(people.person_d1, people.person_d2, child)


def test_a_childs_forecast_from_both_registry_records(client, env, tmp_path):
    world = build_world(tmp_path)

    response = client.get(
        URL.format(world.child_d1),
        params={"as_of": "2024-05-15"},
        headers=token(client, "vaccinator_d1"),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["birth_date"], body["as_of"]) == ("2021-05-15", "2024-05-15")
    assert body["schedule"] == "CN-NIP-2021+DTaP2025"
    got = {e["series"]: (e["status"], e["dose"], e["due_date"]) for e in body["forecast"]}
    # Worked out by hand: HepB 3 due max(DOB+6m, 15 Jun + 60d = 14 Aug 2021) = 15 Nov 2021,
    # overdue since DOB+12m; MMR 2 due DOB+18m, overdue since 24m; JE-L due DOB+8m; MPSV-A past
    # its 24m max age; MPSV-AC due on DOB+3y (no MPSV-A dose, so its `after` rule is void).
    assert got == {
        "HepB": ("overdue", 3, "2021-11-15"),
        "BCG": ("complete", None, None),
        "Polio": ("overdue", 1, "2021-07-15"),
        "DTaP": ("overdue", 1, "2021-07-15"),
        "MMR": ("overdue", 2, "2022-11-15"),
        "JE-L": ("overdue", 1, "2022-01-15"),
        "MPSV-A": ("not_recommended", None, None),
        "MPSV-AC": ("due", 1, "2024-05-15"),
        "HepA-L": ("overdue", 1, "2022-11-15"),
    }
    assert body["doses_overdue"] == 6
    assert body["invalid"] == [
        {"series": "HepB", "date": "2021-06-01", "reason": "too_young"},
        {"series": "Flu", "date": "2023-10-01", "reason": "unknown_series"},
    ]
    assert body["unreadable"] == ["junk"]
    assert body["forecast"][0]["name"] == "乙肝疫苗"

    # The read is audited like every person read.
    with session_scope() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "read_person")
            .order_by(AuditEntry.seq.desc())
        ).first()
    assert entry is not None
    assert (entry.actor, entry.entity_id) == ("vaccinator_d1", world.child_d1)


def test_defaults_adults_and_far_dates(client, env, tmp_path):
    world = build_world(tmp_path)
    doctor = token(client, "doctor_d1")
    # Without as_of the assessment is today (the city's day: dose dates are city days).
    default = client.get(URL.format(world.child_d1), headers=doctor)
    assert default.status_code == 200, default.text
    assert default.json()["as_of"] == city_today().isoformat()
    # An adult without doses: every series past its max age, nothing overdue.
    adult = client.get(URL.format(world.adult_d1), params={"as_of": "2024-05-15"}, headers=doctor)
    assert adult.status_code == 200, adult.text
    body = adult.json()
    assert {e["status"] for e in body["forecast"]} == {"not_recommended"}
    assert (body["doses_overdue"], body["invalid"], body["unreadable"]) == (0, [], [])
    # The last day of the calendar is a valid assessment date, not a server error.
    far = client.get(URL.format(world.child_d1), params={"as_of": "9999-12-31"}, headers=doctor)
    assert far.status_code == 200, far.text
    assert {e["status"] for e in far.json()["forecast"]} == {"complete", "not_recommended"}
    # A malformed date is FastAPI's 422.
    bad = client.get(URL.format(world.child_d1), params={"as_of": "2024-02-30"}, headers=doctor)
    assert bad.status_code == 422


def test_jurisdiction_roles_and_sign_in(client, env, tmp_path):
    world = build_world(tmp_path)
    # Another district's official: 404, so the child's existence is not revealed.
    outside = client.get(URL.format(world.child_d1), headers=token(client, "official_d2"))
    assert outside.status_code == 404
    assert outside.json()["type"] == "/problems/person-not-found"
    inside = client.get(URL.format(world.adult_d2), headers=token(client, "official_d2"))
    assert inside.status_code == 200
    # A role that may see the person but not their doses.
    assert (
        client.get(URL.format(world.child_d1), headers=token(client, "civil_d1")).status_code == 403
    )
    assert (
        client.get(URL.format(world.child_d1), headers=token(client, "resident1")).status_code
        == 403
    )
    assert client.get(URL.format(world.child_d1)).status_code == 401
    assert client.get(URL.format("P-nobody"), headers=token(client, "admin1")).status_code == 404


def test_a_person_without_a_birth_date_is_a_409(client, env, tmp_path):
    people = build_two_districts(tmp_path)
    # Ingest derives a birth date from a valid ID number, so the unknown case is made directly:
    # a golden record whose sources never gave one.
    with session_scope() as session:
        person = session.get(Person, people.person_d2)
        assert person is not None
        person.birth_date = None
        person_id = person.id
    response = client.get(URL.format(person_id), headers=token(client, "admin1"))
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/birth-date-unknown"

"""Fixtures of the consultation tests: a small county medical community written straight into
the tables (the family-doctor tests' providers: a county hospital H1 leading a community health
centre and a village clinic in district 1), two persons, and staff whose jurisdictions make the
two ends of a consultation two different people:

- ``clinic_doc`` (street 449901001) sees the clinic PRVV1 and its residents, not the hospital;
- ``specialist`` (street 449901002) sees the hospital PRVH1, not the clinic;
- ``doctor_d1`` (district 449901) sees both; ``doctor_d2`` (district 449902) neither.

Persons are inserted directly: ingestion and linkage are tested by identity, and skipping them
keeps these tests fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from carematch.consultation import service
from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.identity.models import Person
from carematch.providers.models import Provider
from carematch.security.models import User
from tests.familydoctor.conftest import PROVIDERS, bearer, principal

__all__ = ["World", "bearer", "principal"]

CLINIC = "PRVV1"  # village clinic, 449901001002, under PRVC1 under PRVH1
HOSPITAL = "PRVH1"  # county hospital, 449901002001
OTHER_HOSPITAL = "PRVH2"  # another medical community's hospital
USERS = {
    "admin1": ("admin", None),
    "official_d1": ("official", "449901"),
    "doctor_d1": ("doctor", "449901"),
    "doctor_d2": ("doctor", "449902"),
    "clinic_doc": ("doctor", "449901001"),
    "specialist": ("doctor", "449901002"),
    "resident_ht": ("resident", None),
}

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% " + "心电图".encode() + b"\n%%EOF\n"
ECG_CSV = b"time_ms,I,II,III\n0,0.12,0.30,0.18\n2,0.15,0.31,0.16\n4,0.11,0.29,0.18\n"


@dataclass
class World:
    """``ht``: a man of the clinic's village (449901001002); ``d2``: a woman of district 2."""

    ht: str
    d2: str
    users: dict[str, str]


def build_world() -> World:
    """Insert the providers, the two persons and the users; return their ids."""
    persons = {"ht": ("林国栋", "M", "449901001002"), "d2": ("李秀英", "F", "449902001001")}
    ids = {key: f"P{new_id()[:19]}" for key in persons}
    users = {name: new_id() for name in USERS}
    with session_scope() as session:
        for key, (name, sex, community) in persons.items():
            session.add(Person(id=ids[key], name=name, sex=sex, community_code=community))
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
        session.flush()
        session.execute(
            insert(User),
            [
                {
                    "id": users[name],
                    "username": name,
                    "password_hash": "!",
                    "role": role,
                    "region_code": region,
                    "person_id": ids["ht"] if name == "resident_ht" else None,
                    "active": True,
                }
                for name, (role, region) in USERS.items()
            ],
        )
    return World(ht=ids["ht"], d2=ids["d2"], users=users)


@pytest.fixture
def world(sqlite_env) -> World:
    """The medical community on SQLite."""
    return build_world()


def ask(
    world: World,
    *,
    by: str = "clinic_doc",
    files: list[tuple[str, bytes]] | None = None,
    now: datetime | None = None,
    urgency: str = "urgent",
) -> str:
    """A consultation about ``ht`` from the village clinic to H1, through the service."""
    with session_scope() as session:
        view = service.request_consultation(
            session,
            principal(session, by),
            person_id=world.ht,
            from_provider_id=CLINIC,
            to_provider_id=None,
            specialty="cardiology",
            urgency=urgency,
            question="胸闷两天，心电图ST段改变？",
            uploads=[service.Upload(n, d) for n, d in (files or [])],
            now=now,
        )
        return view.consultation.id


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    """The app as served, on the world."""
    from carematch.api.app import create_app

    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def pg_world(env) -> World:
    """The same on each database backend (for what the database decides)."""
    return build_world()

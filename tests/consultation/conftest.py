"""Fixtures of the consultation tests: the family-doctor tests' county medical community
(a county hospital H1 leading a community health centre and a village clinic in district 1),
plus a doctor of the village clinic's street and a specialist of the hospital's street, so that
the two ends of a consultation are two different people.

- ``clinic_doc`` (street 449901001) sees the clinic PRVV1 and its residents, not the hospital;
- ``specialist`` (street 449901002) sees the hospital PRVH1, not the clinic;
- ``doctor_d1`` (district 449901) sees both; ``doctor_d2`` (district 449902) neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from carematch.consultation import service
from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.security.models import User
from tests.familydoctor.conftest import World, bearer, build_world, principal

__all__ = ["World", "bearer", "principal"]

CLINIC = "PRVV1"  # village clinic, 449901001002, under PRVC1 under PRVH1
HOSPITAL = "PRVH1"  # county hospital, 449901002001
OTHER_HOSPITAL = "PRVH2"  # another medical community's hospital
EXTRA_USERS = {"clinic_doc": ("doctor", "449901001"), "specialist": ("doctor", "449901002")}

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% " + "心电图".encode() + b"\n%%EOF\n"
ECG_CSV = b"time_ms,I,II,III\n0,0.12,0.30,0.18\n2,0.15,0.31,0.16\n4,0.11,0.29,0.18\n"


@pytest.fixture
def world(sqlite_env, tmp_path: Path) -> World:
    """The medical community on SQLite with the two extra doctors."""
    return add_doctors(build_world(tmp_path))


@pytest.fixture
def pg_world(env, tmp_path: Path) -> World:
    """The same on each database backend (for what the database decides)."""
    return add_doctors(build_world(tmp_path))


def add_doctors(world: World) -> World:
    with session_scope() as session:
        ids = {name: new_id() for name in EXTRA_USERS}
        session.execute(
            insert(User),
            [
                {
                    "id": ids[name],
                    "username": name,
                    "password_hash": "!",
                    "role": role,
                    "region_code": region,
                    "person_id": None,
                    "active": True,
                }
                for name, (role, region) in EXTRA_USERS.items()
            ],
        )
    world.users.update(ids)
    return world


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

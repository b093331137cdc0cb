"""Pre-screening through the API: a parent screens a dependant, the review queue, decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carematch.booking.models import Dependant
from carematch.core.clock import today
from carematch.core.db import session_scope
from carematch.identity.models import Person
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.providers.models import Provider
from carematch.security.authz import Principal
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from carematch.vaccination.prescreen_service import review_agreement
from tests.fixtures.factories import make_id, write_extract
from tests.fixtures.people import D1, D2, PASSWORD, build_two_districts, token

IMM_HEADER = "record_id,name,id_number,sex,birth_date,phone,address,community_code,doses"
URL = "/api/v1/vaccination/prescreenings"
SITE = "PV1"


@pytest.fixture
def api(sqlite_env):
    """The app on a fresh SQLite installation (the database's semantics are not under test
    here; the AEFI cluster test runs on PostgreSQL too)."""
    yield from app_client()


def app_client() -> Iterator[TestClient]:
    """A test client on the app as served, for the installation set up by the caller."""
    from carematch.api.app import create_app

    with TestClient(create_app()) as c:
        yield c


@dataclass
class World:
    adult_d1: str
    adult_d2: str
    child: str


def build_world(tmp: Path) -> World:
    """Two districts; a three-year-old in district 1 whose MMR was given 10 days ago, the
    adult of district 1 as her registered guardian with a resident account; vaccinators in
    both districts and a vaccination site in district 1."""
    people = build_two_districts(tmp)
    born = today() - timedelta(days=3 * 365)
    mmr = today() - timedelta(days=10)
    child_id = make_id(D1, born, 41, "F")
    write_extract(
        tmp / "immunization.csv",
        IMM_HEADER,
        [
            f"IMM1,林小雨,{child_id},F,{born},13800138001,江城市白云区幸福路1号,{D1}001001,"
            f"HepB:{born}|MMR:{mmr}"
        ],
    )
    with session_scope() as session:
        ingest_file(session, "immunization", tmp / "immunization.csv")
        build_persons_exact(session)
        child = session.scalar(select(Person.id).where(Person.birth_date == born))
        assert child is not None
        create_user(session, "vaccinator_d1", "vaccinator", PASSWORD, D1)
        create_user(session, "vaccinator_d2", "vaccinator", PASSWORD, D2)
        create_user(session, "parent1", "resident", PASSWORD, person_id=people.person_d1)
        session.add(
            Dependant(
                guardian_id=people.person_d1, dependant_id=child, relation="child", created_by="t"
            )
        )
        session.add(
            Provider(
                id=SITE,
                name="白云社区卫生服务中心",
                kind="community_health_centre",
                region_code=f"{D1}001001",
                lat=23.1,
                lon=113.3,
            )
        )
    return World(people.person_d1, people.person_d2, child)


def test_a_parent_screens_a_dependant_and_sees_the_records_reason(api, tmp_path):
    world = build_world(tmp_path)
    parent = token(api, "parent1")

    # JE-L is live injectable and MMR was given 10 days ago: the record defers it.
    made = api.post(
        URL, json={"person_id": world.child, "series": "JE-L", "answers": {}}, headers=parent
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["status"], body["outcome"], body["review_required"]) == ("defer", "defer", False)
    assert [f["rule"] for f in body["findings"]] == ["live-spacing"]
    assert "28天" in body["findings"][0]["reason_zh"]
    # An inactivated vaccine the same day passes, with no reasons.
    clean = api.post(
        URL, json={"person_id": world.child, "series": "DTaP", "answers": {}}, headers=parent
    ).json()
    assert (clean["status"], clean["findings"]) == ("pass", [])

    assert api.get(f"{URL}/{body['id']}", headers=parent).status_code == 200
    stranger = token(api, "resident1")
    assert api.get(f"{URL}/{body['id']}", headers=stranger).status_code == 404
    refused = api.post(
        URL, json={"person_id": world.child, "series": "DTaP", "answers": {}}, headers=stranger
    )
    assert refused.status_code == 404


def test_bad_input_is_a_problem_not_a_crash(api, tmp_path):
    world = build_world(tmp_path)
    staff = token(api, "vaccinator_d1")
    for payload, status in [
        ({"person_id": world.child, "series": "Ebola", "answers": {}}, 400),
        ({"person_id": world.child, "series": "MMR", "answers": {"feverish": True}}, 400),
        ({"person_id": world.adult_d2, "series": "MMR", "answers": {}}, 404),
        ({"person_id": "x\x00y", "series": "MMR", "answers": {}}, 422),
    ]:
        response = api.post(URL, json=payload, headers=staff)
        assert response.status_code == status, (payload, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


def test_high_risk_goes_to_the_queue_and_a_vaccinator_decides(api, tmp_path):
    world = build_world(tmp_path)
    parent = token(api, "parent1")
    made = api.post(
        URL,
        json={"person_id": world.child, "series": "DTaP", "answers": {"severe_allergy": True}},
        headers=parent,
    ).json()
    assert (made["status"], made["outcome"], made["suggested"]) == (
        "needs_review",
        "needs_review",
        "pass",
    )

    v1, v2, doctor = (token(api, u) for u in ("vaccinator_d1", "vaccinator_d2", "doctor_d1"))
    queue = api.get(URL, params={"status": "needs_review"}, headers=v1).json()
    assert [i["id"] for i in queue["items"]] == [made["id"]] and queue["total"] == 1
    assert api.get(URL, params={"status": "needs_review"}, headers=v2).json()["total"] == 0

    decide = f"{URL}/{made['id']}/decision"
    assert (
        api.post(decide, json={"decision": "approve", "note": "ok"}, headers=doctor).status_code
        == 403
    )
    assert (
        api.post(decide, json={"decision": "approve", "note": "ok"}, headers=v2).status_code == 404
    )
    assert api.post(decide, json={"decision": "approve", "note": ""}, headers=v1).status_code == 422
    assert (
        api.post(decide, json={"decision": "approve", "note": "  "}, headers=v1).status_code == 400
    )

    done = api.post(
        decide, json={"decision": "approve", "note": "过敏原为青霉素，与本疫苗无关"}, headers=v1
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["outcome"], body["decision"], body["decided_by"]) == (
        "pass",
        "needs_review",
        "approve",
        "vaccinator_d1",
    )
    assert (
        api.post(decide, json={"decision": "defer", "note": "again"}, headers=v1).status_code == 409
    )
    assert api.get(URL, params={"status": "needs_review"}, headers=v1).json()["total"] == 0
    with session_scope() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "review_prescreening")
        ).one()
    detail = json.loads(entry.detail)
    assert (entry.actor, detail["automatic"], detail["decision"]) == (
        "vaccinator_d1",
        "needs_review",
        "approve",
    )
    # The machine alone suggested pass and the reviewer approved: one agreement in one review,
    # counted in district 1 only.
    with session_scope() as session:
        d1 = Principal("x", "official_d1", "official", D1)
        d2 = Principal("y", "official_d2", "official", D2)
        assert review_agreement(session, d1) == (1, 1)
        assert review_agreement(session, d2) == (0, 0)

    # A screening that needed no review cannot be decided.
    deferred = api.post(
        URL,
        json={"person_id": world.child, "series": "DTaP", "answers": {"fever": True}},
        headers=v1,
    ).json()
    assert (deferred["status"], deferred["review_required"]) == ("defer", False)
    response = api.post(
        f"{URL}/{deferred['id']}/decision", json={"decision": "approve", "note": "fine"}, headers=v1
    )
    assert response.status_code == 409

"""Review: separate a wrongly linked record, undo it, link a pair; decisions are labels."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carematch.api.app import create_app
from carematch.cli import load_city
from carematch.core.db import session_scope
from carematch.identity.models import Person, PersonLink, ReviewPair
from carematch.identity.service import build_persons
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from carematch.synth import generate_city
from tests.fixtures.people import PASSWORD, token


def _person_with_records(session, minimum: int) -> tuple[str, list[str]]:
    person_id = session.scalar(
        select(PersonLink.person_id)
        .group_by(PersonLink.person_id)
        .having(func.count() >= minimum)
        .order_by(PersonLink.person_id)
        .limit(1)
    )
    pks = list(
        session.scalars(
            select(PersonLink.record_pk)
            .where(PersonLink.person_id == person_id)
            .order_by(PersonLink.record_pk)
        )
    )
    return person_id, pks


def test_separate_undo_and_rebuild_obey_the_reviewer(env, tmp_path):
    generate_city(residents=800, seed=17, out=tmp_path / "city")
    load_city(tmp_path / "city")
    with session_scope() as session:
        create_user(session, "reviewer", "official", PASSWORD, "449900")
        person_id, pks = _person_with_records(session, 3)
        community = session.get(Person, person_id).community_code
        elsewhere = next(d for d in ("449901", "449902", "449903") if not community.startswith(d))
        create_user(session, "outsider", "official", PASSWORD, elsewhere)
    client = TestClient(create_app())
    headers = token(client, "reviewer")

    # Separate one record: the person splits.
    wrong = pks[-1]
    response = client.post(f"/api/v1/persons/{person_id}/records/{wrong}/separate", headers=headers)
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["status"] == "separated" and pair["change"]["action"] == "split"
    new_person = pair["change"]["to"]
    detail = client.get(f"/api/v1/persons/{person_id}", headers=headers).json()
    assert wrong not in {r["id"] for r in detail["records"]}
    assert [
        r["id"]
        for r in client.get(f"/api/v1/persons/{new_person}", headers=headers).json()["records"]
    ] == [wrong]

    # The decision is a label: a full rebuild keeps the two apart.
    with session_scope() as session:
        build_persons(session)
    with session_scope() as session:
        rebuilt_left = session.scalar(
            select(PersonLink.person_id).where(PersonLink.record_pk == pks[0])
        )
        rebuilt_wrong = session.scalar(
            select(PersonLink.person_id).where(PersonLink.record_pk == wrong)
        )
    assert rebuilt_left != rebuilt_wrong

    # Undo restores the person as it was.
    undone = client.post(f"/api/v1/review/pairs/{pair['id']}/undo", headers=headers)
    assert undone.status_code == 200 and undone.json()["status"] == "open"
    with session_scope() as session:
        owners = {
            session.scalar(select(PersonLink.person_id).where(PersonLink.record_pk == pk))
            for pk in pks
        }
    assert len(owners) == 1

    # The pair is visible with its evidence only inside the jurisdiction, and every step is audited.
    assert client.get(f"/api/v1/review/pairs/{pair['id']}", headers=headers).status_code == 200
    outsider = token(client, "outsider")
    assert client.get(f"/api/v1/review/pairs/{pair['id']}", headers=outsider).status_code == 404
    with session_scope() as session:
        actions = set(
            session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "reviewer"))
        )
    assert {"review_separate", "review_undo", "read_review_pair"} <= actions


def test_linking_an_open_pair_merges_and_undo_unmerges(env, tmp_path):
    generate_city(residents=800, seed=23, out=tmp_path / "city")
    load_city(tmp_path / "city")
    with session_scope() as session:
        create_user(session, "reviewer", "official", PASSWORD, "449900")
        pair = session.scalar(
            select(ReviewPair).where(ReviewPair.status == "open").order_by(ReviewPair.id).limit(1)
        )
        assert pair is not None, "the generated city must leave some pairs for review"
        left = session.scalar(
            select(PersonLink.person_id).where(PersonLink.record_pk == pair.record_pk_l)
        )
        right = session.scalar(
            select(PersonLink.person_id).where(PersonLink.record_pk == pair.record_pk_r)
        )
        pair_id = pair.id
    assert left != right
    client = TestClient(create_app())
    headers = token(client, "reviewer")

    detail = client.get(f"/api/v1/review/pairs/{pair_id}", headers=headers).json()
    bars = detail["waterfall"]
    assert bars[0]["comparison"] == "prior" and bars[-1]["comparison"] == "total"
    assert abs(sum(b["weight"] for b in bars[:-1]) - bars[-1]["weight"]) < 0.01

    linked = client.post(
        f"/api/v1/review/pairs/{pair_id}/decision", headers=headers, json={"decision": "link"}
    )
    assert linked.status_code == 200 and linked.json()["change"]["action"] == "merge"
    with session_scope() as session:
        owner_r = session.scalar(
            select(PersonLink.person_id).where(PersonLink.record_pk == detail["right"]["id"])
        )
    assert owner_r == left
    again = client.post(
        f"/api/v1/review/pairs/{pair_id}/decision", headers=headers, json={"decision": "link"}
    )
    assert again.status_code == 409

    client.post(f"/api/v1/review/pairs/{pair_id}/undo", headers=headers)
    with session_scope() as session:
        owner_r = session.scalar(
            select(PersonLink.person_id).where(PersonLink.record_pk == detail["right"]["id"])
        )
    assert owner_r == right
    bad = client.post(
        f"/api/v1/review/pairs/{pair_id}/decision", headers=headers, json={"decision": "maybe"}
    )
    assert bad.status_code == 422

"""The assessments API: who may record and read what, scoring, validation, idempotency and
encryption at rest."""

from __future__ import annotations

from sqlalchemy import select, text

from carematch.assessments.models import Assessment, HomeVisit, NeedsQuestionnaire
from carematch.core.db import session_scope
from carematch.security.models import AuditEntry
from tests.assessments.conftest import barthel_answers, bearer, count


def _post(client, path, username, body):
    return client.post(f"/api/v1{path}", json=body, headers=bearer(username))


def test_a_doctor_records_a_barthel_assessment_and_gets_total_and_level(world, app_client):
    answers = barthel_answers(35)
    response = _post(
        app_client, "/assessments", "doctor_d1", {"person_id": world.ht, "answers": answers}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["total"] == sum(answers.values()) == 35
    assert body["disability_level"] == 3
    assert body["answers"] == answers


def test_answers_that_cannot_be_scored_are_one_422_naming_each_fault(world, app_client):
    answers = barthel_answers(100)
    answers.pop("stairs")
    answers["bathing"] = 7
    answers["juggling"] = 5
    response = _post(
        app_client, "/assessments", "doctor_d1", {"person_id": world.ht, "answers": answers}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/invalid-assessment"
    assert len(problem["problems"]) == 3
    for word in ("stairs", "bathing", "juggling"):
        assert word in problem["detail"]
    assert count(Assessment) == 0


def test_staff_act_within_their_jurisdiction_residents_for_themselves_and_reads_are_audited(
    world, app_client
):
    body = {"person_id": world.d2, "answers": barthel_answers(100)}
    assert _post(app_client, "/assessments", "doctor_d1", body).status_code == 404
    assert _post(app_client, "/assessments", "doctor_d2", body).status_code == 201
    # Residents do not assess themselves; vaccinators do not assess at all.
    assert _post(app_client, "/assessments", "resident_ht", body).status_code == 403
    assert _post(app_client, "/assessments", "vaccinator_d1", body).status_code == 403
    own = app_client.get(f"/api/v1/persons/{world.ht}/assessments", headers=bearer("resident_ht"))
    assert own.status_code == 200 and own.json()["total"] == 0
    other = app_client.get(f"/api/v1/persons/{world.d2}/assessments", headers=bearer("resident_ht"))
    assert other.status_code == 404
    seen = app_client.get(f"/api/v1/persons/{world.d2}/assessments", headers=bearer("doctor_d2"))
    assert seen.status_code == 200 and seen.json()["items"][0]["total"] == 100
    # Each read of a person's assessments is audited, the refused one is not.
    with session_scope() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "read_assessments")
        ).all()
        read = sorted((e.actor, e.entity_id) for e in entries)
        assert read == sorted([("resident_ht", world.ht), ("doctor_d2", world.d2)])


def test_a_visit_sent_twice_with_one_key_is_recorded_once(world_both, client):
    world = world_both
    body = {
        "person_id": world.ht,
        "lives_alone": True,
        "needs": ["home_help", "rehabilitation"],
        "note": "老人独居，腿脚不便",
        "barthel": barthel_answers(55),
        "idempotency_key": "visit-key-0001",
    }
    first = _post(client, "/home-visits", "grid_d1", body)
    again = _post(client, "/home-visits", "grid_d1", body)
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["created"] is False
    assert first.json()["kind"] == "grid_worker"
    assert first.json()["assessment"]["disability_level"] == 2
    assert count(HomeVisit) == 1 and count(Assessment) == 1
    # The note is stored encrypted: the raw column does not hold the text.
    with session_scope() as session:
        raw = session.execute(text("SELECT note FROM home_visits")).scalar_one()
        assert "独居" not in raw
        assert session.scalar(select(HomeVisit.note)) == body["note"]


def test_a_visit_must_match_the_role_name_known_needs_and_a_sensible_time(world, app_client):
    doctor_as_grid = {"person_id": world.ht, "kind": "grid_worker"}
    refused = _post(app_client, "/home-visits", "doctor_d1", doctor_as_grid)
    assert refused.status_code == 400
    unknown = _post(
        app_client, "/home-visits", "doctor_d1", {"person_id": world.ht, "needs": ["x"]}
    )
    assert unknown.status_code == 422 and unknown.json()["unknown"] == ["x"]
    official = _post(app_client, "/home-visits", "official_d1", {"person_id": world.ht})
    assert official.status_code == 400  # an official says which kind of visit it was
    # A time in the future, before 2000 or beyond the calendar is refused, not a server error.
    for when in ("2999-01-01T00:00:00+08:00", "0001-01-01T00:00:00+05:00", "1970-01-01T00:00Z"):
        body = {"person_id": world.ht, "visited_at": when}
        response = _post(app_client, "/home-visits", "grid_d1", body)
        assert response.status_code == 400, (when, response.text)
    assert count(HomeVisit) == 0
    ok = _post(app_client, "/home-visits", "doctor_d1", {"person_id": world.ht})
    assert ok.status_code == 201 and ok.json()["kind"] == "family_doctor"


def test_a_resident_answers_the_questionnaire_for_themselves_only(world, app_client):
    own = _post(app_client, "/questionnaires", "resident_ht", {"needs": ["medical_bills"]})
    assert own.status_code == 201, own.text
    assert own.json()["person_id"] == world.ht and own.json()["channel"] == "self"
    other = _post(
        app_client, "/questionnaires", "resident_ht", {"person_id": world.young, "needs": []}
    )
    assert other.status_code == 404
    unlinked = _post(app_client, "/questionnaires", "resident_unlinked", {"needs": []})
    assert unlinked.status_code == 404
    staff = _post(
        app_client, "/questionnaires", "grid_d1", {"person_id": world.young, "needs": ["home_help"]}
    )
    assert staff.status_code == 201 and staff.json()["channel"] == "staff"
    outside = _post(app_client, "/questionnaires", "grid_d1", {"person_id": world.d2, "needs": []})
    assert outside.status_code == 404
    bad = _post(app_client, "/questionnaires", "resident_ht", {"needs": ["free_money"]})
    assert bad.status_code == 422
    assert count(NeedsQuestionnaire) == 2

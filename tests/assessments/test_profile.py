"""What is recorded here reaches the person's profile and demands: the latest Barthel level
overrides the health record's disability level, a visit's observation the record's living
alone, and reported needs raise their demand tags (and stop raising them when no longer
reported)."""

from __future__ import annotations

from datetime import timedelta

from carematch.assessments import service
from carematch.core.clock import today, utcnow
from carematch.core.db import session_scope
from carematch.profiling.service import build_profiles, features_for, open_demands
from tests.assessments.conftest import barthel_answers, principal


def _features(person_id: str) -> dict:
    with session_scope() as session:
        return features_for(session, [person_id]).to_pylist()[0]


def _open_tags(person_id: str) -> set[str]:
    with session_scope() as session:
        return {d.tag for d in open_demands(session, person_id)}


def test_a_barthel_total_of_35_makes_the_person_severely_disabled_in_their_demands(world):
    # Given a person whose health record says no disability …
    assert _features(world.young)["disability_level"] == 0
    with session_scope() as session:
        build_profiles(session)
    assert not {"disability_rehab", "severe_disability_home_care"} & _open_tags(world.young)
    # … when a doctor records a Barthel total of 35 …
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        row = service.record_assessment(session, doctor, world.young, barthel_answers(35))
        assert row.total == 35
    # … then after the profiling run their disability level is 3 and the disability tags open.
    with session_scope() as session:
        summary = build_profiles(session)
        assert summary.by_tag.get("severe_disability_home_care", 0) >= 1
    features = _features(world.young)
    assert features["disability_level"] == 3
    assert "disability" in features["conditions"]
    assert {"disability_rehab", "severe_disability_home_care"} <= _open_tags(world.young)


def test_the_latest_assessment_wins(world):
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        earlier = utcnow() - timedelta(days=30)
        service.record_assessment(session, doctor, world.ht, barthel_answers(100))
        service.record_assessment(session, doctor, world.ht, barthel_answers(15), earlier)
    assert _features(world.ht)["disability_level"] == 0  # the later one said independent


def test_reported_needs_raise_their_tags_until_dropped_or_a_year_old(world):
    with session_scope() as session:
        resident = principal(session, "resident_ht")
        service.submit_questionnaire(
            session, resident, person_id=None, needs=["medical_bills", "mental_health"]
        )
        grid = principal(session, "grid_d1")
        service.record_home_visit(
            session, grid, person_id=world.ht, lives_alone=True, needs=["home_help"]
        )
    features = _features(world.ht)
    assert features["need_medical_bills"] and features["need_mental_health"]
    assert features["need_home_help"] and features["lives_alone"]
    assert not features["need_rehabilitation"]
    with session_scope() as session:
        build_profiles(session)
    tags = _open_tags(world.ht)
    assert {"reported_medical_bills", "reported_mental_health", "reported_home_help"} <= tags
    # The resident answers again without the bills: that demand closes, the visit's stays.
    with session_scope() as session:
        resident = principal(session, "resident_ht")
        service.submit_questionnaire(session, resident, person_id=None, needs=["mental_health"])
        build_profiles(session)
    tags = _open_tags(world.ht)
    assert "reported_medical_bills" not in tags
    assert {"reported_mental_health", "reported_home_help"} <= tags
    # A year and more later, nothing reported then counts any more.
    with session_scope() as session:
        later = features_for(session, [world.ht], today() + timedelta(days=400)).to_pylist()[0]
    assert not any(v for k, v in later.items() if k.startswith("need_"))

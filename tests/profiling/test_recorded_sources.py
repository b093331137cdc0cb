"""Sources recorded in CareMatch (assessments, home visits, needs questionnaires) in the
features view: which record wins over the health record, and how long a reported need counts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.assessments.needs import feature_name, need_catalogue
from carematch.profiling.features import (
    FEATURE_COLUMNS,
    NEED_FEATURES,
    compute_features,
    persons_table,
    source_table,
)
from carematch.profiling.tags import default_library, feature_dictionary
from tests.profiling.conftest import count_overdue

AS_OF = date(2026, 6, 30)
NOON = datetime(2026, 6, 1, 12, 0)


def _features(ehr=(), assessment=(), home_visit=(), reported_need=(), as_of=AS_OF) -> dict:
    persons = persons_table([{"person_id": "P1", "sex": "F", "birth_date": date(1940, 1, 1)}])
    sources = {
        "ehr": source_table("ehr", [{"person_id": "P1", "record_id": "E1", **r} for r in ehr]),
        "assessment": source_table("assessment", list(assessment)),
        "home_visit": source_table("home_visit", list(home_visit)),
        "reported_need": source_table("reported_need", list(reported_need)),
    }
    return compute_features(persons, sources, as_of, count_overdue).to_pylist()[0]


def _assessment(record: str, at: datetime, level: int) -> dict:
    return {"person_id": "P1", "record_id": record, "assessed_at": at, "disability_level": level}


def _need(record: str, at: datetime, channel: str, needs: list[str]) -> dict:
    return {
        "person_id": "P1",
        "record_id": record,
        "reported_at": at,
        "channel": channel,
        "needs": needs,
    }


def test_every_need_is_a_feature_of_the_dictionary_and_of_the_view():
    dictionary = feature_dictionary()
    for code in need_catalogue():
        name = feature_name(code)
        assert name in NEED_FEATURES and name in FEATURE_COLUMNS
        assert dictionary[name].type == "bool" and not dictionary[name].nullable
    # and every need is used by some demand tag (a need nobody acts on would be a dead end)
    used = {f for rule in default_library().rules.values() for f in rule.features}
    assert set(NEED_FEATURES) <= used


def test_the_latest_assessment_overrides_the_health_record_either_way():
    ehr = [{"disability_level": 2, "last_visit_date": date(2026, 5, 1)}]
    assert _features(ehr=ehr)["disability_level"] == 2
    better = [_assessment("A1", NOON - timedelta(days=9), 4), _assessment("A2", NOON, 0)]
    row = _features(ehr=ehr, assessment=better)
    assert row["disability_level"] == 0 and "disability" not in row["conditions"]
    worse = [_assessment("A1", NOON, 3)]
    row = _features(assessment=worse)
    assert row["disability_level"] == 3 and "disability" in row["conditions"]


def test_a_visit_overrides_living_alone_only_when_it_noted_it():
    ehr = [{"lives_alone": True, "last_visit_date": date(2026, 5, 1)}]
    noted = {"person_id": "P1", "record_id": "V1", "visited_at": NOON, "lives_alone": False}
    silent = {"person_id": "P1", "record_id": "V2", "visited_at": NOON + timedelta(days=1)}
    assert _features(ehr=ehr)["lives_alone"] is True
    assert _features(ehr=ehr, home_visit=[noted, silent])["lives_alone"] is False
    assert _features(ehr=ehr, home_visit=[silent])["lives_alone"] is True


def test_needs_come_from_each_channels_latest_report_of_the_last_twelve_months():
    reports = [
        _need("Q1", NOON - timedelta(days=30), "questionnaire", ["medical_bills", "home_help"]),
        _need("Q2", NOON, "questionnaire", ["home_help"]),  # the latest answer drops the bills
        _need("V1", NOON - timedelta(days=60), "visit", ["rehabilitation"]),
        _need("V0", datetime(2025, 1, 1), "visit", ["mental_health"]),  # older than a year
    ]
    row = _features(reported_need=reports)
    chosen = {f for f in NEED_FEATURES if row[f]}
    assert chosen == {"need_home_help", "need_rehabilitation"}
    later = _features(reported_need=reports, as_of=date(2027, 6, 2))
    assert not any(later[f] for f in NEED_FEATURES)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 400), st.integers(0, 4)),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[0],
    )
)
def test_the_level_is_the_latest_assessments_whatever_the_order(assessments):
    rows = [
        _assessment(f"A{i}", NOON - timedelta(days=days), level)
        for i, (days, level) in enumerate(assessments)
    ]
    latest = min(assessments)[1]  # fewest days ago
    assert _features(assessment=rows)["disability_level"] == latest
    assert _features(assessment=list(reversed(rows)))["disability_level"] == latest

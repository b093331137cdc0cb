"""The pre-screening engine: one test per rule of the shipped table, precedence, the table's
checks at load, and properties over every combination of answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from carematch.vaccination.prescreen import (
    OUTCOMES,
    RANK,
    PrescreenTableError,
    RecordFacts,
    load_table,
    parse_table,
    shipped_table,
)
from carematch.vaccination.schedule import default_schedule

SCHEDULE = default_schedule()
TABLE = shipped_table(SCHEDULE)
RULES_PATH = Path("carematch/vaccination/prescreen_rules.yaml")
LIVE = [s.code for s in SCHEDULE.series if s.live]
LIVE_INJECTABLE = [s.code for s in SCHEDULE.series if s.live_injectable]
INACTIVATED = [s.code for s in SCHEDULE.series if not s.live]
NOTHING = RecordFacts()


def fired(series: str, answers: dict[str, bool], record: RecordFacts = NOTHING) -> set[str]:
    return {f.rule for f in TABLE.screen(series, answers, record).findings}


def test_a_clean_questionnaire_passes_every_series_without_reasons():
    for series in SCHEDULE.series:
        result = TABLE.screen(series.code, {}, NOTHING)
        assert (result.outcome, result.findings, result.review_required) == ("pass", (), False)


@pytest.mark.parametrize(
    ("answers", "record"),
    [
        ({"immunodeficiency": True}, NOTHING),
        ({"immunosuppressive_treatment": True}, NOTHING),
        ({}, RecordFacts(conditions=frozenset({"hiv"}))),
    ],
)
def test_live_vaccines_are_contraindicated_for_the_immunodeficient(answers, record):
    for series in LIVE:
        result = TABLE.screen(series, answers, record)
        assert result.outcome == "contraindicated"
        assert "live-immunodeficiency" in {f.rule for f in result.findings}
    # The same person is not refused an inactivated vaccine: a vaccinator looks at them.
    for series in INACTIVATED:
        assert TABLE.screen(series, answers, record).outcome == "needs_review"


@pytest.mark.parametrize(
    ("answers", "record"),
    [({"pregnant": True}, NOTHING), ({}, RecordFacts(conditions=frozenset({"pregnancy"})))],
)
def test_live_vaccines_are_contraindicated_in_pregnancy_from_answer_or_record(answers, record):
    assert {TABLE.screen(s, answers, record).outcome for s in LIVE} == {"contraindicated"}
    assert {TABLE.screen(s, answers, record).outcome for s in INACTIVATED} == {"pass"}


@pytest.mark.parametrize(
    ("question", "rule"),
    [
        ("severe_allergy", "high-risk-anaphylaxis"),
        ("unstable_neuro", "high-risk-neurological"),
        ("convulsions", "high-risk-convulsions"),
    ],
)
def test_high_risk_people_always_need_review(question, rule):
    for series in SCHEDULE.series:
        result = TABLE.screen(series.code, {question: True}, NOTHING)
        assert (result.outcome, result.review_required, result.suggested) == (
            "needs_review",
            True,
            "pass",
        )
        assert [f.rule for f in result.findings] == [rule]


def test_cancer_on_record_sends_an_inactivated_vaccine_to_review():
    record = RecordFacts(conditions=frozenset({"cancer"}))
    assert fired("HepB", {}, record) == {"high-risk-immunocompromised"}
    assert fired("MMR", {}, record) == set()


@pytest.mark.parametrize(
    ("question", "rule"), [("fever", "defer-fever"), ("acute_illness", "defer-acute-illness")]
)
def test_fever_and_acute_illness_defer_every_vaccine(question, rule):
    for series in SCHEDULE.series:
        result = TABLE.screen(series.code, {question: True}, NOTHING)
        assert (result.outcome, [f.rule for f in result.findings]) == ("defer", [rule])
        assert result.findings[0].reason_zh and result.findings[0].reason_en


def test_immunoglobulin_defers_live_injectables_only():
    for series in SCHEDULE.series:
        expected = "defer" if series.live_injectable else "pass"
        assert TABLE.screen(series.code, {"immunoglobulin_3m": True}, NOTHING).outcome == expected


def test_another_live_vaccine_within_28_days_defers_from_answer_or_record():
    assert fired("MMR", {"recent_live_vaccine": True}) == {"live-spacing"}
    assert fired("MMR", {}, RecordFacts(days_since_other_live=27)) == {"live-spacing"}
    assert fired("MMR", {}, RecordFacts(days_since_other_live=28)) == set()
    assert fired("HepB", {}, RecordFacts(days_since_other_live=1)) == set()


def test_precedence_keeps_every_reason_highest_first():
    result = TABLE.screen("MMR", {"fever": True, "severe_allergy": True, "pregnant": True}, NOTHING)
    assert result.outcome == "contraindicated"
    assert result.review_required  # the high-risk person still goes to a vaccinator
    assert result.suggested == "contraindicated"
    assert [f.outcome for f in result.findings] == ["contraindicated", "needs_review", "defer"]
    review_over_defer = TABLE.screen("HepB", {"fever": True, "convulsions": True}, NOTHING)
    assert (review_over_defer.outcome, review_over_defer.suggested) == ("needs_review", "defer")


def test_unknown_series_or_question_is_refused():
    with pytest.raises(Exception, match="unknown vaccine series"):
        TABLE.screen("Ebola", {}, NOTHING)
    with pytest.raises(Exception, match="unknown questions"):
        TABLE.screen("MMR", {"feverish": True}, NOTHING)


# --- the table is checked whole at load ------------------------------------------------------


def shipped_data() -> dict:
    return yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))


def test_the_shipped_file_loads_from_a_path():
    assert load_table(RULES_PATH, SCHEDULE).question_keys == TABLE.question_keys


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"][0].update(outcome="maybe"), "unknown outcome 'maybe'"),
        (lambda d: d["rules"][0].update(applies_to=["MMR", "Ebola"]), "unknown series"),
        (lambda d: d["rules"][0].update(applies_to="sometimes"), "applies_to must be"),
        (lambda d: d["rules"][0].update(rule="fevr or pregnant"), "fevr"),
        (lambda d: d["rules"][0].update(rule="has('diabetes')"), "diabetes"),
        (lambda d: d["rules"][0].update(rule="__import__('os')"), "rule live-immunodeficiency"),
        (lambda d: d["rules"][0].pop("reason"), "needs zh and en text"),
        (lambda d: d["record"].pop("age_months"), "age_months"),
    ],
)
def test_a_broken_table_is_refused_with_a_clear_error(change, message):
    data = shipped_data()
    change(data)
    with pytest.raises(PrescreenTableError, match=message):
        parse_table(data, SCHEDULE)


def test_every_problem_is_reported_at_once():
    data = shipped_data()
    data["rules"][0]["outcome"] = "maybe"
    data["rules"][1]["rule"] = "nonsense_name"
    with pytest.raises(PrescreenTableError) as caught:
        parse_table(data, SCHEDULE)
    assert "maybe" in caught.value.detail and "nonsense_name" in caught.value.detail


# --- properties ----------------------------------------------------------------------------

answers_st = st.fixed_dictionaries({}, optional={k: st.booleans() for k in TABLE.question_keys})
records_st = st.builds(
    RecordFacts,
    conditions=st.frozensets(st.sampled_from(["hiv", "cancer", "pregnancy", "diabetes"])),
    days_since_other_live=st.none() | st.integers(0, 400),
    age_months=st.none() | st.integers(0, 1200),
)
series_st = st.sampled_from([s.code for s in SCHEDULE.series])


@given(series_st, answers_st, records_st, st.sampled_from(TABLE.question_keys))
def test_adding_a_true_answer_never_lowers_the_outcome(series, answers, record, question):
    before = TABLE.screen(series, answers, record)
    after = TABLE.screen(series, {**answers, question: True}, record)
    assert RANK[after.outcome] >= RANK[before.outcome]
    if before.outcome == "contraindicated":
        assert after.outcome != "pass"


@given(series_st, answers_st, records_st)
def test_the_outcome_is_one_of_four_and_explained_unless_pass(series, answers, record):
    result = TABLE.screen(series, answers, record)
    assert result.outcome in OUTCOMES
    assert (result.outcome == "pass") == (not result.findings)
    assert RANK[result.outcome] == max((RANK[f.outcome] for f in result.findings), default=0)
    assert result.review_required == any(f.outcome == "needs_review" for f in result.findings)
    assert RANK[result.suggested] <= RANK[result.outcome]


def test_every_rule_of_the_shipped_table_can_fire():
    # A rule no case can fire is dead (a typo in a condition, a scope that matches no series).
    cases = [
        (series, {question: True}, NOTHING)
        for series in [s.code for s in SCHEDULE.series]
        for question in TABLE.question_keys
    ] + [
        (series, {}, RecordFacts(conditions=frozenset({code}), days_since_other_live=1))
        for series in [s.code for s in SCHEDULE.series]
        for code in TABLE.compiled_conditions
    ]
    seen = {rule for series, answers, record in cases for rule in fired(series, answers, record)}
    assert seen == {rule.id for rule in TABLE.rules}

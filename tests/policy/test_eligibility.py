"""Eligibility semantics: missing features are unknown, and the batch agrees with one person."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carematch.policy.eligibility import (
    PersonInput,
    PersonLineError,
    eligible_batch,
    person_verdicts,
    read_person,
)
from carematch.policy.library import default_library, feature_dictionary
from carematch.rules import FeatureType

DAY = date(2026, 6, 30)
LIBRARY = default_library()
DICTIONARY = feature_dictionary()


def _eligible(features: dict, conditions: tuple[str, ...] = ()) -> list[str]:
    return eligible_batch(LIBRARY, [PersonInput("p", features, conditions)], DAY)[0]


def test_a_rule_over_an_unknown_feature_does_not_hold():
    # age unknown: neither "age >= 60" nor its negation can be shown
    assert "P-ELDER-FLU" not in _eligible({})
    # insured_locally unknown: "not insured_locally and …" is unknown, so false
    assert "P-CROSS-SETTLE" not in _eligible({"insurance": "resident"})
    # "or" holds as soon as one side is known true
    assert "P-FD-BASIC" in _eligible({"has_residence_permit": True})
    # "and" fails as soon as one side is known false, whatever the unknowns
    assert "P-ELDER-CHECKUP" not in _eligible({"age": 50})


def test_online_verdicts_explain_why_and_agree_with_the_batch():
    values = {"age": 40, "sex": "F", "hukou": "local", "household_status": "general"}

    verdicts = person_verdicts(LIBRARY, values, ["hypertension"], DAY)

    eligible = sorted(v.policy.id for v in verdicts if v.eligible)
    assert eligible == _eligible(values, ("hypertension",))
    by_id = {v.policy.id: v for v in verdicts}
    assert by_id["P-TWO-CANCER"].because == {"sex": "F", "age": 40}
    assert by_id["P-ELDER-FLU"].because == {"age": 40}
    assert not by_id["P-MED-ASSIST-EH"].eligible
    assert by_id["P-MED-ASSIST-EH"].because == {"household_status": "general"}
    # eligible ones first
    flags = [v.eligible for v in verdicts]
    assert flags == sorted(flags, reverse=True)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ({"id": True}, '"id"'),
        ({"id": "a", "features": []}, '"features"'),
        ({"id": "a", "features": {"age": 1.5}}, "whole number"),
        ({"id": "a", "features": {"oop_12m": "12"}}, "a number"),
        ({"id": "a", "features": {"is_pregnant": 1}}, "true or false"),
        ({"id": "a", "features": {"last_followup": "2026-13-01"}}, "YYYY-MM-DD"),
        ({"id": "a", "features": {"sex": "X"}}, "not a value of sex"),
        ({"id": "a", "conditions": [1]}, '"conditions"'),
    ],
)
def test_bad_person_lines_are_refused_with_a_reason(line, words):
    with pytest.raises(PersonLineError, match=words):
        read_person(line, DICTIONARY)


def _value(name: str) -> st.SearchStrategy[Any]:
    feature = DICTIONARY[name]
    base: st.SearchStrategy[Any]
    if feature.values is not None:
        base = st.sampled_from(feature.values)
    elif feature.type is FeatureType.INT:
        base = st.integers(-2, 100)
    elif feature.type is FeatureType.FLOAT:
        base = st.floats(0, 50_000, allow_nan=False)
    elif feature.type is FeatureType.BOOL:
        base = st.booleans()
    elif feature.type is FeatureType.DATE:
        base = st.dates(date(2000, 1, 1), date(2030, 1, 1))
    else:
        base = st.text(max_size=3)
    return st.one_of(st.none(), base) if feature.nullable else base


PERSON = st.fixed_dictionaries({name: _value(name) for name in DICTIONARY}).map(dict)
CONDITIONS = st.lists(st.sampled_from(sorted(DICTIONARY.conditions)), max_size=4, unique=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(PERSON, CONDITIONS), min_size=1, max_size=8))
def test_the_batch_gives_every_person_what_the_online_evaluator_gives(people):
    inputs = [PersonInput(str(i), values, tuple(c)) for i, (values, c) in enumerate(people)]

    batch = eligible_batch(LIBRARY, inputs, DAY)

    for person, answer in zip(inputs, batch, strict=True):
        online = sorted(
            p.id
            for p in LIBRARY.values()
            if p.rule.evaluate(person.values, conditions=person.conditions, evaluation_date=DAY)
        )
        assert answer == online

"""One person online: the values a rule accepts, and the explanation it gives.

The explanation is what a demand tag shows as its reason ("why is this person tagged?") and
what an eligibility check shows when it says no, so it must hold the deciding values and
only those.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from carematch.rules import FeatureDictionary, RuleInputError, load_rule

CHRONIC = (
    "hukou == 'migrant' and has('hypertension') and "
    "(days_since(last_followup) > 90 or not signed_family_doctor)"
)


def test_explanation_of_a_tagged_migrant_with_hypertension(dictionary: FeatureDictionary) -> None:
    rule = load_rule(CHRONIC, dictionary, "chronic_continuity")
    person = {"hukou": "migrant", "last_followup": date(2024, 1, 2), "signed_family_doctor": True}
    outcome = rule.outcome(person, conditions={"hypertension"}, evaluation_date=date(2024, 6, 1))
    assert outcome.matched
    # The `or` was decided by the follow-up alone (151 days); the contract does not matter.
    assert outcome.because == {
        "hukou": "migrant",
        "has('hypertension')": True,
        "last_followup": date(2024, 1, 2),
    }


def test_explanation_of_a_no_names_what_failed(dictionary: FeatureDictionary) -> None:
    rule = load_rule(CHRONIC, dictionary, "chronic_continuity")
    person = {"hukou": "local", "last_followup": None, "signed_family_doctor": False}
    because = rule.explain(person, conditions={"hypertension"}, evaluation_date=date(2024, 6, 1))
    assert because == {"hukou": "local"}


def test_an_unknown_result_is_explained_by_everything_it_read(
    dictionary: FeatureDictionary,
) -> None:
    rule = load_rule("age >= 65 and lives_alone", dictionary)
    outcome = rule.outcome({"age": None, "lives_alone": True})
    assert outcome.value is None
    assert not outcome.matched
    assert outcome.because == {"age": None, "lives_alone": True}


def test_every_true_operand_of_an_or_is_a_reason(dictionary: FeatureDictionary) -> None:
    rule = load_rule("household_status == 'extreme_hardship' or disability_level >= 3", dictionary)
    because = rule.explain({"household_status": "extreme_hardship", "disability_level": 4})
    assert because == {"household_status": "extreme_hardship", "disability_level": 4}
    because = rule.explain({"household_status": "general", "disability_level": 4})
    assert because == {"disability_level": 4}


def test_missing_feature_is_an_error_not_a_null(dictionary: FeatureDictionary) -> None:
    rule = load_rule("age > 3", dictionary, "r")
    with pytest.raises(RuleInputError, match=r"no value for feature 'age' \(use None"):
        rule.evaluate({})


def test_only_the_features_read_are_needed(dictionary: FeatureDictionary) -> None:
    rule = load_rule("age > 3 or has('tb')", dictionary)
    assert rule.evaluate({"age": 4})


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("age > 3", {"age": "4"}, "feature 'age' must be a whole number, got '4'"),
        ("age > 3", {"age": True}, "feature 'age' must be a whole number, got True"),
        ("age > 3", {"age": 4.5}, "feature 'age' must be a whole number, got 4.5"),
        ("age > 3", {"age": 2**60}, "feature 'age' must be within ±9007199254740992"),
        ("glucose > 3", {"glucose": "7"}, "feature 'glucose' must be a number"),
        ("glucose > 3", {"glucose": float("inf")}, "feature 'glucose' must be a finite number"),
        ("hukou == 'local'", {"hukou": 1}, "feature 'hukou' must be a string"),
        ("lives_alone", {"lives_alone": 1}, "feature 'lives_alone' must be true or false"),
        ("lives_alone", {"lives_alone": None}, "feature 'lives_alone' cannot be unknown"),
        (
            "days_since(last_followup) > 1",
            {"last_followup": "01/02/2024"},
            "feature 'last_followup' must be a date (YYYY-MM-DD)",
        ),
        (
            "days_since(last_followup) > 1",
            {"last_followup": datetime(2024, 1, 2, 9, 30)},
            "feature 'last_followup' must be a date (not a time of day)",
        ),
    ],
)
def test_values_that_do_not_fit_are_refused(
    dictionary: FeatureDictionary, text: str, values: dict[str, Any], message: str
) -> None:
    rule = load_rule(text, dictionary, "r")
    with pytest.raises(RuleInputError) as caught:
        rule.evaluate(values, evaluation_date=date(2024, 3, 1))
    assert caught.value.detail.startswith(f"rule r: {message}")
    assert caught.value.status == 400


def test_days_since_needs_the_evaluation_date(dictionary: FeatureDictionary) -> None:
    rule = load_rule("days_since(last_followup) > 1", dictionary, "r")
    with pytest.raises(RuleInputError, match="uses days_since"):
        rule.evaluate({"last_followup": date(2024, 1, 1)})
    # A datetime is taken as its day.
    assert rule.evaluate(
        {"last_followup": date(2024, 1, 1)}, evaluation_date=datetime(2024, 1, 3, 23, 59)
    )


def test_a_string_is_not_a_set_of_conditions(dictionary: FeatureDictionary) -> None:
    rule = load_rule("has('tb')", dictionary, "r")
    with pytest.raises(RuleInputError, match="collection of codes"):
        rule.evaluate({}, conditions="tb")


def test_values_as_pandas_and_numpy_give_them(dictionary: FeatureDictionary) -> None:
    """A row of a pandas frame works as it is: NaN, NA and NaT are unknown."""
    rule = load_rule(
        "age == 45 and glucose > 7 and lives_alone and days_since(last_followup) == 1",
        dictionary,
    )
    row = {
        "age": np.int64(45),
        "glucose": np.float64(7.5),
        "lives_alone": np.bool_(True),
        "last_followup": pd.Timestamp("2024-02-29"),
    }
    assert rule.evaluate(row, evaluation_date=date(2024, 3, 1))
    assert rule.truth_value({**row, "age": 45.0}, evaluation_date=date(2024, 3, 1)) is True
    for unknown in ({"age": np.nan}, {"age": pd.NA}, {"last_followup": pd.NaT}):
        assert rule.truth_value({**row, **unknown}, evaluation_date=date(2024, 3, 1)) is None
    assert rule.evaluate({**row, "last_followup": "2024-02-29"}, evaluation_date=date(2024, 3, 1))

"""The feature dictionary: CareMatch's file holds design.md's features, and bad ones are refused."""

from __future__ import annotations

import pytest

from carematch.rules import DictionaryError, Feature, FeatureDictionary, FeatureType

# design.md, "Feature dictionary": every name and type the rules may rely on.
DESIGN_FEATURES = {
    "age": "int",
    "sex": "str",
    "hukou": "str",
    "origin_province": "str",
    "residence_months": "int",
    "has_residence_permit": "bool",
    "moves_12m": "int",
    "occupation": "str",
    "insurance": "str",
    "insured_locally": "bool",
    "household_status": "str",
    "oop_12m": "float",
    "income_12m": "float",
    "is_pregnant": "bool",
    "disability_level": "int",
    "lives_alone": "bool",
    "signed_family_doctor": "bool",
    "community": "str",
    "last_followup": "date",
    "sbp": "int",
    "dbp": "int",
    "glucose": "float",
    "phq9": "int",
    "gad7": "int",
    "doses_overdue": "int",
}
DESIGN_ENUMERATIONS = {
    "sex": {"M", "F"},
    "hukou": {"local", "migrant"},
    "occupation": {
        "construction",
        "manufacturing",
        "delivery",
        "ride_hailing",
        "food_service",
        "domestic",
        "agriculture",
        "office",
        "student",
        "child",
        "retired",
        "unemployed",
        "other",
    },
    "insurance": {"employee", "resident", "none"},
    "household_status": {
        "extreme_hardship",
        "min_allowance",
        "lifted",
        "monitored",
        "marginal",
        "general",
    },
}
DESIGN_CONDITIONS = {
    "hypertension",
    "diabetes",
    "hyperlipidemia",
    "tb",
    "hepatitis_b",
    "hiv",
    "pneumoconiosis",
    "occupational_noise",
    "depression",
    "anxiety",
    "cancer",
    "stroke",
    "copd",
    "disability",
    "pregnancy",
}


def test_every_design_feature_has_its_type(dictionary: FeatureDictionary) -> None:
    assert {name: dictionary[name].type.value for name in DESIGN_FEATURES} == DESIGN_FEATURES


def test_enumerations_list_exactly_the_design_values(dictionary: FeatureDictionary) -> None:
    for name, values in DESIGN_ENUMERATIONS.items():
        assert set(dictionary[name].values or ()) == values, name
    # Open strings are not enumerations: any province or community code may be compared.
    assert dictionary["origin_province"].values is None
    assert dictionary["community"].values is None


def test_condition_codes_are_the_design_list(dictionary: FeatureDictionary) -> None:
    assert set(dictionary.conditions) == DESIGN_CONDITIONS


def test_descriptions_in_chinese_and_english(dictionary: FeatureDictionary) -> None:
    for feature in dictionary.values():
        assert feature.description.get("zh") and feature.description.get("en"), feature.name
    for code, text in dictionary.conditions.items():
        assert text.get("zh") and text.get("en"), code


def test_never_measured_values_are_nullable(dictionary: FeatureDictionary) -> None:
    # design.md: "null if never" for these; "0 if unknown" for income.
    for name in ("last_followup", "phq9", "gad7", "sbp", "dbp", "glucose"):
        assert dictionary[name].nullable, name
    assert not dictionary["income_12m"].nullable


YAML_OK = """
features:
  age: {type: int, nullable: false}
  status: {type: str, values: [a, b]}
conditions: [tb, hiv]
"""


def test_loads_from_yaml_text() -> None:
    loaded = FeatureDictionary.from_yaml(YAML_OK)
    assert loaded["age"] == Feature("age", FeatureType.INT, None, False, {})
    assert loaded["status"].values == ("a", "b")
    assert list(loaded.conditions) == ["tb", "hiv"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("features: {age: {type: integer}}", "type must be one of int, float, str, bool, date"),
        ("features: {Age: {type: int}}", "must be lower-case letters"),
        ("features: {class: {type: int}}", "'class' is reserved"),
        ("features: {has: {type: bool}}", "'has' is reserved"),
        ("features: {days_since: {type: int}}", "'days_since' is reserved"),
        ("features: {age: {type: int, values: [1, 2]}}", "only a str feature can list"),
        ("features: {s: {type: str, values: []}}", "non-empty list"),
        ("features: {s: {type: str, values: [a, a]}}", "lists a value twice"),
        ("features: {age: {type: int, nullable: maybe}}", "'nullable' must be true or false"),
        ("features: {age: {type: int, unit: years}}", "unknown keys ['unit']"),
        ("features: {}", "non-empty mapping"),
        ("[1, 2]", "a mapping with 'features'"),
        ("features: {age: {type: int}}\nconditions: 3", "'conditions' must be"),
        ("features: [", "not valid YAML"),
    ],
)
def test_bad_dictionaries_are_refused(text: str, message: str) -> None:
    with pytest.raises(DictionaryError) as caught:
        FeatureDictionary.from_yaml(text)
    assert message in caught.value.detail
    assert caught.value.status == 400


def test_a_feature_defined_twice_is_refused() -> None:
    age = Feature("age", FeatureType.INT)
    with pytest.raises(DictionaryError, match="defined twice"):
        FeatureDictionary([age, age])

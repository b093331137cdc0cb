"""Rule files: every bad rule is reported at once; a rule set runs as one query."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from carematch.rules import FeatureDictionary, RuleSetError, load_rules
from tests.rules.engines import arrow_table
from tests.rules.generate import Person
from tests.rules.test_semantics import base_values

TAGS = """\
# Three demand tags in the shape profiling will ship them.
rules:
  - id: chronic_continuity
    rule: |
      hukou == 'migrant' and has('hypertension')
      and days_since(last_followup) > 90
    type: chronic
    level: 2
    services: [hypertension_followup]
  - id: child_catch_up
    rule: age < 7 and doses_overdue > 0
    type: vaccination
  - id: extreme_hardship
    rule: household_status == 'extreme_hardship'
"""

BAD = """\
- id: good
  rule: age > 3
- id: typo
  rule: hukuo == 'migrant'
- id: enum
  rule: |
    age > 3 and
    hukou == 'migrnt'
- id: good
  rule: age > 4
- rule: age > 5
- id: no_text
- id: not text
  rule: age > 1
- just a string
"""


def test_loads_a_file_with_metadata(dictionary: FeatureDictionary, tmp_path: Path) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(TAGS, encoding="utf-8")
    rules = load_rules(path, dictionary)
    assert list(rules) == ["chronic_continuity", "child_catch_up", "extreme_hardship"]
    chronic = rules["chronic_continuity"]
    assert dict(chronic.metadata) == {
        "type": "chronic",
        "level": 2,
        "services": ["hypertension_followup"],
    }
    assert chronic.features == ("hukou", "last_followup")
    assert rules.uses_evaluation_date


def test_reports_every_bad_rule(dictionary: FeatureDictionary) -> None:
    with pytest.raises(RuleSetError) as caught:
        load_rules(BAD, dictionary)
    reported = [(e.rule_id, e.line, e.column, e.reason) for e in caught.value.errors]
    assert reported == [
        ("typo", 1, 1, "unknown feature 'hukuo' (did you mean 'hukou'?)"),
        (
            "enum",
            2,
            10,
            "'migrnt' is not a value of hukou (did you mean 'migrant'?); its values are "
            "local, migrant",
        ),
        ("good", 1, 1, "the id is used twice (rules #1 and #4)"),
        ("#5", 1, 1, "'id' must be 1–100 letters, digits or _ . : - (no spaces)"),
        ("no_text", 1, 1, "'rule' must be the rule's text"),
        ("#7", 1, 1, "'id' must be 1–100 letters, digits or _ . : - (no spaces)"),
        ("#8", 1, 1, "each rule is a mapping with 'id' and 'rule'"),
    ]
    message = caught.value.detail
    assert message.startswith("7 bad rules:\n")
    assert "rule typo, line 1, column 1: unknown feature 'hukuo'" in message
    assert caught.value.problem()["errors"][0] == {
        "rule": "typo",
        "line": 1,
        "column": 1,
        "reason": "unknown feature 'hukuo' (did you mean 'hukou'?)",
    }


def test_invalid_yaml_names_its_position(dictionary: FeatureDictionary) -> None:
    with pytest.raises(RuleSetError) as caught:
        load_rules("- id: a\n  rule: [unclosed\n", dictionary)
    (error,) = caught.value.errors
    assert error.rule_id == "(file)"
    assert error.line == 3
    assert error.reason.startswith("not valid YAML")


def test_parsed_content_and_an_empty_file(dictionary: FeatureDictionary) -> None:
    rules = load_rules([{"id": "a", "rule": "age > 1"}], dictionary)
    assert list(rules) == ["a"]
    assert len(load_rules("", dictionary)) == 0
    with pytest.raises(RuleSetError, match="a list of rules"):
        load_rules("rules: 3", dictionary)


def test_a_rule_set_is_one_query_and_agrees_with_python(
    dictionary: FeatureDictionary, duck: Any
) -> None:
    rules = load_rules(TAGS, dictionary)
    base = base_values(dictionary)
    people = [
        Person({**base, "hukou": "migrant", "last_followup": date(2023, 1, 1)}, ["hypertension"]),
        Person({**base, "age": 3, "doses_overdue": 2}, None),
        Person({**base, "household_status": "extreme_hardship"}, []),
    ]
    today = date(2024, 3, 1)
    duck.register("persons", arrow_table(dictionary, people))
    try:
        sql = rules.to_select("persons", "duckdb", keys=["id"], evaluation_date=today)
        rows = duck.execute(sql + " ORDER BY id").fetchall()
    finally:
        duck.unregister("persons")
    # Each person was built to match exactly one tag: the diagonal.
    assert rows == [(0, True, False, False), (1, False, True, False), (2, False, False, True)]
    online = [
        rules.outcomes(p.values, conditions=p.conditions, evaluation_date=today) for p in people
    ]
    assert [tuple(o.matched for o in outcome.values()) for outcome in online] == [
        row[1:] for row in rows
    ]

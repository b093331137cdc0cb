"""The case library: validated on load, searchable with the policy search engine, and its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from carematch.cli import app
from carematch.policy.cases import CaseLibraryError, default_cases, parse_cases, search_cases
from carematch.policy.library import default_library

CASES = Path(__file__).resolve().parents[2] / "carematch" / "data" / "policy_cases.yaml"
runner = CliRunner()


def _one(**changes) -> str:
    case = {
        "id": "C-X",
        "title": "标题",
        "community": "某社区",
        "policies": ["P-ELDER-FLU"],
        "background": "背景",
        "problem": "问题",
        "measures": ["措施"],
        "result": "成效",
    }
    case.update(changes)
    return yaml.safe_dump([{k: v for k, v in case.items() if v is not None}], allow_unicode=True)


def test_packaged_cases_load_and_carry_every_part():
    cases = default_cases()
    library = default_library()
    assert len(cases) >= 12
    assert len({c.id for c in cases}) == len(cases)
    for case in cases:
        assert case.title and case.community and case.background and case.problem
        assert case.measures and case.result
        assert set(case.policies) <= set(library)
    # together they show how a good share of the library was carried out
    assert len({p for c in cases for p in c.policies}) >= 25


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"policies": ["P-ELDER-FLU", "P-NOPE"]},
            "case C-X, field policies: unknown policy 'P-NOPE'",
        ),
        ({"policies": []}, "case C-X, field policies: must be a non-empty list"),
        ({"result": None}, "case C-X, field result: missing"),
        ({"problem": "  "}, "case C-X, field problem: must be non-empty text"),
        ({"measures": [1, 2]}, "case C-X, field measures: must be text or a non-empty list"),
        ({"year": 20255}, "case C-X, field year: must be a year"),
        ({"owner": "x"}, "case C-X, field owner: unknown field"),
        ({"id": "bad id!"}, "case #1, field id:"),
    ],
)
def test_a_bad_case_is_refused_naming_the_case_and_the_field(changes, expected):
    with pytest.raises(CaseLibraryError) as error:
        parse_cases(_one(**changes), default_library())
    assert expected in error.value.detail


def test_every_problem_is_reported_and_ids_are_unique():
    text = _one() + _one() + _one(policies=["P-GONE"]).replace("C-X", "C-Y")
    with pytest.raises(CaseLibraryError) as error:
        parse_cases(text, default_library())
    assert "case C-X, field id: the id is used twice" in error.value.detail
    assert "case C-Y, field policies: unknown policy 'P-GONE'" in error.value.detail
    assert error.value.status == 400


def test_search_finds_the_case_and_the_passage_that_answers():
    cases = default_cases()
    [hit] = search_cases(cases, "尘肺病农民工原来的老板找不到了", 1)
    assert hit.case.id == "C-003"
    assert hit.passage in dict(hit.case.passages()).values() or hit.passage in hit.case.measures
    assert search_cases(cases, "？？？", 5) == []
    ranked = search_cases(cases, "失能老人护理", 14)
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)


def test_cases_command_lists_and_searches(tmp_path: Path):
    every = runner.invoke(app, ["policy", "cases"])
    found = runner.invoke(app, ["policy", "cases", "--q", "异地就医要先垫钱", "--top", "2"])
    assert every.exit_code == 0, every.stderr
    assert len(every.stdout.splitlines()) == len(default_cases())
    assert found.exit_code == 0, found.stderr
    lines = [json.loads(line) for line in found.stdout.splitlines()]
    assert 1 <= len(lines) <= 2
    assert lines[0]["id"] == "C-007"
    assert set(lines[0]) == {"id", "score", "title", "community", "policies", "field", "passage"}

    bad = tmp_path / "cases.yaml"
    bad.write_text(_one(policies=["P-NOPE"]), "utf-8")
    refused = runner.invoke(app, ["policy", "cases", "--cases", str(bad)])
    assert refused.exit_code == 2
    assert "case C-X, field policies: unknown policy 'P-NOPE'" in refused.stderr

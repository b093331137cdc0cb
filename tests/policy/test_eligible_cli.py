"""`carematch policy eligible`: the contract on hand-checked persons, and its failures."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from carematch.cli import app
from carematch.policy.library import default_library

DATA = Path(__file__).parent / "data"
PERSONS = DATA / "persons.jsonl"
LIBRARY = Path(__file__).resolve().parents[2] / "carematch" / "data" / "policies.yaml"
runner = CliRunner()


def run(persons: Path, *libraries: Path):
    args = ["policy", "eligible", "--persons", str(persons)]
    for library in libraries or (LIBRARY,):
        args += ["--library", str(library)]
    return runner.invoke(app, args)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_hand_checked_persons_get_exactly_their_expected_policies():
    # Given 16 persons whose eligible lists were worked out by hand from the rules
    persons = _lines(PERSONS.read_text(encoding="utf-8"))
    assert len(persons) >= 15

    result = run(PERSONS)

    assert result.exit_code == 0, result.stderr
    answers = _lines(result.stdout)
    assert [a["id"] for a in answers] == [p["id"] for p in persons]
    for person, answer in zip(persons, answers, strict=True):
        assert list(answer) == ["id", "eligible"]
        assert answer["eligible"] == person["expected"], person["note"]


def test_the_hand_checked_persons_cover_every_policy_of_the_library():
    persons = _lines(PERSONS.read_text(encoding="utf-8"))

    covered = {pid for p in persons for pid in p["expected"]}

    assert covered == set(default_library())


def test_a_bad_line_is_reported_by_number_and_skipped(tmp_path):
    lines = [
        '{"id": "ok1", "features": {"age": 70}}',
        "not json",
        '{"id": "x", "features": {"agee": 3}}',
        '{"id": "y", "features": {"hukou": "martian"}}',
        '{"id": "z", "features": {"age": "seventy"}}',
        '{"features": {}}',
        '["id"]',
        '{"id": "c", "conditions": "tb"}',
        "",
        '{"id": 7, "features": {"age": 2}, "conditions": []}',
    ]
    persons = tmp_path / "in.jsonl"
    persons.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run(persons)

    assert result.exit_code == 1
    assert [a["id"] for a in _lines(result.stdout)] == ["ok1", 7]
    errors = result.stderr.splitlines()
    assert [e.split(":")[0] for e in errors[:-1]] == [f"line {n}" for n in (2, 3, 4, 5, 6, 7, 8)]
    assert "unknown feature 'agee'" in errors[1]
    assert "'martian' is not a value of hukou" in errors[2]
    assert "whole number" in errors[3]
    assert errors[-1] == "7 line(s) skipped, 2 answered"


def test_a_bad_library_stops_before_any_output(tmp_path):
    entries = yaml.safe_load(LIBRARY.read_text(encoding="utf-8"))
    entries[0]["services"] = ["no_such_service"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")

    result = run(PERSONS, bad)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "policy P-FD-BASIC, field services" in result.stderr


def test_a_missing_persons_file_exits_2(tmp_path):
    result = run(tmp_path / "none.jsonl")

    assert result.exit_code == 2
    assert "no such persons file" in result.stderr


def test_several_libraries_are_loaded_together(tmp_path):
    extra = tmp_path / "county.yaml"
    extra.write_text(
        yaml.safe_dump(
            [
                {
                    "id": "C-WIDOW",
                    "title": "独居老人关爱",
                    "department": "民政局",
                    "eligibility": "age >= 80 and lives_alone",
                    "benefit": {"kind": "subsidy", "amount": 200},
                    "services": ["home_sickbed"],
                }
            ],
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    persons = tmp_path / "in.jsonl"
    persons.write_text(
        '{"id": "a", "features": {"age": 85, "lives_alone": true}}\n'
        '{"id": "b", "features": {"age": 85}}\n',
        encoding="utf-8",
    )

    result = run(persons, LIBRARY, extra)

    assert result.exit_code == 0, result.stderr
    first, second = _lines(result.stdout)
    assert "C-WIDOW" in first["eligible"]
    assert "C-WIDOW" not in second["eligible"]  # lives_alone unknown: the rule does not hold

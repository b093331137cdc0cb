"""Indicator definitions: the shipped file, and bad files refused with every problem named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from carematch.cli import app
from carematch.indicators.compute import dictionaries
from carematch.indicators.definitions import (
    DefinitionError,
    default_definitions,
    parse_definitions,
)

runner = CliRunner()

# R-EV-1: the nine indicators with their targets and directions.
R_EV_1 = {
    "demand_identification_coverage": ("process", 0.95, ">="),
    "demand_response_hours": ("process", 24.0, "<="),
    "resource_match_rate": ("process", 0.90, ">="),
    "health_literacy": ("outcome", 0.25, ">="),
    "chronic_control_rate": ("outcome", 0.60, ">="),
    "infectious_incidence_change": ("outcome", -0.05, "<="),
    "satisfaction": ("benefit", 0.90, ">="),
    "illness_poverty_change": ("benefit", -0.08, "<="),
    "social_integration": ("benefit", 0.40, ">="),
}


def test_the_shipped_file_holds_r_ev_1_r_vx_7_and_r_pl_5():
    library = default_definitions()
    for iid, (dimension, target, direction) in R_EV_1.items():
        indicator = library[iid]
        assert (indicator.dimension, indicator.target, indicator.direction) == (
            dimension,
            target,
            direction,
        )
        assert {"hukou", "age_group"} <= set(indicator.disaggregations)
        assert indicator.weights
    assert {i.measure for i in library.values() if i.provider == "vaccination_quality"} == {
        "booking_success_rate",
        "review_agreement",
        "booking_lead_days_median",
        "doses_given",
        "aefi_rate_per_100k",
    }
    assert {i.measure for i in library.values() if i.provider == "policy_execution"} == {
        "coverage",
        "budget_used",
        "complaints",
    }


def _good() -> dict:
    return {
        "id": "control",
        "name": "控制率",
        "name_en": "Control rate",
        "dimension": "outcome",
        "kind": "rate",
        "dataset": "people",
        "denominator": "has('hypertension')",
        "numerator": "sbp < 140",
        "target": 0.6,
        "direction": ">=",
        "disaggregations": ["hukou"],
        "weights": {"chronic": 0.5},
    }


def _problems(*entries: dict) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definitions(yaml.safe_dump({"indicators": list(entries)}), dictionaries())
    return caught.value.problems


def test_a_good_entry_loads():
    library = parse_definitions(yaml.safe_dump({"indicators": [_good()]}), dictionaries())
    assert library["control"].numerator.features == ("sbp",)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"numerator": "sbpp < 140"}, "control.numerator:"),
        ({"numerator": "__import__('os')"}, "control.numerator:"),
        ({"dataset": "persons"}, "control.dataset: one of"),
        ({"dimension": "impact"}, "control.dimension: one of process, outcome, benefit"),
        ({"target": 95}, "control.target: a rate's target is a share between 0 and 1"),
        ({"target": "high"}, "control.target: a number"),
        ({"direction": ">"}, "control.direction:"),
        ({"disaggregations": ["religion"]}, "control.disaggregations: 'religion'"),
        ({"disaggregations": ["policy"]}, "control.disaggregations: dataset people has no column"),
        ({"weights": {"chronic": 2}}, "control.weights: chronic: a weight between 0 and 1"),
        ({"kind": "mean"}, "control.value: a numeric column of dataset people"),
        ({"provider": "vaccination_quality"}, "control.dataset: name exactly one"),
        ({"colour": "red"}, "control.colour: unknown field"),
        ({"name": ""}, "control.name: required text"),
    ],
)
def test_a_bad_field_is_named_with_its_indicator(change, expected):
    problems = _problems({**_good(), **change})
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_of_a_file_is_reported_at_once():
    problems = _problems(
        {**_good(), "target": 7},
        {**_good(), "id": "second", "numerator": "nonsense > 1"},
        {**_good()},
        {**_good(), "id": "Bad Id"},
    )
    assert len(problems) == 4
    assert any(p.startswith("control.target") for p in problems)
    assert any(p.startswith("second.numerator") for p in problems)
    assert any(p.startswith("control.id: defined twice") for p in problems)
    assert any("indicator #4.id" in p for p in problems)


def test_a_provider_measure_must_be_one_it_offers():
    entry = {k: v for k, v in _good().items() if k not in ("dataset", "numerator", "denominator")}
    entry.update(provider="vaccination_quality", measure="doses_wasted", disaggregations=[])
    assert any(p.startswith("control.measure: one of") for p in _problems(entry))


def test_the_check_command_lists_ids_or_every_problem(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"indicators": [_good()]}, allow_unicode=True), "utf-8")
    ok = runner.invoke(app, ["indicators", "check", str(good)])
    assert ok.exit_code == 0, ok.stderr
    assert [json.loads(line)["id"] for line in ok.stdout.splitlines()] == ["control"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"indicators": [{**_good(), "target": 9}]}), "utf-8")
    refused = runner.invoke(app, ["indicators", "check", str(bad)])
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "control.target" in refused.stderr
    missing = runner.invoke(app, ["indicators", "check", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_refresh_refuses_a_malformed_month():
    result = runner.invoke(app, ["indicators", "refresh", "--period", "2026-13"])
    assert result.exit_code == 2 and "YYYY-MM" in result.stderr

"""Loading a policy library: the packaged one passes, and each kind of mistake is refused with
a message naming the policy and the field (issue 7 acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from carematch.cli import app
from carematch.policy.errors import PolicyLibraryError
from carematch.policy.library import (
    BENEFIT_KINDS,
    default_library,
    load_library,
    parse_library,
)
from carematch.providers.catalogue import service_catalogue

PACKAGED = Path(__file__).resolve().parents[2] / "carematch" / "data" / "policies.yaml"
runner = CliRunner()


def _entries() -> list[dict]:
    return yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))


def _one(**changes) -> list[dict]:
    """The packaged library with one policy (P-ELDER-FLU) changed."""
    entries = _entries()
    target = next(e for e in entries if e["id"] == "P-ELDER-FLU")
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return entries


def _load(entries: list[dict]) -> None:
    parse_library([("lib.yaml", yaml.safe_dump(entries, allow_unicode=True))])


def test_the_packaged_library_loads_with_every_policy_checked():
    library = default_library()

    entries = _entries()
    assert list(library) == [e["id"] for e in entries]
    catalogue = service_catalogue()
    for policy in library.values():
        assert set(policy.services) <= set(catalogue)
        assert policy.benefit.kind in BENEFIT_KINDS
        assert policy.rule.text == next(e for e in entries if e["id"] == policy.id)["eligibility"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"eligibility": "agee >= 60"}, "eligibility", "unknown feature 'agee'"),
        ({"eligibility": "hukou == 'migrnt'"}, "eligibility", "'migrnt' is not a value of hukou"),
        ({"eligibility": "age >= "}, "eligibility", "syntax error"),
        ({"eligibility": "has('flu')"}, "eligibility", "unknown condition code 'flu'"),
        ({"eligibility": "age + 1"}, "eligibility", "must be true or false"),
        ({"eligibility": ""}, "eligibility", "rule's text"),
        ({"services": ["vaccination_adult", "flu_jab"]}, "services", "unknown service 'flu_jab'"),
        ({"services": "vaccination_adult"}, "services", "list of strings"),
        ({"benefit": {"kind": "voucher"}}, "benefit.kind", "must be one of"),
        ({"benefit": {"kind": "reimbursement", "rate": 1.5}}, "benefit.rate", "between 0 and 1"),
        ({"benefit": {"kind": "reimbursement", "rate": "60%"}}, "benefit.rate", "between 0 and 1"),
        ({"benefit": {"kind": "relief", "cap": -1}}, "benefit.cap", "non-negative"),
        ({"benefit": {"kind": "subsidy", "amount": True}}, "benefit.amount", "non-negative"),
        ({"benefit": {"kind": "free_service", "quantity": 2.5}}, "benefit.quantity", "whole"),
        ({"benefit": {"kind": "free_service", "ceiling": 3}}, "benefit.ceiling", "unknown field"),
        ({"benefit": "free"}, "benefit", "must be a mapping"),
        ({"benefit": None}, "benefit", "missing"),
        ({"title": None}, "title", "missing"),
        ({"department": ""}, "department", "non-empty"),
        ({"demand_types": ["wellbeing"]}, "demand_types", "not a demand type"),
        ({"eligiblity": "True"}, "eligiblity", "unknown field"),
    ],
)
def test_a_bad_policy_is_named_with_its_field(changes, field, words):
    with pytest.raises(PolicyLibraryError) as caught:
        _load(_one(**changes))

    message = caught.value.detail
    assert f"lib.yaml: policy P-ELDER-FLU, field {field}: " in message
    assert words in message
    assert {"source": "lib.yaml", "policy": "P-ELDER-FLU", "field": field} == {
        k: v for k, v in caught.value.extra["errors"][0].items() if k != "reason"
    }


def test_every_problem_is_reported_at_once():
    entries = _one(eligibility="agee >= 60", services=["nope"], benefit={"kind": "x"})

    with pytest.raises(PolicyLibraryError) as caught:
        _load(entries)

    fields = sorted((p.policy, p.field) for p in caught.value.problems)
    assert fields == [
        ("P-ELDER-FLU", "benefit.kind"),
        ("P-ELDER-FLU", "eligibility"),
        ("P-ELDER-FLU", "services"),
    ]


def test_ids_are_unique_across_the_files_loaded_together(tmp_path):
    extra = tmp_path / "county.yaml"
    extra.write_text(
        yaml.safe_dump([_entries()[0], {**_entries()[1], "id": "C-NEW"}], allow_unicode=True),
        encoding="utf-8",
    )

    with pytest.raises(PolicyLibraryError) as caught:
        load_library([PACKAGED, extra])

    assert [(p.source, p.policy, p.field) for p in caught.value.problems] == [
        (str(extra), "P-FD-BASIC", "id")
    ]


def test_further_library_files_add_policies(tmp_path):
    extra = tmp_path / "county.yaml"
    extra.write_text(
        yaml.safe_dump([{**_entries()[1], "id": "C-NEW"}], allow_unicode=True), encoding="utf-8"
    )

    library = load_library([extra], include_default=True)

    assert list(library)[-1] == "C-NEW"
    assert len(library) == len(_entries()) + 1


@pytest.mark.parametrize(
    ("text", "words"),
    [("- id: [unclosed", "not valid YAML"), ("id: P-1", "a list of policies"), ("- 3", "mapping")],
)
def test_a_file_that_is_not_a_library(text, words):
    with pytest.raises(PolicyLibraryError) as caught:
        parse_library([("lib.yaml", text)])

    assert words in caught.value.detail


def test_check_command_lists_the_problems_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_one(benefit={"kind": "relief", "rate": 2})), encoding="utf-8")

    failed = runner.invoke(app, ["policy", "check", "--library", str(bad)])
    passed = runner.invoke(app, ["policy", "check", "--library", str(PACKAGED)])

    assert failed.exit_code == 2
    assert "policy P-ELDER-FLU, field benefit.rate" in failed.stderr
    assert failed.stdout == ""
    assert passed.exit_code == 0, passed.stderr
    assert json.loads(passed.stdout)["policies"] == len(_entries())

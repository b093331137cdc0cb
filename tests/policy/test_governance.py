"""Proposals, the sandbox and the execution indicators against a small city computed by hand
(tests/policy/governance_world.py), on SQLite and PostgreSQL; the CLI and API contracts."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from carematch.cli import app as cli_app
from carematch.core.db import session_scope
from carematch.policy.eligibility import person_verdicts
from carematch.policy.errors import PolicyLibraryError
from carematch.policy.execution import execution_indicators, set_budget
from carematch.policy.governance_errors import SandboxInputRejected
from carematch.policy.proposals import proposals
from carematch.policy.sandbox_service import run_sandbox
from carematch.profiling.service import build_profiles, features_for, open_demand_table
from carematch.security.authz import Principal
from tests.fixtures.people import token
from tests.policy.governance_world import (
    AS_OF,
    C1,
    C2,
    CLINIC,
    D1,
    add_complaint,
    add_record,
    at,
    build,
    library,
)

OFFICIAL_D1 = Principal("u1", "official_d1", "official", D1)
ADMIN = Principal("u0", "admin1", "admin", None)


def _profiled(tmp_path):
    world = build(tmp_path)
    with session_scope() as session:
        build_profiles(session, AS_OF)
    return world


def _oracle(session, lib) -> dict[tuple[str, str], tuple[set[str], set[str]]]:
    """The gaps by walking each open demand with the online evaluator, one person at a time."""
    features = {row["person_id"]: row for row in features_for(session, None, AS_OF).to_pylist()}
    eligible: dict[str, set[str]] = {}
    for pid, row in features.items():
        conditions = row.get("conditions") or []
        verdicts = person_verdicts(lib, row, conditions, AS_OF)
        eligible[pid] = {v.policy.id for v in verdicts if v.eligible}
    gaps: dict[tuple[str, str], tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for demand in open_demand_table(session).to_pylist():
        covering = [
            p for p in eligible[demand["person_id"]] if demand["service"] in lib[p].services
        ]
        if not covering:
            persons, services = gaps[(demand["community_code"], demand["tag"])]
            persons.add(demand["person_id"])
            services.add(demand["service"])
    return gaps


def test_proposals_are_the_uncovered_demands_counted_per_community(env, tmp_path):
    world = _profiled(tmp_path)
    lib = library()

    with session_scope() as session:
        found = proposals(session, as_of=AS_OF, library=lib)
        expected = _oracle(session, lib)
        only_d2 = proposals(session, region="449902", as_of=AS_OF, library=lib)
        at_least_two = proposals(session, min_count=2, as_of=AS_OF, library=lib)

    got = {(p.community, p.tag): (p.persons, sorted(p.services)) for p in found}
    assert got == {k: (len(v[0]), sorted(v[1])) for k, v in expected.items()}
    by_key = {(p.community, p.tag): p for p in found}
    # A and B (migrants) need the elderly check-up; P-A carries it but only for locals, and D
    # (local) is covered by it: two persons, an eligibility gap naming P-A.
    checkup = by_key[(C1, "elderly_checkup")]
    assert (checkup.persons, checkup.gap, checkup.policies) == (2, "not_eligible", ["P-A"])
    # Chronic follow-up is covered for all three by P-C (hypertension): never a gap.
    assert not any("chronic_followup" in p.services for p in found)
    # No policy carries C's cancer screening: a new policy is needed.
    screening = by_key[(C2, "women_cancer_screening")]
    assert (screening.persons, screening.gap, screening.policies) == (1, "no_policy", [])
    assert [p.rank for p in found] == list(range(1, len(found) + 1))
    assert [p.persons for p in found] == sorted((p.persons for p in found), reverse=True)
    assert [(p.community, p.tag) for p in only_d2] == [(C2, "women_cancer_screening")]
    assert all(p.persons >= 2 for p in at_least_two) and len(at_least_two) == len(found) - 1
    assert world.c not in {world.a, world.b}


def test_sandbox_counts_new_and_covered_and_prices_the_draft(sqlite_env, tmp_path):
    _profiled(tmp_path)
    draft = {
        "id": "P-NEW-CHECKUP",
        "title": "流动老人免费体检试点",
        "department": "卫健委",
        "eligibility": "age >= 65",
        "benefit": {"kind": "free_service", "quantity": 1},
        "services": ["elderly_checkup"],
    }
    replacing_a = {
        **draft,
        "id": "P-A",
        "eligibility": "True",
        "services": ["chronic_followup", "elderly_checkup"],
    }

    with session_scope() as session:
        report = run_sandbox(session, OFFICIAL_D1, draft, D1, as_of=AS_OF, library=library())
        replaced = run_sandbox(
            session, OFFICIAL_D1, replacing_a, C1, as_of=AS_OF, library=library()
        )
        with pytest.raises(SandboxInputRejected, match="inside your jurisdiction"):
            run_sandbox(session, OFFICIAL_D1, draft, "449902", as_of=AS_OF, library=library())
        with pytest.raises(SandboxInputRejected, match="no region"):
            run_sandbox(session, OFFICIAL_D1, draft, "449977", as_of=AS_OF, library=library())
        with pytest.raises(PolicyLibraryError, match="field services"):
            run_sandbox(
                session, OFFICIAL_D1, {**draft, "services": ["nope"]}, D1, library=library()
            )

    # A (68), B (71), D (76) live in district 1; all three are 65+. P-A already gives D the
    # check-up; A and B are new. The check-up's unit price is the reference table's 150
    # (the clinic prices only follow-ups), so 3 × 150.
    assert (report.population, report.eligible, report.new, report.already_covered) == (
        3,
        3,
        2,
        1,
    )
    assert (report.per_person, report.cost) == (150.0, 450.0)
    assert report.prices == {"elderly_checkup": (150.0, "reference")}
    [p_a] = report.comparisons
    # P-A's first priced service is the follow-up at the clinic's registered 80 yuan.
    assert (p_a.id, p_a.eligible, p_a.also_draft, p_a.cost) == ("P-A", 1, 1, 80.0)
    assert (replaced.replaces, replaced.gained, replaced.lost) == ("P-A", 2, 0)
    assert replaced.current_cost == 80.0 and replaced.eligible == 3


def test_execution_indicators_equal_the_hand_computation(env, tmp_path):
    world = _profiled(tmp_path)
    for day in ("2026-06-05", "2026-06-20"):
        add_record(world.d, "chronic_followup", at(day))
    for day in ("2026-06-02", "2026-06-10", "2026-06-25"):
        add_record(world.a, "chronic_followup", at(day))
    add_record(world.a, "chronic_followup", at("2026-05-31", 23))  # the day before
    add_record(world.a, "chronic_followup", at("2026-07-01", 0))  # the day after
    add_record(world.b, "vaccination_adult", at("2026-06-15"))
    add_record(world.c, "chronic_followup", at("2026-06-10"), region=C2)
    add_complaint("chronic_followup", CLINIC, at("2026-06-03"))
    add_complaint(None, CLINIC, at("2026-06-04"))  # the clinic offers follow-ups
    add_complaint("vaccination_adult", None, at("2026-06-05"))
    add_complaint("chronic_followup", None, at("2026-06-06"), region=C2)
    add_complaint("chronic_followup", None, at("2026-05-20"))
    with session_scope() as session:
        set_budget(session, ADMIN, "P-C", 2026, 400, library=library())

    with session_scope() as session:
        rows = execution_indicators(session, AS_OF.replace(day=1), AS_OF, D1, library=library())
        city = execution_indicators(session, AS_OF.replace(day=1), AS_OF, library=library())

    got = {
        r["policy"]: (r["eligible"], r["served"], r["records"], r["spend"], r["complaints"])
        for r in rows
    }
    # P-A (locals: D): 2 follow-ups × 80 free. P-B (65+: A, B, D): B's jab, 60 × 0.6 = 36
    # capped at 30. P-C (hypertension: A, B, D): A's 3 follow-ups count 2 (quantity 2) and
    # D's 2, each 80 × 0.5.
    assert got == {
        "P-A": (1, 1, 2, 160.0, 2),
        "P-B": (3, 1, 1, 30.0, 1),
        "P-C": (3, 2, 5, 160.0, 2),
    }
    by_id = {r["policy"]: r for r in rows}
    assert by_id["P-C"]["coverage"] == pytest.approx(2 / 3)
    assert by_id["P-C"]["budget"] == 400.0 and by_id["P-C"]["budget_used"] == 0.4
    assert by_id["P-A"]["budget"] is None and by_id["P-A"]["budget_used"] is None
    # The whole city adds C (local) to P-A with her follow-up, and her district's complaint.
    city_a = next(r for r in city if r["policy"] == "P-A")
    assert (city_a["eligible"], city_a["served"], city_a["records"], city_a["complaints"]) == (
        2,
        2,
        3,
        3,
    )


def test_the_api_and_cli_contracts(sqlite_client, tmp_path):
    client = sqlite_client
    _profiled(tmp_path)
    official = token(client, "official_d1")

    api = client.get("/api/v1/policy-proposals", headers=official)
    outside = client.get("/api/v1/policy-proposals?region=449902", headers=official)
    assert api.status_code == 200, api.text
    assert api.json()["items"] and all(i["community"].startswith(D1) for i in api.json()["items"])
    assert outside.status_code == 400

    runner = CliRunner()
    cli = runner.invoke(cli_app, ["policy", "proposals", "--region", D1, "--as-of", "2026-06-30"])
    assert cli.exit_code == 0, cli.output
    lines = [json.loads(line) for line in cli.stdout.splitlines() if line.strip()]
    with session_scope() as session:
        direct = proposals(session, region=D1, as_of=AS_OF)
    assert lines == [p.as_dict() for p in direct] and lines
    assert set(lines[0]) == {
        "rank",
        "community",
        "tag",
        "label",
        "label_en",
        "demand_type",
        "services",
        "persons",
        "gap",
        "policies",
    }
    bad = runner.invoke(cli_app, ["policy", "proposals", "--region", "白云"])
    assert bad.exit_code == 2

    text = (
        'id: P-PILOT\ntitle: 试点\ndepartment: 卫健委\neligibility: "age >= 70"\n'
        "benefit: {kind: subsidy, amount: 200}\nservices: [home_rehab]\n"
    )
    draft = tmp_path / "draft.yaml"
    draft.write_text(text, encoding="utf-8")
    report = client.post(
        "/api/v1/policy-sandbox",
        json={"text": text, "region": D1, "as_of": "2026-06-30"},
        headers=official,
    )
    markdown = client.post(
        "/api/v1/policy-sandbox?format=markdown",
        json={"text": text, "region": D1},
        headers=official,
    )
    garbage = client.post(
        "/api/v1/policy-sandbox", json={"text": "id: [", "region": D1}, headers=official
    )
    # B (71) and D (76) are 70 or over: 2 × the fixed 200.
    assert report.status_code == 200, report.text
    assert (report.json()["eligible"], report.json()["cost"]) == (2, 400.0)
    assert "| eligible under the draft | 2 |" in markdown.text
    assert garbage.status_code == 400 and "not valid YAML" in garbage.json()["detail"]
    cli_report = runner.invoke(
        cli_app,
        [
            "policy",
            "sandbox",
            "--draft",
            str(draft),
            "--region",
            D1,
            "--as-of",
            "2026-06-30",
            "--format",
            "csv",
        ],
    )
    assert cli_report.exit_code == 0, cli_report.output
    assert cli_report.stdout.splitlines()[1].startswith("P-PILOT,draft,449901,2,")
    missing = runner.invoke(
        cli_app, ["policy", "sandbox", "--draft", str(tmp_path / "none.yaml"), "--region", D1]
    )
    assert missing.exit_code == 2

    budget = client.put(
        "/api/v1/policies/P-ELDER-FLU/budgets/2026",
        json={"year": 2026, "amount": 12000},
        headers=official,
    )
    unknown = client.put(
        "/api/v1/policies/P-NOPE/budgets/2026",
        json={"year": 2026, "amount": 1},
        headers=official,
    )
    execution = client.get(
        "/api/v1/policy-execution?start=2026-06-01&end=2026-06-30", headers=official
    )
    backwards = client.get(
        "/api/v1/policy-execution?start=2026-06-30&end=2026-06-01", headers=official
    )
    assert budget.status_code == 200 and budget.json()["amount"] == 12000.0
    assert unknown.status_code == 404
    assert execution.status_code == 200
    flu = next(i for i in execution.json()["items"] if i["policy"] == "P-ELDER-FLU")
    assert flu["budget"] == 12000.0 and flu["eligible"] == 3
    assert backwards.status_code == 400
    assert client.get("/api/v1/policy-proposals").status_code == 401

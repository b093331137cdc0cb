"""Special funds (专项基金): apply, review, decide within the budget, evaluate; audited."""

from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from carematch.core.db import Base, get_engine, session_scope
from carematch.core.migrate import alembic_config, import_all_models
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from tests.fixtures.people import PASSWORD, build_two_districts, token

TABLES = {
    "special_fund_budgets",
    "special_fund_projects",
    "special_fund_indicators",
    "special_fund_reviews",
}
D1_COMMUNITY = "449901001001"
D2_COMMUNITY = "449902001001"
GOOD = {"need": 90, "feasibility": 80, "benefit": 85, "cost": 75}  # mean 82.5
POOR = {"need": 40, "feasibility": 50, "benefit": 45, "cost": 55}  # mean 47.5


def _diff() -> list:
    import_all_models()
    with get_engine().connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models_and_0024_downgrades(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert _diff() == []
    config = alembic_config()
    command.downgrade(config, "0023")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert _diff() == []


@pytest.fixture
def people(client, tmp_path):
    build_two_districts(tmp_path)
    with session_scope() as session:
        create_user(session, "expert_a", "official", PASSWORD, "449900")
        create_user(session, "expert_b", "official", PASSWORD, "449900")
        create_user(session, "grid_d1", "grid_worker", PASSWORD, "449901001001")
    return {
        name: token(client, name)
        for name in ("official_d1", "official_d2", "expert_a", "expert_b", "grid_d1", "doctor_d1")
    }


def _budget(client, headers, total=500_000) -> str:
    response = client.post(
        "/api/v1/funds/budgets",
        json={"name": "慢病防控专项", "region_code": "449900", "year": 2026, "total": total},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _apply(client, headers, budget, amount=200_000, community=D1_COMMUNITY):
    return client.post(
        "/api/v1/funds/projects",
        json={
            "budget_id": budget,
            "community_code": community,
            "title": "高血压自我管理小组",
            "amount": amount,
            "indicators": [
                {"name": "血压控制率", "baseline": 0.55, "target": 0.65, "unit": "share"},
                {"name": "失访率", "baseline": 0.2, "target": 0.1, "direction": "down"},
            ],
        },
        headers=headers,
    )


def _review(client, headers, project, scores):
    return client.post(
        f"/api/v1/funds/projects/{project}/reviews", json={"scores": scores}, headers=headers
    )


def test_a_project_goes_from_application_to_evaluation(client, people):
    budget = _budget(client, people["expert_a"])
    # Given a grid worker's application for their community
    applied = _apply(client, people["grid_d1"], budget)
    assert applied.status_code == 201, applied.text
    project = applied.json()["id"]
    assert applied.json()["status"] == "applied"
    # Deciding before two experts have scored it is out of order
    too_soon = client.post(
        f"/api/v1/funds/projects/{project}/decision", json={}, headers=people["expert_a"]
    )
    assert too_soon.status_code == 409
    assert too_soon.json()["type"] == "/problems/fund-state-conflict"
    # When two experts score it (one review each)
    assert _review(client, people["expert_a"], project, GOOD).status_code == 201
    again = _review(client, people["expert_a"], project, GOOD)
    assert again.status_code == 409 and "already reviewed" in again.json()["detail"]
    assert _review(client, people["expert_b"], project, {**GOOD, "need": 70}).status_code == 201
    # And the mean decides
    decided = client.post(
        f"/api/v1/funds/projects/{project}/decision",
        json={"note": "同意"},
        headers=people["official_d1"],
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "approved"
    assert body["score"] == pytest.approx((82.5 + 77.5) / 2)
    # Reviews are closed once decided; evaluation needs every indicator
    assert _review(client, people["official_d1"], project, GOOD).status_code == 409
    partial = client.post(
        f"/api/v1/funds/projects/{project}/evaluation",
        json={"values": {"血压控制率": 0.7}},
        headers=people["official_d1"],
    )
    assert partial.status_code == 400 and "失访率" in partial.json()["detail"]
    # Then the evaluation judges each indicator in its direction
    evaluated = client.post(
        f"/api/v1/funds/projects/{project}/evaluation",
        json={"values": {"血压控制率": 0.7, "失访率": 0.15}},
        headers=people["official_d1"],
    )
    assert evaluated.status_code == 200, evaluated.text
    result = evaluated.json()
    assert result["status"] == "evaluated" and result["outcome"] == "partly"
    assert [i["achieved"] for i in result["indicators"]] == [True, False]
    again = client.post(
        f"/api/v1/funds/projects/{project}/evaluation",
        json={"values": {"血压控制率": 0.7, "失访率": 0.05}},
        headers=people["official_d1"],
    )
    assert again.status_code == 409
    with session_scope() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_id == project)
            .order_by(AuditEntry.seq)
        ).all()
    assert actions == [
        "fund_project_applied",
        "fund_project_reviewed",
        "fund_project_reviewed",
        "fund_project_decided",
        "fund_project_evaluated",
    ]


def test_a_low_mean_rejects_and_approval_stays_within_the_budget(client, people):
    budget = _budget(client, people["expert_a"], total=300_000)
    first = _apply(client, people["official_d1"], budget, amount=200_000).json()["id"]
    second = _apply(client, people["official_d1"], budget, amount=150_000).json()["id"]
    poor = _apply(client, people["official_d1"], budget, amount=50_000).json()["id"]
    for project in (first, second):
        for expert in ("expert_a", "expert_b"):
            assert _review(client, people[expert], project, GOOD).status_code == 201
    for expert in ("expert_a", "expert_b"):
        _review(client, people[expert], poor, POOR)
    approve = "/api/v1/funds/projects/{}/decision"
    assert (
        client.post(approve.format(first), json={}, headers=people["expert_a"]).json()["status"]
        == "approved"
    )
    # Only 100,000 left: the second, though well scored, does not fit
    over = client.post(approve.format(second), json={}, headers=people["expert_a"])
    assert over.status_code == 409
    assert (
        over.json()["type"] == "/problems/fund-budget-exceeded" and over.json()["left"] == 100_000
    )
    assert (
        client.get(f"/api/v1/funds/projects/{second}", headers=people["expert_a"]).json()["status"]
        == "under_review"
    )
    rejected = client.post(approve.format(poor), json={}, headers=people["expert_a"]).json()
    assert rejected["status"] == "rejected" and rejected["score"] == pytest.approx(47.5)
    budgets = client.get("/api/v1/funds/budgets", headers=people["official_d1"]).json()["items"]
    assert [(b["committed"], b["left"]) for b in budgets] == [(200_000, 100_000)]


def test_bad_applications_and_other_districts_are_refused(client, people):
    budget = _budget(client, people["expert_a"])
    # Another district's official cannot apply for, see or review a D1 community's project
    assert _apply(client, people["official_d2"], budget).status_code == 403
    project = _apply(client, people["official_d1"], budget).json()["id"]
    assert (
        client.get(f"/api/v1/funds/projects/{project}", headers=people["official_d2"]).status_code
        == 404
    )
    assert _review(client, people["official_d2"], project, GOOD).status_code == 404
    listed = client.get("/api/v1/funds/projects", headers=people["official_d2"]).json()["items"]
    assert listed == []
    # The applicant may not review their own project; scores must cover every criterion
    assert _review(client, people["official_d1"], project, GOOD).status_code == 409
    missing = _review(client, people["expert_a"], project, {"need": 90})
    assert missing.status_code == 400 and "missing" in missing.json()["detail"]
    high = _review(client, people["expert_a"], project, {**GOOD, "cost": 101})
    assert high.status_code == 400
    # A target that is not an improvement, and an amount beyond the budget, are refused
    bad = client.post(
        "/api/v1/funds/projects",
        json={
            "budget_id": budget,
            "community_code": D1_COMMUNITY,
            "title": "x",
            "amount": 1000,
            "indicators": [{"name": "控制率", "baseline": 0.6, "target": 0.5}],
        },
        headers=people["official_d1"],
    )
    assert bad.status_code == 400 and "above the baseline" in bad.json()["detail"]
    assert _apply(client, people["official_d1"], budget, amount=600_000).status_code == 400
    # Doctors have no part in the funds
    assert client.get("/api/v1/funds/projects", headers=people["doctor_d1"]).status_code == 403


def test_the_funds_cli_runs_the_same_workflow(sqlite_env):
    from typer.testing import CliRunner

    from carematch.cli import app

    runner = CliRunner()
    with session_scope() as session:
        create_user(session, "expert_a", "official", PASSWORD, "449900")
        create_user(session, "expert_b", "official", PASSWORD, "449900")
        create_user(session, "grid_d1", "grid_worker", PASSWORD, "449901001001")

    def run(*args: str) -> dict:
        result = runner.invoke(app, ["funds", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    budget = run(
        "create-budget",
        "--name",
        "专项",
        "--region",
        "449900",
        "--year",
        "2026",
        "--total",
        "100000",
        "--as",
        "expert_a",
    )["id"]
    project = run(
        "apply",
        "--budget",
        budget,
        "--community",
        D1_COMMUNITY,
        "--title",
        "筛查",
        "--amount",
        "80000",
        "--indicator",
        "筛查率:0.3:0.5",
        "--as",
        "grid_d1",
    )["id"]
    early = runner.invoke(
        app, ["funds", "evaluate", project, "--value", "筛查率=0.6", "--as", "expert_a"]
    )
    assert early.exit_code == 2 and "only an approved project" in early.stderr
    for expert in ("expert_a", "expert_b"):
        scores = [f"--score={c}=70" for c in GOOD]
        run("review", project, *scores, "--as", expert)
    assert run("decide", project, "--as", "expert_a")["status"] == "approved"
    done = run("evaluate", project, "--value", "筛查率=0.6", "--as", "expert_a")
    assert (done["status"], done["outcome"]) == ("evaluated", "achieved")
    refused = runner.invoke(
        app, ["funds", "review", project, "--score", "need=1", "--as", "grid_d1"]
    )
    assert refused.exit_code == 2 and "may not review" in refused.stderr

"""Property-based fuzzing of the funds, risk-index and budget API: no input answers 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import create_app
from carematch.core.db import session_scope
from carematch.indicators import funds_service
from carematch.security.authz import Principal
from tests.feedback.conftest import bearer
from tests.fixtures.people import build_two_districts

MINE = {
    "/api/v1/indicators/risk-index",
    "/api/v1/indicators/budget",
    "/api/v1/funds/budgets",
    "/api/v1/funds/projects",
    "/api/v1/funds/projects/{project_id}",
    "/api/v1/funds/projects/{project_id}/reviews",
    "/api/v1/funds/projects/{project_id}/decision",
    "/api/v1/funds/projects/{project_id}/evaluation",
}
OFFICIAL = Principal("u", "official_d1", "official", "449901")


@pytest.fixture
def api_schema(sqlite_env, tmp_path):
    build_two_districts(tmp_path)
    with session_scope() as session:
        budget = funds_service.create_budget(
            session, OFFICIAL, name="专项", region_code="449901", year=2026, total=100_000
        )
        funds_service.apply(
            session,
            OFFICIAL,
            budget_id=budget.id,
            community_code="449901001001",
            title="t",
            amount=1000,
            indicators=[funds_service.IndicatorPlan("x", 0.1, 0.2)],
        )
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())


def test_no_input_makes_the_funds_api_fail(api_schema):
    headers = bearer("official_d1")
    operations = [
        op for op in (result.ok() for result in api_schema.get_all_operations()) if op.path in MINE
    ]
    assert len(operations) == 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path} {case.query} {case.body}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or ""
                if isinstance(content_type, list):
                    content_type = content_type[0]
                assert content_type.startswith("application/problem+json"), where

        check()

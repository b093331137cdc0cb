"""Property-based fuzzing of the governance API (schemathesis): hearings, opinions and
decisions, proposals, the sandbox, budgets and execution; no input makes it answer 5xx, and
every refusal is problem+json."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from carematch.api.app import create_app
from carematch.core.db import session_scope
from carematch.security.models import User
from carematch.security.service import create_user
from carematch.security.tokens import issue_token
from tests.fixtures.people import PASSWORD
from tests.policy.governance_world import build

PATHS = ("/api/v1/hearings", "/api/v1/policy-", "/api/v1/policies/{policy_id}/budgets")


def _bearer(username: str) -> dict[str, str]:
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        access, _ = issue_token(user.id, user.role, user.region_code)
    return {"Authorization": f"Bearer {access}"}


@pytest.fixture
def api_schema(sqlite_env, tmp_path):
    world = build(tmp_path)
    with session_scope() as session:
        create_user(session, "me_a", "resident", PASSWORD, person_id=world.a)
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())


@pytest.mark.parametrize("user", ["official_d1", "me_a"])
def test_no_input_makes_the_governance_api_fail(api_schema, user):
    headers = _bearer(user)
    operations = [
        op
        for op in (result.ok() for result in api_schema.get_all_operations())
        if op.path.startswith(PATHS)
    ]
    assert len(operations) == 11

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where

        check()

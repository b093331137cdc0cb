"""Property-based fuzzing of the feedback API (schemathesis): no input makes it answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import create_app
from tests.feedback.conftest import bearer, build_world

FEEDBACK_PATHS = (
    "/api/v1/complaints",
    "/api/v1/rectifications",
    "/api/v1/providers/flags",
    "/api/v1/provider-flags",
    "/api/v1/board",
)


@pytest.fixture
def api_schema(sqlite_env, tmp_path, pinned):
    build_world(tmp_path)
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())


@pytest.mark.parametrize("user", ["admin1", "official_d1", "resident1"])
def test_no_input_makes_the_feedback_api_fail(api_schema, user):
    headers = bearer(user)
    operations = [
        op
        for op in (result.ok() for result in api_schema.get_all_operations())
        if op.path.startswith(FEEDBACK_PATHS)
    ]
    assert len(operations) >= 11

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
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

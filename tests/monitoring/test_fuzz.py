"""Property-based fuzzing of the monitoring API (schemathesis): no input makes it answer 5xx."""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import create_app
from tests.monitoring.conftest import bearer, build_city


@pytest.fixture
def api_schema(sqlite_env):
    build_city(date(2026, 3, 10))
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())


@pytest.mark.parametrize("user", ["admin1", "doctor_d1"])
def test_no_input_makes_the_monitoring_api_fail(api_schema, user):
    headers = bearer(user)
    operations = [
        op
        for op in (result.ok() for result in api_schema.get_all_operations())
        if op.path.startswith("/api/v1/monitoring")
    ]
    assert len(operations) == 7

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
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

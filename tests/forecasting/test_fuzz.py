"""Property-based fuzzing of the forecasting API (schemathesis): no input makes it answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import create_app
from tests.feedback.conftest import bearer
from tests.fixtures.people import build_two_districts
from tests.forecasting.test_hotspots_api import _seed


@pytest.fixture
def api_schema(sqlite_env, tmp_path):
    _seed(build_two_districts(tmp_path))
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())


def test_no_input_makes_the_forecasting_api_fail(api_schema):
    headers = bearer("official_d1")
    operations = [
        op
        for op in (result.ok() for result in api_schema.get_all_operations())
        if op.path.startswith("/api/v1/forecasting/")
    ]
    assert len(operations) == 2

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path} {case.query}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where

        check()

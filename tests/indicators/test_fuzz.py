"""Property-based fuzzing of the indicators API (schemathesis): no input makes it answer 5xx."""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import create_app
from carematch.core.db import session_scope
from carematch.indicators import service
from carematch.indicators.compute import Period
from carematch.indicators.definitions import default_definitions
from tests.feedback.conftest import add_regions, bearer
from tests.fixtures.people import D1, build_two_districts
from tests.indicators.test_service import _seed_series

MINE = {
    "/api/v1/indicators",
    "/api/v1/indicators/warnings",
    "/api/v1/indicators/warnings/{warning_id}/rectify",
    "/api/v1/indicators/{indicator_id}/series",
}


@pytest.fixture
def api_schema(sqlite_env, tmp_path):
    build_two_districts(tmp_path)
    last = Period.month("2026-05")
    _seed_series(f"{D1}001001", [0.85, 0.84, 0.86, 0.85, 0.85, 0.84, 0.86, 0.70], last)
    with session_scope() as session:
        add_regions(session)
        service.raise_warnings(session, last, default_definitions(), today=date(2026, 6, 1))
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())


def test_no_input_makes_the_indicators_api_fail(api_schema):
    headers = bearer("official_d1")
    operations = [
        op for op in (result.ok() for result in api_schema.get_all_operations()) if op.path in MINE
    ]
    assert len(operations) == 4

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path} {case.query} {case.body}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or ""
                if isinstance(content_type, list):  # some schemathesis versions give lists
                    content_type = content_type[0]
                assert content_type.startswith("application/problem+json"), where

        check()

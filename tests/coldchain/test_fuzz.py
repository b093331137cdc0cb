"""Property-based fuzzing of the cold-chain and administration API (schemathesis): no input
makes it answer 5xx, and every error is problem+json."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import create_app
from carematch.core.db import session_scope
from tests.coldchain.world import add_lot, bearer, build_world

PATHS = ("/api/v1/coldchain", "/api/v1/vaccination/administrations")


@pytest.fixture
def api_schema(sqlite_env, tmp_path):
    build_world(tmp_path)
    with session_scope() as session:
        add_lot(session)
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())


def test_no_input_makes_the_cold_chain_api_fail(api_schema):
    # The admin passes every role check, so every handler's input checks are reached.
    headers = bearer("admin1")
    operations = [
        op
        for op in (result.ok() for result in api_schema.get_all_operations())
        if op.path.startswith(PATHS)
    ]
    assert len(operations) >= 18

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
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

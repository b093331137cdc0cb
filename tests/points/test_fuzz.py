"""Property-based fuzzing of the points API (schemathesis): no input makes it answer 5xx, and
every error is problem+json."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.points.conftest import bearer, build_world, points_app

pytestmark = pytest.mark.slow

POINTS_PATHS = ("/api/v1/points", "/api/v1/timebank")


@pytest.fixture
def api_schema(sqlite_env, tmp_path):
    world = build_world(tmp_path)
    return world, schemathesis.openapi.from_asgi("/api/v1/openapi.json", points_app())


@pytest.mark.parametrize("user", ["admin1", "official_d1", "resident1"])
def test_no_input_makes_the_points_api_fail(api_schema, user):
    world, schema = api_schema
    headers = bearer(user)
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith(POINTS_PATHS)
        or (op.path.startswith("/api/v1/persons/{person_id}/points"))
    ]
    assert len(operations) == 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            generated = (case.path_parameters or {}).get("person_id")
            # About half the time a real person, so the happy path is fuzzed too.
            if isinstance(generated, str) and len(generated) % 2 == 0:
                case.path_parameters["person_id"] = world.person_d1
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where

        check()

"""Property-based fuzzing of the family-doctor API (schemathesis): no input makes it answer
5xx, and every error is problem+json."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import API_PREFIX, create_app
from carematch.api.routes import iter_endpoints
from carematch.core.db import session_scope
from carematch.familydoctor.endpoints import router
from tests.familydoctor.conftest import add_team, bearer, build_world

PATHS = ("/api/v1/family-doctor", "/api/v1/referrals")


@pytest.fixture
def api_schema(sqlite_env, tmp_path):
    world = build_world(tmp_path)
    with session_scope() as session:
        add_team(session, world)
    app = create_app()
    if not any(e.path == f"{API_PREFIX}/referrals" for e in iter_endpoints(app)):
        app.include_router(router, prefix=API_PREFIX)
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@pytest.mark.parametrize("user", ["admin1", "doctor_d1", "resident_ht"])
def test_no_input_makes_the_family_doctor_api_fail(api_schema, user):
    headers = bearer(user)
    operations = [
        op
        for op in (result.ok() for result in api_schema.get_all_operations())
        if op.path.startswith(PATHS)
    ]
    assert len(operations) >= 18

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

"""No input makes a provider endpoint answer 5xx, with a loaded registry, on both databases."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from carematch.api.app import API_PREFIX, create_app
from carematch.core.db import session_scope
from carematch.providers import service
from tests.providers.conftest import bearer


def test_no_input_makes_a_provider_endpoint_fail_with_a_server_error(
    env, regions_loaded, city: Path
):
    with session_scope() as session:
        service.load_providers(session, city)
    [admin] = bearer("admin1")
    schema = schemathesis.openapi.from_asgi(f"{API_PREFIX}/openapi.json", create_app())
    # The registry's own operations (the feedback domain's provider flags live elsewhere).
    operations = [
        op
        for result in schema.get_all_operations()
        if "/providers" in (op := result.ok()).path and "/flags" not in op.path
    ]
    assert len(operations) == 5

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            response = case.call(headers=admin)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where

        check()

"""A SQLite-only app client: the policy pages and API read through the same ORM on both
databases, so only the migration test runs on PostgreSQL too (keeps the suite lean)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.env import Installation


@pytest.fixture
def sqlite_client(sqlite_env: Installation) -> Iterator[TestClient]:
    from carematch.api.app import create_app

    with TestClient(create_app()) as c:
        yield c

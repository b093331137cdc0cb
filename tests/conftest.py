"""Shared fixtures: an isolated installation per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session

from carematch.core.db import session_factory
from tests.fixtures.env import Installation, installation

BACKENDS = ["sqlite", "postgres"]

# Hypothesis' deadline and "generation is slow" check measure the machine, not the code: on a
# busy 2-core CI runner they fail tests that are correct. Speed is measured in bench/ instead.
settings.register_profile("carematch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("carematch")


@pytest.fixture(params=BACKENDS)
def env(
    request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Installation]:
    """A fresh installation on each database backend."""
    with installation(tmp_path, request.param, monkeypatch) as inst:
        yield inst


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installation]:
    """A fresh installation on SQLite only (file-level tests)."""
    with installation(tmp_path, "sqlite", monkeypatch) as inst:
        yield inst


@pytest.fixture
def session(env: Installation) -> Iterator[Session]:
    """A session on the installation's database; the test decides when to commit."""
    s = session_factory()()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def client(env: Installation) -> Iterator[TestClient]:
    """The app under test on the installation."""
    from carematch.api.app import create_app

    with TestClient(create_app()) as c:
        yield c

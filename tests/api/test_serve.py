"""How `carematch serve` runs the app: two worker processes per core (at most 4) unless told.

The booking benchmark (bench/bench_booking.py) starts the server through this command, so what
it measures is what these defaults give in production.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.config import get_settings
from carematch.core.db import dispose_engines, session_factory

runner = CliRunner()


@pytest.fixture
def served(sqlite_env, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments each uvicorn.run call received (nothing is served)."""
    calls: list[dict[str, Any]] = []

    def fake_run(target: Any, **options: Any) -> None:
        calls.append({"target": target, **options})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.delenv("CAREMATCH_WORKERS", raising=False)
    return calls


def test_serve_runs_two_workers_per_core_from_the_app_factory(served, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    result = runner.invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    (call,) = served
    # An import string with factory=True: each worker process builds its own app.
    assert call["target"] == "carematch.api.app:create_app"
    assert call["factory"] is True
    assert (call["workers"], call["port"], call["host"]) == (2, 8123, "127.0.0.1")


@pytest.mark.parametrize(("cores", "workers"), [(None, 2), (1, 2), (2, 4), (64, 4)])
def test_the_default_stays_within_postgresqls_default_connections(
    served, monkeypatch, cores, workers
):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert served[-1]["workers"] == workers
    settings = get_settings()
    assert workers * (settings.db_pool_size + settings.db_max_overflow) < 100


def test_serve_takes_the_worker_count_from_the_option_or_the_environment(served, monkeypatch):
    assert runner.invoke(app, ["serve", "--workers", "5"]).exit_code == 0
    monkeypatch.setenv("CAREMATCH_WORKERS", "2")
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert [c["workers"] for c in served] == [5, 2]
    refused = runner.invoke(app, ["serve", "--workers", "0"])
    assert refused.exit_code == 2
    assert len(served) == 2


def test_one_session_factory_per_engine_and_a_new_one_after_dispose(sqlite_env):
    first = session_factory()
    assert session_factory() is first
    engine = first.kw["bind"]
    dispose_engines()
    second = session_factory()
    assert second is not first
    assert second.kw["bind"] is not engine
    with second() as session:
        assert session.get_bind() is second.kw["bind"]

"""Versions of policies with effective dates: old versions kept, the one in force applied."""

from __future__ import annotations

import json
from datetime import date

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from carematch.core.db import Base, get_engine, session_scope
from carematch.core.migrate import alembic_config, import_all_models
from carematch.policy import service
from carematch.policy.errors import PolicyLibraryError, PolicyVersionConflict
from carematch.policy.library import default_library
from carematch.security.models import AuditEntry

TABLES = {"policy_versions"}


def _flu(rate_age: int) -> dict:
    policy = default_library()["P-ELDER-FLU"].as_dict()
    policy["eligibility"] = f"age >= {rate_age}"
    return policy


def _diff() -> list:
    import_all_models()
    with get_engine().connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models_and_0019_downgrades(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert _diff() == []
    config = alembic_config()
    command.downgrade(config, "0018")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert _diff() == []


def test_a_new_version_closes_the_old_one_and_applies_from_its_day(sqlite_env):
    with session_scope() as session:
        first = service.add_version(session, _flu(65), date(2026, 1, 1), "official1")
        second = service.add_version(
            session, _flu(55), date(2026, 7, 1), "official1", note="扩大范围"
        )
        assert (first.version, second.version) == (1, 2)

    with session_scope() as session:
        rows = service.versions(session, "P-ELDER-FLU")
        assert [(r.version, r.effective_from, r.effective_to) for r in rows] == [
            (1, date(2026, 1, 1), date(2026, 7, 1)),
            (2, date(2026, 7, 1), None),
        ]
        assert json.loads(rows[0].definition)["eligibility"] == "age >= 65"
        before = service.library_on(session, date(2025, 12, 31))
        during = service.library_on(session, date(2026, 6, 30))
        after = service.library_on(session, date(2026, 7, 1))
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == "P-ELDER-FLU")
        ).all()

    assert before["P-ELDER-FLU"].eligibility == "age >= 60"  # the packaged version
    assert during["P-ELDER-FLU"].eligibility == "age >= 65"
    assert after["P-ELDER-FLU"].eligibility == "age >= 55"
    assert len(after) == len(default_library())
    assert audited == ["policy_version_added", "policy_version_added"]


def test_a_version_must_start_after_the_latest(sqlite_env):
    with session_scope() as session:
        service.add_version(session, _flu(65), date(2026, 3, 1), "official1")
        with pytest.raises(PolicyVersionConflict, match="must start after 2026-03-01"):
            service.add_version(session, _flu(70), date(2026, 3, 1), "official1")


def test_a_bad_version_is_refused_naming_the_policy_and_field(sqlite_env):
    policy = _flu(65)
    policy["benefit"] = {"kind": "free_service", "quantity": -1}

    with session_scope() as session, pytest.raises(PolicyLibraryError) as caught:
        service.add_version(session, policy, date(2026, 3, 1), "official1")

    assert "policy P-ELDER-FLU, field benefit.quantity" in caught.value.detail

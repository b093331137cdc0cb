"""Migration 0018 builds exactly the vaccination-appointment tables the models declare, on both
databases, and downgrades cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config, import_all_models

TABLES = {
    "vaccination_appointments",
    "vaccination_group_bookings",
    "vaccination_group_members",
    "vaccination_home_requests",
}


def diff() -> list:
    """What autogenerate would still change in these tables (nothing, if in sync)."""
    import_all_models()
    with get_engine().connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert diff() == []


def test_0018_downgrades_and_upgrades_again(env):
    config = alembic_config()
    command.downgrade(config, "0017")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert diff() == []

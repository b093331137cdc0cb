"""Migration 0007 builds exactly the allocation tables the models declare, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config, import_all_models

TABLES = {"allocation_runs", "allocation_proposals"}


def schema_diff() -> list:
    """What autogenerate would still change after upgrading to head (nothing, if in sync)."""
    import_all_models()
    with get_engine().connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert schema_diff() == []


def test_0007_downgrades_and_upgrades_again(env):
    config = alembic_config()
    command.downgrade(config, "0006")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert schema_diff() == []

"""Migration 0009 builds exactly the notification tables the models declare, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config
from carematch.notifications import models

TABLES = {"notification_outbox", "inbox_items", "notification_deliveries"}


def notification_diff() -> list:
    """What autogenerate would still change in the notification tables (nothing, if in sync)."""
    assert models.OutboxMessage.__tablename__ in Base.metadata.tables
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in diff if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert notification_diff() == []


def test_0009_downgrades_and_upgrades_again(env):
    config = alembic_config()
    before = ScriptDirectory.from_config(config).get_revision("0009").down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert notification_diff() == []

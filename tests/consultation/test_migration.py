"""Migration 0015 builds exactly the consultation tables the models declare, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carematch.consultation import models
from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config

TABLES = {"consultations", "consultation_attachments"}


def consultation_diff() -> list:
    """What autogenerate would still change in the consultation tables (nothing, if in sync)."""
    assert models.Consultation.__tablename__ in Base.metadata.tables
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in diff if any(f"'{table}'" in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert consultation_diff() == []


def test_0015_follows_0014_and_downgrades_and_upgrades_again(sqlite_env):
    config = alembic_config()
    assert ScriptDirectory.from_config(config).get_revision("0015").down_revision == "0014"
    command.downgrade(config, "0014")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert consultation_diff() == []

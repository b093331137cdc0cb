"""Migration 0014 builds exactly the assessments tables the models declare, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carematch.assessments import models
from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config

TABLES = {"assessments", "home_visits", "needs_questionnaires"}


def assessments_diff() -> list:
    """What autogenerate would still change in these tables (nothing, if in sync)."""
    assert models.Assessment.__tablename__ in Base.metadata.tables
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in diff if any(f"'{table}'" in repr(d) for table in TABLES)]


def test_0014_matches_the_models_follows_0013_and_downgrades(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert assessments_diff() == []
    config = alembic_config()
    assert ScriptDirectory.from_config(config).get_revision("0014").down_revision == "0013"
    command.downgrade(config, "0013")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert assessments_diff() == []

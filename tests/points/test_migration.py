"""Migration 0011 builds exactly the points tables the models declare, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config
from carematch.points import models

TABLES = {"points_accounts", "points_entries", "points_lines"}


def points_diff() -> list:
    """What autogenerate would still change in the points tables (nothing, if in sync)."""
    assert models.PointsAccount.__tablename__ in Base.metadata.tables
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in diff if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert points_diff() == []


def test_the_person_balance_check_and_the_source_key_exist(env):
    inspector = inspect(get_engine())
    checks = {c["name"] for c in inspector.get_check_constraints("points_accounts")}
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("points_entries")}
    assert "ck_points_accounts_non_negative" in checks
    assert ("source_kind", "source_id", "person_id") in uniques


def test_0011_follows_0010_and_downgrades_and_upgrades_again(env):
    config = alembic_config()
    before = ScriptDirectory.from_config(config).get_revision("0011").down_revision
    assert before == "0010"
    command.downgrade(config, before)
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert points_diff() == []

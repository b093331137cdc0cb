"""Migration 0013 builds exactly the family-doctor tables the models declare, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config
from carematch.familydoctor import models

TABLES = {
    "family_doctor_teams",
    "family_doctor_team_members",
    "family_doctor_contracts",
    "followup_tasks",
    "referrals",
    "referral_events",
}


def family_doctor_diff() -> list:
    """What autogenerate would still change in the family-doctor tables (nothing, if in sync)."""
    assert models.FollowUpTask.__tablename__ in Base.metadata.tables
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in diff if any(f"'{table}'" in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert family_doctor_diff() == []


def test_0013_follows_0012_and_downgrades_and_upgrades_again(env):
    config = alembic_config()
    before = ScriptDirectory.from_config(config).get_revision("0013").down_revision
    assert before == "0012"
    command.downgrade(config, before)
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert family_doctor_diff() == []

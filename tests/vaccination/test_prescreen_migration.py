"""Migration 0017 builds exactly the vaccination-safety tables the models declare."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config
from carematch.vaccination import safety_models

TABLES = {
    "vaccination_prescreenings",
    "vaccination_aefi_reports",
    "vaccination_aefi_clusters",
    "vaccination_outreach_contacts",
}


def safety_diff() -> list:
    """What autogenerate would still change in these tables (nothing, if in sync)."""
    assert safety_models.Prescreening.__tablename__ in Base.metadata.tables
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in diff if any(f"'{table}'" in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert safety_diff() == []


def test_0017_follows_0016_and_downgrades_and_upgrades_again(sqlite_env):
    config = alembic_config()
    assert ScriptDirectory.from_config(config).get_revision("0017").down_revision == "0016"
    command.downgrade(config, "0016")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert safety_diff() == []

"""Migration 0016 builds exactly the cold-chain and administration tables the models declare."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carematch.coldchain import models  # noqa: F401 - registers the tables
from carematch.core.db import Base, get_engine
from carematch.core.migrate import alembic_config
from carematch.vaccination import models as vaccination_models  # noqa: F401

TABLES = {
    "vaccine_lots",
    "coldchain_log_head",
    "coldchain_events",
    "coldchain_checkpoints",
    "coldchain_readings",
    "coldchain_rejected_readings",
    "coldchain_alarms",
    "coldchain_lot_exposures",
    "vaccination_administrations",
}


def diff() -> list:
    with get_engine().connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if any(f"'{table}'" in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert diff() == []


def test_0016_follows_0015_and_downgrades_and_upgrades_again(sqlite_env):
    config = alembic_config()
    assert ScriptDirectory.from_config(config).get_revision("0016").down_revision == "0015"
    command.downgrade(config, "0015")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert diff() == []

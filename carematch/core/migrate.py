"""Alembic migrations run from code, so every command can bring the database up to date."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from carematch.core.config import Settings, get_settings

# Every module that defines tables; Alembic's autogenerate and create_all need them imported.
MODEL_MODULES = (
    "carematch.core.models",
    "carematch.security.models",
    "carematch.identity.models",
    "carematch.security.consent_models",
    "carematch.providers.models",
    "carematch.profiling.models",
    "carematch.matching.models",
    "carematch.booking.models",
    "carematch.notifications.models",
    "carematch.feedback.models",
    "carematch.points.models",
    "carematch.familydoctor.models",
    "carematch.assessments.models",
    "carematch.consultation.models",
    "carematch.coldchain.models",
    "carematch.vaccination.models",
    "carematch.vaccination.appointment_models",
    "carematch.vaccination.safety_models",
    "carematch.policy.models",
    "carematch.indicators.funds_models",
    "carematch.relief.models",
    "carematch.policy.hearing_models",
    "carematch.monitoring.models",
    "carematch.indicators.models",
)


def import_all_models() -> None:
    """Import every table module so that ``Base.metadata`` is complete."""
    for name in MODEL_MODULES:
        importlib.import_module(name)


def migrations_dir() -> Path:
    """The Alembic folder: ``migrations/`` beside the package (source checkout)."""
    here = Path(__file__).resolve().parents[2] / "migrations"
    if here.is_dir():
        return here
    packaged = Path(__file__).resolve().parents[1] / "_migrations"
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError("cannot find the migrations folder")


def alembic_config(settings: Settings | None = None) -> Config:
    settings = settings or get_settings()
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    """Apply every pending migration to the configured database, then seed reference rows."""
    settings = settings or get_settings()
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Alembic logs every step at INFO; commands print their own, quieter, progress.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command.upgrade(alembic_config(settings), revision)
    from carematch.core.db import session_scope
    from carematch.identity.service import ensure_sources
    from carematch.security.service import ensure_roles

    with session_scope(settings) as session:
        ensure_roles(session)
        ensure_sources(session)

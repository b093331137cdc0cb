"""Database: declarative base with a naming convention, engines and sessions.

SQLite (a file in the data directory) by default, PostgreSQL via ``CAREMATCH_DATABASE_URL``;
the same Alembic migrations build both. The edge (an endpoint dependency, a CLI command or a
job) owns the transaction: services only flush.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from carematch.core.config import Settings, get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table; constraint names are stable across SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Several processes (server, worker, CLI) share the file: wait rather than fail on a lock.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_ENGINES: dict[str, Engine] = {}
# One sessionmaker per engine: every request opens a session, and building the factory each
# time was measurable on the booking API's hot path (see docs/benchmarks.md).
_FACTORIES: dict[int, sessionmaker[Session]] = {}


def get_engine(settings: Settings | None = None) -> Engine:
    """The engine for the configured database (one per URL per process)."""
    settings = settings or get_settings()
    url = settings.resolved_database_url
    if url not in _ENGINES:
        if url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False},
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
            )
        _ENGINES[url] = engine
    return _ENGINES[url]


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests and shutdown)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
    _FACTORIES.clear()


def session_factory(settings: Settings | None = None) -> sessionmaker[Session]:
    """A sessionmaker bound to the configured engine (made once per engine)."""
    engine = get_engine(settings)
    factory = _FACTORIES.get(id(engine))
    if factory is None or factory.kw.get("bind") is not engine:
        factory = _FACTORIES[id(engine)] = sessionmaker(bind=engine, expire_on_commit=False)
    return factory


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A unit of work for CLI commands and jobs: commit on success, roll back on error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Settings read from the environment (prefix ``CAREMATCH_``) with safe defaults.

Every command keeps its state in ``CAREMATCH_DATA_DIR`` (default ``./data``), so two data
directories are two independent installations.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; see docs/operations.md for every variable."""

    model_config = SettingsConfigDict(env_prefix="CAREMATCH_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data directory"
    )
    # Keys: taken from the environment when set, else from key files created on first run
    # inside the data directory (never in the repository).
    field_key: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    token_minutes: int = 60
    # Connections per process. The app runs at most this many requests at once (its worker
    # threads are capped to match), so a burst queues for a thread instead of holding threads
    # that wait for connections until everything times out. 4 workers × 20 stays under
    # PostgreSQL's default max_connections of 100.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    log_level: str = "INFO"
    # Failed sign-ins allowed per account and per client address in a moving window
    # (``limits`` notation); the storage is per process unless pointed at redis://.
    signin_storage: str = "memory://"
    signin_per_account: str = "5 per 15 minutes"
    signin_per_client: str = "50 per 15 minutes"

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'carematch.db').resolve()}"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache when they change env)."""
    return Settings()

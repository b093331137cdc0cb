"""Limits of the consultation domain, from the environment (prefix ``CAREMATCH_CONSULTATION_``).

Kept beside the domain rather than in :mod:`carematch.core.config` because only uploads read
them; documented in docs/consultation.md with the other variables.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class ConsultationSettings(BaseSettings):
    """Upload limits: the largest file and the most files one request may carry."""

    model_config = SettingsConfigDict(env_prefix="CAREMATCH_CONSULTATION_", extra="ignore")

    # A 12-lead ECG PDF is ~200 KB, a phone photo of a film 2-5 MB, one DICOM slice under 1 MB:
    # 10 MB takes any of them and keeps a village clinic's slow uplink from timing out.
    max_attachment_bytes: int = Field(default=10 * MIB, ge=1, le=200 * MIB)
    max_attachments: int = Field(default=5, ge=1, le=20)


def consultation_settings() -> ConsultationSettings:
    """The limits now (read each time: cheap, and a test may change the environment)."""
    return ConsultationSettings()

"""Tables of the assessments domain: capability assessments, home visits and needs
questionnaires — what staff and residents report about a person beyond the departmental
extracts, which profiling reads next to them.

Persons and users belong to other domains: they are named by id, and the person's community
is copied as ``region_code`` when a row is made, so jurisdiction needs no join. A visit's or a
questionnaire's free text is encrypted; the item scores, observations and need codes are not
(profiling reads them in batch, and they name no one). Needs are stored as a space-separated
list of codes from ``needs.yaml``. Times are UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText

# Who made a home visit: a grid worker (网格员) or a family doctor (家庭医生).
VISIT_KINDS = ("grid_worker", "family_doctor")
# Who filled a questionnaire: the resident themselves, or staff for them.
QUESTIONNAIRE_CHANNELS = ("self", "staff")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Assessment(Base):
    """A capability assessment (能力评估) of a person: for now the Barthel ADL index.

    ``answers`` is the item → score JSON as checked against ``barthel.yaml``; ``total`` and
    ``disability_level`` are computed from it when recorded (the grading in force then).
    The latest assessment's level overrides the EHR's ``disability_level`` in the profile.
    ``home_visit_id`` names the visit it was made on, if any.
    """

    __tablename__ = "assessments"
    __table_args__ = (
        CheckConstraint("total >= 0 AND total <= 100", name="total_range"),
        CheckConstraint("disability_level >= 0 AND disability_level <= 4", name="level_range"),
        Index("ix_assessments_person_id_assessed_at", "person_id", "assessed_at"),
        Index("ix_assessments_region_code", "region_code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    instrument: Mapped[str] = mapped_column(String(32), default="barthel")
    answers: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer)
    disability_level: Mapped[int] = mapped_column(Integer)
    assessed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assessed_by: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    home_visit_id: Mapped[str | None] = mapped_column(
        ForeignKey("home_visits.id"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HomeVisit(Base):
    """A home visit (入户走访) by a grid worker or a family doctor, recorded on a phone.

    ``lives_alone`` is what the visitor saw (None: not noted); the latest visit's observation
    overrides the EHR's in the profile. ``needs`` are the codes the visitor noticed. ``note`` is
    free text (encrypted). ``idempotency_key`` is the token the form (or API client) made once:
    a retry on a slow connection sends it again and gets the visit already recorded (unique per
    visitor).
    """

    __tablename__ = "home_visits"
    __table_args__ = (
        CheckConstraint(_one_of("kind", VISIT_KINDS), name="kind"),
        UniqueConstraint("visitor_user_id", "idempotency_key"),
        Index("ix_home_visits_person_id_visited_at", "person_id", "visited_at"),
        Index("ix_home_visits_region_code", "region_code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    visitor_user_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lives_alone: Mapped[bool | None] = mapped_column(Boolean, default=None)
    needs: Mapped[str] = mapped_column(String(400), default="")
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NeedsQuestionnaire(Base):
    """A needs questionnaire (需求问卷): the needs a resident reports, online or through staff.

    ``channel`` says who filled it (``self`` or ``staff``); ``submitted_by`` is the user.
    ``other`` is anything else the resident wrote (encrypted). The latest questionnaire's needs
    feed the profile's ``need_*`` features (with the latest visit's), for twelve months.
    ``idempotency_key`` makes a resubmitted form a no-op, as for visits.
    """

    __tablename__ = "needs_questionnaires"
    __table_args__ = (
        CheckConstraint(_one_of("channel", QUESTIONNAIRE_CHANNELS), name="channel"),
        UniqueConstraint("submitted_by", "idempotency_key"),
        Index("ix_needs_questionnaires_person_id_submitted_at", "person_id", "submitted_at"),
        Index("ix_needs_questionnaires_region_code", "region_code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    needs: Mapped[str] = mapped_column(String(400), default="")
    other: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    submitted_by: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

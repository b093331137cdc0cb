"""Tables of the family-doctor domain: teams, contracts, follow-up tasks and referrals.

The database keeps the rules that concurrent requests could otherwise break: one active (and
one scheduled) contract per person and a contract renewed at most once (unique indexes), one
follow-up task per person, programme and due date (a unique constraint, so a rerun or a
concurrent run of the schedule creates nothing twice), and status columns limited to their
values (CHECK constraints).

Persons, users and providers belong to other domains: they are named by id, and the region
code a row is seen by is copied when it is made, so jurisdiction needs no join.
Free text about a patient (referral reasons, notes, the reason a contract ended) is encrypted.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.familydoctor.referrals import DIRECTIONS, URGENCIES
from carematch.familydoctor.referrals import STATUSES as REFERRAL_STATUSES
from carematch.security.crypto import EncryptedText

# scheduled: a renewal (or a signing dated later) whose term has not begun; active while the
# term runs; expired after it; terminated when ended early (解约).
CONTRACT_STATUSES = ("scheduled", "active", "expired", "terminated")
# How the contract was signed: by staff for the person, or by the resident themselves online.
CHANNELS = ("staff", "self")
# pending → overdue (past due) → done; pending/overdue → cancelled (the contract ended early,
# or the programme no longer applies).
TASK_STATUSES = ("pending", "overdue", "done", "cancelled")
OPEN_TASK_STATUSES = ("pending", "overdue")
TEAM_ROLES = (
    "general_practitioner",  # 全科医生
    "village_doctor",  # 乡村医生
    "nurse",  # 护士
    "public_health",  # 公卫医师
    "specialist",  # 专科医生
    "pharmacist",  # 药师
    "health_manager",  # 健康管理师
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class FamilyDoctorTeam(Base):
    """A family-doctor team (家庭医生团队): a lead doctor and members at one primary-care
    provider, serving one area (a street or a village; a district at most).

    ``area_code`` is the region whose residents may sign with the team; ``region_code`` is the
    provider's, copied here. Staff see a team when either lies in their jurisdiction.
    """

    __tablename__ = "family_doctor_teams"
    __table_args__ = (
        Index("ix_family_doctor_teams_area_code", "area_code"),
        Index("ix_family_doctor_teams_region_code", "region_code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    area_code: Mapped[str] = mapped_column(String(12))
    lead_user_id: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FamilyDoctorTeamMember(Base):
    """A member of a team (团队成员) in a team role: nurse, public-health doctor, pharmacist …

    The lead is a member too, as general practitioner. A user may serve on several teams.
    """

    __tablename__ = "family_doctor_team_members"
    __table_args__ = (CheckConstraint(_one_of("team_role", TEAM_ROLES), name="team_role"),)

    team_id: Mapped[str] = mapped_column(ForeignKey("family_doctor_teams.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    team_role: Mapped[str] = mapped_column(String(32))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FamilyDoctorContract(Base):
    """A family-doctor contract (签约): one person, one team, one package, one year.

    A renewal is a new row for the next term that names the one it continues
    (``previous_id``, unique: a term is renewed once); ``term`` counts the years in the chain.
    ``price`` is the package's price when signed (yuan a year; 0 for the basic package).
    ``region_code`` is the person's community when signed: what staff jurisdiction filters on.
    """

    __tablename__ = "family_doctor_contracts"
    __table_args__ = (
        CheckConstraint(_one_of("status", CONTRACT_STATUSES), name="status"),
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index(
            "uq_family_doctor_contracts_active",
            "person_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index(
            "uq_family_doctor_contracts_scheduled",
            "person_id",
            unique=True,
            postgresql_where=text("status = 'scheduled'"),
            sqlite_where=text("status = 'scheduled'"),
        ),
        UniqueConstraint("previous_id"),
        Index("ix_family_doctor_contracts_person_id_starts_on", "person_id", "starts_on"),
        Index("ix_family_doctor_contracts_region_code_status", "region_code", "status"),
        Index("ix_family_doctor_contracts_status_ends_on", "status", "ends_on"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str] = mapped_column(ForeignKey("family_doctor_teams.id"), index=True)
    package_code: Mapped[str] = mapped_column(String(32))
    term: Mapped[int] = mapped_column(Integer, default=1)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    previous_id: Mapped[str | None] = mapped_column(
        ForeignKey("family_doctor_contracts.id"), default=None
    )
    signed_by: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    terminated_by: Mapped[str | None] = mapped_column(String(64), default=None)
    termination_reason: Mapped[str | None] = mapped_column(EncryptedText, default=None)


class FollowUpTask(Base):
    """A follow-up due (随访任务): one person, one programme (hypertension, the elderly
    check-up …), one due date.

    Made by the schedule engine (:mod:`carematch.familydoctor.schedule`) under the person's
    contract; done when the follow-up is recorded, overdue once its day has passed. The id is
    derived from (person, programme, due date), and those three are unique, so no run of the
    schedule, however repeated or concurrent, makes a task twice.
    ``reminder_key`` is the dedupe key of the resident's ``followup_due`` reminder.
    """

    __tablename__ = "followup_tasks"
    __table_args__ = (
        UniqueConstraint("person_id", "program", "due_on"),
        CheckConstraint(_one_of("status", TASK_STATUSES), name="status"),
        CheckConstraint(
            "(status = 'done') = (done_on IS NOT NULL)", name="done_on_exactly_when_done"
        ),
        Index("ix_followup_tasks_person_id_program", "person_id", "program"),
        Index("ix_followup_tasks_status_due_on", "status", "due_on"),
        Index("ix_followup_tasks_region_code_status", "region_code", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    program: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date] = mapped_column(Date)
    contract_id: Mapped[str] = mapped_column(ForeignKey("family_doctor_contracts.id"), index=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("family_doctor_teams.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    every_months: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    done_on: Mapped[date | None] = mapped_column(Date, default=None)
    done_by: Mapped[str | None] = mapped_column(String(64), default=None)
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    reminder_key: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Referral(Base):
    """A two-way referral (双向转诊) between two providers of one medical community (县域医共体).

    ``from_region`` and ``to_region`` are the two providers' regions, copied when it is made:
    staff of either end see it (and its :class:`ReferralEvent` timeline). ``reason`` is clinical
    text and stored encrypted.
    """

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("from_provider_id <> to_provider_id", name="two_ends"),
        CheckConstraint(_one_of("direction", DIRECTIONS), name="direction"),
        CheckConstraint(_one_of("status", REFERRAL_STATUSES), name="status"),
        CheckConstraint(_one_of("urgency", URGENCIES), name="urgency"),
        Index("ix_referrals_from_region_created_at", "from_region", "created_at"),
        Index("ix_referrals_to_region_created_at", "to_region", "created_at"),
        Index("ix_referrals_person_id", "person_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    from_provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    to_provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    from_region: Mapped[str | None] = mapped_column(String(12), default=None)
    to_region: Mapped[str | None] = mapped_column(String(12), default=None)
    community_id: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    urgency: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReferralEvent(Base):
    """One step of a referral's timeline: the status it moved to, who moved it, when, and why."""

    __tablename__ = "referral_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)

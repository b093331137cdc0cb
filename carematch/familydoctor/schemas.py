"""API shapes of the family-doctor domain. Dates are city days (UTC+8); times are shown in
city time with the offset. Prices are yuan as decimal strings ("120.00")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from carematch.familydoctor.models import (
    FamilyDoctorContract,
    FollowUpTask,
)
from carematch.familydoctor.referrals import allowed_from
from carematch.familydoctor.schedule import Package
from carematch.familydoctor.service import (
    FollowUpDone,
    ReferralView,
    ScheduleSummary,
    TeamView,
    catalogue,
    contract_status,
    effective_status,
)
from carematch.providers.hours import CITY_TZ

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3}){0,2}$")]
Text = Annotated[str, StringConstraints(max_length=500)]
TeamRole = Literal[
    "general_practitioner",
    "village_doctor",
    "nurse",
    "public_health",
    "specialist",
    "pharmacist",
    "health_manager",
]
ContractStatus = Literal["scheduled", "active", "expired", "terminated"]
TaskStatus = Literal["pending", "overdue", "done", "cancelled"]
ReferralStatus = Literal["requested", "accepted", "rejected", "arrived", "completed", "returned"]
Urgency = Literal["routine", "urgent", "emergency"]
Direction = Literal["up", "down"]


def city_time(at: datetime | None) -> datetime | None:
    """A stored time in city time (SQLite returns UTC wall time without an offset)."""
    if at is None:
        return None
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return aware.astimezone(CITY_TZ)


# --- packages -------------------------------------------------------------------------------


class FollowUpRule(BaseModel):
    """A programme a package follows up, and how often, for whom it applies."""

    program: str
    name: str
    name_en: str
    every_months: int
    condition: str | None
    min_age: int | None
    max_age: int | None
    service: str


class EligibilityPublic(BaseModel):
    """Who may sign the package (every condition given must hold)."""

    min_age: int | None
    max_age: int | None
    sex: str | None
    conditions_any: list[str]


class PackagePublic(BaseModel):
    """A service package (服务包): the free basic one or a paid personalised one, per year."""

    id: str
    name: str
    name_en: str
    price: Decimal
    free: bool
    includes: str | None
    services: list[str]
    followups: list[FollowUpRule]
    eligibility: EligibilityPublic

    @classmethod
    def of(cls, package: Package) -> PackagePublic:
        programs = catalogue().programs
        return cls(
            id=package.code,
            name=package.name,
            name_en=package.name_en,
            price=package.price,
            free=package.free,
            includes=package.includes,
            services=list(package.services),
            followups=[
                FollowUpRule(
                    program=code,
                    name=programs[code].name,
                    name_en=programs[code].name_en,
                    every_months=every,
                    condition=programs[code].condition,
                    min_age=programs[code].min_age,
                    max_age=programs[code].max_age,
                    service=programs[code].service,
                )
                for code, every in package.followups.items()
            ],
            eligibility=EligibilityPublic(
                min_age=package.eligibility.min_age,
                max_age=package.eligibility.max_age,
                sex=package.eligibility.sex,
                conditions_any=list(package.eligibility.conditions_any),
            ),
        )


class PackagesPublic(BaseModel):
    items: list[PackagePublic]
    total: int
    limit: int
    offset: int


# --- teams ----------------------------------------------------------------------------------


class TeamCreate(BaseModel):
    """A team at a primary-care provider, led by a doctor who works there.

    ``area_code`` (the region whose residents may sign with it) defaults to the provider's
    street (a village clinic: its village)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    provider_id: Id
    lead_user_id: Id
    area_code: RegionCode | None = None


class MemberCreate(BaseModel):
    """Add a staff user working at the team's provider, in a team role."""

    user_id: Id
    team_role: TeamRole


class MemberPublic(BaseModel):
    user_id: str
    username: str
    team_role: str


class TeamPublic(BaseModel):
    """A family-doctor team (家庭医生团队) with its members (the lead among them)."""

    id: str
    name: str
    provider_id: str
    region_code: str | None
    area_code: str
    lead_user_id: str
    lead_username: str
    active: bool
    members: list[MemberPublic]
    created_at: datetime | None

    @classmethod
    def of(cls, view: TeamView) -> TeamPublic:
        team = view.team
        return cls(
            id=team.id,
            name=team.name,
            provider_id=team.provider_id,
            region_code=team.region_code,
            area_code=team.area_code,
            lead_user_id=team.lead_user_id,
            lead_username=view.lead_username,
            active=team.active,
            members=[
                MemberPublic(
                    user_id=m.member.user_id, username=m.username, team_role=m.member.team_role
                )
                for m in view.members
            ],
            created_at=city_time(team.created_at),
        )


class TeamsPublic(BaseModel):
    items: list[TeamPublic]
    total: int
    limit: int
    offset: int


# --- contracts ------------------------------------------------------------------------------


class ContractCreate(BaseModel):
    """Sign ``person_id`` with ``team_id`` under ``package`` for a year from ``starts_on``
    (default today; at most 31 days either side of today)."""

    person_id: Id
    team_id: Id
    package: Code
    starts_on: date | None = None


class ContractRenew(BaseModel):
    """Renew for the next year; the package and the team may change."""

    package: Code | None = None
    team_id: Id | None = None


class ContractTerminate(BaseModel):
    """End the contract early, saying why."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ContractPublic(BaseModel):
    """A family-doctor contract (签约): one person, one team, one package, one year."""

    id: str
    person_id: str
    team_id: str
    package: str
    term: int
    starts_on: date
    ends_on: date
    status: str
    price: Decimal
    channel: str
    previous_id: str | None
    signed_by: str
    signed_at: datetime | None
    terminated_at: datetime | None
    termination_reason: str | None

    @classmethod
    def of(cls, contract: FamilyDoctorContract) -> ContractPublic:
        return cls(
            id=contract.id,
            person_id=contract.person_id,
            team_id=contract.team_id,
            package=contract.package_code,
            term=contract.term,
            starts_on=contract.starts_on,
            ends_on=contract.ends_on,
            status=contract_status(contract),
            price=Decimal(contract.price).quantize(Decimal("0.01")),
            channel=contract.channel,
            previous_id=contract.previous_id,
            signed_by=contract.signed_by,
            signed_at=city_time(contract.signed_at),
            terminated_at=city_time(contract.terminated_at),
            termination_reason=contract.termination_reason,
        )


class ContractsPublic(BaseModel):
    items: list[ContractPublic]
    total: int
    limit: int
    offset: int


# --- follow-up tasks ------------------------------------------------------------------------


class FollowUpRecord(BaseModel):
    """The follow-up was done on ``done_on`` (default today), with an optional note."""

    done_on: date | None = None
    note: Text | None = None


class TaskPublic(BaseModel):
    """A follow-up task (随访任务); ``status`` as of today (pending past due reads overdue)."""

    id: str
    person_id: str
    program: str
    program_name: str
    program_name_en: str
    due_on: date
    status: str
    every_months: int
    contract_id: str
    team_id: str
    done_on: date | None
    done_by: str | None
    note: str | None

    @classmethod
    def of(cls, task: FollowUpTask) -> TaskPublic:
        program = catalogue().programs.get(task.program)
        return cls(
            id=task.id,
            person_id=task.person_id,
            program=task.program,
            program_name=program.name if program else task.program,
            program_name_en=program.name_en if program else task.program,
            due_on=task.due_on,
            status=effective_status(task),
            every_months=task.every_months,
            contract_id=task.contract_id,
            team_id=task.team_id,
            done_on=task.done_on,
            done_by=task.done_by,
            note=task.note,
        )


class TasksPublic(BaseModel):
    items: list[TaskPublic]
    total: int
    limit: int
    offset: int


class FollowUpDonePublic(BaseModel):
    """The task now done, and the next one the schedule made (null after the term's last)."""

    task: TaskPublic
    next_task: TaskPublic | None

    @classmethod
    def of(cls, done: FollowUpDone) -> FollowUpDonePublic:
        return cls(
            task=TaskPublic.of(done.task),
            next_task=TaskPublic.of(done.next_task) if done.next_task else None,
        )


class RefreshPublic(BaseModel):
    """What a run of the follow-up schedule did in the caller's jurisdiction."""

    contracts: int
    created: int
    cancelled: int
    overdue: int
    expired: int
    activated: int

    @classmethod
    def of(cls, summary: ScheduleSummary) -> RefreshPublic:
        return cls(**summary.as_dict())


# --- referrals ------------------------------------------------------------------------------


class ReferralCreate(BaseModel):
    """Refer ``person_id`` from a provider of the caller's jurisdiction to another level of the
    same medical community."""

    person_id: Id
    from_provider_id: Id
    to_provider_id: Id
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    urgency: Urgency = "routine"


class ReferralMove(BaseModel):
    """Move the referral to ``status`` (receiving end); rejected and returned need a note."""

    status: ReferralStatus
    note: Text | None = None


class ReferralEventPublic(BaseModel):
    status: str
    actor: str
    at: datetime | None
    note: str | None


class ReferralPublic(BaseModel):
    """A two-way referral (双向转诊) with its timeline and the moves it allows next."""

    id: str
    person_id: str
    from_provider_id: str
    to_provider_id: str
    direction: str
    urgency: str
    reason: str
    status: str
    allowed: list[str]
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    events: list[ReferralEventPublic]

    @classmethod
    def of(cls, view: ReferralView) -> ReferralPublic:
        r = view.referral
        return cls(
            id=r.id,
            person_id=r.person_id,
            from_provider_id=r.from_provider_id,
            to_provider_id=r.to_provider_id,
            direction=r.direction,
            urgency=r.urgency,
            reason=r.reason,
            status=r.status,
            allowed=list(allowed_from(r.status)),
            created_by=r.created_by,
            created_at=city_time(r.created_at),
            updated_at=city_time(r.updated_at),
            events=[
                ReferralEventPublic(status=e.status, actor=e.actor, at=city_time(e.at), note=e.note)
                for e in view.events
            ],
        )


class ReferralsPublic(BaseModel):
    items: list[ReferralPublic]
    total: int
    limit: int
    offset: int

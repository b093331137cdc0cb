"""Use cases of the family-doctor domain: teams, signing and renewal, follow-up tasks, referral.

Who may do what (the endpoint admits the roles; these functions apply the scope):

- **Officials** make teams at primary-care providers of their jurisdiction and name their
  members; **officials and doctors** sign persons of their jurisdiction with a team that serves
  the person's community, renew and terminate their contracts, record follow-ups and refer.
- A **resident** signs for themselves with a team serving their community, renews or ends
  their own contract, and sees their own contracts, tasks and referrals.
- Anything outside the caller's scope is "not found" (404), never "forbidden", so records of
  other districts stay unknown. A referral is the exception that proves the rule: it is seen
  by staff of *either* end, and only the receiving end answers it (403 for the sending end,
  which can see it).

Every change is audited (:mod:`carematch.security.audit`) without names or clinical text.
Services flush and never commit: the edge (endpoint, job) owns the transaction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.core.clock import city_today, utcnow
from carematch.core.ids import new_id, stable_id
from carematch.core.logging import get_logger
from carematch.familydoctor import repository
from carematch.familydoctor.errors import (
    AlreadySigned,
    ContractNotFound,
    ContractStateConflict,
    InvalidContract,
    InvalidFollowUp,
    InvalidReferral,
    InvalidTeam,
    MemberConflict,
    NotEligible,
    NotReceivingEnd,
    PackageNotFound,
    ReferralNotFound,
    ReferralStateConflict,
    ResidentNotLinked,
    TaskNotFound,
    TaskStateConflict,
    TeamNotFound,
    UserNotFound,
)
from carematch.familydoctor.models import (
    TEAM_ROLES,
    FamilyDoctorContract,
    FamilyDoctorTeam,
    FamilyDoctorTeamMember,
    FollowUpTask,
    Referral,
    ReferralEvent,
)
from carematch.familydoctor.referrals import (
    REQUESTED,
    URGENCIES,
    TransitionRefused,
    check_transition,
    community_root,
    direction,
)
from carematch.familydoctor.schedule import (
    Catalogue,
    Package,
    PersonFacts,
    TaskState,
    Term,
    default_catalogue,
    is_overdue,
    plan_next,
    reminder_day,
)
from carematch.identity.errors import PersonNotFound
from carematch.identity.service import visible_person
from carematch.providers.errors import ProviderNotFound
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix, within
from carematch.security.models import STAFF_ROLES

if TYPE_CHECKING:
    from carematch.identity.models import Person

log = get_logger("familydoctor")

# Ids are short printable tokens; anything else cannot exist and is not looked up (a NUL byte
# would otherwise reach PostgreSQL and fail there).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REGION_PATTERN = re.compile(r"^\d{6}(\d{3}){0,2}$")
# Primary-care providers a family-doctor team works from (家庭医生 are primary care).
TEAM_PROVIDER_KINDS = ("community_health_centre", "township_hospital", "village_clinic")
# A signing may be dated this far either side of today (a paper form entered late, a term
# agreed to start next month); a renewal may be made this long before its term ends.
SIGNING_WINDOW = timedelta(days=31)
RENEWAL_WINDOW = timedelta(days=60)
MAX_TEXT = 500
REMINDER_HOUR = time(9, 0)
BATCH = 500


def catalogue() -> Catalogue:
    """The packages and follow-up programmes (``packages.yaml``)."""
    return default_catalogue()


def _checked_id(value: str, error: type[Exception], what: str) -> str:
    if not ID_PATTERN.match(value):
        raise error(f"no {what} {value!r}")
    return value


def _is_resident(principal: Principal) -> bool:
    return principal.role == "resident"


def _scope(principal: Principal) -> str | None:
    """The region prefix staff are limited to; None for admin (and residents, who are scoped
    to their own person instead)."""
    jurisdiction = None if _is_resident(principal) else principal.jurisdiction
    return region_prefix(jurisdiction) if jurisdiction else None


def _own_person(principal: Principal) -> str:
    if principal.person_id is None:
        raise ResidentNotLinked("this account is not linked to a person record")
    return principal.person_id


def _text(value: str | None, what: str, *, required: bool) -> str | None:
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise InvalidContract(f"{what} is required")
    if len(cleaned) > MAX_TEXT:
        raise InvalidContract(f"{what}: at most {MAX_TEXT} characters")
    return cleaned or None


def acting_person(session: Session, principal: Principal, person_id: str) -> Person:
    """The person the principal acts for: a resident only themselves, staff within their
    jurisdiction.

    Raises:
        PersonNotFound: no such person, or not the principal's to act for.
    """
    _checked_id(person_id, PersonNotFound, "person")
    if _is_resident(principal) and person_id != _own_person(principal):
        raise PersonNotFound(f"no person {person_id}")
    return visible_person(session, principal, person_id)


def person_facts(
    session: Session, person_ids: Sequence[str], as_of: date
) -> dict[str, PersonFacts]:
    """Age, sex, conditions and the EHR's last chronic follow-up of each person, from the
    profiling features (the same view the demand tags read). A person the features do not
    know gets empty facts: no condition, no age."""
    from carematch.profiling.service import features_for

    if not person_ids:
        return {}
    table = features_for(session, list(person_ids), as_of)
    rows = table.select(["person_id", "age", "sex", "conditions", "last_followup"]).to_pylist()
    facts = {
        row["person_id"]: PersonFacts(
            age=row["age"],
            sex=row["sex"],
            conditions=frozenset(row["conditions"] or ()),
            last_followup=row["last_followup"],
        )
        for row in rows
    }
    return {pid: facts.get(pid, PersonFacts()) for pid in person_ids}


# --- packages -------------------------------------------------------------------------------


def list_packages() -> list[Package]:
    """Every package, the free basic one first, as the file lists them."""
    return list(catalogue().packages.values())


def get_package(code: str) -> Package:
    """One package by code.

    Raises:
        PackageNotFound: no such package.
    """
    found = catalogue().packages.get(code)
    if found is None:
        raise PackageNotFound(f"no package {code!r}")
    return found


# --- teams ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberView:
    """A team member with their username."""

    member: FamilyDoctorTeamMember
    username: str


@dataclass(frozen=True)
class TeamView:
    """A team with its members (the lead among them) and the lead's username."""

    team: FamilyDoctorTeam
    lead_username: str
    members: list[MemberView] = field(default_factory=list)


def _team_views(session: Session, teams: Sequence[FamilyDoctorTeam]) -> list[TeamView]:
    members = repository.members_of(session, [t.id for t in teams])
    names = repository.usernames(
        session,
        [t.lead_user_id for t in teams] + [m.user_id for ms in members.values() for m in ms],
    )
    return [
        TeamView(
            team=t,
            lead_username=names.get(t.lead_user_id, ""),
            members=[MemberView(m, names.get(m.user_id, "")) for m in members.get(t.id, [])],
        )
        for t in teams
    ]


def _sees_team(principal: Principal, team: FamilyDoctorTeam) -> bool:
    return principal.can_see(team.region_code) or principal.can_see(team.area_code)


def _serves(team: FamilyDoctorTeam, community_code: str | None) -> bool:
    """True when the team's area contains the community."""
    return bool(community_code) and within(community_code, team.area_code)


def _resident_areas(community_code: str | None) -> list[str]:
    """The region codes whose area contains a community: itself and every level above."""
    if not community_code:
        return []
    c = community_code
    codes = {c, c[:9], c[:6], c[:4] + "00", c[:2] + "0000"}
    return sorted(code for code in codes if REGION_PATTERN.match(code))


def visible_team(session: Session, principal: Principal, team_id: str) -> TeamView:
    """A team the principal may see: staff by its provider's or area's region; a resident when
    it serves their community.

    Raises:
        TeamNotFound: no such team, or not the principal's to see.
    """
    _checked_id(team_id, TeamNotFound, "team")
    team = repository.get_team(session, team_id)
    if team is None:
        raise TeamNotFound(f"no team {team_id}")
    if _is_resident(principal):
        person = acting_person(session, principal, _own_person(principal))
        if not _serves(team, person.community_code):
            raise TeamNotFound(f"no team {team_id}")
    elif not _sees_team(principal, team):
        raise TeamNotFound(f"no team {team_id}")
    return _team_views(session, [team])[0]


def _staff_user(
    session: Session, user_id: str, provider_region: str | None, *, roles: Iterable[str]
) -> Any:
    """An active staff user of one of ``roles`` whose jurisdiction covers the provider."""
    _checked_id(user_id, UserNotFound, "user")
    user = repository.get_user(session, user_id)
    allowed = set(roles)
    if (
        user is None
        or not user.active
        or user.role not in allowed
        or not user.region_code
        or not within(provider_region, user.region_code)
    ):
        raise UserNotFound(
            f"no active {' or '.join(sorted(allowed))} {user_id} working at the team's provider"
        )
    return user


def create_team(
    session: Session,
    principal: Principal,
    *,
    name: str,
    provider_id: str,
    lead_user_id: str,
    area_code: str | None = None,
) -> TeamView:
    """A family-doctor team at a primary-care provider of the caller's jurisdiction, led by a
    doctor who works there; the lead is its first member (general practitioner).

    ``area_code`` (the region whose residents may sign with it) defaults to the provider's
    street for a community health centre or township hospital, to its village for a village
    clinic; it must lie in the caller's jurisdiction.

    Raises:
        ProviderNotFound: no such provider, or outside the jurisdiction.
        InvalidTeam: not a primary-care provider, inactive, or a bad area.
        UserNotFound: the lead is not an active doctor covering the provider.
    """
    from carematch.providers.service import get_provider

    _checked_id(provider_id, ProviderNotFound, "provider")
    provider = get_provider(session, provider_id).provider
    if not principal.can_see(provider.region_code):
        raise ProviderNotFound(f"no provider {provider_id}")
    if provider.kind not in TEAM_PROVIDER_KINDS:
        raise InvalidTeam(
            f"a {provider.kind} does not host family-doctor teams; "
            f"providers: {', '.join(TEAM_PROVIDER_KINDS)}"
        )
    if not provider.active:
        raise InvalidTeam(f"provider {provider_id} is not active")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidTeam("a team's name has 1 to 200 characters")
    if area_code is None:
        if not provider.region_code:
            raise InvalidTeam("the provider has no region: give the team's area_code")
        code = provider.region_code
        area_code = code if provider.kind == "village_clinic" or len(code) < 12 else code[:9]
    if not REGION_PATTERN.match(area_code):
        raise InvalidTeam(f"not a region code: {area_code!r}")
    if len(area_code) == 6 and region_prefix(area_code) != area_code:
        raise InvalidTeam("a team serves a district, street or village, not a whole city")
    if not principal.can_see(area_code):
        raise InvalidTeam(f"area {area_code} lies outside your jurisdiction")
    lead = _staff_user(session, lead_user_id, provider.region_code, roles=("doctor",))
    now = utcnow()
    team = FamilyDoctorTeam(
        id=new_id(),
        name=name,
        provider_id=provider.id,
        region_code=provider.region_code,
        area_code=area_code,
        lead_user_id=lead.id,
        active=True,
        created_by=principal.username,
        created_at=now,
    )
    repository.add(session, team)
    repository.add(
        session,
        FamilyDoctorTeamMember(
            team_id=team.id,
            user_id=lead.id,
            team_role="general_practitioner",
            added_by=principal.username,
            added_at=now,
        ),
    )
    audit.record(
        session,
        actor=principal.username,
        action="create_family_doctor_team",
        entity="family_doctor_team",
        entity_id=team.id,
        detail={"provider": provider.id, "area": area_code, "lead": lead.id},
    )
    return _team_views(session, [team])[0]


def list_teams(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    provider_id: str | None = None,
) -> tuple[int, list[TeamView]]:
    """Teams by name: staff those of their jurisdiction; a resident the active teams serving
    their community (the ones they may sign with)."""
    if _is_resident(principal):
        person = acting_person(session, principal, _own_person(principal))
        total, teams = repository.list_teams(
            session,
            limit=limit,
            offset=offset,
            area_codes=_resident_areas(person.community_code),
            provider_id=provider_id,
            active=True,
        )
    else:
        total, teams = repository.list_teams(
            session,
            limit=limit,
            offset=offset,
            region_prefix=_scope(principal),
            provider_id=provider_id,
        )
    return total, _team_views(session, teams)


def add_member(
    session: Session, principal: Principal, team_id: str, *, user_id: str, team_role: str
) -> TeamView:
    """Add a staff user working at the team's provider, in a team role (nurse, pharmacist …).

    Raises:
        TeamNotFound, UserNotFound, InvalidTeam (unknown role), MemberConflict (a member).
    """
    view = visible_team(session, principal, team_id)
    if team_role not in TEAM_ROLES:
        raise InvalidTeam(f"unknown team role {team_role!r}; roles: {', '.join(TEAM_ROLES)}")
    user = _staff_user(session, user_id, view.team.region_code, roles=STAFF_ROLES)
    if repository.get_member(session, team_id, user.id) is not None:
        raise MemberConflict(f"user {user.id} is a member of team {team_id} already")
    try:
        with session.begin_nested():
            repository.add(
                session,
                FamilyDoctorTeamMember(
                    team_id=team_id,
                    user_id=user.id,
                    team_role=team_role,
                    added_by=principal.username,
                    added_at=utcnow(),
                ),
            )
    except IntegrityError as exc:  # the same member added by a concurrent request
        raise MemberConflict(f"user {user.id} is a member of team {team_id} already") from exc
    audit.record(
        session,
        actor=principal.username,
        action="add_team_member",
        entity="family_doctor_team",
        entity_id=team_id,
        detail={"user": user.id, "team_role": team_role},
    )
    return _team_views(session, [view.team])[0]


def remove_member(session: Session, principal: Principal, team_id: str, user_id: str) -> TeamView:
    """Remove a member; the lead stays (name another team for another lead).

    Raises:
        TeamNotFound, MemberConflict (not a member, or the lead).
    """
    view = visible_team(session, principal, team_id)
    member = repository.get_member(session, team_id, user_id) if ID_PATTERN.match(user_id) else None
    if member is None:
        raise MemberConflict(f"user {user_id} is not a member of team {team_id}")
    if user_id == view.team.lead_user_id:
        raise MemberConflict("the team's lead cannot be removed")
    repository.delete_member(session, member)
    audit.record(
        session,
        actor=principal.username,
        action="remove_team_member",
        entity="family_doctor_team",
        entity_id=team_id,
        detail={"user": user_id},
    )
    return _team_views(session, [view.team])[0]


# --- contracts ------------------------------------------------------------------------------


def _contract_visible(principal: Principal, contract: FamilyDoctorContract) -> bool:
    if _is_resident(principal):
        return contract.person_id == principal.person_id
    return principal.can_see(contract.region_code)


def visible_contract(
    session: Session, principal: Principal, contract_id: str
) -> FamilyDoctorContract:
    """A contract the principal may see: a resident's own; staff's by the person's region.

    Raises:
        ContractNotFound: no such contract, or not the principal's to see.
    """
    _checked_id(contract_id, ContractNotFound, "contract")
    found = repository.get_contract(session, contract_id)
    if found is None or not _contract_visible(principal, found):
        raise ContractNotFound(f"no contract {contract_id}")
    return found


def _signing_team(
    session: Session, principal: Principal, team_id: str, person: Person
) -> FamilyDoctorTeam:
    team = visible_team(session, principal, team_id).team
    if not team.active:
        raise InvalidContract(f"team {team_id} no longer takes contracts")
    if not _serves(team, person.community_code):
        raise InvalidContract(f"team {team_id} does not serve the person's community")
    return team


def _check_eligible(session: Session, package: Package, person_id: str, today: date) -> None:
    if package.eligibility.refusal(PersonFacts()) is None:
        return  # open to everyone: no need to read the person's features
    facts = person_facts(session, [person_id], today)[person_id]
    refusal = package.eligibility.refusal(facts)
    if refusal is not None:
        raise NotEligible(f"{package.code}: {refusal}")


def _holds_contract(session: Session, person_id: str, today: date) -> FamilyDoctorContract | None:
    """The person's active or scheduled contract, after bringing statuses up to today."""
    repository.settle_contracts(session, today, person_id=person_id)
    for contract in repository.contracts_of_person(session, person_id):
        if contract.status in ("active", "scheduled"):
            return contract
    return None


def _insert_contract(session: Session, contract: FamilyDoctorContract) -> None:
    try:
        with session.begin_nested():
            repository.add(session, contract)
    except IntegrityError as exc:  # a concurrent signing or renewal got there first
        raise AlreadySigned(
            "the person signed, or this contract was renewed, by another request just now"
        ) from exc


def sign(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    team_id: str,
    package_code: str,
    starts_on: date | None = None,
    today: date | None = None,
) -> FamilyDoctorContract:
    """Sign a person with a family-doctor team under a package, for one year (签约).

    Staff sign persons of their jurisdiction; a resident signs themselves. The team must
    serve the person's community; a paid package's eligibility is checked against the
    person's features today. A contract starting today is active (and its follow-up tasks are
    made at once); one dated later is scheduled.

    Raises:
        PersonNotFound, TeamNotFound, PackageNotFound,
        InvalidContract: the team does not serve the person, or the date is too far off,
        NotEligible: the package is not for this person,
        AlreadySigned: the person holds an active or scheduled contract.
    """
    today = today or city_today()
    person = acting_person(session, principal, person_id)
    package = get_package(package_code)
    team = _signing_team(session, principal, team_id, person)
    starts_on = starts_on or today
    if abs(starts_on - today) > SIGNING_WINDOW:
        raise InvalidContract(
            f"a contract starts within {SIGNING_WINDOW.days} days of today, not {starts_on}"
        )
    if _holds_contract(session, person.id, today) is not None:
        raise AlreadySigned(f"person {person.id} already holds a family-doctor contract")
    _check_eligible(session, package, person.id, today)
    term = Term.of_year(starts_on)
    contract = FamilyDoctorContract(
        id=new_id(),
        person_id=person.id,
        team_id=team.id,
        package_code=package.code,
        term=1,
        starts_on=term.starts_on,
        ends_on=term.ends_on,
        status="active" if term.starts_on <= today else "scheduled",
        price=package.price,
        region_code=person.community_code,
        channel="self" if _is_resident(principal) else "staff",
        signed_by=principal.username,
        signed_at=utcnow(),
    )
    _insert_contract(session, contract)
    audit.record(
        session,
        actor=principal.username,
        action="sign_family_doctor_contract",
        entity="family_doctor_contract",
        entity_id=contract.id,
        detail={
            "person": person.id,
            "team": team.id,
            "package": package.code,
            "starts_on": contract.starts_on.isoformat(),
            "channel": contract.channel,
        },
    )
    if contract.status == "active":
        schedule_contracts(session, [contract], today)
    return contract


def renew(
    session: Session,
    principal: Principal,
    contract_id: str,
    *,
    package_code: str | None = None,
    team_id: str | None = None,
    today: date | None = None,
) -> FamilyDoctorContract:
    """Renew a contract for the next year (续约), with the same or another package and team.

    An active contract may be renewed in the last 60 days of its term: the renewal starts the
    day after it ends (scheduled until then). An expired one may be renewed while the person
    holds no other contract: the new term starts today. A terminated one cannot be renewed
    (sign anew), and a contract is renewed once.

    Raises:
        ContractNotFound, TeamNotFound, PackageNotFound, InvalidContract, NotEligible,
        ContractStateConflict: terminated, scheduled, renewed already, or too early.
    """
    today = today or city_today()
    old = visible_contract(session, principal, contract_id)
    repository.settle_contracts(session, today, person_id=old.person_id)
    old = visible_contract(session, principal, contract_id)
    if old.status not in ("active", "expired"):
        raise ContractStateConflict(
            f"a {old.status} contract cannot be renewed"
            + ("; sign a new one" if old.status == "terminated" else "")
        )
    if repository.successor_of(session, old.id) is not None:
        raise ContractStateConflict(f"contract {old.id} has been renewed already")
    if old.status == "active":
        opens = old.ends_on - RENEWAL_WINDOW
        if today < opens:
            raise ContractStateConflict(
                f"contract {old.id} can be renewed from {opens.isoformat()}"
            )
        starts_on = old.ends_on + timedelta(days=1)
    else:
        held = _holds_contract(session, old.person_id, today)
        if held is not None:
            raise AlreadySigned(f"person {old.person_id} holds contract {held.id} already")
        starts_on = max(today, old.ends_on + timedelta(days=1))
    person = acting_person(session, principal, old.person_id)
    package = get_package(package_code or old.package_code)
    team = _signing_team(session, principal, team_id or old.team_id, person)
    _check_eligible(session, package, person.id, today)
    term = Term.of_year(starts_on)
    contract = FamilyDoctorContract(
        id=new_id(),
        person_id=person.id,
        team_id=team.id,
        package_code=package.code,
        term=old.term + 1,
        starts_on=term.starts_on,
        ends_on=term.ends_on,
        status="active" if term.starts_on <= today else "scheduled",
        price=package.price,
        region_code=person.community_code,
        channel="self" if _is_resident(principal) else "staff",
        previous_id=old.id,
        signed_by=principal.username,
        signed_at=utcnow(),
    )
    _insert_contract(session, contract)
    audit.record(
        session,
        actor=principal.username,
        action="renew_family_doctor_contract",
        entity="family_doctor_contract",
        entity_id=contract.id,
        detail={
            "person": person.id,
            "previous": old.id,
            "team": team.id,
            "package": package.code,
            "term": contract.term,
        },
    )
    if contract.status == "active":
        schedule_contracts(session, [contract], today)
    return contract


def terminate(
    session: Session,
    principal: Principal,
    contract_id: str,
    *,
    reason: str,
    today: date | None = None,
) -> FamilyDoctorContract:
    """End a contract early (解约), with its scheduled renewal if any; the person's open
    follow-up tasks are cancelled and their reminders withdrawn.

    Raises:
        ContractNotFound, InvalidContract (no reason),
        ContractStateConflict: the contract has expired or ended already.
    """
    from carematch.notifications.service import cancel

    today = today or city_today()
    contract = visible_contract(session, principal, contract_id)
    cleaned = _text(reason, "reason", required=True)
    assert cleaned is not None
    repository.settle_contracts(session, today, person_id=contract.person_id)
    now = utcnow()
    if not repository.end_contract(
        session, contract.id, now=now, actor=principal.username, reason=cleaned
    ):
        current = repository.get_contract(session, contract.id)
        status = current.status if current else "gone"
        raise ContractStateConflict(f"a {status} contract cannot be terminated")
    successor = repository.successor_of(session, contract.id)
    if successor is not None:
        repository.end_contract(
            session, successor.id, now=now, actor=principal.username, reason=cleaned
        )
    for key in repository.cancel_open_tasks(session, contract.person_id, now=now):
        if key:
            cancel(session, key)
    audit.record(
        session,
        actor=principal.username,
        action="terminate_family_doctor_contract",
        entity="family_doctor_contract",
        entity_id=contract.id,
        detail={"person": contract.person_id, "renewal_ended": successor is not None},
    )
    ended = repository.get_contract(session, contract.id)
    assert ended is not None
    return ended


def list_contracts(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    person_id: str | None = None,
    team_id: str | None = None,
    status: str | None = None,
    today: date | None = None,
) -> tuple[int, list[FamilyDoctorContract]]:
    """Contracts, newest term first: a resident's own; staff's by the persons' region.

    Read-only: ``status`` filters by the status as of today (see :func:`contract_status`)."""
    persons: list[str] | None = None
    if _is_resident(principal):
        persons = [_own_person(principal)]
        if person_id is not None and person_id != persons[0]:
            return 0, []
    elif person_id is not None:
        persons = [person_id]
    return repository.list_contracts(
        session,
        limit=limit,
        offset=offset,
        today=today or city_today(),
        region_prefix=_scope(principal),
        person_ids=persons,
        team_id=team_id,
        status=status,
    )


def contract_status(contract: FamilyDoctorContract, today: date | None = None) -> str:
    """A contract's status as of today, whether or not a sweep has stored it: an active term
    past its end is expired; a scheduled one that has begun is active."""
    today = today or city_today()
    if contract.status in ("active", "scheduled"):
        if contract.ends_on < today:
            return "expired"
        if contract.starts_on <= today:
            return "active"
    return contract.status


def signed_persons(
    session: Session, person_ids: Sequence[str] | None = None, on: date | None = None
) -> set[str]:
    """Persons who hold a family-doctor contract covering ``on`` (default today).

    For profiling's ``signed_family_doctor`` feature: a signed contract counts as well as the
    EHR's flag. Reads by the contract dates, so it needs no sweep to be up to date.
    """
    return repository.signed_persons(session, on or city_today(), person_ids)


@dataclass(frozen=True)
class ResponsibleDoctor:
    """Who answers for a person's care: the lead doctor of the team holding their contract."""

    user_id: str
    team_id: str
    contract_id: str


def responsible_doctor(
    session: Session, person_id: str, on: date | None = None
) -> ResponsibleDoctor | None:
    """The person's responsible family doctor on ``on`` (default today), or None unsigned.

    For chronic monitoring's alerts (carematch.monitoring): the lead of the team whose
    contract covers the day (by its dates, like :func:`signed_persons`).
    """
    day = on or city_today()
    for contract in repository.contracts_of_person(session, person_id):
        if contract.status in ("active", "scheduled") and (
            contract.starts_on <= day <= contract.ends_on
        ):
            team = repository.get_team(session, contract.team_id)
            if team is not None:
                return ResponsibleDoctor(team.lead_user_id, team.id, contract.id)
    return None


# --- follow-up tasks ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSummary:
    """What a run of the follow-up schedule did."""

    contracts: int = 0
    created: int = 0
    cancelled: int = 0
    overdue: int = 0
    expired: int = 0
    activated: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "contracts": self.contracts,
            "created": self.created,
            "cancelled": self.cancelled,
            "overdue": self.overdue,
            "expired": self.expired,
            "activated": self.activated,
        }


def _reminder_at(due_on: date) -> datetime:
    """When the resident is reminded: 09:00 city time a week before the due date."""
    return datetime.combine(reminder_day(due_on), REMINDER_HOUR, CITY_TZ).astimezone(UTC)


def _remind(
    session: Session, task_id: str, person_id: str, program: str, due_on: date, team: str, key: str
) -> None:
    from carematch.notifications.outbox import Recipient
    from carematch.notifications.service import enqueue

    enqueue(
        session,
        recipient=Recipient.person(person_id),
        channel="inbox",
        template="followup_due",
        params={
            "program": catalogue().programs[program].name,
            "due_date": due_on.isoformat(),
            "team": team,
        },
        due_at=_reminder_at(due_on),
        dedupe_key=key,
    )


def _create_task(
    session: Session,
    contract: FamilyDoctorContract,
    program: str,
    every: int,
    due_on: date,
    today: date,
    team_name: str,
) -> bool:
    """Store one planned task and enqueue its reminder; False when it existed (a concurrent
    run made it)."""
    task_id = stable_id("FT", contract.person_id, program, due_on.isoformat())
    status = "overdue" if is_overdue(due_on, today) else "pending"
    values: dict[str, Any] = {
        "contract_id": contract.id,
        "team_id": contract.team_id,
        "region_code": contract.region_code,
        "every_months": every,
        "status": status,
        "done_on": None,
        "done_by": None,
        "note": None,
        "changed_at": None,
    }
    key = f"followup:{task_id}"
    created = repository.insert_task(
        session,
        {
            "id": task_id,
            "person_id": contract.person_id,
            "program": program,
            "due_on": due_on,
            "reminder_key": key,
            "created_at": utcnow(),
            **values,
        },
    )
    if not created:
        # A task cancelled earlier (a terminated contract) is asked for again: open it anew,
        # with a fresh reminder (the old one is cancelled, and its key used).
        key = f"followup:{task_id}:{new_id()[:12]}"
        if not repository.reopen_task(session, task_id, {**values, "reminder_key": key}):
            return False
    _remind(session, task_id, contract.person_id, program, due_on, team_name, key)
    return True


def schedule_contracts(
    session: Session,
    contracts: Sequence[FamilyDoctorContract],
    today: date,
    facts: dict[str, PersonFacts] | None = None,
) -> tuple[int, int]:
    """Make the next follow-up task of every programme that applies to each contract's person
    under its package, and cancel open tasks of programmes that no longer apply.

    Returns (created, cancelled). Idempotent: a second run creates nothing (each programme's
    task is open) — see :func:`carematch.familydoctor.schedule.plan_next`.
    """
    from carematch.notifications.service import cancel

    if not contracts:
        return 0, 0
    persons = [c.person_id for c in contracts]
    facts = facts if facts is not None else person_facts(session, persons, today)
    tasks: dict[tuple[str, str], list[TaskState]] = defaultdict(list)
    for task in repository.tasks_of(session, persons):
        tasks[(task.person_id, task.program)].append(TaskState(task.due_on, task.done_on))
    teams = repository.teams_by_id(session, [c.team_id for c in contracts])
    book = catalogue()
    created = cancelled = 0
    now = utcnow()
    for contract in contracts:
        package = book.packages.get(contract.package_code)
        if package is None:  # a package withdrawn from the file: keep what exists
            log.warning("unknown_package", contract=contract.id, package=contract.package_code)
            continue
        person_facts_ = facts.get(contract.person_id, PersonFacts())
        programs = book.schedule_for(package, person_facts_)
        for key in repository.cancel_open_tasks(
            session, contract.person_id, now=now, keep=list(programs)
        ):
            cancelled += 1
            if key:
                cancel(session, key)
        term = Term(contract.starts_on, contract.ends_on)
        for program, every in programs.items():
            outside = person_facts_.last_followup if book.programs[program].chronic else None
            due = plan_next(term, every, tasks[(contract.person_id, program)], outside)
            if due is None:
                continue
            team = teams.get(contract.team_id)
            if _create_task(
                session, contract, program, every, due, today, team.name if team else ""
            ):
                created += 1
                tasks[(contract.person_id, program)].append(TaskState(due))
    return created, cancelled


def refresh_tasks(
    session: Session, principal: Principal | None, *, today: date | None = None
) -> ScheduleSummary:
    """The follow-up sweep over the caller's jurisdiction (everything for admin or a job):
    contract statuses brought up to today, overdue tasks marked, and the next task of each
    programme made for every active contract — in batches of 500 contracts.

    Idempotent: a second run on the same day changes nothing.
    """
    today = today or city_today()
    prefix = _scope(principal) if principal is not None else None
    expired, activated = repository.settle_contracts(session, today, region_prefix=prefix)
    seen = created = cancelled = 0
    after = ""
    while True:
        page = repository.active_contracts_after(session, after, BATCH, prefix)
        if not page:
            break
        made, dropped = schedule_contracts(session, page, today)
        seen, created, cancelled = seen + len(page), created + made, cancelled + dropped
        after = page[-1].id
    overdue = repository.mark_overdue(session, today, prefix)
    summary = ScheduleSummary(seen, created, cancelled, overdue, expired, activated)
    audit.record(
        session,
        actor=principal.username if principal else "system",
        action="refresh_followup_tasks",
        entity="followup_tasks",
        entity_id=prefix or "*",
        detail={"on": today.isoformat(), **summary.as_dict()},
    )
    return summary


def _task_visible(principal: Principal, task: FollowUpTask) -> bool:
    if _is_resident(principal):
        return task.person_id == principal.person_id
    return principal.can_see(task.region_code)


def visible_task(session: Session, principal: Principal, task_id: str) -> FollowUpTask:
    """A task the principal may see: a resident's own; staff's by the person's region.

    Raises:
        TaskNotFound: no such task, or not the principal's to see.
    """
    _checked_id(task_id, TaskNotFound, "task")
    task = repository.get_task(session, task_id)
    if task is None or not _task_visible(principal, task):
        raise TaskNotFound(f"no follow-up task {task_id}")
    return task


@dataclass(frozen=True)
class FollowUpDone:
    """A task marked done, and the next one the schedule made (None after the term's last)."""

    task: FollowUpTask
    next_task: FollowUpTask | None


def record_followup(
    session: Session,
    principal: Principal,
    task_id: str,
    *,
    done_on: date | None = None,
    note: str | None = None,
    today: date | None = None,
) -> FollowUpDone:
    """Record the follow-up a task asked for: the task is done, its reminder withdrawn if not
    yet sent, and the programme's next task made under the person's active contract.

    Raises:
        TaskNotFound,
        InvalidFollowUp: dated in the future, or before the last follow-up of the programme,
        TaskStateConflict: the task is done or cancelled already.
    """
    from carematch.notifications.service import cancel

    today = today or city_today()
    task = visible_task(session, principal, task_id)
    done_on = done_on or today
    if done_on > today:
        raise InvalidFollowUp(f"a follow-up on {done_on} has not happened yet")
    earlier = [
        t.done_on
        for t in repository.tasks_of(session, [task.person_id], task.program)
        if t.done_on is not None
    ]
    if earlier and done_on < max(earlier):
        raise InvalidFollowUp(f"the last {task.program} follow-up was on {max(earlier)}")
    cleaned = (note or "").strip() or None
    if cleaned is not None and len(cleaned) > MAX_TEXT:
        raise InvalidFollowUp(f"note: at most {MAX_TEXT} characters")
    if not repository.complete_task(
        session, task.id, done_on=done_on, actor=principal.username, note=cleaned, now=utcnow()
    ):
        raise TaskStateConflict(f"follow-up task {task.id} is {task.status}, not open")
    if task.reminder_key:
        cancel(session, task.reminder_key)
    audit.record(
        session,
        actor=principal.username,
        action="record_followup",
        entity="followup_task",
        entity_id=task.id,
        detail={"person": task.person_id, "program": task.program, "on": done_on.isoformat()},
    )
    next_task = _schedule_next(session, task.person_id, task.program, today)
    done = repository.get_task(session, task.id)
    assert done is not None
    return FollowUpDone(done, next_task)


def _schedule_next(
    session: Session, person_id: str, program: str, today: date
) -> FollowUpTask | None:
    """The programme's next task under the person's active contract, if its package has it."""
    contract = _holds_contract(session, person_id, today)
    if contract is None or contract.status != "active":
        return None
    package = catalogue().packages.get(contract.package_code)
    every = package.followups.get(program) if package else None
    if every is None:
        return None
    states = [
        TaskState(t.due_on, t.done_on) for t in repository.tasks_of(session, [person_id], program)
    ]
    due = plan_next(Term(contract.starts_on, contract.ends_on), every, states)
    if due is None:
        return None
    team = repository.get_team(session, contract.team_id)
    _create_task(session, contract, program, every, due, today, team.name if team else "")
    return repository.get_task(session, stable_id("FT", person_id, program, due.isoformat()))


def list_tasks(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    person_id: str | None = None,
    team_id: str | None = None,
    program: str | None = None,
    status: str | None = None,
    due_before: date | None = None,
    today: date | None = None,
) -> tuple[int, list[FollowUpTask]]:
    """Follow-up tasks, earliest due first: a resident's own; staff's by the person's region."""
    persons: list[str] | None = None
    if _is_resident(principal):
        persons = [_own_person(principal)]
        if person_id is not None and person_id != persons[0]:
            return 0, []
    elif person_id is not None:
        persons = [person_id]
    return repository.list_tasks(
        session,
        limit=limit,
        offset=offset,
        today=today or city_today(),
        region_prefix=_scope(principal),
        person_ids=persons,
        team_id=team_id,
        program=program,
        status=status,
        due_before=due_before,
    )


def effective_status(task: FollowUpTask, today: date | None = None) -> str:
    """A task's status as of today: pending past its due date reads overdue."""
    if task.status == "pending" and is_overdue(task.due_on, today or city_today()):
        return "overdue"
    return task.status


# --- referrals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralView:
    """A referral with its timeline."""

    referral: Referral
    events: list[ReferralEvent]


def _referral_visible(principal: Principal, referral: Referral) -> bool:
    if _is_resident(principal):
        return referral.person_id == principal.person_id
    return principal.can_see(referral.from_region) or principal.can_see(referral.to_region)


def visible_referral(session: Session, principal: Principal, referral_id: str) -> ReferralView:
    """A referral the principal may see: staff of either end; the resident referred.

    Raises:
        ReferralNotFound: no such referral, or not the principal's to see.
    """
    _checked_id(referral_id, ReferralNotFound, "referral")
    found = repository.get_referral(session, referral_id)
    if found is None or not _referral_visible(principal, found):
        raise ReferralNotFound(f"no referral {referral_id}")
    return ReferralView(found, repository.events_of(session, [found.id]).get(found.id, []))


def _parent_of(session: Session) -> Any:
    from carematch.providers.service import get_provider

    def parent_of(provider_id: str) -> str | None:
        try:
            return get_provider(session, provider_id).provider.parent_id or None
        except ProviderNotFound:
            return None

    return parent_of


def refer(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    from_provider_id: str,
    to_provider_id: str,
    reason: str,
    urgency: str = "routine",
) -> ReferralView:
    """Refer a person from a provider of the caller's jurisdiction to another level of the same
    medical community: upward to the county hospital, downward back to primary care.

    Raises:
        PersonNotFound, ProviderNotFound (the sending end outside the jurisdiction, or either
        end unknown), InvalidReferral (see :mod:`carematch.familydoctor.referrals`).
    """
    from carematch.providers.service import get_provider

    if urgency not in URGENCIES:
        raise InvalidReferral(f"urgency is one of {', '.join(URGENCIES)}")
    cleaned = (reason or "").strip()
    if not cleaned or len(cleaned) > MAX_TEXT:
        raise InvalidReferral(f"a reason of 1 to {MAX_TEXT} characters is required")
    person = acting_person(session, principal, person_id)
    _checked_id(from_provider_id, ProviderNotFound, "provider")
    _checked_id(to_provider_id, ProviderNotFound, "provider")
    source = get_provider(session, from_provider_id).provider
    if not principal.can_see(source.region_code):
        raise ProviderNotFound(f"no provider {from_provider_id}")
    target = get_provider(session, to_provider_id).provider
    if source.id == target.id:
        raise InvalidReferral("a referral goes to another provider")
    if not target.active:
        raise InvalidReferral(f"provider {target.id} is not active")
    try:
        way = direction(source.kind, target.kind)
        parent_of = _parent_of(session)
        root = community_root(source.id, parent_of)
        if community_root(target.id, parent_of) != root:
            raise InvalidReferral(
                "the two providers belong to different medical communities (县域医共体)"
            )
    except ValueError as exc:
        raise InvalidReferral(str(exc)) from exc
    now = utcnow()
    referral = Referral(
        id=new_id(),
        person_id=person.id,
        from_provider_id=source.id,
        to_provider_id=target.id,
        from_region=source.region_code,
        to_region=target.region_code,
        community_id=root,
        direction=way,
        urgency=urgency,
        reason=cleaned,
        status=REQUESTED,
        created_by=principal.username,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, referral)
    repository.add(
        session,
        ReferralEvent(referral_id=referral.id, status=REQUESTED, actor=principal.username, at=now),
    )
    audit.record(
        session,
        actor=principal.username,
        action="create_referral",
        entity="referral",
        entity_id=referral.id,
        detail={
            "person": person.id,
            "from": source.id,
            "to": target.id,
            "direction": way,
            "urgency": urgency,
        },
    )
    return visible_referral(session, principal, referral.id)


def move_referral(
    session: Session,
    principal: Principal,
    referral_id: str,
    *,
    status: str,
    note: str | None = None,
) -> ReferralView:
    """Answer a referral at the receiving end: accept or reject it, record the patient's
    arrival, complete it or return the patient (回转).

    Raises:
        ReferralNotFound: neither end is the caller's,
        NotReceivingEnd: the caller is staff of the sending end only,
        ReferralStateConflict (409): the state machine does not allow the move (listing what
            it allows), or another request moved the referral first.
    """
    view = visible_referral(session, principal, referral_id)
    referral = view.referral
    if _is_resident(principal) or not principal.can_see(referral.to_region):
        raise NotReceivingEnd("only staff of the receiving provider answer a referral")
    cleaned = (note or "").strip() or None
    if cleaned is not None and len(cleaned) > MAX_TEXT:
        raise InvalidReferral(f"note: at most {MAX_TEXT} characters")
    try:
        check_transition(referral.status, status, cleaned)
    except TransitionRefused as exc:
        raise ReferralStateConflict(str(exc), current=exc.current, allowed=exc.allowed) from exc
    now = utcnow()
    if not repository.move_referral(
        session, referral.id, current=referral.status, target=status, now=now
    ):
        fresh = repository.get_referral(session, referral.id)
        current = fresh.status if fresh else referral.status
        raise ReferralStateConflict(
            f"the referral was moved to {current} by another request",
            current=current,
            allowed=(),
        )
    repository.add(
        session,
        ReferralEvent(
            referral_id=referral.id, status=status, actor=principal.username, at=now, note=cleaned
        ),
    )
    audit.record(
        session,
        actor=principal.username,
        action="move_referral",
        entity="referral",
        entity_id=referral.id,
        detail={"from": view.referral.status, "to": status},
    )
    return visible_referral(session, principal, referral.id)


def list_referrals(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    person_id: str | None = None,
    provider_id: str | None = None,
    status: str | None = None,
    direction: str | None = None,
) -> tuple[int, list[ReferralView]]:
    """Referrals, newest first: staff see those with either end in their jurisdiction; a
    resident their own."""
    persons: list[str] | None = None
    if _is_resident(principal):
        persons = [_own_person(principal)]
        if person_id is not None and person_id != persons[0]:
            return 0, []
    elif person_id is not None:
        persons = [person_id]
    total, rows = repository.list_referrals(
        session,
        limit=limit,
        offset=offset,
        region_prefix=_scope(principal),
        person_ids=persons,
        provider_id=provider_id,
        status=status,
        direction=direction,
    )
    events = repository.events_of(session, [r.id for r in rows])
    return total, [ReferralView(r, events.get(r.id, [])) for r in rows]

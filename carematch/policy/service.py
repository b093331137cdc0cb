"""Use cases of the policy domain: versions of policies, and a person's policies.

The library in force on a day is the packaged library with each policy replaced by its stored
version in force that day (and policies that exist only as stored versions added). Services
flush; the edge (CLI command, endpoint) commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from carematch.booking.service import own_persons
from carematch.core.clock import today
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id
from carematch.identity.errors import PersonNotFound
from carematch.policy.eligibility import PolicyVerdict, person_verdicts
from carematch.policy.errors import PolicyLibraryError, PolicyVersionConflict
from carematch.policy.library import (
    Policy,
    PolicyLibrary,
    check_policy,
    default_library,
    feature_dictionary,
)
from carematch.policy.models import PolicyVersion
from carematch.policy.search import PolicyHit, search_policies
from carematch.profiling.service import person_profile
from carematch.providers.catalogue import service_catalogue
from carematch.security import audit
from carematch.security.authz import Principal

EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)
"""The evaluation days a person's policies may be asked for."""


def _checked(definition: Mapping[str, Any]) -> Policy:
    policy, problems = check_policy(
        dict(definition),
        feature_dictionary(),
        service_catalogue(),
        label=str(definition.get("id", "(new)")),
    )
    if problems or policy is None:
        raise PolicyLibraryError(problems)
    return policy


def add_version(
    session: Session,
    definition: Mapping[str, Any],
    effective_from: date,
    actor: str,
    note: str | None = None,
) -> PolicyVersion:
    """Store a new version of a policy, in force from ``effective_from``; keep the old ones.

    The definition is checked exactly as a library file's entry is. The latest version is
    closed the day the new one starts.

    Raises:
        PolicyLibraryError: the definition is not a valid policy (names the policy and field).
        PolicyVersionConflict: the new version does not start after the latest one starts.
    """
    policy = _checked(definition)
    latest = session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.policy_id == policy.id)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    ).first()
    if latest is not None:
        if effective_from <= latest.effective_from:
            raise PolicyVersionConflict(
                f"policy {policy.id}: a new version must start after "
                f"{latest.effective_from.isoformat()}, when version {latest.version} starts"
            )
        if latest.effective_to is None or latest.effective_to > effective_from:
            latest.effective_to = effective_from
    row = PolicyVersion(
        id=new_id(),
        policy_id=policy.id,
        version=(latest.version + 1) if latest else 1,
        effective_from=effective_from,
        effective_to=None,
        definition=json.dumps(policy.as_dict(), ensure_ascii=False, sort_keys=True),
        note=note,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="policy_version_added",
        entity="policy",
        entity_id=policy.id,
        detail={"version": row.version, "effective_from": effective_from.isoformat()},
    )
    return row


def versions(session: Session, policy_id: str) -> list[PolicyVersion]:
    """Every stored version of a policy, oldest first."""
    return list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.policy_id == policy_id)
            .order_by(PolicyVersion.version)
        )
    )


def library_on(session: Session, day: date, base: PolicyLibrary | None = None) -> PolicyLibrary:
    """The library in force on ``day``: the packaged one with stored versions applied."""
    base = base or default_library()
    rows = session.scalars(
        select(PolicyVersion)
        .where(
            PolicyVersion.effective_from <= day,
            or_(PolicyVersion.effective_to.is_(None), PolicyVersion.effective_to > day),
        )
        .order_by(PolicyVersion.policy_id)
    ).all()
    if not rows:
        return base
    return base.replaced(_checked(json.loads(row.definition)) for row in rows)


@dataclass
class PersonPolicies:
    """A person's verdict on every policy in force, eligible ones first."""

    person_id: str
    as_of: date
    verdicts: list[PolicyVerdict]


def person_policies(
    session: Session, principal: Principal, person_id: str, as_of: date | None = None
) -> PersonPolicies:
    """Every policy's verdict for a person in the database, with why (the read is audited).

    Residents see themselves and their registered dependants; staff the persons of their
    jurisdiction (404 otherwise, as for every person read). The features are the person's
    profile, computed online by the same pipeline as the batch.

    Raises:
        InvalidInput: ``as_of`` outside 1900..2100.
        PersonNotFound: no such person, or not one the principal may see.
    """
    day = as_of or today()
    if not EARLIEST <= day <= LATEST:
        # Ages and due dates are computed from it; a day near year 1 or 9999 overflows them.
        raise InvalidInput(
            f"as_of must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
        )
    if principal.role == "resident" and person_id not in own_persons(session, principal):
        raise PersonNotFound(f"no person {person_id}")
    profile = person_profile(session, principal, person_id, day)
    values = dict(profile.features)
    conditions = [str(c) for c in (values.pop("conditions", None) or []) if c is not None]
    library = library_on(session, day)
    return PersonPolicies(person_id, day, person_verdicts(library, values, conditions, day))


@dataclass
class PolicySearch:
    """A question's answer: the policies best first; for a known asker, eligible ones first."""

    q: str
    person_id: str | None
    hits: list[PolicyHit]
    library: PolicyLibrary


def search(
    session: Session,
    principal: Principal,
    q: str,
    top: int = 5,
    person_id: str | None = None,
    as_of: date | None = None,
) -> PolicySearch:
    """Answer a question in everyday Chinese against the library in force.

    With ``person_id`` (a resident's own self by default) the asker's eligibility reorders the
    answer and says why for the others; the person is read as :func:`person_policies` reads
    them (same access rules, 404 outside them) and the use is audited.

    Raises:
        InvalidInput: ``as_of`` outside 1900..2100.
        PersonNotFound: the person is not one the principal may see.
    """
    day = as_of or today()
    if person_id is None and principal.role == "resident":
        person_id = principal.person_id
    if person_id is None:
        if not EARLIEST <= day <= LATEST:
            raise InvalidInput(
                f"as_of must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
            )
        library = library_on(session, day)
        return PolicySearch(q, None, search_policies(library, q, top), library)
    found = person_policies(session, principal, person_id, day)
    library = library_on(session, day)
    verdicts = {v.policy.id: v for v in found.verdicts}
    audit.record(
        session,
        actor=principal.username,
        action="policy_search_for_person",
        entity="person",
        entity_id=person_id,
        detail={"as_of": day.isoformat()},
    )
    return PolicySearch(q, person_id, search_policies(library, q, top, verdicts), library)

"""Outreach to lapsed children (追踪补种): contact outcomes, the reason each child lapsed, a
catch-up reminder through the outbox, and a summary of lapse reasons per community.

Only a child the forecaster finds overdue (status ``overdue`` in some series) can be contacted
here: the read of the forecast is audited like every person read. "Will come" schedules a
reminder to the child's inbox (read by the guardian) a few days later, once per contact.
Services flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput
from carematch.core.ids import new_id
from carematch.notifications import service as notifications
from carematch.notifications.outbox import Recipient
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix
from carematch.vaccination.safety_models import CONTACT_OUTCOMES, LAPSE_REASONS, OutreachContact
from carematch.vaccination.service import person_forecast

REMIND_AFTER = {"will_come": timedelta(days=3)}
"""Which outcomes schedule a catch-up reminder, and how many days after the contact."""
REMIND_AT = time(9, 0)
DEFAULT_SITE = "社区预防接种门诊"
"""Where the reminder asks the family to come when the caller names no site."""


class NothingOverdue(Conflict):
    """The child has no overdue dose: there is nobody to chase."""

    type = "/problems/nothing-overdue"
    title = "No overdue doses"


def reminder_key(contact_id: str) -> str:
    """The outbox key of one contact's catch-up reminder."""
    return f"vaccination-outreach:{contact_id}"


def reminder_time(outcome: str, contacted_at: datetime) -> datetime | None:
    """When a contact with ``outcome`` at ``contacted_at`` reminds: N days later at 09:00 city
    time; None for outcomes that remind nobody."""
    after = REMIND_AFTER.get(outcome)
    if after is None:
        return None
    day = contacted_at.astimezone(CITY_TZ).date() + after
    return datetime.combine(day, REMIND_AT, CITY_TZ).astimezone(UTC)


def record_contact(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    outcome: str,
    reason: str | None,
    note: str | None = None,
    site: str | None = None,
    now: datetime | None = None,
) -> OutreachContact:
    """Record one contact with a lapsed child's family.

    Raises:
        PersonNotFound: outside the caller's jurisdiction (404).
        BirthDateUnknown: no date of birth, so no forecast (409).
        NothingOverdue: no series is overdue (409).
        InvalidInput: an unknown outcome or reason (400).
    """
    if outcome not in CONTACT_OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(CONTACT_OUTCOMES)}")
    if reason is not None and reason not in LAPSE_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(LAPSE_REASONS)}")
    now = now or utcnow()
    result = person_forecast(session, principal, person_id, now.astimezone(CITY_TZ).date())
    overdue = result.forecast.doses_overdue
    if overdue == 0:
        raise NothingOverdue(f"person {person_id} has no overdue dose")
    from carematch.identity.service import visible_person

    person = visible_person(session, principal, person_id)
    contact = OutreachContact(
        id=new_id(),
        person_id=person.id,
        community_code=person.community_code,
        outcome=outcome,
        reason=reason,
        note=(note or "").strip() or None,
        doses_overdue=overdue,
        contacted_by=principal.username,
        contacted_at=now,
    )
    remind_at = reminder_time(outcome, now)
    if remind_at is not None:
        contact.remind_at = remind_at
        contact.reminder_key = reminder_key(contact.id)
        notifications.enqueue(
            session,
            recipient=Recipient.person(person.id),
            channel="inbox",
            template="vaccination_outreach",
            params={"count": overdue, "site": (site or "").strip() or DEFAULT_SITE},
            due_at=remind_at,
            dedupe_key=contact.reminder_key,
        )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="outreach_contact",
        entity="person",
        entity_id=person.id,
        detail={"contact": contact.id, "outcome": outcome, "reason": reason},
    )
    return contact


@dataclass
class LapseSummary:
    """Lapsed children contacted in one community, by the reason they lapsed and by the last
    contact's outcome (each child counted once, by their latest contact)."""

    community_code: str | None
    children: int
    reasons: dict[str, int]
    outcomes: dict[str, int]


def lapse_summary(
    session: Session, principal: Principal, community: str | None = None
) -> list[LapseSummary]:
    """Lapse reasons per community of the caller's jurisdiction (optionally one community or
    area prefix), from each child's latest contact."""
    where: list[Any] = []
    if principal.jurisdiction is not None:
        where.append(
            OutreachContact.community_code.startswith(
                region_prefix(principal.jurisdiction), autoescape=True
            )
        )
    if community:
        where.append(OutreachContact.community_code.startswith(community, autoescape=True))
    latest = (
        select(
            OutreachContact.person_id,
            func.max(OutreachContact.contacted_at).label("at"),
        )
        .where(*where)
        .group_by(OutreachContact.person_id)
        .subquery()
    )
    rows = session.execute(
        select(OutreachContact.community_code, OutreachContact.reason, OutreachContact.outcome)
        .join(
            latest,
            (latest.c.person_id == OutreachContact.person_id)
            & (latest.c.at == OutreachContact.contacted_at),
        )
        .order_by(OutreachContact.community_code)
    ).all()
    by: dict[str | None, LapseSummary] = {}
    for code, reason, outcome in rows:
        summary = by.setdefault(code, LapseSummary(code, 0, {}, {}))
        summary.children += 1
        key = reason or "unknown"
        summary.reasons[key] = summary.reasons.get(key, 0) + 1
        summary.outcomes[outcome] = summary.outcomes.get(outcome, 0) + 1
    audit.record(
        session,
        actor=principal.username,
        action="lapse_summary",
        entity="outreach",
        entity_id=community or "*",
        detail={"communities": len(by)},
    )
    return list(by.values())

"""Policy hearings (政策需求听证会, R-PL-4): consult residents on a draft policy, answer each
opinion, publish the result.

The flow: an official opens a hearing on a draft policy (checked exactly like a library entry)
for a consultation period and an area; residents of the area give one opinion each through
the portal, and staff record opinions gathered offline (a meeting, a phone call, a letter) with
their channel; officials mark each opinion adopted or not adopted, and **not adopted requires a
reason**; the hearing closes only when every opinion is answered, and its result is public at
``/hearings/{id}``: counts, each opinion without its author, each decision and reason.

Every step is audited (opened, opinion added, decided, closed). Services flush; the edge
commits.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.core.clock import city_today, utcnow
from carematch.core.ids import new_id
from carematch.policy.errors import PolicyLibraryError
from carematch.policy.governance_errors import (
    HearingClosed,
    HearingInputRejected,
    HearingNotFound,
    NotConsulted,
    OpinionAlreadyGiven,
    OpinionNotFound,
    ReasonRequired,
    UnansweredOpinions,
)
from carematch.policy.hearing_models import (
    DECISIONS,
    OPINION_CHANNELS,
    HearingOpinion,
    PolicyHearing,
)
from carematch.policy.library import Policy, check_policy, feature_dictionary
from carematch.providers.catalogue import service_catalogue
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import within

MAX_OPINION = 2000
"""The longest opinion, in characters (a page of text; longer belongs in an attachment)."""
MAX_REASON = 2000
MAX_SUMMARY = 4000
MAX_PERIOD_DAYS = 366
OFFLINE_CHANNELS = tuple(c for c in OPINION_CHANNELS if c != "portal")
STAFF_RECORDERS = ("official", "grid_worker", "admin")

# Digit runs long enough to be a phone or an ID number, and e-mail addresses: the public page
# shows opinions without their author, so what identifies someone inside the text goes too.
_IDENTIFYING = re.compile(
    r"[0-9０-９]{6,}[0-9０-９Xx]?|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
)


def checked_draft(definition: Any) -> Policy:
    """A draft policy checked exactly as a library entry (same messages: policy and field).

    Raises:
        PolicyLibraryError: the draft is not a valid policy.
    """
    if not isinstance(definition, Mapping):
        raise HearingInputRejected("the draft must be a policy (a mapping in the library format)")
    policy, problems = check_policy(
        dict(definition),
        feature_dictionary(),
        service_catalogue(),
        label=str(definition.get("id", "(draft)")),
    )
    if problems or policy is None:
        raise PolicyLibraryError(problems)
    return policy


def clean_text(value: Any, what: str, limit: int, *, required: bool = True) -> str:
    """Text from a form or payload: normalised, control characters removed, length-limited.

    Raises:
        HearingInputRejected: not text, empty when required, or longer than ``limit``.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise HearingInputRejected(f"{what} must be text")
    text = unicodedata.normalize("NFC", value)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if required and not text:
        raise HearingInputRejected(f"{what} is empty")
    if len(text) > limit:
        raise HearingInputRejected(f"{what} is {len(text)} characters long; at most {limit}")
    return text


def anonymised(text: str) -> str:
    """An opinion's text as the public page shows it: phone numbers, ID numbers, e-mails masked."""
    return _IDENTIFYING.sub("***", text)


def _in_scope(principal: Principal, hearing: PolicyHearing) -> bool:
    # Staff see the hearings of their area: a city-wide one from a district is visible too,
    # since the district's residents are consulted.
    if principal.jurisdiction is None:
        return True
    region = hearing.region_code
    return (
        region is None
        or within(region, principal.jurisdiction)
        or (principal.jurisdiction.startswith(region))
    )


def _manages(principal: Principal, hearing: PolicyHearing) -> bool:
    """Deciding and closing belong to officials whose jurisdiction holds the whole area."""
    if principal.jurisdiction is None:
        return True
    return hearing.region_code is not None and within(hearing.region_code, principal.jurisdiction)


def get_hearing(session: Session, hearing_id: str) -> PolicyHearing:
    """A hearing by id (public: its draft and result are published).

    Raises:
        HearingNotFound: no such hearing.
    """
    hearing = session.get(PolicyHearing, hearing_id)
    if hearing is None:
        raise HearingNotFound(f"no hearing {hearing_id}")
    return hearing


def staff_hearing(session: Session, principal: Principal, hearing_id: str) -> PolicyHearing:
    """A hearing a staff member may work on (404 outside the jurisdiction)."""
    hearing = session.get(PolicyHearing, hearing_id)
    if hearing is None or not _in_scope(principal, hearing):
        raise HearingNotFound(f"no hearing {hearing_id}")
    return hearing


def draft_of(hearing: PolicyHearing) -> dict[str, Any]:
    """The hearing's draft policy in the library's format."""
    data: dict[str, Any] = json.loads(hearing.definition)
    return data


def open_hearing(
    session: Session,
    principal: Principal,
    definition: Any,
    closes_on: date,
    *,
    summary: str = "",
    opens_on: date | None = None,
    region: str | None = None,
) -> PolicyHearing:
    """Open a hearing on a draft policy for a consultation period and area (audited).

    ``region`` defaults to the official's jurisdiction and must lie inside it.

    Raises:
        PolicyLibraryError: the draft is not a valid policy (names the policy and field).
        HearingInputRejected: a period that ends before it starts, in the past, or too long;
            an area outside the jurisdiction.
    """
    policy = checked_draft(definition)
    text = clean_text(summary, "the summary", MAX_SUMMARY, required=False)
    start = opens_on or city_today()
    if closes_on < start:
        raise HearingInputRejected("the consultation must close on or after the day it opens")
    if closes_on < city_today():
        raise HearingInputRejected("the consultation period is already over")
    if (closes_on - start) > timedelta(days=MAX_PERIOD_DAYS):
        raise HearingInputRejected(f"a consultation lasts at most {MAX_PERIOD_DAYS} days")
    area = (region or "").strip() or principal.region_code
    if area is not None and (not area.isdigit() or not 6 <= len(area) <= 12):
        raise HearingInputRejected(f"{area!r} is not a region code")
    if principal.jurisdiction is not None and not within(area, principal.jurisdiction):
        raise HearingInputRejected("the consulted area must lie inside your jurisdiction")
    # The title is stored as a column of its own: control characters go (PostgreSQL refuses
    # a NUL in text), and it must fit.
    title = clean_text(policy.title, "the draft's title", 200)
    hearing = PolicyHearing(
        id=new_id(),
        policy_id=policy.id,
        title=title,
        summary=text,
        definition=json.dumps(policy.as_dict(), ensure_ascii=False, sort_keys=True),
        region_code=area,
        opens_on=start,
        closes_on=closes_on,
        status="open",
        opened_by=principal.username,
    )
    session.add(hearing)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="hearing_opened",
        entity="policy_hearing",
        entity_id=hearing.id,
        detail={"policy": policy.id, "closes_on": closes_on.isoformat(), "region": area},
    )
    return hearing


def list_hearings(
    session: Session, principal: Principal | None = None, *, status: str | None = None
) -> list[PolicyHearing]:
    """Hearings, newest first: all of them for the public, the jurisdiction's for staff."""
    stmt = select(PolicyHearing).order_by(PolicyHearing.opened_at.desc(), PolicyHearing.id)
    if status:
        stmt = stmt.where(PolicyHearing.status == status)
    rows = list(session.scalars(stmt))
    if principal is not None:
        rows = [h for h in rows if _in_scope(principal, h)]
    return rows


def _person_area(session: Session, principal: Principal, person_id: str) -> str | None:
    from carematch.identity.service import visible_person

    return visible_person(session, principal, person_id).community_code


def _next_seq(session: Session, hearing_id: str) -> int:
    top = session.scalar(
        select(func.max(HearingOpinion.seq)).where(HearingOpinion.hearing_id == hearing_id)
    )
    return int(top or 0) + 1


def own_opinion(session: Session, hearing_id: str, person_id: str) -> HearingOpinion | None:
    """The opinion a resident gave on a hearing, if any."""
    return session.scalars(
        select(HearingOpinion).where(
            HearingOpinion.hearing_id == hearing_id, HearingOpinion.person_id == person_id
        )
    ).first()


def submit_opinion(
    session: Session,
    principal: Principal,
    hearing_id: str,
    text: Any,
    *,
    channel: str | None = None,
) -> HearingOpinion:
    """Add an opinion: a resident's own through the portal, or staff's gathered offline.

    A resident gives one opinion per hearing, while the consultation is open, and only when
    living in the consulted area. Staff record opinions with their channel (meeting, phone,
    letter, visit).

    Raises:
        HearingNotFound, HearingClosed, OpinionAlreadyGiven, NotConsulted,
        HearingInputRejected: empty or too long text, an unknown channel.
    """
    body = clean_text(text, "the opinion", MAX_OPINION)
    resident = principal.role == "resident"
    hearing = (
        get_hearing(session, hearing_id)
        if resident
        else staff_hearing(session, principal, hearing_id)
    )
    today = city_today()
    if hearing.status != "open" or today > hearing.closes_on:
        raise HearingClosed("the consultation is over; opinions are no longer taken")
    if today < hearing.opens_on:
        raise HearingClosed(f"the consultation opens on {hearing.opens_on.isoformat()}")
    person_id: str | None = None
    if resident:
        if channel not in (None, "portal"):
            raise HearingInputRejected("residents give their opinion through the portal")
        channel = "portal"
        if not principal.person_id:
            raise NotConsulted("your account is not linked to a resident record")
        person_id = principal.person_id
        area = _person_area(session, principal, person_id)
        if hearing.region_code and not within(area, hearing.region_code):
            raise NotConsulted("this hearing consults the residents of another area")
        if own_opinion(session, hearing.id, person_id) is not None:
            raise OpinionAlreadyGiven("you have already given your opinion on this hearing")
    elif channel not in OFFLINE_CHANNELS:
        raise HearingInputRejected(
            f"an opinion gathered offline needs its channel: one of {', '.join(OFFLINE_CHANNELS)}"
        )
    opinion = HearingOpinion(
        id=new_id(),
        hearing_id=hearing.id,
        seq=_next_seq(session, hearing.id),
        person_id=person_id,
        channel=str(channel),
        text=body,
        submitted_by=principal.username,
    )
    try:
        with session.begin_nested():
            session.add(opinion)
            session.flush()
    except IntegrityError:
        # Two submissions racing: the unique (hearing, person) key keeps the first.
        raise OpinionAlreadyGiven("you have already given your opinion on this hearing") from None
    audit.record(
        session,
        actor=principal.username,
        action="hearing_opinion_added",
        entity="policy_hearing",
        entity_id=hearing.id,
        detail={"opinion": opinion.id, "seq": opinion.seq, "channel": opinion.channel},
    )
    return opinion


def opinions(session: Session, hearing_id: str) -> list[HearingOpinion]:
    """A hearing's opinions in the order they came."""
    return list(
        session.scalars(
            select(HearingOpinion)
            .where(HearingOpinion.hearing_id == hearing_id)
            .order_by(HearingOpinion.seq)
        )
    )


def check_decision(decision: Any, reason: Any) -> tuple[str, str | None]:
    """A decision and its reason as stored; not adopted without a reason is refused.

    Raises:
        HearingInputRejected: a decision other than adopted / not_adopted.
        ReasonRequired: not adopted with an empty reason.
    """
    if decision not in DECISIONS:
        raise HearingInputRejected("the decision is adopted or not_adopted")
    text = clean_text(reason, "the reason", MAX_REASON, required=False)
    if decision == "not_adopted" and not text:
        raise ReasonRequired("an opinion that is not adopted needs the reason why")
    return str(decision), text or None


def decide(
    session: Session,
    principal: Principal,
    hearing_id: str,
    opinion_id: str,
    decision: Any,
    reason: Any = None,
) -> HearingOpinion:
    """Mark an opinion adopted or not adopted (with its reason); audited. May be revised until
    the hearing closes.

    Raises:
        HearingNotFound, OpinionNotFound, HearingClosed, ReasonRequired, HearingInputRejected.
    """
    hearing = staff_hearing(session, principal, hearing_id)
    if not _manages(principal, hearing):
        raise HearingNotFound(f"no hearing {hearing_id}")
    opinion = session.get(HearingOpinion, opinion_id)
    if opinion is None or opinion.hearing_id != hearing.id:
        raise OpinionNotFound(f"no opinion {opinion_id} on hearing {hearing_id}")
    if hearing.status != "open":
        raise HearingClosed("the hearing is closed; its decisions are final")
    chosen, why = check_decision(decision, reason)
    opinion.decision, opinion.reason = chosen, why
    opinion.decided_by, opinion.decided_at = principal.username, utcnow()
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="hearing_opinion_decided",
        entity="policy_hearing",
        entity_id=hearing.id,
        detail={"opinion": opinion.id, "seq": opinion.seq, "decision": chosen},
    )
    return opinion


def close_hearing(session: Session, principal: Principal, hearing_id: str) -> PolicyHearing:
    """Close a hearing and publish its result; every opinion must be answered first (audited).

    Raises:
        HearingNotFound, HearingClosed, UnansweredOpinions.
    """
    hearing = staff_hearing(session, principal, hearing_id)
    if not _manages(principal, hearing):
        raise HearingNotFound(f"no hearing {hearing_id}")
    if hearing.status != "open":
        raise HearingClosed("the hearing is already closed")
    waiting = [o.seq for o in opinions(session, hearing.id) if o.decision is None]
    if waiting:
        numbers = ", ".join(f"#{n}" for n in waiting[:20])
        raise UnansweredOpinions(
            f"{len(waiting)} opinion(s) not yet answered: {numbers}", unanswered=waiting
        )
    hearing.status = "closed"
    hearing.closed_by, hearing.closed_at = principal.username, utcnow()
    session.flush()
    counts = result_counts(session, hearing.id)
    audit.record(
        session,
        actor=principal.username,
        action="hearing_closed",
        entity="policy_hearing",
        entity_id=hearing.id,
        detail=counts,
    )
    return hearing


def result_counts(session: Session, hearing_id: str) -> dict[str, int]:
    """Opinions in all, adopted, not adopted and not yet answered."""
    rows = opinions(session, hearing_id)
    return {
        "opinions": len(rows),
        "adopted": sum(o.decision == "adopted" for o in rows),
        "not_adopted": sum(o.decision == "not_adopted" for o in rows),
        "unanswered": sum(o.decision is None for o in rows),
    }


@dataclass(frozen=True)
class PublicOpinion:
    """An opinion as published: its number, channel, masked text, decision and reason."""

    seq: int
    channel: str
    text: str
    decision: str | None
    reason: str | None


@dataclass(frozen=True)
class HearingResult:
    """A hearing as the public sees it; opinions only once it is closed."""

    hearing: PolicyHearing
    draft: dict[str, Any]
    counts: dict[str, int]
    opinions: list[PublicOpinion]


def public_result(session: Session, hearing_id: str) -> HearingResult:
    """The published hearing: the draft, the counts and, once closed, every opinion without
    its author (identifying numbers masked) with its decision and reason."""
    hearing = get_hearing(session, hearing_id)
    rows = opinions(session, hearing.id) if hearing.status == "closed" else []
    published = [
        PublicOpinion(o.seq, o.channel, anonymised(o.text), o.decision, o.reason) for o in rows
    ]
    return HearingResult(hearing, draft_of(hearing), result_counts(session, hearing.id), published)

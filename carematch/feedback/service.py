"""Use cases of the feedback domain: complaints, the rectification ledger, low-rating flags and
the public progress board (公示).

Who may do what:

- a resident files a complaint in their own name (web or WeChat) and sees only their own;
- any staff member registers a complaint from any channel (a hotline operator, a grid worker
  at a door); the complaint goes to the region that must handle it — the provider's — even
  when that is outside the registrar's own district (转办);
- officials handle complaints in their jurisdiction (the complaint's region), open findings
  and ledger items there, verify closures and recompute flags;
- doctors (the providers' side) read ledger items in their jurisdiction and report progress
  and evidence;
- everyone reads the board, which carries no personal data.

Outside the caller's jurisdiction a complaint or an item is "not found" (404), so its
existence is not revealed. Every change is audited. Services flush; the edge commits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carematch.booking import ratings as booking_ratings
from carematch.core import clock
from carematch.core.clock import city_today
from carematch.core.errors import CareMatchError, Forbidden, InvalidInput
from carematch.core.ids import new_id
from carematch.feedback import repository
from carematch.feedback.complaints import (
    CHANNELS,
    FINDING_STATUSES,
    RESIDENT_CHANNELS,
    STATUSES,
    TERMINAL,
    TransitionRefused,
    check_transition,
    is_overdue,
)
from carematch.feedback.deadlines import Category, category_table, due_at
from carematch.feedback.errors import (
    ComplaintNotFound,
    ComplaintStateConflict,
    InvalidComplaint,
    InvalidFlagRule,
    InvalidRectification,
    OutsideJurisdiction,
    RectificationNotFound,
    RectificationStateConflict,
    ResidentNotLinked,
)
from carematch.feedback.flags import (
    LowRatingRule,
    LowRatingRun,
    PeriodMean,
    low_rating_runs,
    means_from_month_totals,
    period_end,
)
from carematch.feedback.ledger import (
    UNFINISHED,
    ItemChangeRefused,
    check_item_change,
    on_time_rate,
    shown_status,
)
from carematch.feedback.models import (
    Complaint,
    ComplaintEvent,
    Finding,
    ProviderFlag,
    RectificationItem,
)
from carematch.identity.errors import PersonNotFound
from carematch.identity.service import visible_person
from carematch.providers import service as providers
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix

# Every row id of this domain is new_id(): 32 hex digits.
ROW_ID = re.compile(r"^[0-9a-f]{32}$")
# Receipt times and deadlines outside these years are typos (and would overflow date maths).
YEARS = (2000, 2100)
# A clock a few minutes fast at a hotline desk must not make its complaints "from the future".
CLOCK_SKEW = timedelta(minutes=5)
# How far ahead a rectification deadline may be set: longer is a plan, not a rectification.
MAX_DEADLINE_DAYS = 2 * 366
MAX_ITEMS_PER_FINDING = 20
# Roles that handle complaints and verify closures.
HANDLERS = frozenset({"official", "admin"})


# --- time ----------------------------------------------------------------------------------


def as_utc(at: datetime) -> datetime:
    """A stored time as aware UTC (SQLite returns the UTC wall time without an offset)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def city_time(at: datetime) -> datetime:
    """A stored time in city time (UTC+8), for display."""
    return as_utc(at).astimezone(CITY_TZ)


def _scope(principal: Principal) -> str | None:
    """The region prefix a principal is restricted to; None for admin."""
    return None if principal.jurisdiction is None else region_prefix(principal.jurisdiction)


def _category(code: str, error: type[CareMatchError]) -> Category:
    found = category_table().get(code)
    if found is None:
        codes = ", ".join(category_table().codes)
        raise error(f"unknown category {code!r}; categories: {codes}")
    return found


# --- complaints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintView:
    """A complaint as its reader sees it: ``overdue`` computed at ``now``; ``events`` only
    when the whole complaint was read."""

    complaint: Complaint
    overdue: bool
    events: list[ComplaintEvent] = field(default_factory=list)


def _view(
    complaint: Complaint, now: datetime, events: list[ComplaintEvent] | None = None
) -> ComplaintView:
    overdue = is_overdue(complaint.status, as_utc(complaint.due_at), now)
    return ComplaintView(complaint, overdue, events or [])


def file_complaint(
    session: Session,
    principal: Principal,
    *,
    channel: str | None,
    category: str,
    text: str,
    provider_id: str | None = None,
    service_code: str | None = None,
    person_id: str | None = None,
    contact: str | None = None,
    region_code: str | None = None,
    received_at: datetime | None = None,
) -> ComplaintView:
    """Take a complaint and give it the deadline of its category.

    A resident files through the web or WeChat in their own name, now. Staff register any
    channel, for a known person or anonymously with a contact, and may give the time a letter
    or call was received. The complaint's region (who handles it) is the provider's, else the
    region given, else the complainant's community, else the registrar's own region.

    Raises:
        InvalidComplaint: unknown category or channel, neither a provider nor a service, an
            anonymous complaint without a contact, a receipt time in the future.
        ResidentNotLinked: a resident whose account has no person record.
        PersonNotFound: a person the caller may not see.
        ProviderNotFound, UnknownService: a provider or service that does not exist.
    """
    now = clock.utcnow()
    kind = _category(category, InvalidComplaint)
    resident = principal.role == "resident"
    channel = channel or ("web" if resident else None)
    if channel not in CHANNELS:
        raise InvalidComplaint(f"channel must be one of {', '.join(CHANNELS)}")
    if resident:
        if channel not in RESIDENT_CHANNELS:
            raise InvalidComplaint(
                f"a resident files through {' or '.join(RESIDENT_CHANNELS)}; staff register "
                "complaints from the other channels"
            )
        if principal.person_id is None:
            raise ResidentNotLinked("your account is not linked to a person record yet")
        if received_at is not None:
            raise InvalidComplaint("the time of receipt is set by the platform")
        # A resident's jurisdiction is not a region, so visible_person would let them name
        # anyone: they file in their own name only (404 for another, as for any hidden person).
        if person_id is not None and person_id != principal.person_id:
            raise PersonNotFound(f"no person {person_id}")
        person_id = principal.person_id
    if not text.strip():
        raise InvalidComplaint("the complaint has no text")
    if provider_id is None and service_code is None:
        raise InvalidComplaint("say which provider or which service the complaint is about")
    if person_id is None and not (contact and contact.strip()):
        raise InvalidComplaint("an anonymous complaint needs a contact for the answer")
    received = _received(received_at, now)

    person = visible_person(session, principal, person_id) if person_id is not None else None
    provider = providers.get_provider(session, provider_id).provider if provider_id else None
    if service_code is not None:
        providers.check_service(service_code)
    if region_code is not None:
        if provider is not None:
            raise InvalidComplaint("region_code is taken from the provider; leave it out")
        if not repository.region_exists(session, region_code):
            raise InvalidComplaint(f"unknown region {region_code!r}")
    if provider is not None:
        region = provider.region_code
    elif region_code is not None:
        region = region_code
    elif person is not None:
        region = person.community_code
    else:
        region = principal.region_code

    table = category_table()
    complaint = Complaint(
        id=new_id(),
        channel=channel,
        category=kind.code,
        complainant_person_id=person.id if person is not None else None,
        contact=contact.strip() if contact and contact.strip() else None,
        provider_id=provider.id if provider is not None else None,
        service_code=service_code,
        region_code=region,
        text=text.strip(),
        status="received",
        received_at=received,
        due_at=due_at(received, kind, table.calendar, CITY_TZ).astimezone(UTC),
        registered_by=principal.username,
        created_at=now,
        updated_at=now,
    )
    received_event = ComplaintEvent(
        id=new_id(),
        complaint_id=complaint.id,
        seq=1,
        from_status=None,
        to_status="received",
        actor=principal.username,
        at=now,
    )
    session.add(complaint)
    session.flush()
    session.add(received_event)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="complaint_received",
        entity="complaint",
        entity_id=complaint.id,
        detail={
            "channel": channel,
            "category": kind.code,
            "provider_id": complaint.provider_id,
            "region": region,
            "anonymous": complaint.complainant_person_id is None,
            "due_at": as_utc(complaint.due_at).isoformat(),
        },
    )
    return _view(complaint, now, [received_event])


def _received(received_at: datetime | None, now: datetime) -> datetime:
    if received_at is None:
        return now
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=CITY_TZ)
    if not YEARS[0] <= received_at.year <= YEARS[1]:
        raise InvalidComplaint(f"received_at must fall in the years {YEARS[0]}-{YEARS[1]}")
    received = received_at.astimezone(UTC)
    if received > now + CLOCK_SKEW:
        raise InvalidComplaint("received_at is in the future")
    return received


def _visible_complaint(session: Session, principal: Principal, complaint_id: str) -> Complaint:
    # An id that cannot exist is not looked up (and NUL bytes never reach PostgreSQL).
    complaint = (
        repository.get_complaint(session, complaint_id) if ROW_ID.match(complaint_id) else None
    )
    if complaint is None or not _may_see(principal, complaint):
        raise ComplaintNotFound(f"no complaint {complaint_id}")
    return complaint


def _may_see(principal: Principal, complaint: Complaint) -> bool:
    if principal.role == "resident":
        return (
            principal.person_id is not None
            and complaint.complainant_person_id == principal.person_id
        )
    return principal.can_see(complaint.region_code)


def list_complaints(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    category: str | None = None,
    provider_id: str | None = None,
    overdue: bool | None = None,
    channel: str | None = None,
    open_only: bool = False,
    by_deadline: bool = False,
) -> tuple[int, list[ComplaintView]]:
    """Complaints the caller may see, newest first: a resident's own, an official's region's.

    ``overdue=True`` keeps those past their deadline and unanswered; ``False`` the others.
    ``open_only`` leaves out the closed and rejected ones; ``by_deadline`` puts the nearest
    deadline first (the order a handler works in).

    Raises:
        InvalidComplaint: an unknown status, category or channel.
    """
    now = clock.utcnow()
    if category is not None:
        _category(category, InvalidComplaint)
    if status is not None and status not in STATUSES:
        raise InvalidComplaint(f"status must be one of {', '.join(STATUSES)}")
    if channel is not None and channel not in CHANNELS:
        raise InvalidComplaint(f"channel must be one of {', '.join(CHANNELS)}")
    if principal.role == "resident" and principal.person_id is None:
        return 0, []
    conditions = repository.complaint_conditions(
        prefix=None if principal.role == "resident" else _scope(principal),
        person_id=principal.person_id if principal.role == "resident" else None,
        status=status,
        category=category,
        provider_id=provider_id,
        overdue=overdue,
        now=now,
        channel=channel,
        open_only=open_only,
    )
    total, rows = repository.list_complaints(
        session, conditions, limit=limit, offset=offset, by_deadline=by_deadline
    )
    return total, [_view(c, now) for c in rows]


def may_handle(principal: Principal, complaint: Complaint) -> bool:
    """Whether the principal handles this complaint: an official (or admin) of its region.

    Staff who only register complaints (a grid worker, a hotline desk in another district) do
    not read them back once registered.
    """
    return principal.role in HANDLERS and _may_see(principal, complaint)


def read_complaint(session: Session, principal: Principal, complaint_id: str) -> ComplaintView:
    """A complaint with its history; the read is audited (it holds personal text).

    Raises:
        ComplaintNotFound: no such complaint, or not the caller's to see.
    """
    complaint = _visible_complaint(session, principal, complaint_id)
    audit.record(
        session,
        actor=principal.username,
        action="read_complaint",
        entity="complaint",
        entity_id=complaint.id,
    )
    return _view(complaint, clock.utcnow(), repository.complaint_events(session, complaint.id))


def transition_complaint(
    session: Session, principal: Principal, complaint_id: str, to: str, note: str | None
) -> ComplaintView:
    """Move a complaint along its state machine, keeping the note (the answer, the reason).

    Raises:
        ComplaintNotFound: no such complaint in the caller's jurisdiction.
        ComplaintStateConflict: the move is not allowed from the current status (or another
            official moved the complaint first); the problem lists the allowed moves.
    """
    complaint = _visible_complaint(session, principal, complaint_id)
    current = complaint.status
    note = note.strip() if note and note.strip() else None
    try:
        check_transition(current, to, note)
    except TransitionRefused as refused:
        raise ComplaintStateConflict(
            str(refused), status=current, allowed=list(refused.allowed)
        ) from None
    now = clock.utcnow()
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to == "answered" and complaint.answered_at is None:
        values["answered_at"] = now
    if to in ("closed", "rejected"):
        values["closed_at"] = now
    if not repository.move_complaint(session, complaint.id, current, values):
        raise ComplaintStateConflict(
            "the complaint changed meanwhile; read it again", status=None, allowed=[]
        )
    session.add(
        ComplaintEvent(
            id=new_id(),
            complaint_id=complaint.id,
            seq=repository.next_event_seq(session, complaint.id),
            from_status=current,
            to_status=to,
            note=note,
            actor=principal.username,
            at=now,
        )
    )
    session.flush()
    session.refresh(complaint)
    audit.record(
        session,
        actor=principal.username,
        action="complaint_transition",
        entity="complaint",
        entity_id=complaint.id,
        detail={"from": current, "to": to, "with_note": note is not None},
    )
    return _view(complaint, now, repository.complaint_events(session, complaint.id))


# --- the rectification ledger --------------------------------------------------------------


@dataclass(frozen=True)
class ItemDraft:
    """One rectification item to open: its owner, the measure and the deadline (city date)."""

    measure: str
    deadline: date
    owner_kind: str = "provider"
    provider_id: str | None = None
    department: str | None = None


@dataclass(frozen=True)
class ItemView:
    """A ledger item with its shown status (overdue computed) and its finding's source."""

    item: RectificationItem
    status: str
    finding: Finding | None


def _item_view(item: RectificationItem, finding: Finding | None, today: date) -> ItemView:
    return ItemView(item, shown_status(item.status, item.deadline, today), finding)


def open_finding(
    session: Session,
    principal: Principal,
    *,
    source: str,
    text: str,
    items: Sequence[ItemDraft],
    complaint_id: str | None = None,
    inspection_ref: str | None = None,
    provider_id: str | None = None,
    category: str | None = None,
    region_code: str | None = None,
) -> tuple[Finding, list[ItemView]]:
    """Record a finding of a complaint or an inspection and open its rectification items.

    A complaint's finding takes the complaint's category, provider and region; an
    inspection's names its category and a provider or a region. Each item is owned by a
    provider (by default the finding's) or a department.

    Raises:
        ComplaintNotFound: the complaint is not in the caller's jurisdiction.
        RectificationStateConflict: the complaint was never accepted (received or rejected).
        InvalidRectification: a malformed finding or item (see the message).
        OutsideJurisdiction: a provider or region outside the caller's jurisdiction.
    """
    now = clock.utcnow()
    today = city_today(now)
    if not text.strip():
        raise InvalidRectification("the finding has no text")
    if not 1 <= len(items) <= MAX_ITEMS_PER_FINDING:
        raise InvalidRectification(f"a finding opens 1 to {MAX_ITEMS_PER_FINDING} items")
    complaint: Complaint | None = None
    if source == "complaint":
        if complaint_id is None or inspection_ref is not None:
            raise InvalidRectification("a complaint's finding names complaint_id (only)")
        complaint = _visible_complaint(session, principal, complaint_id)
        if complaint.status not in FINDING_STATUSES:
            raise RectificationStateConflict(
                f"a {complaint.status} complaint has no findings; accept it first",
                status=complaint.status,
            )
        if category is not None and category != complaint.category:
            raise InvalidRectification("the finding takes the complaint's category")
        if region_code is not None:
            raise InvalidRectification("the finding takes the complaint's region")
        category = complaint.category
        provider_id = provider_id or complaint.provider_id
    elif source == "inspection":
        if complaint_id is not None or not (inspection_ref and inspection_ref.strip()):
            raise InvalidRectification("an inspection's finding names inspection_ref (only)")
        if category is None:
            raise InvalidRectification("an inspection's finding names its category")
    else:
        raise InvalidRectification("source must be complaint or inspection")
    kind = _category(category, InvalidRectification)

    provider = _provider_in_scope(session, principal, provider_id) if provider_id else None
    if complaint is not None:
        region = complaint.region_code
    elif provider is not None:
        if region_code is not None:
            raise InvalidRectification("region_code is taken from the provider; leave it out")
        region = provider.region_code
    else:
        region = region_code or principal.region_code
        if region_code is not None and not repository.region_exists(session, region_code):
            raise InvalidRectification(f"unknown region {region_code!r}")
        if not principal.can_see(region):
            raise OutsideJurisdiction(f"region {region} is outside your jurisdiction")

    drafts = [_checked_draft(session, principal, d, provider, today) for d in items]
    finding = Finding(
        id=new_id(),
        source=source,
        complaint_id=complaint.id if complaint else None,
        inspection_ref=inspection_ref.strip() if inspection_ref else None,
        provider_id=provider.id if provider else None,
        region_code=region,
        category=kind.code,
        text=text.strip(),
        created_by=principal.username,
        created_at=now,
    )
    session.add(finding)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="finding_opened",
        entity="finding",
        entity_id=finding.id,
        detail={
            "source": source,
            "complaint_id": finding.complaint_id,
            "provider_id": finding.provider_id,
            "category": kind.code,
            "items": len(drafts),
        },
    )
    created: list[ItemView] = []
    for draft, owner in drafts:
        item = RectificationItem(
            id=new_id(),
            finding_id=finding.id,
            owner_kind=draft.owner_kind,
            provider_id=owner.id if owner is not None else None,
            department=draft.department.strip() if draft.department else None,
            owner_name=owner.name if owner is not None else (draft.department or "").strip(),
            owner_name_en=owner.name_en if owner is not None else "",
            region_code=owner.region_code if owner is not None else region,
            category=kind.code,
            measure=draft.measure.strip(),
            deadline=draft.deadline,
            status="open",
            created_by=principal.username,
            created_at=now,
            updated_by=principal.username,
            updated_at=now,
        )
        session.add(item)
        session.flush()
        audit.record(
            session,
            actor=principal.username,
            action="rectification_opened",
            entity="rectification_item",
            entity_id=item.id,
            detail={
                "finding_id": finding.id,
                "owner_kind": item.owner_kind,
                "provider_id": item.provider_id,
                "deadline": item.deadline.isoformat(),
            },
        )
        created.append(_item_view(item, finding, today))
    return finding, created


def _provider_in_scope(session: Session, principal: Principal, provider_id: str) -> Any:
    provider = providers.get_provider(session, provider_id).provider
    if not principal.can_see(provider.region_code):
        raise OutsideJurisdiction(f"provider {provider_id} is outside your jurisdiction")
    return provider


def _checked_draft(
    session: Session, principal: Principal, draft: ItemDraft, provider: Any, today: date
) -> tuple[ItemDraft, Any]:
    if not draft.measure.strip():
        raise InvalidRectification("every item needs a measure")
    if draft.deadline < today:
        raise InvalidRectification(f"deadline {draft.deadline} has already passed")
    if draft.deadline > today + timedelta(days=MAX_DEADLINE_DAYS):
        raise InvalidRectification(f"a deadline is at most {MAX_DEADLINE_DAYS} days ahead")
    if draft.owner_kind == "provider":
        if draft.department is not None:
            raise InvalidRectification("a provider's item names no department")
        if draft.provider_id is not None:
            return draft, _provider_in_scope(session, principal, draft.provider_id)
        if provider is None:
            raise InvalidRectification("a provider's item needs provider_id (the finding has none)")
        return draft, provider
    if draft.owner_kind == "department":
        if draft.provider_id is not None or not (draft.department and draft.department.strip()):
            raise InvalidRectification("a department's item names the department (only)")
        return draft, None
    raise InvalidRectification("owner_kind must be provider or department")


def _visible_item(
    session: Session, principal: Principal, item_id: str, *, for_update: bool = False
) -> RectificationItem:
    found = ROW_ID.match(item_id)
    item = repository.get_item(session, item_id, for_update=for_update) if found else None
    if item is None or not principal.can_see(item.region_code):
        raise RectificationNotFound(f"no rectification item {item_id}")
    return item


def get_item(session: Session, principal: Principal, item_id: str) -> ItemView:
    """One ledger item with its finding.

    Raises:
        RectificationNotFound: no such item in the caller's jurisdiction.
    """
    item = _visible_item(session, principal, item_id)
    return _item_view(item, repository.get_finding(session, item.finding_id), city_today())


def list_items(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    category: str | None = None,
    provider_id: str | None = None,
    complaint_id: str | None = None,
) -> tuple[int, list[ItemView]]:
    """Ledger items in the caller's jurisdiction, the nearest deadline first; ``status`` may be
    ``overdue``."""
    today = city_today()
    if category is not None:
        _category(category, InvalidRectification)
    conditions = repository.item_conditions(
        prefix=_scope(principal),
        today=today,
        status=status,
        category=category,
        provider_id=provider_id,
        complaint_id=complaint_id,
    )
    total, rows = repository.list_items(session, conditions, limit=limit, offset=offset)
    findings = repository.findings_by_id(session, [i.finding_id for i in rows])
    return total, [_item_view(i, findings.get(i.finding_id), today) for i in rows]


def update_item(
    session: Session,
    principal: Principal,
    item_id: str,
    *,
    status: str | None = None,
    evidence_text: str | None = None,
    evidence_file: str | None = None,
) -> ItemView:
    """Report progress on an item: a new status, evidence, or both.

    ``done`` needs evidence (given now or before); only an official verifies; a verified item
    is closed for good. Sending the status the item already has changes only the evidence.

    Raises:
        RectificationNotFound: no such item in the caller's jurisdiction.
        InvalidRectification: nothing to change.
        Forbidden: a verification by someone who is not an official.
        RectificationStateConflict: a change the ledger does not allow (the problem lists the
            allowed statuses).
    """
    if status is None and evidence_text is None and evidence_file is None:
        raise InvalidRectification("give a status, evidence_text or evidence_file")
    item = _visible_item(session, principal, item_id, for_update=True)
    current = item.status
    target = status if status is not None and status != current else None
    if current == "verified":
        raise RectificationStateConflict(
            "a verified item cannot change", status=current, allowed=[]
        )
    may_verify = principal.role in HANDLERS
    if target == "verified" and not may_verify:
        raise Forbidden("only an official verifies a closure")
    text = evidence_text.strip() if evidence_text is not None else item.evidence_text
    file = evidence_file.strip() if evidence_file is not None else item.evidence_file
    if target is not None:
        try:
            check_item_change(
                current, target, has_evidence=bool(text or file), may_verify=may_verify
            )
        except ItemChangeRefused as refused:
            raise RectificationStateConflict(
                str(refused), status=current, allowed=list(refused.allowed)
            ) from None
    now = clock.utcnow()
    if evidence_text is not None:
        item.evidence_text = text or None
    if evidence_file is not None:
        item.evidence_file = file or None
    if target == "done":
        item.done_at = now
        item.done_on = city_today(now)
    elif target == "in_progress" and current == "done":
        # The official refused the evidence: the item is not done any more.
        item.done_at = None
        item.done_on = None
    elif target == "verified":
        item.verified_at = now
        item.verified_by = principal.username
    if target is not None:
        item.status = target
    if item.status == "done" and not (item.evidence_text or item.evidence_file):
        raise RectificationStateConflict(
            "a done item keeps its evidence", status=current, allowed=[]
        )
    item.updated_by = principal.username
    item.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="rectification_updated",
        entity="rectification_item",
        entity_id=item.id,
        detail={
            "from": current,
            "to": item.status,
            "evidence_text": evidence_text is not None,
            "evidence_file": evidence_file is not None,
        },
    )
    finding = repository.get_finding(session, item.finding_id)
    return _item_view(item, finding, city_today(now))


# --- low-rating flags ----------------------------------------------------------------------


def rating_means(session: Session, period_months: int, before: date) -> list[PeriodMean]:
    """Each provider's mean rating and count per period, from booking's ratings (1-5 per
    visit, R-EV-3), over whole months before ``before``'s month.

    Booking sums the ratings per provider and month in the database; they are folded into
    periods here, every rating weighing once.
    """
    totals = booking_ratings.rating_month_totals(session, before_month=f"{before:%Y-%m}")
    return means_from_month_totals(totals, period_months)


@dataclass
class FlagSummary:
    """What a recompute did: the periods it read and the flags it made, extended or kept."""

    as_of: date
    rule: LowRatingRule
    providers: int
    periods: int
    new: int = 0
    extended: int = 0
    unchanged: int = 0
    flags: list[ProviderFlag] = field(default_factory=list)


def recompute_flags(
    session: Session,
    principal: Principal,
    rule: LowRatingRule,
    *,
    as_of: date | None = None,
    means: Sequence[PeriodMean] | None = None,
) -> FlagSummary:
    """Flag providers of the caller's jurisdiction whose ratings stayed low (see flags.py).

    The period means are the platform's own ratings (:func:`rating_means`), or ``means`` from
    another source (a telephone satisfaction survey). Only periods that ended by ``as_of``
    (default today) count: a month under way can still change. Rerunning on the same ratings
    changes nothing; a run that went on extends its flag.

    Raises:
        InvalidFlagRule: periods misaligned with the rule or given twice, or impossible totals.
    """
    as_of = as_of or city_today()
    if means is None:
        means = rating_means(session, rule.period_months, as_of)
    try:
        complete = [m for m in means if period_end(m.period, rule.period_months) <= as_of]
        runs = low_rating_runs(complete, rule)
    except ValueError as exc:
        raise InvalidFlagRule(str(exc)) from None
    summary = FlagSummary(
        as_of=as_of,
        rule=rule,
        providers=len({m.provider_id for m in complete}),
        periods=len(complete),
    )
    regions: dict[str, str | None] = {}
    unknown: set[str] = set()
    visible: list[LowRatingRun] = []
    for run in runs:
        if run.provider_id not in regions and run.provider_id not in unknown:
            known, region = _provider_region(session, run.provider_id)
            if not known:
                unknown.add(run.provider_id)
                continue
            regions[run.provider_id] = region
        if run.provider_id in regions and principal.can_see(regions[run.provider_id]):
            visible.append(run)
    existing = repository.flags_of(session, [r.provider_id for r in visible])
    now = clock.utcnow()
    for run in visible:
        evidence = json.dumps(
            [{"period": p.period, "mean": round(p.mean, 4), "count": p.count} for p in run.periods],
            ensure_ascii=False,
        )
        flag = existing.get((run.provider_id, run.first_period))
        if flag is not None and flag.evidence == evidence:
            summary.unchanged += 1
            summary.flags.append(flag)
            continue
        if flag is None:
            flag = ProviderFlag(
                id=new_id(),
                provider_id=run.provider_id,
                region_code=regions[run.provider_id],
                first_period=run.first_period,
                status="open",
                created_by=principal.username,
                created_at=now,
            )
            session.add(flag)
            action = "provider_flagged"
            summary.new += 1
        else:
            action = "provider_flag_extended"
            summary.extended += 1
        flag.last_period = run.last_period
        flag.periods = len(run.periods)
        flag.evidence = evidence
        flag.threshold = rule.threshold
        flag.min_ratings = rule.min_ratings
        flag.required_periods = rule.periods
        flag.period_months = rule.period_months
        flag.updated_at = now
        session.flush()
        audit.record(
            session,
            actor=principal.username,
            action=action,
            entity="provider_flag",
            entity_id=flag.id,
            detail={
                "provider_id": run.provider_id,
                "first_period": run.first_period,
                "last_period": run.last_period,
                "periods": len(run.periods),
            },
        )
        summary.flags.append(flag)
    return summary


def _provider_region(session: Session, provider_id: str) -> tuple[bool, str | None]:
    """Whether the registry knows the provider (an unknown one is never flagged), and its
    region."""
    try:
        return True, providers.get_provider(session, provider_id).provider.region_code
    except CareMatchError:
        return False, None


def list_flags(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    provider_id: str | None = None,
) -> tuple[int, list[ProviderFlag]]:
    """Flags of providers in the caller's jurisdiction, the most recently changed first."""
    return repository.list_flags(
        session, prefix=_scope(principal), provider_id=provider_id, limit=limit, offset=offset
    )


def flag_evidence(flag: ProviderFlag) -> list[PeriodMean]:
    """A flag's evidence as period means."""
    return [
        PeriodMean(flag.provider_id, e["period"], float(e["mean"]), int(e["count"]))
        for e in json.loads(flag.evidence)
    ]


# --- the workload of a jurisdiction ---------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What waits in a jurisdiction: the workbench's counters beside its links."""

    complaints_open: int
    complaints_overdue: int
    items_open: int
    items_overdue: int
    items_done: int
    flags: int


def workload(session: Session, principal: Principal) -> Workload:
    """Open and overdue complaints, unfinished and overdue ledger items, items done and
    awaiting verification, and low-rating flags, in the caller's jurisdiction.

    Counted in the database (grouped), so the counters cost a few queries however many rows
    there are. Which of them a user may open is the edge's business (roles).
    """
    now = clock.utcnow()
    prefix = _scope(principal)
    complaints = repository.complaint_counts(session, prefix)["status"]
    late = repository.complaint_timeliness(session, prefix, now)["overdue"]
    items = repository.item_counts(session, prefix, city_today(now))["status"]
    flags, _ = repository.list_flags(session, prefix=prefix, provider_id=None, limit=0, offset=0)
    return Workload(
        complaints_open=sum(n for s, n in complaints.items() if s not in TERMINAL),
        complaints_overdue=late,
        items_open=sum(n for s, n in items.items() if s in UNFINISHED or s == "overdue"),
        items_overdue=items.get("overdue", 0),
        items_done=items.get("done", 0),
        flags=flags,
    )


# --- the public progress board (公示) -------------------------------------------------------


@dataclass(frozen=True)
class BoardCounts:
    """Counts of one kind of thing, by status and by category, and how timely it was."""

    total: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    due: int
    on_time: int
    overdue: int

    @property
    def on_time_rate(self) -> float | None:
        return on_time_rate(self.on_time, self.due)


@dataclass(frozen=True)
class Board:
    """What the public progress board shows: no complainant, no complaint text."""

    as_of: datetime
    region: str | None
    complaints: BoardCounts
    rectifications: BoardCounts
    items_total: int
    items: list[RectificationItem]
    today: date

    def status_of(self, item: RectificationItem) -> str:
        return shown_status(item.status, item.deadline, self.today)


def board(
    session: Session,
    *,
    region: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Board:
    """The progress board of the whole city, or of one region and below.

    Counts are grouped in the database; items are a page of the ledger's public fields, the
    nearest deadline first (``status`` may be ``overdue``).

    Raises:
        InvalidInput: an unknown region.
    """
    now = clock.utcnow()
    today = city_today(now)
    if region is not None and not repository.region_exists(session, region):
        raise InvalidInput(f"unknown region {region!r}")
    prefix = region_prefix(region) if region else None
    complaint_counts = repository.complaint_counts(session, prefix)
    timeliness = repository.complaint_timeliness(session, prefix, now)
    item_counts = repository.item_counts(session, prefix, today)
    total, items = repository.list_items(
        session,
        repository.item_conditions(
            prefix=prefix,
            today=today,
            status=status,
            category=None,
            provider_id=None,
            complaint_id=None,
        ),
        limit=limit,
        offset=offset,
    )
    return Board(
        as_of=now,
        region=region,
        complaints=BoardCounts(
            total=sum(complaint_counts["status"].values()),
            by_status=complaint_counts["status"],
            by_category=complaint_counts["category"],
            due=timeliness["due"],
            on_time=timeliness["on_time"],
            overdue=timeliness["overdue"],
        ),
        rectifications=BoardCounts(
            total=sum(item_counts["status"].values()),
            by_status=item_counts["status"],
            by_category=item_counts["category"],
            due=item_counts["due"],
            on_time=item_counts["on_time"],
            overdue=item_counts["status"].get("overdue", 0),
        ),
        items_total=total,
        items=items,
        today=today,
    )


def complaint_subjects(
    session: Session, start: datetime, end: datetime, region: str | None = None
) -> list[tuple[str | None, str | None]]:
    """The service and provider each complaint received in ``[start, end)`` names, in a region
    and below (None: all): what the policy execution indicators count per policy."""
    from carematch.security.jurisdiction import region_prefix

    prefix = region_prefix(region) if region else None
    return repository.complaint_subjects(session, start, end, prefix)

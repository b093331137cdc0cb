"""Use cases of the points domain: earn, redeem, the time bank, reversals, statements.

Two layers:

- the ledger functions (:func:`earn`, :func:`earn_for_service`, :func:`redeem`,
  :func:`record_volunteering`, :func:`record_help_received`, :func:`expire`, :func:`reverse`)
  take a person id the caller has already checked and an ``actor`` string; other domains call
  these (booking calls :func:`earn_for_service` when it records a service);
- the ``*_as`` functions check the signed-in principal first: staff act within their
  jurisdiction (a person outside it is "not found"), a resident only for themselves.

Posting is idempotent by ``(source, person)``: the same service record never earns twice, and
posting it again returns the first entry with ``created=False``. Every new entry is audited
(who, what, why, source). Services flush; the edge commits. Any error leaves the transaction
to be rolled back, as every domain error does at the API edge.

Locking order, which keeps concurrent postings free of deadlocks: the audit log's head row
(taken by ``audit.record``, first), then the entry's source key, then new accounts, then
balance rows, guarded withdrawals first. Every posting takes them in this order, and a caller
that audited earlier in its transaction already holds the head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources

import yaml
from sqlalchemy.orm import Session

from carematch.core.ids import new_id
from carematch.identity.errors import PersonNotFound
from carematch.identity.service import visible_person
from carematch.points import ledger, repository
from carematch.points.errors import (
    EntryNotFound,
    EntryNotReversible,
    InvalidPosting,
    NotRedeemable,
    PointsOverdrawn,
    ResidentNotLinked,
    RulesFileError,
    SourceAlreadyUsed,
    UnknownActivity,
    UnknownHelpKind,
)
from carematch.points.ledger import EntryKind, PointRules, Posting, SourceRef, Unit
from carematch.points.models import PointsEntry
from carematch.providers.catalogue import service_catalogue
from carematch.security import audit
from carematch.security.authz import Principal

RULES_FILE = "rules.yaml"
MAX_MEMO = 200
RECENT = 10

AUDIT_ACTIONS = {
    EntryKind.EARN: "points_earn",
    EntryKind.REDEEM: "points_redeem",
    EntryKind.VOLUNTEER: "timebank_volunteer",
    EntryKind.RECEIVE_HELP: "timebank_receive_help",
    EntryKind.EXPIRE: "points_expire",
    EntryKind.REVERSAL: "points_reverse",
}


@cache
def point_rules() -> PointRules:
    """The packaged earning and redemption rules (``rules.yaml``), checked once per process."""
    text = resources.files("carematch.points").joinpath(RULES_FILE).read_text("utf-8")
    try:
        return ledger.parse_rules(yaml.safe_load(text), service_catalogue())
    except (ledger.RulesError, yaml.YAMLError) as exc:
        raise RulesFileError(f"{RULES_FILE}: {exc}") from exc


# ---- views -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    """One line of an entry as shown: the account's key and kind, the unit, the amount."""

    account: str
    account_kind: str
    unit: str
    amount: int


@dataclass(frozen=True)
class EntryView:
    """A journal entry as shown, with the amount it moved on its person's account."""

    id: str
    kind: str
    code: str
    person_id: str
    unit: str
    amount: int
    source_kind: str
    source_id: str
    reverses_id: str | None
    reversed_by: str | None
    memo: str
    created_at: datetime
    lines: tuple[LineView, ...]


@dataclass(frozen=True)
class PostingResult:
    """What a posting did: the entry, whether it is new, and the person's balance after."""

    entry: EntryView
    created: bool
    balance: int


@dataclass(frozen=True)
class Statement:
    """A person's balances (points and minutes) and most recent entries."""

    person_id: str
    balances: dict[str, int]
    recent: list[EntryView]


def _utc(at: datetime) -> datetime:
    """SQLite hands timestamps back without their offset; they were written in UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _views(session: Session, entries: list[PointsEntry]) -> list[EntryView]:
    ids = [e.id for e in entries]
    lines = repository.lines_of(session, ids)
    reversed_by = repository.reversals_of(session, ids)
    views = []
    for entry in entries:
        own_prefix = f"person:{entry.person_id}:"
        mine = [x for x in lines[entry.id] if x.account_key.startswith(own_prefix)]
        unit = mine[0].unit if mine else lines[entry.id][0].unit
        views.append(
            EntryView(
                id=entry.id,
                kind=entry.kind,
                code=entry.code,
                person_id=entry.person_id,
                unit=unit,
                amount=sum(x.amount for x in mine),
                source_kind=entry.source_kind,
                source_id=entry.source_id,
                reverses_id=entry.reverses_id,
                reversed_by=reversed_by.get(entry.id),
                memo=entry.memo,
                created_at=_utc(entry.created_at),
                lines=tuple(
                    LineView(x.account_key, x.account_kind, x.unit, x.amount)
                    for x in lines[entry.id]
                ),
            )
        )
    return views


def _view(session: Session, entry: PointsEntry) -> EntryView:
    return _views(session, [entry])[0]


# ---- the ledger use cases --------------------------------------------------------------------


def _source(source: SourceRef | tuple[str, str]) -> SourceRef:
    if isinstance(source, SourceRef):
        return source
    try:
        return SourceRef(*source)
    except (ledger.InvalidSource, TypeError) as exc:
        raise InvalidPosting(str(exc)) from exc


def _build(builder: Callable[..., Posting], *args: object) -> Posting:
    """Build a posting with a ``ledger`` builder; what the ledger refuses is a 400."""
    try:
        return builder(*args)
    except ledger.NotReversible as exc:
        raise EntryNotReversible(str(exc)) from exc
    except ledger.LedgerError as exc:
        raise InvalidPosting(str(exc)) from exc


def _memo(memo: str) -> str:
    memo = memo.strip()
    if len(memo) > MAX_MEMO:
        raise InvalidPosting(f"memo: at most {MAX_MEMO} characters")
    return memo


def _person_unit(posting: Posting) -> ledger.Account:
    """The person's account the posting moves (every entry kind moves exactly one)."""
    return next(
        line.account
        for line in posting.lines
        if line.account.kind is ledger.AccountKind.PERSON
        and line.account.person_id == posting.person_id
    )


def _replay(session: Session, existing: PointsEntry, posting: Posting) -> PostingResult:
    """The entry a source already posted, if it is the same movement; else a 409."""
    stored = _stored_posting(session, existing)
    if not stored.same_as(posting):
        raise SourceAlreadyUsed(
            f"source {posting.source} already posted entry {existing.id} for this person",
            entry_id=existing.id,
        )
    account = _person_unit(posting)
    return PostingResult(_view(session, existing), False, repository.balance_of(session, account))


def _overdrawn(session: Session, account: ledger.Account, amount: int) -> PointsOverdrawn:
    balance = repository.balance_of(session, account)
    return PointsOverdrawn(
        f"{account.unit}: balance {balance}, {-amount} needed",
        unit=str(account.unit),
        balance=balance,
        requested=-amount,
    )


def refuse_early(session: Session, posting: Posting) -> None:
    """Refuse a withdrawal the last committed balance cannot cover, before taking any lock.

    Only a shortcut: most overdrafts end here without writing an audit entry. Passing it
    decides nothing, since the balance may fall before this posting's turn; the conditional
    UPDATE in :func:`post` decides.
    """
    for line in posting.debits_first():
        guarded = not line.account.overdraft_allowed and line.amount < 0
        if guarded and repository.balance_of(session, line.account) + line.amount < 0:
            raise _overdrawn(session, line.account, line.amount)


def post(session: Session, posting: Posting, *, actor: str) -> PostingResult:
    """Post a balanced entry: idempotent by (source, person), audited, never overdrawing.

    Raises:
        PointsOverdrawn: a person's balance would go below zero (409).
        SourceAlreadyUsed: the source already posted a different movement (409).
    """
    key = (posting.source.kind, posting.source.id, posting.person_id)
    existing = repository.entry_by_source(session, *key)
    if existing is not None:
        return _replay(session, existing, posting)
    refuse_early(session, posting)
    person = _person_unit(posting)
    entry_id = new_id()
    audit.record(
        session,
        actor=actor,
        action=AUDIT_ACTIONS[posting.kind],
        entity="points_entry",
        entity_id=entry_id,
        detail={
            "person": posting.person_id,
            "kind": str(posting.kind),
            "code": posting.code,
            "unit": str(person.unit),
            "amount": posting.amount_for(person.key),
            "source": str(posting.source),
            "reverses": posting.reverses,
        },
    )
    claimed = repository.claim_entry(
        session,
        {
            "id": entry_id,
            "kind": str(posting.kind),
            "person_id": posting.person_id,
            "code": posting.code,
            "source_kind": posting.source.kind,
            "source_id": posting.source.id,
            "reverses_id": posting.reverses,
            "memo": posting.memo,
            "actor": actor[:64],
        },
    )
    if not claimed:
        # Another transaction posted this source between the look-up and the audit head (only
        # two identical requests in flight do that). Our audit entry must not survive, so this
        # request fails; repeating it returns the first one's entry.
        raise SourceAlreadyUsed(
            f"source {posting.source} was posted by a concurrent request; repeat to read it",
            retry=True,
        )
    repository.ensure_accounts(session, (line.account for line in posting.lines))
    for line in posting.debits_first():
        if not repository.move_balance(session, line.account, line.amount):
            raise _overdrawn(session, line.account, line.amount)
    repository.add_lines(session, entry_id, ((x.account, x.amount) for x in posting.lines))
    session.flush()
    entry = repository.get_entry(session, entry_id)
    assert entry is not None
    return PostingResult(_view(session, entry), True, repository.balance_of(session, person))


def _activity(code: str) -> ledger.Activity:
    activity = point_rules().activities.get(code)
    if activity is None:
        known = ", ".join(point_rules().activities)
        raise UnknownActivity(f"no earning rule for {code!r}; known: {known}")
    return activity


def _help_kind(code: str) -> ledger.HelpKind:
    kind = point_rules().help_kinds.get(code)
    if kind is None:
        raise UnknownHelpKind(
            f"no help kind {code!r}; known: {', '.join(point_rules().help_kinds)}"
        )
    return kind


def earn(
    session: Session,
    *,
    person_id: str,
    activity: str,
    source: SourceRef | tuple[str, str],
    actor: str,
    memo: str = "",
) -> PostingResult:
    """Credit the activity's points to a person, once per source.

    Examples:
        ``earn(session, person_id=p, activity="health_talk", source=("health_talk", talk_id),
        actor="grid_7")``
    """
    ref, note = _source(source), _memo(memo)
    posting = _build(ledger.earn, person_id, _activity(activity), ref, note)
    return post(session, posting, actor=actor)


def earn_for_service(
    session: Session, *, person_id: str, service_code: str, service_record_id: str, actor: str
) -> PostingResult | None:
    """Points for a recorded service, when the rules say that service earns; else None.

    The booking domain calls this when staff record a service (a check-up, a health talk …);
    the source is ``("service_record", service_record_id)``, so recording or retrying the same
    service record never earns twice.
    """
    activity = point_rules().activity_for_service(service_code)
    if activity is None:
        return None
    ref = _source(("service_record", service_record_id))
    return post(session, _build(ledger.earn, person_id, activity, ref), actor=actor)


def redeem(
    session: Session,
    *,
    person_id: str,
    service_code: str,
    source: SourceRef | tuple[str, str] | None,
    actor: str,
    memo: str = "",
) -> PostingResult:
    """Spend a person's points on a service of the redemption catalogue at its price.

    ``source`` makes a retried request safe (the booking it pays for, or a client's key); left
    out, every call is a new redemption.
    """
    offer = point_rules().redemptions.get(service_code)
    if offer is None:
        raise NotRedeemable(f"{service_code!r} cannot be redeemed with points")
    ref = _source(source) if source is not None else SourceRef("redemption", new_id())
    return post(session, _build(ledger.redeem, person_id, offer, ref, _memo(memo)), actor=actor)


def _timebank_posting(
    build: Callable[..., Posting],
    person_id: str,
    help_kind: str,
    minutes: int,
    source: SourceRef | tuple[str, str],
    memo: str,
) -> Posting:
    """Build a time-bank posting with ``ledger.volunteer`` or ``ledger.receive_help``."""
    kind, ref, note = _help_kind(help_kind), _source(source), _memo(memo)
    return _build(build, point_rules(), person_id, kind, minutes, ref, note)


def record_volunteering(
    session: Session,
    *,
    person_id: str,
    help_kind: str,
    minutes: int,
    source: SourceRef | tuple[str, str],
    actor: str,
    memo: str = "",
) -> PostingResult:
    """Time-bank minutes for help a volunteer gave (recorded by staff), once per source."""
    posting = _timebank_posting(ledger.volunteer, person_id, help_kind, minutes, source, memo)
    return post(session, posting, actor=actor)


def record_help_received(
    session: Session,
    *,
    person_id: str,
    help_kind: str,
    minutes: int,
    source: SourceRef | tuple[str, str],
    actor: str,
    memo: str = "",
) -> PostingResult:
    """Spend a person's time-bank minutes on help they received, once per source."""
    posting = _timebank_posting(ledger.receive_help, person_id, help_kind, minutes, source, memo)
    return post(session, posting, actor=actor)


def expire(
    session: Session,
    *,
    person_id: str,
    unit: Unit,
    amount: int,
    source: SourceRef | tuple[str, str],
    actor: str,
) -> PostingResult:
    """Move a lapsed amount from a person's account to the expiry account.

    No expiry policy is applied here (none is set by the requirements yet); a future job that
    decides what lapses posts through this, with a source such as ``("expiry_run", "2026")``.
    """
    posting = _build(ledger.expire, person_id, unit, amount, _source(source))
    return post(session, posting, actor=actor)


def _stored_posting(session: Session, entry: PointsEntry) -> Posting:
    """Rebuild the ledger's posting of a stored entry (to compare a replay, or to reverse)."""
    accounts = {}
    for line in repository.lines_of(session, [entry.id])[entry.id]:
        accounts[line.account_key] = ledger.Line(
            ledger.Account(
                line.account_key,
                ledger.AccountKind(line.account_kind),
                Unit(line.unit),
                entry.person_id if line.account_kind == ledger.AccountKind.PERSON else None,
            ),
            line.amount,
        )
    return Posting(
        EntryKind(entry.kind),
        entry.person_id,
        entry.code,
        SourceRef(entry.source_kind, entry.source_id),
        tuple(accounts.values()),
        reverses=entry.reverses_id,
        memo=entry.memo,
    )


def reverse(session: Session, *, entry_id: str, actor: str, reason: str) -> PostingResult:
    """Correct an entry by posting its reversal (at most once; reversing again replays it).

    Reversing an earning takes the points back, so it is refused (409) when they were spent.
    """
    entry = repository.get_entry(session, entry_id)
    if entry is None:
        raise EntryNotFound(f"no points entry {entry_id}")
    reason = _memo(reason)
    if not reason:
        raise InvalidPosting("a reversal needs a reason")
    posting = _build(ledger.reversal, entry.id, _stored_posting(session, entry), reason)
    return post(session, posting, actor=actor)


def statement(session: Session, person_id: str, recent: int = RECENT) -> Statement:
    """A person's balances and most recent entries."""
    entries, _ = repository.person_entries(session, person_id, None, recent, 0)
    return Statement(
        person_id, repository.person_balances(session, person_id), _views(session, entries)
    )


def entries(
    session: Session, person_id: str, *, unit: Unit | None, limit: int, offset: int
) -> tuple[list[EntryView], int]:
    """A page of a person's entries (one unit, or both), newest first, and the total."""
    rows, total = repository.person_entries(session, person_id, unit, limit, offset)
    return _views(session, rows), total


def check_ledger(session: Session) -> repository.LedgerCheck:
    """Prove the ledger sound: balances equal the sums of lines, entries balance, none negative."""
    return repository.check_ledger(session)


# ---- the same, for a signed-in principal ------------------------------------------------------


def person_for(session: Session, principal: Principal, person_id: str | None) -> str:
    """The person a principal may act for: a resident only themselves, staff in jurisdiction.

    A resident naming anyone else, or staff naming a person outside their jurisdiction, gets
    "not found", so another person's existence is not revealed.
    """
    if principal.role == "resident":
        own = me(principal)
        if person_id is not None and person_id != own:
            raise PersonNotFound(f"no person {person_id}")
        return own
    if person_id is None:
        raise InvalidPosting("person_id is required")
    return visible_person(session, principal, person_id).id


def me(principal: Principal) -> str:
    """The signed-in user's own person; "not found" for a user linked to none (admin too)."""
    if principal.person_id is None:
        raise ResidentNotLinked("this account is not linked to a person record")
    return principal.person_id


def my_statement(session: Session, principal: Principal) -> Statement:
    """The signed-in resident's own balances and recent entries (我的积分)."""
    return statement(session, me(principal))


def person_statement(session: Session, principal: Principal, person_id: str) -> Statement:
    """A person's points as staff see them (jurisdiction-checked; the read is audited)."""
    person = person_for(session, principal, person_id)
    audit.record(
        session,
        actor=principal.username,
        action="read_points",
        entity="person",
        entity_id=person,
        detail={},
    )
    return statement(session, person)


def visible_entry(session: Session, principal: Principal, entry_id: str) -> PointsEntry:
    """An entry whose person the principal may see; "not found" otherwise."""
    entry = repository.get_entry(session, entry_id)
    if entry is None:
        raise EntryNotFound(f"no points entry {entry_id}")
    try:
        person_for(session, principal, entry.person_id)
    except (PersonNotFound, ResidentNotLinked) as exc:  # an unreachable person hides it too
        raise EntryNotFound(f"no points entry {entry_id}") from exc
    return entry


def reverse_as(session: Session, principal: Principal, entry_id: str, reason: str) -> PostingResult:
    """Reverse an entry of a person in the principal's jurisdiction."""
    entry = visible_entry(session, principal, entry_id)
    return reverse(session, entry_id=entry.id, actor=principal.username, reason=reason)

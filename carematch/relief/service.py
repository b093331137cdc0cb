"""Use cases of the relief domain: recompute the watch, the case workflow, the relief fund.

The watch reads the registered households' records through the identity domain's service
(poverty registry, settlements, health records), computes with the pure engines
(:mod:`carematch.relief.watch`, :mod:`carematch.relief.tiers`) on the library in force
(:func:`carematch.policy.service.library_on`), stores each household's figures and opens a
case once per episode. Services flush; the edge (CLI command, endpoint, after-ingest hook
runner) commits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.clock import city_today, utcnow
from carematch.core.hooks import IngestEvent
from carematch.core.ids import new_id
from carematch.identity.service import golden_records, linked_records
from carematch.policy.service import library_on
from carematch.policy.stacking import money
from carematch.relief import repository
from carematch.relief.errors import (
    FundBalanceShort,
    InvalidReliefInput,
    ReliefCaseNotFound,
    ReliefCaseStateConflict,
)
from carematch.relief.models import ReliefCase, ReliefCaseEvent, ReliefFundEntry, ReliefHousehold
from carematch.relief.tiers import relief_for
from carematch.relief.watch import Household, Member, Settlement, classify_cause, watch
from carematch.security import audit
from carematch.security.authz import Principal

VERIFY_DAYS = 7
"""Days the township has to verify a triggered case (P-ANTI-RETURN: 由乡镇在7日内入户核查)."""
WATCH_ACTOR = "system:relief-watch"
WATCHED_SOURCES = ("poverty", "insurance", "ehr", "*")
"""An ingest of these sources (``*``: a whole city) can change a household's figures."""
MAX_DEPOSIT = Decimal("10000000000")
CHUNK = 2_000

# Which step each action takes: action → (allowed from, to, who/when columns).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "verify": (("triggered",), "verified", "verified"),
    "approve": (("verified",), "approved", "approved"),
    "pay": (("approved",), "paid", "paid"),
    "reject": (("triggered", "verified", "approved"), "rejected", "rejected"),
}
STATUSES = ("triggered", "verified", "approved", "paid", "rejected")


def as_utc(at: datetime) -> datetime:
    """A stored time as aware UTC (SQLite returns the UTC wall time without an offset)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def to_fen(amount: Decimal) -> int:
    return int(money(amount) * 100)


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _codes(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        value = value.replace(",", ";").split(";")
    return frozenset(str(c).strip() for c in value or () if c and str(c).strip())


def _age(birth: date | None, as_of: date) -> int | None:
    if birth is None or birth > as_of:
        return None
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


# --- reading the households -----------------------------------------------------------------


@dataclass
class HouseholdInputs:
    """What the watch needs of every registered household."""

    households: dict[str, Household]
    settlements: dict[str, list[Settlement]]


def household_inputs(session: Session, as_of: date) -> HouseholdInputs:
    """The registered households, their members and their members' settlements.

    A person's household, status and income are those of their latest poverty record (by
    record id, as in the features view); a household's status, income and region are its
    latest record's. Records reach here only once linked to a person.
    """
    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    for record in linked_records(session, sources=("poverty",)):
        if not record.values.get("household_id"):
            continue
        seen = latest.get(record.person_id)
        if seen is None or record.record_id > seen[0]:
            latest[record.person_id] = (record.record_id, record.values)
    member_ids: dict[str, list[str]] = defaultdict(list)
    head: dict[str, tuple[str, dict[str, Any]]] = {}
    for person_id, (record_id, values) in latest.items():
        household_id = str(values["household_id"])
        member_ids[household_id].append(person_id)
        if household_id not in head or record_id > head[household_id][0]:
            head[household_id] = (record_id, values)
    persons = sorted(latest)
    births: dict[str, date | None] = {}
    communities: dict[str, str | None] = {}
    conditions: dict[str, set[str]] = defaultdict(set)
    disability: dict[str, tuple[str, int]] = {}
    settlements: dict[str, list[Settlement]] = defaultdict(list)
    household_of = {p: str(v["household_id"]) for p, (_, v) in latest.items()}
    for start in range(0, len(persons), CHUNK):
        chunk = persons[start : start + CHUNK]
        for golden in golden_records(session, chunk):
            births[golden["person_id"]] = _date(golden.get("birth_date"))
            communities[golden["person_id"]] = golden.get("community_code")
        for record in linked_records(session, chunk, sources=("insurance", "ehr")):
            v = record.values
            if record.source == "insurance":
                day = _date(v.get("settlement_date"))
                if day is None:
                    continue
                settlements[household_of[record.person_id]].append(
                    Settlement(
                        record.person_id,
                        day,
                        v.get("facility_code"),
                        v.get("visit_type"),
                        _decimal(v.get("total_cost")),
                        _decimal(v.get("out_of_pocket")),
                    )
                )
            else:
                conditions[record.person_id] |= _codes(v.get("conditions"))
                visit = str(v.get("last_visit_date") or "")
                level = int(_decimal(v.get("disability_level")))
                if record.person_id not in disability or visit > disability[record.person_id][0]:
                    disability[record.person_id] = (visit, level)
    households = {}
    head_person = {
        str(v["household_id"]): p
        for p, (rid, v) in latest.items()
        if head[str(v["household_id"])][0] == rid
    }
    for household_id, (_, values) in head.items():
        members = tuple(
            Member(
                p,
                _age(births.get(p), as_of),
                disability.get(p, ("", 0))[1],
                frozenset(conditions.get(p, ())),
            )
            for p in sorted(member_ids[household_id])
        )
        households[household_id] = Household(
            household_id,
            str(values.get("household_status") or "general"),
            _decimal(values.get("income_12m")),
            # The registry's community, else the golden record's of the latest record's person.
            values.get("community_code") or communities.get(head_person[household_id]),
            members,
        )
    return HouseholdInputs(households, dict(settlements))


# --- the watch ------------------------------------------------------------------------------


@dataclass
class WatchSummary:
    """What a recompute did."""

    as_of: str
    households: int
    at_risk: int
    opened: int
    refreshed: int
    episodes_closed: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def recompute(session: Session, as_of: date | None = None) -> WatchSummary:
    """Recompute every registered household's figures; open a case per new episode.

    Idempotent: rerunning it on the same records opens nothing and changes no case. A
    household whose figures fall back below every trigger line ends its episode (a later
    crossing opens a new case).
    """
    day = as_of or city_today()
    now = utcnow()
    library = library_on(session, day)
    inputs = household_inputs(session, day)
    stored = repository.households(session)
    waiting = repository.open_cases_by_household(session, list(inputs.households))
    summary = WatchSummary(day.isoformat(), len(inputs.households), 0, 0, 0, 0)
    for household_id, household in sorted(inputs.households.items()):
        settlements = inputs.settlements.get(household_id, [])
        seen = watch(library, household, settlements, day)
        row = stored.get(household_id)
        if row is None:
            row = ReliefHousehold(household_id=household_id, episode_open=False)
            session.add(row)
        row.region_code = household.region_code
        row.status = household.status
        row.income_12m = str(household.income_12m)
        row.oop_12m = str(seen.oop_12m)
        row.members = len(household.members)
        row.at_risk = seen.at_risk
        row.triggers = ",".join(seen.triggers)
        row.as_of = day.isoformat()
        row.updated_at = now
        if seen.at_risk:
            summary.at_risk += 1
            relief = relief_for(library, household.status, seen.oop_12m, household.income_12m)
            case = waiting.get(household_id)
            if not row.episode_open and case is None:
                cause = classify_cause(household.members, settlements, day)
                _open_case(session, household, seen.oop_12m, seen.triggers, cause, relief, now)
                row.episode_open = True
                summary.opened += 1
            else:
                # A case still waiting for verification (even from an episode that ended
                # before it was verified) takes the new figures rather than a second case.
                row.episode_open = True
                if case is not None and _refresh(
                    case, household, seen.oop_12m, seen.triggers, relief
                ):
                    case.updated_at = now
                    summary.refreshed += 1
        elif row.episode_open:
            row.episode_open = False
            summary.episodes_closed += 1
    session.flush()
    return summary


def _figures(
    household: Household, oop: Decimal, triggers: Sequence[str], relief: Any
) -> dict[str, Any]:
    return {
        "triggers": ",".join(triggers),
        "tier": relief.tier,
        "household_status": household.status,
        "members": json.dumps([m.person_id for m in household.members]),
        "oop_12m": str(oop),
        "income_12m": str(household.income_12m),
        "amount": str(relief.amount),
        "steps": json.dumps([s.as_dict() for s in relief.stacking.steps]),
    }


def _refresh(
    case: ReliefCase, household: Household, oop: Decimal, triggers: Sequence[str], relief: Any
) -> bool:
    """Bring a case not yet verified up to the household's figures; True if any changed."""
    changed = False
    for name, value in _figures(household, oop, triggers, relief).items():
        if getattr(case, name) != value:
            setattr(case, name, value)
            changed = True
    return changed


def _open_case(
    session: Session,
    household: Household,
    oop: Decimal,
    triggers: Sequence[str],
    cause: Any,
    relief: Any,
    now: datetime,
) -> ReliefCase:
    case = ReliefCase(
        id=new_id(),
        household_id=household.household_id,
        region_code=household.region_code,
        status="triggered",
        cause=cause.cause,
        cause_evidence=json.dumps(list(cause.evidence)),
        opened_at=now,
        verify_due_at=now + timedelta(days=VERIFY_DAYS),
        updated_at=now,
        **_figures(household, oop, triggers, relief),
    )
    session.add(case)
    session.flush()
    session.add(
        ReliefCaseEvent(
            id=new_id(), case_id=case.id, seq=1, to_status="triggered", actor=WATCH_ACTOR, at=now
        )
    )
    audit.record(
        session,
        actor=WATCH_ACTOR,
        action="relief_case_opened",
        entity="relief_case",
        entity_id=case.id,
        detail={"triggers": list(triggers), "cause": cause.cause},
    )
    return case


def after_ingest(session: Session, event: IngestEvent) -> dict[str, Any]:
    """The after-ingest hook (core.hooks.AFTER_INGEST): recompute when households may move."""
    if event.source not in WATCHED_SOURCES:
        return {"skipped": f"{event.source} records do not change the watch"}
    return recompute(session).as_dict()


# --- cases ----------------------------------------------------------------------------------


@dataclass
class CaseView:
    """A case with its steps, as the API and the cockpit show it."""

    case: ReliefCase
    events: list[ReliefCaseEvent]
    now: datetime

    @property
    def overdue(self) -> bool:
        """Verification late: still waiting after the deadline, or verified after it."""
        due = as_utc(self.case.verify_due_at)
        if self.case.status == "triggered":
            return self.now > due
        return self.case.verified_at is not None and as_utc(self.case.verified_at) > due

    @property
    def oop_12m(self) -> Decimal:
        return Decimal(self.case.oop_12m)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.case.amount)

    @property
    def out_of_pocket_after(self) -> Decimal:
        """The household's 12-month out-of-pocket less the relief (paid or due)."""
        return self.oop_12m - self.amount

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        return {
            "id": c.id,
            "household_id": c.household_id,
            "region_code": c.region_code,
            "status": c.status,
            "triggers": [t for t in c.triggers.split(",") if t],
            "cause": c.cause,
            "cause_evidence": json.loads(c.cause_evidence),
            "tier": c.tier,
            "household_status": c.household_status,
            "members": json.loads(c.members),
            "oop_12m": float(self.oop_12m),
            "income_12m": float(Decimal(c.income_12m)),
            "amount": float(self.amount),
            "out_of_pocket_after": float(self.out_of_pocket_after),
            "steps": json.loads(c.steps),
            "opened_at": as_utc(c.opened_at),
            "verify_due_at": as_utc(c.verify_due_at),
            "overdue": self.overdue,
            "verified_by": c.verified_by,
            "verified_at": c.verified_at and as_utc(c.verified_at),
            "approved_by": c.approved_by,
            "approved_at": c.approved_at and as_utc(c.approved_at),
            "paid_by": c.paid_by,
            "paid_at": c.paid_at and as_utc(c.paid_at),
            "rejected_by": c.rejected_by,
            "rejected_at": c.rejected_at and as_utc(c.rejected_at),
            "reject_reason": c.reject_reason,
            "events": [
                {
                    "seq": e.seq,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "actor": e.actor,
                    "at": as_utc(e.at),
                    "note": e.note,
                }
                for e in self.events
            ],
        }


def _visible_case(session: Session, principal: Principal, case_id: str) -> ReliefCase:
    case = repository.get_case(session, case_id)
    if case is None or not principal.can_see(case.region_code):
        raise ReliefCaseNotFound(f"no relief case {case_id}")
    return case


def read_case(session: Session, principal: Principal, case_id: str) -> CaseView:
    """One case with its steps (the read is audited: it names a household's members)."""
    case = _visible_case(session, principal, case_id)
    audit.record(
        session,
        actor=principal.username,
        action="read_relief_case",
        entity="relief_case",
        entity_id=case.id,
    )
    return CaseView(case, repository.case_events(session, case.id), utcnow())


def list_cases(
    session: Session,
    principal: Principal,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[CaseView]]:
    """Cases of the caller's jurisdiction, newest first (the read is audited once)."""
    if status is not None and status not in STATUSES:
        raise InvalidReliefInput(f"status must be one of {', '.join(STATUSES)}")
    total, cases = repository.list_cases(session, principal.jurisdiction, status, limit, offset)
    audit.record(
        session,
        actor=principal.username,
        action="list_relief_cases",
        entity="relief_case",
        entity_id="*",
        detail={"status": status, "count": len(cases), "offset": offset},
    )
    now = utcnow()
    return total, [CaseView(c, repository.case_events(session, c.id), now) for c in cases]


def take_step(
    session: Session,
    principal: Principal,
    case_id: str,
    action: str,
    note: str | None = None,
) -> CaseView:
    """Verify, approve, pay or reject a case (each by whom and when, audited).

    Paying takes the case's amount from the relief fund in the same transaction.

    Raises:
        ReliefCaseNotFound: no such case in the caller's jurisdiction.
        ReliefCaseStateConflict: the step does not follow from the case's status (409).
        InvalidReliefInput: a rejection without a reason, or an unknown action.
        FundBalanceShort: the fund holds less than the amount (409; nothing changes).
    """
    if action not in TRANSITIONS:
        raise InvalidReliefInput(f"action must be one of {', '.join(TRANSITIONS)}")
    note = (note or "").strip() or None
    if note is not None and len(note) > 500:
        raise InvalidReliefInput("a note is at most 500 characters")
    if action == "reject" and note is None:
        raise InvalidReliefInput("a rejection needs a reason")
    case = _visible_case(session, principal, case_id)
    allowed, to_status, column = TRANSITIONS[action]
    if case.status not in allowed:
        raise ReliefCaseStateConflict(
            f"a {case.status} case cannot be {to_status} (it must be {' or '.join(allowed)})"
        )
    now = utcnow()
    values: dict[str, Any] = {
        "status": to_status,
        f"{column}_by": principal.username,
        f"{column}_at": now,
        "updated_at": now,
    }
    if action == "reject":
        values["reject_reason"] = note
    from_status = case.status
    payment: ReliefFundEntry | None = None
    if action == "pay":
        # The fund first: a short balance refuses the payment before anything has changed.
        fen = to_fen(Decimal(case.amount))
        balance = repository.debit_fund(session, fen, now)
        if balance is None:
            held = from_fen(repository.fund(session, now).balance_fen)
            raise FundBalanceShort(
                f"the relief fund holds {held} yuan, less than the {from_fen(fen)} this case needs"
            )
        payment = ReliefFundEntry(
            id=new_id(),
            fund_id=repository.FUND_ID,
            kind="payment",
            amount_fen=fen,
            balance_fen=balance,
            case_id=case.id,
            actor=principal.username,
            at=now,
        )
    if not repository.move_case(session, case.id, allowed, values):
        # Someone took a step meanwhile; the edge rolls the whole transaction back.
        raise ReliefCaseStateConflict("the case changed meanwhile: reload it")
    if payment is not None:
        session.add(payment)
    session.add(
        ReliefCaseEvent(
            id=new_id(),
            case_id=case.id,
            seq=repository.next_event_seq(session, case.id),
            from_status=from_status,
            to_status=to_status,
            note=note,
            actor=principal.username,
            at=now,
        )
    )
    session.flush()
    session.refresh(case)
    audit.record(
        session,
        actor=principal.username,
        action=f"relief_case_{to_status}",
        entity="relief_case",
        entity_id=case.id,
        detail={"from": from_status, "to": to_status},
    )
    return CaseView(case, repository.case_events(session, case.id), now)


# --- households at risk ---------------------------------------------------------------------


@dataclass(frozen=True)
class TownshipRisk:
    """Households watched and at risk in one township (街道/乡镇: a 9-digit region code)."""

    township: str
    watched: int
    at_risk: int
    anti_return: int
    temporary_relief: int


def risk_by_township(session: Session, principal: Principal) -> list[TownshipRisk]:
    """Counts by township inside the caller's jurisdiction, most at-risk first."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for household in repository.households_in(session, principal.jurisdiction):
        key = (household.region_code or "")[:9] or "-"
        row = counts[key]
        row[0] += 1
        if household.at_risk:
            row[1] += 1
            triggers = household.triggers.split(",")
            row[2] += "P-ANTI-RETURN" in triggers
            row[3] += "P-TEMP-RELIEF" in triggers
    rows = [TownshipRisk(code, *values) for code, values in counts.items()]
    return sorted(rows, key=lambda r: (-r.at_risk, r.township))


def households_at_risk(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The at-risk households of the caller's jurisdiction with their figures (audited)."""
    rows = repository.households_in(session, principal.jurisdiction, at_risk=True)
    audit.record(
        session,
        actor=principal.username,
        action="list_households_at_risk",
        entity="relief_household",
        entity_id="*",
        detail={"count": len(rows)},
    )
    return [
        {
            "id": h.household_id,
            "region_code": h.region_code,
            "status": h.status,
            "members": h.members,
            "oop_12m": float(Decimal(h.oop_12m)),
            "income_12m": float(Decimal(h.income_12m)),
            "triggers": [t for t in h.triggers.split(",") if t],
            "as_of": h.as_of,
        }
        for h in rows
    ]


# --- the fund -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FundView:
    balance: Decimal
    entries: list[ReliefFundEntry]
    total: int


def fund(session: Session, limit: int = 20, offset: int = 0) -> FundView:
    """The fund's balance and its latest ledger lines."""
    row = repository.fund(session, utcnow())
    total, entries = repository.fund_entries(session, limit, offset)
    return FundView(from_fen(row.balance_fen), entries, total)


def deposit(
    session: Session, actor: str, amount: Decimal | float | str, note: str | None = None
) -> ReliefFundEntry:
    """Put money into the fund (a budget allocation, a donation), audited.

    Raises:
        InvalidReliefInput: not a positive amount of yuan (up to 10 billion), or a long note.
    """
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidReliefInput(f"not an amount of yuan: {amount!r}") from None
    if not value.is_finite() or value <= 0 or value > MAX_DEPOSIT or money(value) != value:
        raise InvalidReliefInput("a deposit is a positive amount of yuan, to the fen")
    if note is not None and len(note) > 200:
        raise InvalidReliefInput("a note is at most 200 characters")
    now = utcnow()
    fen = to_fen(value)
    balance = repository.credit_fund(session, fen, now)
    entry = ReliefFundEntry(
        id=new_id(),
        fund_id=repository.FUND_ID,
        kind="deposit",
        amount_fen=fen,
        balance_fen=balance,
        note=note,
        actor=actor,
        at=now,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="relief_fund_deposit",
        entity="relief_fund",
        entity_id=repository.FUND_ID,
        detail={"amount": str(money(value)), "balance": str(from_fen(balance))},
    )
    return entry


def entries_of(entries: Iterable[ReliefFundEntry]) -> list[dict[str, Any]]:
    """Ledger lines as JSON-friendly data."""
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "amount": float(from_fen(e.amount_fen)),
            "balance": float(from_fen(e.balance_fen)),
            "case_id": e.case_id,
            "note": e.note,
            "actor": e.actor,
            "at": as_utc(e.at),
        }
        for e in entries
    ]

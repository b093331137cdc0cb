"""API shapes of the points domain: postings, statements, entry pages and the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from carematch.points.ledger import PointRules
from carematch.points.service import EntryView, PostingResult, Statement
from carematch.providers.catalogue import service_catalogue

# Stored in clear: one line, no control characters (PostgreSQL refuses NUL).
Memo = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Reason = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_]*$")]
UnitName = Literal["points", "minutes"]


class SourceRefIn(BaseModel):
    """What caused the posting, in the causing domain's words; the idempotency key.

    ``{"kind": "service_record", "id": "…"}``: posting the same source for the same person again
    returns the first entry (200) instead of posting twice. ``reversal`` is reserved.
    """

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")


class EarnRequest(BaseModel):
    """Staff credit a person for taking part in an activity of the earning rules."""

    person_id: Id
    activity: Code
    source_ref: SourceRefIn
    memo: Memo = ""


class RedeemRequest(BaseModel):
    """Spend points on a service of the redemption catalogue at its price.

    A resident redeems for themselves (``person_id`` may be left out); staff name the person.
    Give ``source_ref`` (the booking it pays for, or your own request key) to make a retry safe.
    """

    person_id: Id | None = None
    service: Code
    source_ref: SourceRefIn | None = None
    memo: Memo = ""


class TimebankRequest(BaseModel):
    """Staff record time-bank minutes: help a volunteer gave, or help a person received."""

    person_id: Id
    help_kind: Code
    minutes: int = Field(ge=1, le=1440)
    source_ref: SourceRefIn
    memo: Memo = ""


class ReverseRequest(BaseModel):
    """Why an entry is corrected (kept on the reversing entry)."""

    reason: Reason


class LinePublic(BaseModel):
    """One line of an entry: an account, its kind, the unit and the signed amount."""

    account: str
    account_kind: str
    unit: UnitName
    amount: int


class SourceRefPublic(BaseModel):
    """The source reference an entry was posted under."""

    kind: str
    id: str


class EntryPublic(BaseModel):
    """A journal entry; ``amount`` is what it moved on its person's account (signed)."""

    id: str
    kind: str
    code: str
    person_id: str
    unit: UnitName
    amount: int
    source_ref: SourceRefPublic
    reverses_id: str | None
    reversed_by: str | None
    memo: str
    created_at: datetime
    lines: list[LinePublic]

    @classmethod
    def of(cls, view: EntryView) -> EntryPublic:
        """The public shape of an entry view."""
        return cls(
            id=view.id,
            kind=view.kind,
            code=view.code,
            person_id=view.person_id,
            unit=view.unit,  # type: ignore[arg-type]
            amount=view.amount,
            source_ref=SourceRefPublic(kind=view.source_kind, id=view.source_id),
            reverses_id=view.reverses_id,
            reversed_by=view.reversed_by,
            memo=view.memo,
            created_at=view.created_at,
            lines=[
                LinePublic(
                    account=x.account,
                    account_kind=x.account_kind,
                    unit=x.unit,  # type: ignore[arg-type]
                    amount=x.amount,
                )
                for x in view.lines
            ],
        )


class PostingPublic(BaseModel):
    """The entry posted (or, with ``created`` false, the one the source had already posted)
    and the person's balance in its unit afterwards."""

    entry: EntryPublic
    created: bool
    unit: UnitName
    balance: int

    @classmethod
    def of(cls, result: PostingResult) -> PostingPublic:
        """The public shape of a posting result."""
        return cls(
            entry=EntryPublic.of(result.entry),
            created=result.created,
            unit=result.entry.unit,  # type: ignore[arg-type]
            balance=result.balance,
        )


class Balances(BaseModel):
    """A person's health points and time-bank minutes."""

    points: int
    minutes: int


class StatementPublic(BaseModel):
    """A person's balances and most recent entries (newest first)."""

    person_id: str
    balances: Balances
    recent: list[EntryPublic]

    @classmethod
    def of(cls, statement: Statement) -> StatementPublic:
        """The public shape of a statement."""
        return cls(
            person_id=statement.person_id,
            balances=Balances(**statement.balances),
            recent=[EntryPublic.of(v) for v in statement.recent],
        )


class EntriesPublic(BaseModel):
    """A page of a person's entries, newest first."""

    items: list[EntryPublic]
    total: int
    limit: int
    offset: int


class ActivityPublic(BaseModel):
    """An earning rule: the activity, its points, and the services whose record earns it."""

    code: str
    points: int
    name: str
    name_en: str
    services: list[str]


class RedemptionPublic(BaseModel):
    """A service that points pay for, with its price."""

    service: str
    name: str
    name_en: str
    price: int


class HelpKindPublic(BaseModel):
    """A kind of help exchanged through the time bank."""

    code: str
    name: str
    name_en: str


class RulesPublic(BaseModel):
    """What earns points, what they redeem, and the time bank's help kinds and rate."""

    activities: list[ActivityPublic]
    redemptions: list[RedemptionPublic]
    help_kinds: list[HelpKindPublic]
    minutes_per_minute: int
    max_minutes_per_record: int

    @classmethod
    def of(cls, rules: PointRules) -> RulesPublic:
        """The public shape of the rules, with service names from the catalogue."""
        catalogue = service_catalogue()
        return cls(
            activities=[
                ActivityPublic(
                    code=a.code,
                    points=a.points,
                    name=a.name,
                    name_en=a.name_en,
                    services=list(a.services),
                )
                for a in rules.activities.values()
            ],
            redemptions=[
                RedemptionPublic(
                    service=r.service_code,
                    name=catalogue[r.service_code].name,
                    name_en=catalogue[r.service_code].name_en,
                    price=r.price,
                )
                for r in rules.redemptions.values()
            ],
            help_kinds=[
                HelpKindPublic(code=h.code, name=h.name, name_en=h.name_en)
                for h in rules.help_kinds.values()
            ],
            minutes_per_minute=rules.minutes_per_minute,
            max_minutes_per_record=rules.max_minutes_per_record,
        )

"""Health points (健康积分) and the time bank (时间银行) as a double-entry ledger.

Pure: plain values in, plain values out; no database, no web. The database layer
(``repository.py``) stores what this module builds and checks, and must agree with the
in-memory :class:`Ledger` here, which is the reference the property tests drive.

Every movement is a journal entry of at least two lines whose amounts sum to zero in each unit.
Points and time-bank minutes are two units that never mix: an entry's points lines balance among
themselves and its minutes lines among themselves, and no rule converts one into the other.
Amounts are integers (points; time in minutes), so no rounding ever happens.

An account's balance is the sum of its lines. Sign convention: a person's account holds a
positive balance and may never go below zero; the programme's issuance accounts go negative by
what they have issued; the sinks (a service's redemptions, a help kind's time spent, expiry)
grow positive by what they have absorbed. The total of every account in a unit is therefore
always zero.

Entries are immutable. A correction is a reversing entry: the original's lines with their signs
flipped, keyed by the original's id, so an entry is reversed at most once. Every entry carries a
source reference (``("service_record", id)``, ``("health_talk", id)``, …) and posting the same
source for the same person twice gives back the first entry: a service record never earns twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Unit(StrEnum):
    """What an account counts: health points or time-bank minutes (never exchanged)."""

    POINTS = "points"
    MINUTES = "minutes"


class AccountKind(StrEnum):
    """The place of an account in the ledger."""

    PERSON = "person"  # a resident's points or minutes; never below zero
    ISSUANCE = "issuance"  # programme funding per activity: points are issued from here
    REDEMPTION = "redemption"  # per service: points spent on that service land here
    VOLUNTEERING = "volunteering"  # per help kind: minutes issued for help given
    HELP = "help"  # per help kind: minutes spent on help received land here
    EXPIRY = "expiry"  # per unit: what lapsed


class EntryKind(StrEnum):
    """Why an entry was posted (the verb of the entry)."""

    EARN = "earn"  # points for taking part: a check-up, a health talk, a questionnaire
    REDEEM = "redeem"  # points spent on a service of the catalogue
    VOLUNTEER = "volunteer"  # minutes earned for help given (time bank)
    RECEIVE_HELP = "receive_help"  # minutes spent on help received (time bank)
    EXPIRE = "expire"  # a balance that lapsed
    REVERSAL = "reversal"  # the correction of an earlier entry


REVERSAL_SOURCE = "reversal"
_SOURCE_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SOURCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class LedgerError(ValueError):
    """Base of what the ledger refuses."""


class UnbalancedEntry(LedgerError):
    """An entry whose lines do not balance, or that has fewer than two lines."""


class InvalidSource(LedgerError):
    """A source reference that is empty, too long or made of odd characters."""


class Overdrawn(LedgerError):
    """Posting would take an account that may not go negative below zero."""

    def __init__(self, account: Account, balance: int, amount: int) -> None:
        super().__init__(
            f"account {account.key} holds {balance} {account.unit}; {-amount} requested"
        )
        self.account = account
        self.balance = balance
        self.amount = amount


class SourceReused(LedgerError):
    """A source reference already posted a different entry for the same person."""


class NotReversible(LedgerError):
    """The entry cannot be reversed (it is itself a reversal, or was reversed already)."""


class RulesError(LedgerError):
    """The earning and redemption rules file is malformed."""


@dataclass(frozen=True)
class SourceRef:
    """What caused an entry, in the causing domain's words: ``("service_record", "ab12…")``.

    It is the entry's idempotency key (with the person): the same source never posts twice.
    """

    kind: str
    id: str

    def __post_init__(self) -> None:
        if not _SOURCE_KIND.match(self.kind):
            raise InvalidSource("source kind: 1-32 lower-case letters, digits or _")
        if not _SOURCE_ID.match(self.id):
            raise InvalidSource("source id: 1-64 letters, digits or _ . : -")

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Account:
    """One account of the ledger, named by a stable key (``person:<id>:points``)."""

    key: str
    kind: AccountKind
    unit: Unit
    person_id: str | None = None

    @property
    def overdraft_allowed(self) -> bool:
        """System accounts may go negative (issuance does by design); a person's may not."""
        return self.kind is not AccountKind.PERSON


def person_account(person_id: str, unit: Unit) -> Account:
    """A person's points account or time-bank account."""
    return Account(f"person:{person_id}:{unit}", AccountKind.PERSON, unit, person_id)


def issuance_account(activity: str) -> Account:
    """The programme account that funds the points of one activity."""
    return Account(f"issuance:{activity}", AccountKind.ISSUANCE, Unit.POINTS)


def redemption_account(service_code: str) -> Account:
    """The sink of the points spent on one service."""
    return Account(f"redemption:{service_code}", AccountKind.REDEMPTION, Unit.POINTS)


def volunteering_account(help_kind: str) -> Account:
    """The time bank's issuance of minutes for one kind of help given."""
    return Account(f"volunteering:{help_kind}", AccountKind.VOLUNTEERING, Unit.MINUTES)


def help_account(help_kind: str) -> Account:
    """The sink of the minutes spent on one kind of help received."""
    return Account(f"help:{help_kind}", AccountKind.HELP, Unit.MINUTES)


def expiry_account(unit: Unit) -> Account:
    """The sink of what lapsed, one per unit."""
    return Account(f"expiry:{unit}", AccountKind.EXPIRY, unit)


@dataclass(frozen=True)
class Line:
    """One side of an entry: an amount on an account (positive adds to its balance)."""

    account: Account
    amount: int


def check_balanced(lines: Iterable[Line]) -> tuple[Line, ...]:
    """Return the lines when they form a valid entry, else raise :class:`UnbalancedEntry`.

    Valid: at least two lines, each a non-zero integer on a distinct account, summing to zero in
    every unit.

    Examples:
        >>> a, b = person_account("p1", Unit.POINTS), issuance_account("health_talk")
        >>> len(check_balanced([Line(a, 20), Line(b, -20)]))
        2
    """
    lines = tuple(lines)
    if len(lines) < 2:
        raise UnbalancedEntry("an entry needs at least two lines")
    totals: dict[Unit, int] = defaultdict(int)
    seen: set[str] = set()
    for line in lines:
        if type(line.amount) is not int or line.amount == 0:
            raise UnbalancedEntry(f"line on {line.account.key}: amount must be a non-zero integer")
        if line.account.key in seen:
            raise UnbalancedEntry(f"account {line.account.key} appears twice in one entry")
        seen.add(line.account.key)
        totals[line.account.unit] += line.amount
    off = {str(unit): total for unit, total in totals.items() if total != 0}
    if off:
        raise UnbalancedEntry(f"lines do not sum to zero per unit: {off}")
    return lines


@dataclass(frozen=True)
class Posting:
    """A journal entry ready to post: balanced by construction (checked on creation).

    ``person_id`` is the person the entry is about; with ``source`` it is the idempotency key.
    ``code`` names the activity, service or help kind in the rules' words.
    """

    kind: EntryKind
    person_id: str
    code: str
    source: SourceRef
    lines: tuple[Line, ...]
    reverses: str | None = None
    memo: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", check_balanced(self.lines))
        # The reversal source kind is reserved: an earning posted under ("reversal", X) would
        # otherwise block the real correction of entry X forever.
        if (self.kind is EntryKind.REVERSAL) != (self.source.kind == REVERSAL_SOURCE):
            raise InvalidSource(f"source kind {REVERSAL_SOURCE!r} is reserved for reversals")
        if (self.kind is EntryKind.REVERSAL) != (self.reverses is not None):
            raise UnbalancedEntry("a reversal, and only a reversal, names the entry it reverses")

    def amount_for(self, account_key: str) -> int:
        """This entry's amount on one account (0 when it has no line there)."""
        return sum(line.amount for line in self.lines if line.account.key == account_key)

    def same_as(self, other: Posting) -> bool:
        """True when ``other`` posts the same movement (a replay, whatever its memo)."""
        return (self.kind, self.person_id, self.code, self.reverses) == (
            other.kind,
            other.person_id,
            other.code,
            other.reverses,
        ) and sorted((x.account.key, x.amount) for x in self.lines) == sorted(
            (x.account.key, x.amount) for x in other.lines
        )

    def debits_first(self) -> tuple[Line, ...]:
        """The lines in the order to apply them: guarded withdrawals first, then by account.

        A refused withdrawal then stops the entry before any other balance moved, and every
        transaction takes balance rows in the same order, so two of them cannot deadlock.
        """
        return tuple(
            sorted(
                self.lines,
                key=lambda x: (x.account.overdraft_allowed or x.amount > 0, x.account.key),
            )
        )


# ---- the rules: what earns, what redeems (data, see rules.yaml) ------------------------------


@dataclass(frozen=True)
class Activity:
    """Taking part in something that earns points (参与健康活动得积分)."""

    code: str
    points: int
    name: str
    name_en: str
    # Service catalogue codes whose service record earns this activity's points.
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class Redemption:
    """A service of the catalogue that points can pay for, and its price in points."""

    service_code: str
    price: int


@dataclass(frozen=True)
class HelpKind:
    """A kind of help exchanged through the time bank (陪伴、代购、陪诊 …)."""

    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class PointRules:
    """The earning and redemption rules, read from data (see ``rules.yaml``)."""

    activities: Mapping[str, Activity]
    redemptions: Mapping[str, Redemption]
    help_kinds: Mapping[str, HelpKind]
    # Minutes credited per minute of help given (1:1 unless the programme says otherwise).
    minutes_per_minute: int = 1
    # The longest help one record may log: a guard against a typo of 4800 for 480.
    max_minutes_per_record: int = 480
    _by_service: Mapping[str, Activity] = field(default_factory=dict, repr=False)

    def activity_for_service(self, service_code: str) -> Activity | None:
        """The activity a service record of ``service_code`` earns, if any."""
        return self._by_service.get(service_code)


def _positive_int(value: Any, where: str, upper: int = 1_000_000) -> int:
    if type(value) is not int or not 0 < value <= upper:
        raise RulesError(f"{where}: expected an integer from 1 to {upper}, got {value!r}")
    return value


def _names(raw: Any, where: str) -> tuple[str, str]:
    if not isinstance(raw, Mapping):
        raise RulesError(f"{where}: expected a mapping")
    name, name_en = raw.get("name"), raw.get("name_en")
    if not isinstance(name, str) or not name or not isinstance(name_en, str) or not name_en:
        raise RulesError(f"{where}: name and name_en are required")
    return name, name_en


def _code(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise RulesError(f"{where}: codes are lower-case letters, digits and _")
    return value


def parse_rules(raw: Any, known_services: Collection[str]) -> PointRules:
    """Check and build the rules from the parsed YAML; every service code must be known.

    Raises:
        RulesError: naming the first thing that is wrong.
    """
    if not isinstance(raw, Mapping):
        raise RulesError("the rules file must be a mapping")
    extra = set(raw) - {"activities", "redemptions", "timebank"}
    if extra:
        raise RulesError(f"unknown top-level keys: {sorted(extra)}")
    activities: dict[str, Activity] = {}
    by_service: dict[str, Activity] = {}
    for code, entry in (raw.get("activities") or {}).items():
        where = f"activities.{code}"
        name, name_en = _names(entry, where)
        services = tuple(entry.get("services") or ())
        for service in services:
            if service not in known_services:
                raise RulesError(f"{where}: unknown service code {service!r}")
            if service in by_service:
                raise RulesError(f"{where}: service {service!r} already earns another activity")
        activity = Activity(
            _code(code, where),
            _positive_int(entry.get("points"), f"{where}.points", 10_000),
            name,
            name_en,
            services,
        )
        activities[code] = activity
        by_service.update(dict.fromkeys(services, activity))
    redemptions: dict[str, Redemption] = {}
    for code, price in (raw.get("redemptions") or {}).items():
        if code not in known_services:
            raise RulesError(f"redemptions: unknown service code {code!r}")
        redemptions[code] = Redemption(code, _positive_int(price, f"redemptions.{code}", 100_000))
    timebank = raw.get("timebank") or {}
    if not isinstance(timebank, Mapping):
        raise RulesError("timebank: expected a mapping")
    help_kinds: dict[str, HelpKind] = {}
    for code, entry in (timebank.get("help_kinds") or {}).items():
        where = f"timebank.help_kinds.{code}"
        help_kinds[code] = HelpKind(_code(code, where), *_names(entry, where))
    if not activities or not redemptions or not help_kinds:
        raise RulesError("activities, redemptions and timebank.help_kinds must each be non-empty")
    return PointRules(
        activities=activities,
        redemptions=redemptions,
        help_kinds=help_kinds,
        minutes_per_minute=_positive_int(
            timebank.get("minutes_per_minute", 1), "timebank.minutes_per_minute", 60
        ),
        max_minutes_per_record=_positive_int(
            timebank.get("max_minutes_per_record", 480), "timebank.max_minutes_per_record", 1440
        ),
        _by_service=by_service,
    )


# ---- building entries --------------------------------------------------------------------------


def earn(person_id: str, activity: Activity, source: SourceRef, memo: str = "") -> Posting:
    """Points for taking part: the activity's issuance account funds the person's account."""
    return Posting(
        EntryKind.EARN,
        person_id,
        activity.code,
        source,
        (
            Line(person_account(person_id, Unit.POINTS), activity.points),
            Line(issuance_account(activity.code), -activity.points),
        ),
        memo=memo,
    )


def redeem(person_id: str, offer: Redemption, source: SourceRef, memo: str = "") -> Posting:
    """Points spent on a service: from the person's account to the service's sink."""
    return Posting(
        EntryKind.REDEEM,
        person_id,
        offer.service_code,
        source,
        (
            Line(person_account(person_id, Unit.POINTS), -offer.price),
            Line(redemption_account(offer.service_code), offer.price),
        ),
        memo=memo,
    )


def _minutes(rules: PointRules, minutes: int) -> int:
    if type(minutes) is not int or not 0 < minutes <= rules.max_minutes_per_record:
        raise LedgerError(f"minutes: from 1 to {rules.max_minutes_per_record} per record")
    return minutes


def volunteer(
    rules: PointRules,
    person_id: str,
    help_kind: HelpKind,
    minutes: int,
    source: SourceRef,
    memo: str = "",
) -> Posting:
    """Time-bank minutes for help given, at the programme's rate (1:1 by default)."""
    credited = _minutes(rules, minutes) * rules.minutes_per_minute
    return Posting(
        EntryKind.VOLUNTEER,
        person_id,
        help_kind.code,
        source,
        (
            Line(person_account(person_id, Unit.MINUTES), credited),
            Line(volunteering_account(help_kind.code), -credited),
        ),
        memo=memo,
    )


def receive_help(
    rules: PointRules,
    person_id: str,
    help_kind: HelpKind,
    minutes: int,
    source: SourceRef,
    memo: str = "",
) -> Posting:
    """Time-bank minutes spent on help received: from the person's account to the sink."""
    spent = _minutes(rules, minutes)
    return Posting(
        EntryKind.RECEIVE_HELP,
        person_id,
        help_kind.code,
        source,
        (
            Line(person_account(person_id, Unit.MINUTES), -spent),
            Line(help_account(help_kind.code), spent),
        ),
        memo=memo,
    )


def expire(person_id: str, unit: Unit, amount: int, source: SourceRef, memo: str = "") -> Posting:
    """A balance (or part of it) that lapsed, moved to the expiry account."""
    if type(amount) is not int or amount <= 0:
        raise LedgerError("an expiry moves a positive amount")
    return Posting(
        EntryKind.EXPIRE,
        person_id,
        f"expiry_{unit}",
        source,
        (
            Line(person_account(person_id, unit), -amount),
            Line(expiry_account(unit), amount),
        ),
        memo=memo,
    )


def reversal(entry_id: str, original: Posting, memo: str = "") -> Posting:
    """The entry that cancels ``original`` (posted as ``entry_id``): every line's sign flipped.

    Its source is ``("reversal", entry_id)``, so a second reversal of the same entry is the
    same posting again, never a second correction. A reversal is not itself reversible: post
    the movement again instead.
    """
    if original.kind is EntryKind.REVERSAL:
        raise NotReversible("a reversal cannot be reversed; post the entry again instead")
    return Posting(
        EntryKind.REVERSAL,
        original.person_id,
        original.code,
        SourceRef(REVERSAL_SOURCE, entry_id),
        tuple(Line(line.account, -line.amount) for line in original.lines),
        reverses=entry_id,
        memo=memo,
    )


def apply(balances: Mapping[str, int], posting: Posting) -> dict[str, int]:
    """The balances after ``posting``; raises :class:`Overdrawn` rather than go below zero.

    Examples:
        >>> talk = Activity("health_talk", 20, "健康讲座", "Health talk")
        >>> after = apply({}, earn("p1", talk, SourceRef("health_talk", "t1")))
        >>> after["person:p1:points"], after["issuance:health_talk"]
        (20, -20)
    """
    after = dict(balances)
    for line in posting.debits_first():
        balance = after.get(line.account.key, 0)
        if not line.account.overdraft_allowed and balance + line.amount < 0:
            raise Overdrawn(line.account, balance, line.amount)
        after[line.account.key] = balance + line.amount
    return after


@dataclass
class Posted:
    """What posting did: the entry's id, and whether it is new (False: a replay)."""

    entry_id: str
    created: bool


class Ledger:
    """The reference ledger in memory: what the database implementation must agree with.

    Posting is idempotent by (source, person); a refused posting changes nothing.
    """

    def __init__(self) -> None:
        self.entries: dict[str, Posting] = {}
        self.balances: dict[str, int] = {}
        self._by_source: dict[tuple[str, str, str], str] = {}
        self._reversed_by: dict[str, str] = {}

    def post(self, entry_id: str, posting: Posting) -> Posted:
        """Post ``posting`` as ``entry_id``, or return the entry its source already posted."""
        key = (posting.source.kind, posting.source.id, posting.person_id)
        if key in self._by_source:
            existing = self._by_source[key]
            if not self.entries[existing].same_as(posting):
                raise SourceReused(f"source {posting.source} already posted entry {existing}")
            return Posted(existing, False)
        self.balances = apply(self.balances, posting)
        self.entries[entry_id] = posting
        self._by_source[key] = entry_id
        if posting.reverses is not None:
            self._reversed_by[posting.reverses] = entry_id
        return Posted(entry_id, True)

    def reverse(self, entry_id: str, reversal_id: str, memo: str = "") -> Posted:
        """Post the reversal of ``entry_id`` (idempotent: a second call returns the first)."""
        return self.post(reversal_id, reversal(entry_id, self.entries[entry_id], memo))

    def reversed_by(self, entry_id: str) -> str | None:
        """The id of the entry that reversed ``entry_id``, if any."""
        return self._reversed_by.get(entry_id)

    def balance(self, account_key: str) -> int:
        """An account's maintained balance."""
        return self.balances.get(account_key, 0)

    def sum_of_lines(self, account_key: str) -> int:
        """An account's balance recomputed from every line ever posted on it."""
        return sum(p.amount_for(account_key) for p in self.entries.values())

"""Every query of the points domain.

Balances move by one conditional ``UPDATE`` per line, never by a read followed by a write from
Python: ``balance = balance + :amount WHERE id = :id AND (overdraft_allowed OR balance +
:amount >= 0)``. On PostgreSQL a concurrent update of the same row waits for the row lock and
then re-evaluates the condition against the committed balance (READ COMMITTED); on SQLite the
whole statement runs under the database's single write lock. Either way the update that would
overdraw matches no row, and the caller refuses the posting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carematch.core.ids import stable_id
from carematch.points.ledger import Account, Unit, person_account
from carematch.points.models import PointsAccount, PointsEntry, PointsLine


def account_id(key: str) -> str:
    """The id of the account named ``key`` (derived, so no query is needed to know it)."""
    return stable_id("acct", key)


def _insert(session: Session, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"points do not support the {dialect} dialect")


def ensure_accounts(session: Session, accounts: Iterable[Account]) -> None:
    """Create the accounts that do not exist yet; existing ones are left as they are.

    ``ON CONFLICT DO NOTHING``, so two transactions opening the same account at once both
    succeed; rows go in id order so concurrent openers take their locks in the same order.
    """
    unique = sorted({account_id(a.key): a for a in accounts}.items())
    rows = [
        {
            "id": key_id,
            "key": a.key,
            "kind": str(a.kind),
            "unit": str(a.unit),
            "person_id": a.person_id,
            "overdraft_allowed": a.overdraft_allowed,
            "balance": 0,
        }
        for key_id, a in unique
    ]
    if rows:
        stmt = _insert(session, PointsAccount).values(rows)
        session.execute(stmt.on_conflict_do_nothing(index_elements=[PointsAccount.id]))


def move_balance(session: Session, account: Account, amount: int) -> bool:
    """Add ``amount`` to the account's balance unless that would overdraw it; True when moved.

    One conditional UPDATE: the database, not Python, decides whether the balance suffices.
    """
    stmt = (
        update(PointsAccount)
        .where(PointsAccount.id == account_id(account.key))
        .values(balance=PointsAccount.balance + amount)
    )
    if not account.overdraft_allowed and amount < 0:
        stmt = stmt.where(PointsAccount.balance + amount >= 0)
    return len(session.execute(stmt.returning(PointsAccount.id)).all()) == 1


def balance_of(session: Session, account: Account) -> int:
    """An account's maintained balance (0 for an account never opened)."""
    found = session.scalar(
        select(PointsAccount.balance).where(PointsAccount.id == account_id(account.key))
    )
    return int(found or 0)


def entry_by_source(
    session: Session, source_kind: str, source_id: str, person_id: str
) -> PointsEntry | None:
    """The entry a source already posted for a person, if any (the idempotency look-up)."""
    return session.scalar(
        select(PointsEntry).where(
            PointsEntry.source_kind == source_kind,
            PointsEntry.source_id == source_id,
            PointsEntry.person_id == person_id,
        )
    )


def claim_entry(session: Session, values: Mapping[str, Any]) -> bool:
    """Insert the entry unless its (source, person) already posted one; True when inserted.

    ``ON CONFLICT DO NOTHING`` on the unique source key: a concurrent posting of the same
    source waits for the first to finish and then inserts nothing.
    """
    stmt = (
        _insert(session, PointsEntry)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[PointsEntry.source_kind, PointsEntry.source_id, PointsEntry.person_id]
        )
    )
    return len(session.execute(stmt.returning(PointsEntry.id)).all()) == 1


def add_lines(session: Session, entry_id: str, lines: Iterable[tuple[Account, int]]) -> None:
    """Write an entry's lines (after their balances moved)."""
    rows = [
        {
            "entry_id": entry_id,
            "account_id": account_id(account.key),
            "unit": str(account.unit),
            "amount": amount,
        }
        for account, amount in lines
    ]
    session.execute(insert(PointsLine), rows)


def get_entry(session: Session, entry_id: str) -> PointsEntry | None:
    """One entry by id."""
    return session.get(PointsEntry, entry_id)


@dataclass(frozen=True)
class StoredLine:
    """A line as read back, with its account's key and kind."""

    entry_id: str
    account_key: str
    account_kind: str
    unit: str
    amount: int


def lines_of(session: Session, entry_ids: Sequence[str]) -> dict[str, list[StoredLine]]:
    """The lines of each entry, in the order they were written."""
    out: dict[str, list[StoredLine]] = {e: [] for e in entry_ids}
    if not entry_ids:
        return out
    rows = session.execute(
        select(
            PointsLine.entry_id,
            PointsAccount.key,
            PointsAccount.kind,
            PointsLine.unit,
            PointsLine.amount,
        )
        .join(PointsAccount, PointsAccount.id == PointsLine.account_id)
        .where(PointsLine.entry_id.in_(entry_ids))
        .order_by(PointsLine.id)
    )
    for entry_id, key, kind, unit, amount in rows:
        out[entry_id].append(StoredLine(entry_id, key, kind, unit, int(amount)))
    return out


def reversals_of(session: Session, entry_ids: Sequence[str]) -> dict[str, str]:
    """Original entry id → the id of the entry that reversed it, for those reversed."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(PointsEntry.reverses_id, PointsEntry.id).where(
            PointsEntry.reverses_id.in_(entry_ids)
        )
    )
    return {original: rev for original, rev in rows if original is not None}


def person_balances(session: Session, person_id: str) -> dict[str, int]:
    """A person's balance in every unit (0 where no account was opened yet)."""
    keys = {person_account(person_id, unit).key: str(unit) for unit in Unit}
    rows = session.execute(
        select(PointsAccount.key, PointsAccount.balance).where(
            PointsAccount.id.in_([account_id(k) for k in keys])
        )
    )
    found = {keys[key]: int(balance) for key, balance in rows}
    return {str(unit): found.get(str(unit), 0) for unit in Unit}


def person_entries(
    session: Session, person_id: str, unit: Unit | None, limit: int, offset: int
) -> tuple[list[PointsEntry], int]:
    """A page of the entries that moved a person's points or minutes, newest first."""
    units = [unit] if unit is not None else list(Unit)
    accounts = [account_id(person_account(person_id, u).key) for u in units]
    where = PointsLine.account_id.in_(accounts)
    total = session.scalar(select(func.count()).select_from(PointsLine).where(where)) or 0
    # Line ids grow with every insert, so they order entries by posting even within a clock tick.
    page = session.scalars(
        select(PointsEntry)
        .join(PointsLine, PointsLine.entry_id == PointsEntry.id)
        .where(where)
        .order_by(PointsLine.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(page), int(total)


@dataclass(frozen=True)
class Mismatch:
    """An account whose maintained balance differs from the sum of its lines."""

    account_key: str
    balance: int
    sum_of_lines: int


@dataclass(frozen=True)
class LedgerCheck:
    """What a full check of the ledger found; every list empty means the ledger is sound."""

    accounts: int
    entries: int
    mismatches: list[Mismatch]
    unbalanced_entries: list[str]
    short_entries: list[str]
    negative_person_accounts: list[str]

    @property
    def sound(self) -> bool:
        """True when balances agree with lines, entries balance, and no person is negative."""
        return not (
            self.mismatches
            or self.unbalanced_entries
            or self.short_entries
            or self.negative_person_accounts
        )


def check_ledger(session: Session) -> LedgerCheck:
    """Recompute the ledger's invariants in SQL (aggregates, no row loop in Python)."""
    sums = (
        select(PointsLine.account_id, func.sum(PointsLine.amount).label("total"))
        .group_by(PointsLine.account_id)
        .subquery()
    )
    total = func.coalesce(sums.c.total, literal(0))
    mismatches = [
        Mismatch(key, int(balance), int(lines))
        for key, balance, lines in session.execute(
            select(PointsAccount.key, PointsAccount.balance, total)
            .outerjoin(sums, sums.c.account_id == PointsAccount.id)
            .where(PointsAccount.balance != total)
            .order_by(PointsAccount.key)
        )
    ]
    unbalanced = list(
        session.scalars(
            select(PointsLine.entry_id)
            .group_by(PointsLine.entry_id, PointsLine.unit)
            .having(func.sum(PointsLine.amount) != 0)
            .distinct()
        )
    )
    line_count = func.count(PointsLine.id)
    short = list(
        session.scalars(
            select(PointsEntry.id)
            .outerjoin(PointsLine, PointsLine.entry_id == PointsEntry.id)
            .group_by(PointsEntry.id)
            .having(line_count < 2)
        )
    )
    negative = list(
        session.scalars(
            select(PointsAccount.key).where(
                PointsAccount.overdraft_allowed.is_(False), PointsAccount.balance < 0
            )
        )
    )
    return LedgerCheck(
        accounts=session.scalar(select(func.count()).select_from(PointsAccount)) or 0,
        entries=session.scalar(select(func.count()).select_from(PointsEntry)) or 0,
        mismatches=mismatches,
        unbalanced_entries=sorted(set(unbalanced)),
        short_entries=sorted(short),
        negative_person_accounts=negative,
    )

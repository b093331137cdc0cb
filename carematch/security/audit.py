"""The append-only, hash-chained audit log (审计日志).

Every read of a person's record, every login and every administrative change appends one entry.
``verify`` recomputes the chain and reports the first entry that was changed, inserted or
removed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.security.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def entry_hash(
    seq: int,
    at: str,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    detail: str,
    prev_hash: str,
) -> str:
    """The hash that chains one entry to its predecessor."""
    canonical = json.dumps(
        [seq, at, actor, action, entity, entity_id, detail, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry; the caller's transaction commits it together with the audited work.

    ``detail`` must not hold names, ID numbers or phones: it is stored in clear.
    """
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one_or_none()
    if head is None:
        raise RuntimeError("the audit head row is missing: run `carematch db upgrade`")
    seq, prev = head
    at = utcnow().isoformat()
    detail_json = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
    digest = entry_hash(seq, at, actor, action, entity, entity_id, detail_json, prev)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        detail=detail_json,
        prev_hash=prev,
        hash=digest,
    )
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditProblem:
    """One break in the chain: the entry's sequence number and what is wrong with it."""

    seq: int
    problem: str


def verify(session: Session, batch: int = 10_000) -> tuple[int, list[AuditProblem]]:
    """Recompute the chain; return the number of entries checked and every problem found."""
    problems: list[AuditProblem] = []
    expected_seq, prev = 1, GENESIS
    checked = 0
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.seq > last_seq)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            checked += 1
            if row.seq != expected_seq:
                problems.append(
                    AuditProblem(expected_seq, f"missing entries {expected_seq}..{row.seq - 1}")
                )
            if row.prev_hash != prev:
                problems.append(AuditProblem(row.seq, "prev_hash does not match previous entry"))
            recomputed = entry_hash(
                row.seq,
                row.at,
                row.actor,
                row.action,
                row.entity,
                row.entity_id,
                row.detail,
                row.prev_hash,
            )
            if recomputed != row.hash:
                problems.append(AuditProblem(row.seq, "content altered (hash mismatch)"))
            prev, expected_seq, last_seq = row.hash, row.seq + 1, row.seq
    head = session.get(AuditHead, 1)
    if head is not None:
        if head.seq != last_seq:
            problems.append(
                AuditProblem(last_seq + 1, f"log ends at {last_seq}, head is {head.seq}")
            )
        elif head.hash != prev:
            problems.append(AuditProblem(last_seq, "last entry does not match head hash"))
    else:
        problems.append(AuditProblem(0, "audit head row missing"))
    return checked, problems

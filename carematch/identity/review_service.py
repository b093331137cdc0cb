"""Human review of uncertain links (人工复核): link, separate, and undo.

Every decision is audited, records what it moved so that it can be undone, and stays as a
constraint (a label) that later linkage runs obey.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput, NotFound
from carematch.core.ids import stable_id
from carematch.identity.models import Person, PersonLink, ReviewPair, SourceRecord
from carematch.identity.service import refresh_persons, visible_person
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix

DECISIONS = {"link": "linked", "separate": "separated"}


class ReviewPairNotFound(NotFound):
    type = "/problems/review-pair-not-found"
    title = "Review pair not found"


@dataclass
class PairView:
    """A pair with both records, their persons and the evidence as a waterfall."""

    pair: ReviewPair
    left: SourceRecord
    right: SourceRecord
    person_left: str | None
    person_right: str | None
    waterfall: list[dict[str, Any]]


def waterfall(evidence: dict[str, Any], probability: float) -> list[dict[str, Any]]:
    """Match-weight bars: the prior, each comparison's weight, and the final weight.

    The prior is whatever makes the bars add up to the pair's total weight, i.e.
    log2(λ / (1 - λ)) of the model.
    """
    bars = [
        {"comparison": name, "level": item.get("level", ""), "weight": float(item["weight"])}
        for name, item in evidence.items()
        if isinstance(item, dict) and "weight" in item
    ]
    p = min(max(probability, 1e-12), 1 - 1e-12)
    total = math.log2(p / (1 - p))
    prior = total - sum(b["weight"] for b in bars)
    return [
        {"comparison": "prior", "level": "", "weight": round(prior, 3)},
        *bars,
        {"comparison": "total", "level": f"p = {probability:.4f}", "weight": round(total, 3)},
    ]


def _scoped(stmt: Any, principal: Principal) -> Any:
    if principal.jurisdiction is None:
        return stmt
    return stmt.where(ReviewPair.community_code.like(region_prefix(principal.jurisdiction) + "%"))


def list_pairs(
    session: Session, principal: Principal, status: str, limit: int, offset: int
) -> tuple[int, list[ReviewPair]]:
    """Review pairs in the caller's jurisdiction, most uncertain (closest to 0.5) first."""
    base = _scoped(select(ReviewPair).where(ReviewPair.status == status), principal)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(func.abs(ReviewPair.probability - 0.5), ReviewPair.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return total, list(rows)


def _pair(session: Session, principal: Principal, pair_id: str) -> ReviewPair:
    pair = session.get(ReviewPair, pair_id)
    if pair is None or not principal.can_see(pair.community_code):
        raise ReviewPairNotFound(f"no review pair {pair_id}")
    return pair


def _person_of(session: Session, record_pk: str) -> str | None:
    return session.scalar(select(PersonLink.person_id).where(PersonLink.record_pk == record_pk))


def view_pair(session: Session, principal: Principal, pair_id: str) -> PairView:
    """Both records side by side with the evidence (the read is audited)."""
    pair = _pair(session, principal, pair_id)
    left = session.get(SourceRecord, pair.record_pk_l)
    right = session.get(SourceRecord, pair.record_pk_r)
    assert left is not None and right is not None
    audit.record(
        session,
        actor=principal.username,
        action="read_review_pair",
        entity="review_pair",
        entity_id=pair.id,
    )
    return PairView(
        pair,
        left,
        right,
        _person_of(session, left.id),
        _person_of(session, right.id),
        waterfall(json.loads(pair.evidence or "{}"), pair.probability),
    )


def _move(session: Session, record_pks: list[str], to_person: str) -> None:
    if session.get(Person, to_person) is None:
        # A split creates the new person; its golden record is filled by refresh_persons.
        session.add(Person(id=to_person, record_count=0))
        session.flush()
    session.execute(
        update(PersonLink)
        .where(PersonLink.record_pk.in_(record_pks))
        .values(person_id=to_person, method="review", probability=1.0)
    )


def decide(
    session: Session, principal: Principal, pair_id: str, decision: str, note: str = ""
) -> ReviewPair:
    """Link (merge the two persons) or separate (split the right record off) a pair."""
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of: {', '.join(DECISIONS)}")
    pair = _pair(session, principal, pair_id)
    if pair.status != "open":
        raise Conflict(f"pair already decided ({pair.status}); undo it first")
    left_person = _person_of(session, pair.record_pk_l)
    right_person = _person_of(session, pair.record_pk_r)
    change: dict[str, Any] = {"action": "none"}
    if decision == "link" and left_person and right_person and left_person != right_person:
        moved = list(
            session.scalars(
                select(PersonLink.record_pk).where(PersonLink.person_id == right_person)
            )
        )
        _move(session, moved, left_person)
        change = {"action": "merge", "from": right_person, "to": left_person, "moved": moved}
    elif decision == "separate" and left_person and left_person == right_person:
        new_person = stable_id("P", "split", pair.record_pk_r)[:21]
        _move(session, [pair.record_pk_r], new_person)
        change = {
            "action": "split",
            "from": left_person,
            "to": new_person,
            "moved": [pair.record_pk_r],
        }
    if change["action"] != "none":
        refresh_persons(session, {change["from"], change["to"]})
    pair.status = DECISIONS[decision]
    pair.decided_by = principal.username
    pair.decided_at = utcnow()
    pair.change = json.dumps(change)
    audit.record(
        session,
        actor=principal.username,
        action=f"review_{decision}",
        entity="review_pair",
        entity_id=pair.id,
        detail={"change": change["action"], "note_length": len(note)},
    )
    session.flush()
    return pair


def undo(session: Session, principal: Principal, pair_id: str) -> ReviewPair:
    """Reverse a decision: records go back where they were and the pair is open again."""
    pair = _pair(session, principal, pair_id)
    if pair.status == "open":
        raise Conflict("pair is not decided")
    change = json.loads(pair.change or "{}")
    if change.get("action") in {"merge", "split"}:
        _move(session, change["moved"], change["from"])
        refresh_persons(session, {change["from"], change["to"]})
    audit.record(
        session,
        actor=principal.username,
        action="review_undo",
        entity="review_pair",
        entity_id=pair.id,
        detail={"undone": pair.status, "change": change.get("action", "none")},
    )
    pair.status = "open"
    pair.decided_by = None
    pair.decided_at = None
    pair.change = "{}"
    session.flush()
    return pair


def separate_record(
    session: Session, principal: Principal, person_id: str, record_pk: str
) -> ReviewPair:
    """Split one record off a person it was wrongly linked to (from the person's page)."""
    visible_person(session, principal, person_id)
    pks = list(
        session.scalars(
            select(PersonLink.record_pk)
            .where(PersonLink.person_id == person_id)
            .order_by(PersonLink.record_pk)
        )
    )
    if record_pk not in pks:
        raise NotFound(f"record {record_pk} is not linked to person {person_id}")
    others = [pk for pk in pks if pk != record_pk]
    if not others:
        raise Conflict("the person has only this record")
    record = session.get(SourceRecord, record_pk)
    assert record is not None
    # The pair is (the person's anchor record, this record): undoing it restores the person.
    anchor = others[0]
    left, right = anchor, record_pk
    pair_id = stable_id("V", *sorted((left, right)))[:32]
    pair = session.scalar(
        select(ReviewPair).where(
            ((ReviewPair.record_pk_l == left) & (ReviewPair.record_pk_r == right))
            | ((ReviewPair.record_pk_l == right) & (ReviewPair.record_pk_r == left))
        )
    )
    if pair is None:
        pair = ReviewPair(
            id=pair_id,
            record_pk_l=left,
            record_pk_r=right,
            probability=1.0,
            match_weight=0.0,
            evidence="{}",
            community_code=record.community_code
            or session.scalar(select(Person.community_code).where(Person.id == person_id)),
            status="open",
        )
        session.add(pair)
        session.flush()
    elif pair.record_pk_l != left:
        pair.record_pk_l, pair.record_pk_r = left, right
    return decide(session, principal, pair.id, "separate")

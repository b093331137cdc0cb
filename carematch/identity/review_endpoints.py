"""The review queue (人工复核) over the API: list, inspect, decide, undo, separate."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.identity import review_service
from carematch.identity.models import ReviewPair
from carematch.identity.schemas import SourceRecordPublic
from carematch.security.authz import Principal, require

router = APIRouter(tags=["review"])
REVIEWERS = ("official", "doctor", "grid_worker", "civil_affairs")
Reviewer = Annotated[Principal, Depends(require(*REVIEWERS))]


class ReviewPairPublic(BaseModel):
    """A pair in the queue."""

    id: str
    record_pk_l: str
    record_pk_r: str
    probability: float
    match_weight: float
    community_code: str | None
    status: str
    decided_by: str | None
    change: dict[str, Any]

    @classmethod
    def of(cls, pair: ReviewPair) -> ReviewPairPublic:
        return cls(
            id=pair.id,
            record_pk_l=pair.record_pk_l,
            record_pk_r=pair.record_pk_r,
            probability=pair.probability,
            match_weight=pair.match_weight,
            community_code=pair.community_code,
            status=pair.status,
            decided_by=pair.decided_by,
            change=json.loads(pair.change or "{}"),
        )


class ReviewPairsPublic(BaseModel):
    items: list[ReviewPairPublic]
    total: int
    limit: int
    offset: int


class WaterfallBar(BaseModel):
    comparison: str
    level: str
    weight: float


class ReviewPairDetail(BaseModel):
    """Both records side by side, their current persons, and the match-weight waterfall."""

    pair: ReviewPairPublic
    left: SourceRecordPublic
    right: SourceRecordPublic
    person_left: str | None
    person_right: str | None
    waterfall: list[WaterfallBar]


class Decision(BaseModel):
    decision: Literal["link", "separate"]
    note: str = Field(default="", max_length=500)


@router.get("/review/pairs", response_model=ReviewPairsPublic)
def list_pairs(
    session: SessionDep,
    principal: Reviewer,
    status: Annotated[Literal["open", "linked", "separated"], Query()] = "open",
    limit: Limit = 50,
    offset: Offset = 0,
) -> ReviewPairsPublic:
    """Pairs awaiting (or past) review in the caller's jurisdiction."""
    total, pairs = review_service.list_pairs(session, principal, status, limit, offset)
    return ReviewPairsPublic(
        items=[ReviewPairPublic.of(p) for p in pairs], total=total, limit=limit, offset=offset
    )


def _detail(view: review_service.PairView) -> ReviewPairDetail:
    return ReviewPairDetail(
        pair=ReviewPairPublic.of(view.pair),
        left=SourceRecordPublic.of(view.left),
        right=SourceRecordPublic.of(view.right),
        person_left=view.person_left,
        person_right=view.person_right,
        waterfall=[WaterfallBar(**bar) for bar in view.waterfall],
    )


@router.get("/review/pairs/{pair_id}", response_model=ReviewPairDetail)
def get_pair(session: SessionDep, principal: Reviewer, pair_id: str) -> ReviewPairDetail:
    """One pair with both records and the evidence (audited)."""
    return _detail(review_service.view_pair(session, principal, pair_id))


@router.post("/review/pairs/{pair_id}/decision", response_model=ReviewPairPublic)
def decide(
    session: SessionDep, principal: Reviewer, pair_id: str, body: Decision
) -> ReviewPairPublic:
    """Link (merge the persons) or separate (split the record off); audited, reversible."""
    pair = review_service.decide(session, principal, pair_id, body.decision, body.note)
    return ReviewPairPublic.of(pair)


@router.post("/review/pairs/{pair_id}/undo", response_model=ReviewPairPublic)
def undo(session: SessionDep, principal: Reviewer, pair_id: str) -> ReviewPairPublic:
    """Reverse a decision (unmerge or re-join) and reopen the pair."""
    return ReviewPairPublic.of(review_service.undo(session, principal, pair_id))


@router.post("/persons/{person_id}/records/{record_pk}/separate", response_model=ReviewPairPublic)
def separate_record(
    session: SessionDep, principal: Reviewer, person_id: str, record_pk: str
) -> ReviewPairPublic:
    """Split a wrongly linked record off a person; undo the returned pair to restore it."""
    return ReviewPairPublic.of(
        review_service.separate_record(session, principal, person_id, record_pk)
    )

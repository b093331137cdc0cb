"""Cohort allocation under /api/v1/allocations (officials and admins); every route declares
its authorisation. A run outside the caller's jurisdiction answers 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.matching import cohort
from carematch.matching.models import AllocationRun
from carematch.matching.schemas import (
    AllocationCreate,
    AllocationRunDetail,
    AllocationRunPublic,
    AllocationRunsPublic,
    Decision,
    DecisionPublic,
    ProposalPublic,
    ProposalsPublic,
    ProposalStatus,
)
from carematch.security.authz import Principal, require

router = APIRouter(prefix="/allocations", tags=["matching"])

Allocator = Annotated[Principal, Depends(require("official"))]


def _public(session: Session, run: AllocationRun) -> AllocationRunPublic:
    return AllocationRunPublic.of(run, cohort.status_counts(session, run))


@router.post("", status_code=201, response_model=AllocationRunPublic)
def create_allocation(
    session: SessionDep, principal: Allocator, body: AllocationCreate
) -> AllocationRunPublic:
    """Allocate a cohort (open demands for a service, by tags and region) to providers.

    Every demand of the cohort gets a proposal (a provider, or none and why); the summary
    gives the coverage and the distances. Persons already holding a live proposal for the
    service are left out.
    """
    run = cohort.propose_allocation(
        session,
        principal,
        cohort.CohortFilter(body.service, tuple(body.tags), body.region),
        max_km=body.max_km,
        wait_weight=body.wait_weight,
        days=body.days,
    )
    return _public(session, run)


@router.get("", response_model=AllocationRunsPublic)
def list_allocations(
    session: SessionDep, principal: Allocator, limit: Limit = 20, offset: Offset = 0
) -> AllocationRunsPublic:
    """Allocation runs drawn from inside the caller's jurisdiction, newest first."""
    total, runs = cohort.list_runs(session, principal, limit=limit, offset=offset)
    return AllocationRunsPublic(
        items=[_public(session, r) for r in runs], total=total, limit=limit, offset=offset
    )


@router.get("/{run_id}", response_model=AllocationRunDetail)
def get_allocation(
    session: SessionDep,
    principal: Allocator,
    run_id: str,
    status: Annotated[ProposalStatus | None, Query(description="only proposals in it")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AllocationRunDetail:
    """A run's parameters and summary, with one page of its proposals (most urgent first)."""
    run = cohort.get_run(session, principal, run_id)
    total, items = cohort.list_proposals(
        session, principal, run.id, status=status, limit=limit, offset=offset
    )
    base = _public(session, run)
    return AllocationRunDetail(
        **base.model_dump(),
        proposals=ProposalsPublic(
            items=[ProposalPublic.of(p) for p in items], total=total, limit=limit, offset=offset
        ),
    )


@router.post("/{run_id}/confirm", response_model=DecisionPublic)
def confirm_allocation(
    session: SessionDep, principal: Allocator, run_id: str, body: Decision
) -> DecisionPublic:
    """Confirm listed proposals, or all awaiting a decision; asking again changes nothing.

    A confirmed proposal is kept for the booking domain to turn into an appointment.
    """
    result = cohort.confirm(session, principal, run_id, None if body.all else body.proposal_ids)
    return DecisionPublic(
        run_id=result.run.id,
        decision=result.decision,
        changed=len(result.changed),
        run=_public(session, result.run),
    )


@router.post("/{run_id}/reject", response_model=DecisionPublic)
def reject_allocation(
    session: SessionDep, principal: Allocator, run_id: str, body: Decision
) -> DecisionPublic:
    """Reject listed proposals, or all awaiting a decision; the demands return to the pool."""
    result = cohort.reject(session, principal, run_id, None if body.all else body.proposal_ids)
    return DecisionPublic(
        run_id=result.run.id,
        decision=result.decision,
        changed=len(result.changed),
        run=_public(session, result.run),
    )

"""The feedback API under /api/v1; every route declares its authorisation (security.authz).

Complaints (``/complaints``): residents file their own and read only their own; staff register
complaints from every channel; officials read and handle those of their jurisdiction. The
rectification ledger (``/rectifications``): officials open findings and items and verify
closures; doctors (the providers' side) read items of their jurisdiction and report progress.
Low-rating flags: officials recompute (``POST /providers/flags/recompute``) and read them
(``GET /provider-flags``: ``GET /providers/{id}`` of the registry would shadow
``/providers/flags``). The progress board (``GET /board``) is public and holds no personal data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.feedback import service
from carematch.feedback.flags import PeriodMean
from carematch.feedback.schemas import (
    BoardPublic,
    CategoryPublic,
    ComplaintCreate,
    ComplaintDetail,
    ComplaintsPublic,
    ComplaintStatus,
    ComplaintSummary,
    FindingCreate,
    FindingPublic,
    FlagPublic,
    FlagRecompute,
    FlagRecomputePublic,
    FlagsPublic,
    Id,
    RectificationPublic,
    RectificationsPublic,
    RectificationUpdate,
    RegionCode,
    ShownItemStatus,
    TransitionRequest,
    categories_public,
)
from carematch.security.authz import Principal, public, require

router = APIRouter(tags=["feedback"])

# Anyone at a desk, a door or a phone may take a complaint down; residents file their own.
FILERS = ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs", "resident")
# Complaint texts are read by the complainant and by the officials who handle them.
COMPLAINT_READERS = ("official", "resident")
# The ledger is kept by officials and worked on by the providers' doctors.
LEDGER_WORKERS = ("official", "doctor")

Filer = Annotated[Principal, Depends(require(*FILERS))]
ComplaintReader = Annotated[Principal, Depends(require(*COMPLAINT_READERS))]
Official = Annotated[Principal, Depends(require("official"))]
LedgerWorker = Annotated[Principal, Depends(require(*LEDGER_WORKERS))]
PUBLIC = [Depends(public())]

IdFilter = Annotated[Id | None, Query()]
CategoryFilter = Annotated[str | None, Query(min_length=1, max_length=32)]

Responses = dict[int | str, dict[str, Any]]
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
NOT_FOUND: Responses = {404: {"description": "not visible to the caller", **_PROBLEM}}
CONFLICT: Responses = {409: {"description": "not allowed from the current status", **_PROBLEM}}
INVALID: Responses = {400: {"description": "invalid input", **_PROBLEM}}
OUTSIDE: Responses = {403: {"description": "outside the caller's jurisdiction", **_PROBLEM}}


# --- complaints ----------------------------------------------------------------------------


@router.get("/complaints/categories", response_model=list[CategoryPublic], dependencies=PUBLIC)
def complaint_categories() -> list[CategoryPublic]:
    """The complaint categories and the deadline each gives (办理时限)."""
    return categories_public()


@router.post(
    "/complaints",
    response_model=ComplaintDetail,
    status_code=201,
    responses={**INVALID, **NOT_FOUND},
)
def file_complaint(session: SessionDep, principal: Filer, body: ComplaintCreate) -> ComplaintDetail:
    """File a complaint (a resident, in their own name) or register one (staff, any channel).

    The category gives the deadline; the provider's region (else ``region_code``, else the
    complainant's community) decides who handles it.
    """
    view = service.file_complaint(
        session,
        principal,
        channel=body.channel,
        category=body.category,
        text=body.text,
        provider_id=body.provider_id,
        service_code=body.service,
        person_id=body.person_id,
        contact=body.contact,
        region_code=body.region_code,
        received_at=body.received_at,
    )
    return ComplaintDetail.of(view)


@router.get("/complaints", response_model=ComplaintsPublic, responses=INVALID)
def list_complaints(
    session: SessionDep,
    principal: ComplaintReader,
    limit: Limit = 50,
    offset: Offset = 0,
    status: ComplaintStatus | None = None,
    category: CategoryFilter = None,
    provider_id: IdFilter = None,
    overdue: bool | None = None,
) -> ComplaintsPublic:
    """Complaints the caller may see, newest first, without their text."""
    total, views = service.list_complaints(
        session,
        principal,
        limit=limit,
        offset=offset,
        status=status,
        category=category,
        provider_id=provider_id,
        overdue=overdue,
    )
    return ComplaintsPublic(
        items=[ComplaintSummary.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/complaints/{complaint_id}", response_model=ComplaintDetail, responses=NOT_FOUND)
def get_complaint(
    session: SessionDep, principal: ComplaintReader, complaint_id: str
) -> ComplaintDetail:
    """One complaint with its text and history (the read is audited)."""
    return ComplaintDetail.of(service.read_complaint(session, principal, complaint_id))


@router.post(
    "/complaints/{complaint_id}/transitions",
    response_model=ComplaintDetail,
    responses={**NOT_FOUND, **CONFLICT},
)
def transition_complaint(
    session: SessionDep, principal: Official, complaint_id: str, body: TransitionRequest
) -> ComplaintDetail:
    """Move a complaint: accept, investigate, answer (with the answer), close, or reject
    (with the reason). A move its status does not allow is a 409 listing the allowed ones."""
    view = service.transition_complaint(session, principal, complaint_id, body.to, body.note)
    return ComplaintDetail.of(view)


# --- the rectification ledger --------------------------------------------------------------


@router.post(
    "/rectifications",
    response_model=FindingPublic,
    status_code=201,
    responses={**INVALID, **NOT_FOUND, **CONFLICT, **OUTSIDE},
)
def open_finding(session: SessionDep, principal: Official, body: FindingCreate) -> FindingPublic:
    """Record a finding of a complaint or an inspection and open its rectification items."""
    finding, items = service.open_finding(
        session,
        principal,
        source=body.source,
        text=body.text,
        items=[
            service.ItemDraft(
                measure=i.measure,
                deadline=i.deadline,
                owner_kind=i.owner_kind,
                provider_id=i.provider_id,
                department=i.department,
            )
            for i in body.items
        ],
        complaint_id=body.complaint_id,
        inspection_ref=body.inspection_ref,
        provider_id=body.provider_id,
        category=body.category,
        region_code=body.region_code,
    )
    return FindingPublic.of(finding, items)


@router.get("/rectifications", response_model=RectificationsPublic, responses=INVALID)
def list_rectifications(
    session: SessionDep,
    principal: LedgerWorker,
    limit: Limit = 50,
    offset: Offset = 0,
    status: ShownItemStatus | None = None,
    category: CategoryFilter = None,
    provider_id: IdFilter = None,
    complaint_id: IdFilter = None,
) -> RectificationsPublic:
    """Ledger items of the caller's jurisdiction, the nearest deadline first."""
    total, views = service.list_items(
        session,
        principal,
        limit=limit,
        offset=offset,
        status=status,
        category=category,
        provider_id=provider_id,
        complaint_id=complaint_id,
    )
    return RectificationsPublic(
        items=[RectificationPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/rectifications/{item_id}", response_model=RectificationPublic, responses=NOT_FOUND)
def get_rectification(
    session: SessionDep, principal: LedgerWorker, item_id: str
) -> RectificationPublic:
    """One ledger item."""
    return RectificationPublic.of(service.get_item(session, principal, item_id))


@router.patch(
    "/rectifications/{item_id}",
    response_model=RectificationPublic,
    responses={**INVALID, **NOT_FOUND, **CONFLICT},
)
def update_rectification(
    session: SessionDep, principal: LedgerWorker, item_id: str, body: RectificationUpdate
) -> RectificationPublic:
    """Report progress (a status, evidence, or both); an official verifies the closure."""
    view = service.update_item(
        session,
        principal,
        item_id,
        status=body.status,
        evidence_text=body.evidence_text,
        evidence_file=body.evidence_file,
    )
    return RectificationPublic.of(view)


# --- low-rating flags ----------------------------------------------------------------------


@router.post(
    "/providers/flags/recompute",
    response_model=FlagRecomputePublic,
    responses=INVALID,
)
def recompute_flags(
    session: SessionDep, principal: Official, body: FlagRecompute | None = None
) -> FlagRecomputePublic:
    """Flag providers of the caller's jurisdiction whose mean rating stayed low for
    consecutive periods: the residents' ratings of their visits, or the period means posted
    (another source, e.g. a telephone survey). Idempotent: rerunning adds nothing."""
    body = body or FlagRecompute()
    means = (
        [PeriodMean(m.provider_id, m.period, m.mean, m.count) for m in body.means]
        if body.means is not None
        else None
    )
    summary = service.recompute_flags(
        session, principal, body.rule(), as_of=body.as_of, means=means
    )
    return FlagRecomputePublic.of(summary)


@router.get("/provider-flags", response_model=FlagsPublic)
def list_flags(
    session: SessionDep,
    principal: Official,
    limit: Limit = 50,
    offset: Offset = 0,
    provider_id: IdFilter = None,
) -> FlagsPublic:
    """Providers flagged for qualification review in the caller's jurisdiction."""
    total, flags = service.list_flags(
        session, principal, limit=limit, offset=offset, provider_id=provider_id
    )
    return FlagsPublic(
        items=[FlagPublic.of(f) for f in flags], total=total, limit=limit, offset=offset
    )


# --- the public progress board -------------------------------------------------------------


@router.get("/board", response_model=BoardPublic, responses=INVALID, dependencies=PUBLIC)
def progress_board(
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    region: Annotated[RegionCode | None, Query(description="a region code, any level")] = None,
    status: ShownItemStatus | None = None,
) -> BoardPublic:
    """The public progress board (公示): complaints and rectification items by status and
    category, on-time rates, and each item's public fields. No complainant, no complaint
    text, no evidence."""
    board = service.board(session, region=region, status=status, limit=limit, offset=offset)
    return BoardPublic.of(board, limit, offset)

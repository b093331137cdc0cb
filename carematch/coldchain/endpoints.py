"""The cold-chain API under /api/v1/coldchain; every route declares its authorisation.

The log itself is public, like the certificate verify page: the events (which name lots and
places, never persons), the signed checkpoints, the proofs and the log's public key can be read
by anyone, so that anyone can audit the log (R-VX-6). Lots, telemetry and alarms are for the
staff who handle vaccines; the recall list names persons, so it is for officials, doctors and
vaccinators of the persons' jurisdiction, and its reads are audited.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import PlainTextResponse

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.coldchain import repository, service
from carematch.coldchain.errors import CheckpointNotFound
from carematch.coldchain.models import ColdChainCheckpoint
from carematch.coldchain.schemas import (
    AlarmPublic,
    AlarmsPublic,
    CheckpointPublic,
    ConsistencyPublic,
    EventCreate,
    EventPublic,
    EventsPublic,
    ImportPublic,
    InclusionPublic,
    LotCreate,
    LotPublic,
    LotsPublic,
    RecallCreate,
    RecallEntryPublic,
    RecallPublic,
    RejectedReadingPublic,
    RejectedReadingsPublic,
    TelemetryUpload,
    VerifyPublic,
)
from carematch.security.authz import Principal, public, require

router = APIRouter(prefix="/coldchain", tags=["cold chain"])

# Vaccinators and officials handle lots and loggers; doctors may read them.
Handler = Annotated[Principal, Depends(require("official", "vaccinator"))]
Reader = Annotated[Principal, Depends(require("official", "doctor", "vaccinator"))]
Public = [Depends(public())]

IdQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
SizeQuery = Annotated[int, Query(ge=0, le=2**62)]
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "refused as given", **_PROBLEM},
    404: {"description": "not found or not visible", **_PROBLEM},
    409: {"description": "conflicts with the current state", **_PROBLEM},
}


def _checkpoint(row: ColdChainCheckpoint) -> CheckpointPublic:
    return CheckpointPublic(
        size=row.size, root_hash=row.root_hash, key_id=row.key_id, note=row.note
    )


# --- lots -------------------------------------------------------------------------------------


@router.post("/lots", response_model=LotPublic, status_code=201, responses=ERRORS)
def create_lot(
    session: SessionDep, principal: Handler, body: LotCreate, response: Response
) -> LotPublic:
    """Register a lot received at a fridge, box or site; logs its "received" event."""
    lot, _ = service.register_lot(
        session,
        principal,
        manufacturer=body.manufacturer,
        product=body.product,
        lot_number=body.lot_number,
        expiry=body.expiry,
        vvm_stage=body.vvm_stage,
        location_id=body.location_id,
        received_at=body.received_at,
        region_code=body.region_code,
    )
    response.headers["Location"] = f"/api/v1/coldchain/lots/{lot.id}"
    return LotPublic.of(lot)


@router.get("/lots", response_model=LotsPublic)
def list_lots(
    session: SessionDep,
    principal: Reader,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(pattern=r"^(usable|suspect|recalled|discarded)$")] = None,
) -> LotsPublic:
    """Lots of the caller's jurisdiction, oldest first."""
    total, rows = repository.list_lots(
        session, principal.jurisdiction, limit=limit, offset=offset, status=status
    )
    return LotsPublic(
        items=[LotPublic.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/lots/{lot_id}", response_model=LotPublic, responses=ERRORS)
def get_lot(session: SessionDep, principal: Reader, lot_id: str) -> LotPublic:
    """One lot; 404 outside the caller's jurisdiction."""
    return LotPublic.of(service.visible_lot(session, principal, lot_id))


@router.post("/lots/{lot_id}/events", response_model=EventPublic, status_code=201, responses=ERRORS)
def add_event(
    session: SessionDep, principal: Handler, lot_id: str, body: EventCreate
) -> EventPublic:
    """Log a step of the lot's path: stored in a fridge, shipped in a box, discarded."""
    event = service.record_event(
        session,
        principal,
        lot_id,
        body.kind,
        location_id=body.location_id,
        at=body.at,
        vvm_stage=body.vvm_stage,
        note=body.note,
    )
    return EventPublic(**service.parse_events([event])[0])


@router.post("/lots/{lot_id}/recall", response_model=LotPublic, responses=ERRORS)
def recall_lot(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("official"))],
    lot_id: str,
    body: RecallCreate,
) -> LotPublic:
    """Recall a lot (officials): no more doses from it; the recall is logged."""
    return LotPublic.of(service.recall_lot(session, principal, lot_id, body.reason))


@router.get("/lots/{lot_id}/recall-list", response_model=RecallPublic, responses=ERRORS)
def lot_recall_list(session: SessionDep, principal: Reader, lot_id: str) -> RecallPublic:
    """Every person dosed from the lot (in the caller's jurisdiction); the read is audited."""
    return _recall(*service.recall_entries(session, principal, lot_id=lot_id))


# --- the public log ---------------------------------------------------------------------------


@router.get("/events", response_model=EventsPublic, dependencies=Public)
def list_events(
    session: SessionDep, limit: Limit = 100, offset: Offset = 0, lot_id: IdQuery = None
) -> EventsPublic:
    """The log's events in leaf order (public: no event names a person)."""
    rows = repository.events(session, limit=limit, offset=offset, lot_id=lot_id)
    return EventsPublic(
        items=[EventPublic(**e) for e in service.parse_events(rows)],
        size=repository.log_size(session),
        limit=limit,
        offset=offset,
    )


@router.get("/checkpoint", response_model=CheckpointPublic, dependencies=Public)
def get_checkpoint(session: SessionDep) -> CheckpointPublic:
    """The newest signed checkpoint (C2SP tlog-checkpoint in a signed note)."""
    return _checkpoint(service.latest_checkpoint(session))


@router.get("/checkpoint/note", response_class=PlainTextResponse, dependencies=Public)
def get_checkpoint_note(session: SessionDep) -> PlainTextResponse:
    """The newest checkpoint as the plain signed note, for transparency tooling."""
    return PlainTextResponse(service.latest_checkpoint(session).note)


@router.get(
    "/checkpoints/{size}", response_model=CheckpointPublic, responses=ERRORS, dependencies=Public
)
def get_checkpoint_of_size(session: SessionDep, size: int) -> CheckpointPublic:
    """The stored checkpoint of one tree size."""
    row = repository.checkpoint_of_size(session, size) if 0 <= size < 2**62 else None
    if row is None:
        raise CheckpointNotFound(f"no checkpoint of size {size}")
    return _checkpoint(row)


@router.get("/key", response_class=PlainTextResponse, dependencies=Public)
def get_key() -> PlainTextResponse:
    """The log's public key (PEM); the verifier key string is in the X-Note-Verifier header."""
    verifier = service.log_verifier()
    return PlainTextResponse(
        verifier.to_pem().decode("ascii"), headers={"X-Note-Verifier": verifier.vkey()}
    )


@router.get(
    "/proofs/inclusion/{leaf_index}",
    response_model=InclusionPublic,
    responses=ERRORS,
    dependencies=Public,
)
def inclusion_proof(session: SessionDep, leaf_index: int) -> InclusionPublic:
    """An event, its inclusion proof and the signed checkpoint it proves against."""
    return InclusionPublic(**service.inclusion_bundle(session, leaf_index))


@router.get(
    "/proofs/consistency", response_model=ConsistencyPublic, responses=ERRORS, dependencies=Public
)
def consistency_proof(
    session: SessionDep, first: SizeQuery, second: SizeQuery
) -> ConsistencyPublic:
    """A consistency proof from size ``first`` to ``second`` (``first`` 0 is refused: policy)."""
    return ConsistencyPublic(**service.consistency_bundle(session, first, second))


@router.get("/verify", response_model=VerifyPublic, dependencies=Public)
def verify(session: SessionDep) -> VerifyPublic:
    """Recompute the tree from the stored events and check every stored checkpoint."""
    return VerifyPublic(**service.verify_log(session).as_json())


# --- telemetry and alarms ---------------------------------------------------------------------


@router.post("/telemetry", response_model=ImportPublic, responses=ERRORS)
def upload_telemetry(
    session: SessionDep, principal: Handler, body: TelemetryUpload
) -> ImportPublic:
    """Readings from a logger, checked and evaluated as a CSV import is."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["device_id", "at", "celsius"])
    for reading in body.readings:
        writer.writerow([reading.device_id, reading.at, reading.celsius])
    result = service.import_readings(session, principal, text.getvalue(), body.source)
    return ImportPublic(**result.as_json())


@router.get("/telemetry/rejected", response_model=RejectedReadingsPublic)
def list_rejected(
    session: SessionDep, principal: Reader, limit: Limit = 50, offset: Offset = 0
) -> RejectedReadingsPublic:
    """Telemetry rows that were not used, with their reason, oldest first."""
    rows = repository.rejections(session, limit=limit, offset=offset)
    return RejectedReadingsPublic(
        items=[
            RejectedReadingPublic(
                source=r.source, line=r.line, raw=r.raw, reason=r.reason, created_at=r.created_at
            )
            for r in rows
        ],
        limit=limit,
        offset=offset,
    )


@router.get("/alarms", response_model=AlarmsPublic)
def list_alarms(
    session: SessionDep,
    principal: Reader,
    limit: Limit = 50,
    offset: Offset = 0,
    device_id: IdQuery = None,
) -> AlarmsPublic:
    """Stored alarms, oldest first."""
    total, rows = repository.alarms(session, device_id=device_id, limit=limit, offset=offset)
    return AlarmsPublic(
        items=[AlarmPublic.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/alarms/{alarm_id}/recall-list", response_model=RecallPublic, responses=ERRORS)
def alarm_recall_list(session: SessionDep, principal: Reader, alarm_id: str) -> RecallPublic:
    """Every person dosed from a lot the alarm's excursion exposed; the read is audited."""
    return _recall(*service.recall_entries(session, principal, alarm_id=alarm_id))


def _recall(lots: list[str], entries: list[Any]) -> RecallPublic:
    return RecallPublic(
        lots=lots,
        persons=sorted({e.person_id for e in entries}),
        doses=[
            RecallEntryPublic(
                person_id=e.person_id,
                lot_id=e.lot_id,
                administered_at=e.administered_at,
                after_exposure=e.after_exposure,
            )
            for e in entries
        ],
    )

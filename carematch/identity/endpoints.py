"""Persons (jurisdiction-scoped, audited) and ingest runs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, UploadFile

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.identity import repository, service
from carematch.identity.errors import PersonNotFound, RunNotFound
from carematch.identity.schemas import (
    IngestRunPublic,
    IngestRunsPublic,
    PersonDetail,
    PersonsPublic,
    PersonSummary,
    QuarantinedRowPublic,
    QuarantinePublic,
    RecordsPublic,
    SourceRecordPublic,
)
from carematch.security import audit
from carematch.security.authz import Principal, require

router = APIRouter(tags=["identity"])

PERSON_READERS = ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs", "resident")
PersonReader = Annotated[Principal, Depends(require(*PERSON_READERS))]
DataAdmin = Annotated[Principal, Depends(require("official"))]


def _check_resident(principal: Principal, person_id: str) -> None:
    # A resident reads only their own record; any other id is "not found".
    if principal.role == "resident" and principal.person_id != person_id:
        raise PersonNotFound(f"no person {person_id}")


@router.get("/persons", response_model=PersonsPublic)
def list_persons(
    session: SessionDep, principal: PersonReader, limit: Limit = 50, offset: Offset = 0
) -> PersonsPublic:
    """Persons in the caller's jurisdiction, identifiers masked."""
    if principal.role == "resident":
        own = repository.get_person(session, principal.person_id) if principal.person_id else None
        items = [PersonSummary.of(own)] if own else []
        return PersonsPublic(items=items, total=len(items), limit=limit, offset=offset)
    total, people = repository.list_persons(session, principal.jurisdiction, limit, offset)
    audit.record(
        session,
        actor=principal.username,
        action="list_persons",
        entity="person",
        entity_id="*",
        detail={"count": len(people), "offset": offset},
    )
    return PersonsPublic(
        items=[PersonSummary.of(p) for p in people], total=total, limit=limit, offset=offset
    )


@router.get("/persons/{person_id}", response_model=PersonDetail)
def get_person(session: SessionDep, principal: PersonReader, person_id: str) -> PersonDetail:
    """A person's golden record and every contributing source record (audited)."""
    _check_resident(principal, person_id)
    person, records = service.read_person(session, principal, person_id)
    return PersonDetail(
        id=person.id,
        name=person.name,
        id_number=person.id_number,
        sex=person.sex,
        birth_date=person.birth_date,
        phone=person.phone,
        address=person.address,
        community_code=person.community_code,
        hukou=person.hukou,
        records=[SourceRecordPublic.of(r) for r in records],
    )


@router.get("/persons/{person_id}/records", response_model=RecordsPublic)
def get_person_records(
    session: SessionDep,
    principal: PersonReader,
    person_id: str,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RecordsPublic:
    """The source records linked to a person (audited)."""
    _check_resident(principal, person_id)
    _, records = service.read_person(session, principal, person_id)
    page = records[offset : offset + limit]
    return RecordsPublic(
        items=[SourceRecordPublic.of(r) for r in page],
        total=len(records),
        limit=limit,
        offset=offset,
    )


@router.get("/ingest/runs", response_model=IngestRunsPublic)
def list_runs(
    session: SessionDep, principal: DataAdmin, limit: Limit = 50, offset: Offset = 0
) -> IngestRunsPublic:
    """Ingest runs, newest first."""
    total, runs = repository.list_runs(session, limit, offset)
    return IngestRunsPublic(
        items=[IngestRunPublic.of(r) for r in runs], total=total, limit=limit, offset=offset
    )


@router.get("/ingest/runs/{run_id}", response_model=IngestRunPublic)
def get_run(session: SessionDep, principal: DataAdmin, run_id: str) -> IngestRunPublic:
    """One ingest run's counts."""
    run = repository.get_run(session, run_id)
    if run is None:
        raise RunNotFound(f"no ingest run {run_id}")
    return IngestRunPublic.of(run)


@router.get("/ingest/runs/{run_id}/quarantine", response_model=QuarantinePublic)
def get_run_quarantine(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require())],
    run_id: str,
    limit: Limit = 100,
    offset: Offset = 0,
) -> QuarantinePublic:
    """Rows this run quarantined, verbatim with reasons (admin only: rows hold identifiers)."""
    if repository.get_run(session, run_id) is None:
        raise RunNotFound(f"no ingest run {run_id}")
    rows = repository.run_quarantine(session, run_id, limit, offset)
    audit.record(
        session,
        actor=principal.username,
        action="read_quarantine",
        entity="ingest_run",
        entity_id=run_id,
        detail={"count": len(rows)},
    )
    return QuarantinePublic(
        items=[QuarantinedRowPublic.of(q) for q in rows], limit=limit, offset=offset
    )


@router.post("/ingest/{source}", response_model=dict, status_code=201)
def upload_extract(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require())],
    source: str,
    file: UploadFile,
) -> dict:
    """Upload and ingest one extract (CSV or Parquet); returns the ingest summary."""
    suffix = Path(file.filename or "upload.csv").suffix or ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(file.file.read())
        summary = service.ingest_file(session, source, path, actor=principal.username)
    return summary.as_dict()

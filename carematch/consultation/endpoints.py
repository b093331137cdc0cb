"""The consultation API under /api/v1/consultations; every route declares its authorisation.

``POST /consultations`` is multipart (the fields and the files, ``files`` repeated); the rest is
JSON. Lists take ``limit``/``offset``. Moves answer 409 when the status does not allow them (the
body has ``current`` and ``allowed``), 403 for the right consultation but the wrong end, 404 for
one outside the caller's jurisdiction. Errors are problem+json.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.consultation import service
from carematch.consultation.errors import AttachmentIntegrity, AttachmentTooLarge
from carematch.consultation.schemas import (
    AnswerCreate,
    ConsultationPublic,
    ConsultationsPublic,
    ReasonCreate,
    ReferralCreate,
    ReferredPublic,
    Status,
)
from carematch.consultation.settings import consultation_settings
from carematch.security.authz import Principal, require

router = APIRouter(prefix="/consultations", tags=["consultation"])

# Village doctors ask, county specialists answer: both are doctors (see service's docstring).
DOCTORS = ("doctor",)
Doctor = Annotated[Principal, Depends(require(*DOCTORS))]

IdField = Annotated[str, Form(min_length=1, max_length=64)]
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "the other end's move", **_PROBLEM},
    404: {"description": "not visible to the caller", **_PROBLEM},
    409: {"description": "the status does not allow it", **_PROBLEM},
}
CHUNK = 1024 * 1024


async def read_upload(upload: UploadFile, limit: int) -> service.Upload:
    """The file's bytes, reading at most ``limit + 1`` so an oversize file is refused without
    being held in memory whole.

    Raises:
        AttachmentTooLarge: more than ``limit`` bytes.
    """
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await upload.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        raise AttachmentTooLarge(
            f"{upload.filename or 'a file'} is larger than {limit} bytes", max_bytes=limit
        )
    return service.Upload(upload.filename, b"".join(parts))


async def read_uploads(files: list[UploadFile]) -> list[service.Upload]:
    """Every uploaded file, each within the size limit; empty file fields are ignored (a form
    posted with no file chosen)."""
    limits = consultation_settings()
    if len(files) > limits.max_attachments:
        raise AttachmentTooLarge(
            f"at most {limits.max_attachments} files per request",
            max_attachments=limits.max_attachments,
        )
    found = []
    for upload in files:
        read = await read_upload(upload, limits.max_attachment_bytes)
        if read.data or read.name:
            found.append(read)
    return found


@router.post(
    "",
    response_model=ConsultationPublic,
    status_code=201,
    responses={
        **RESPONSES,
        400: {"description": "invalid request", **_PROBLEM},
        413: {"description": "a file over the size limit", **_PROBLEM},
        422: {"description": "malformed, or a file of an unaccepted type", **_PROBLEM},
    },
)
async def create_consultation(
    session: SessionDep,
    principal: Doctor,
    response: Response,
    person_id: IdField,
    from_provider_id: IdField,
    specialty: Annotated[str, Form(max_length=32)],
    question: Annotated[str, Form(min_length=1, max_length=4000)],
    urgency: Annotated[Literal["routine", "urgent", "emergency"], Form()] = "routine",
    to_provider_id: Annotated[str | None, Form(max_length=64)] = None,
    files: Annotated[list[UploadFile] | None, File(description="ECG, image or report")] = None,
) -> ConsultationPublic:
    """Send a consultation request with its files (PDF, PNG, JPEG, DICOM, ECG CSV/text; the
    type is read from the bytes) to the county hospital of the clinic's medical community."""
    uploads = await read_uploads(files or [])
    # The database and the encryption are blocking work: off the event loop.
    view = await run_in_threadpool(
        service.request_consultation,
        session,
        principal,
        person_id=person_id,
        from_provider_id=from_provider_id,
        to_provider_id=to_provider_id or None,
        specialty=specialty,
        urgency=urgency,
        question=question,
        uploads=uploads,
    )
    response.headers["Location"] = f"/api/v1/consultations/{view.consultation.id}"
    return ConsultationPublic.of(view)


@router.get("", response_model=ConsultationsPublic)
def list_consultations(
    session: SessionDep,
    principal: Doctor,
    limit: Limit = 50,
    offset: Offset = 0,
    end: Annotated[
        Literal["requesting", "consulting"] | None,
        Query(description="requesting: my clinics' requests; consulting: my hospital's queue"),
    ] = None,
    status: Annotated[list[Status] | None, Query()] = None,
    person_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = None,
) -> ConsultationsPublic:
    """Consultations of the caller's jurisdiction (either end, or the one asked for)."""
    total, views = service.list_consultations(
        session,
        principal,
        limit=limit,
        offset=offset,
        end=end,
        statuses=status,
        person_id=person_id,
    )
    return ConsultationsPublic(
        items=[ConsultationPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/{consultation_id}", response_model=ConsultationPublic, responses=RESPONSES)
def get_consultation(
    session: SessionDep, principal: Doctor, consultation_id: str
) -> ConsultationPublic:
    """One consultation with its attachments and clock (the read is audited)."""
    return ConsultationPublic.of(service.get_consultation(session, principal, consultation_id))


@router.post("/{consultation_id}/accept", response_model=ConsultationPublic, responses=RESPONSES)
def accept(session: SessionDep, principal: Doctor, consultation_id: str) -> ConsultationPublic:
    """The county specialist takes the request."""
    return ConsultationPublic.of(service.accept(session, principal, consultation_id))


@router.post("/{consultation_id}/answer", response_model=ConsultationPublic, responses=RESPONSES)
def answer(
    session: SessionDep, principal: Doctor, consultation_id: str, body: AnswerCreate
) -> ConsultationPublic:
    """The specialist answers with findings and advice (stops the 30-minute clock)."""
    return ConsultationPublic.of(
        service.answer(
            session, principal, consultation_id, findings=body.findings, advice=body.advice
        )
    )


@router.post("/{consultation_id}/decline", response_model=ConsultationPublic, responses=RESPONSES)
def decline(
    session: SessionDep, principal: Doctor, consultation_id: str, body: ReasonCreate
) -> ConsultationPublic:
    """The specialist declines, saying why."""
    return ConsultationPublic.of(
        service.decline(session, principal, consultation_id, reason=body.reason)
    )


@router.post("/{consultation_id}/cancel", response_model=ConsultationPublic, responses=RESPONSES)
def cancel(
    session: SessionDep, principal: Doctor, consultation_id: str, body: ReasonCreate
) -> ConsultationPublic:
    """The requesting clinic withdraws its request."""
    return ConsultationPublic.of(
        service.cancel(session, principal, consultation_id, reason=body.reason)
    )


@router.post("/{consultation_id}/close", response_model=ConsultationPublic, responses=RESPONSES)
def close(session: SessionDep, principal: Doctor, consultation_id: str) -> ConsultationPublic:
    """The requesting clinic closes an answered consultation."""
    return ConsultationPublic.of(service.close(session, principal, consultation_id))


@router.post(
    "/{consultation_id}/referral",
    response_model=ReferredPublic,
    status_code=201,
    responses={**RESPONSES, 400: {"description": "the referral is refused", **_PROBLEM}},
)
def refer(
    session: SessionDep, principal: Doctor, consultation_id: str, body: ReferralCreate
) -> ReferredPublic:
    """Refer the patient up to the county hospital after the answer (a two-way referral)."""
    view, referral_id = service.refer(
        session, principal, consultation_id, reason=body.reason, urgency=body.urgency
    )
    return ReferredPublic(consultation=ConsultationPublic.of(view), referral_id=referral_id)


@router.get(
    "/{consultation_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the file"},
        **RESPONSES,
        500: {"description": "the stored file failed its integrity check", **_PROBLEM},
    },
)
def download(
    session: SessionDep, principal: Doctor, consultation_id: str, attachment_id: str
) -> Response:
    """The attachment's bytes, decrypted and checked; always a download, never shown inline."""
    try:
        row, data = service.download(session, principal, consultation_id, attachment_id)
    except AttachmentIntegrity:
        session.commit()  # keep the audit entry of the failure
        raise
    name = quote(row.file_name)
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{row.id}\"; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "X-Checksum-SHA256": row.sha256,
        },
    )

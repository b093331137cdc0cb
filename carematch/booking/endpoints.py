"""The booking API under /api/v1; every route declares its authorisation (security.authz).

Contract (issue 5, item 11): ``POST /slots`` (staff), ``GET /slots``, ``POST /bookings`` with
``{"slot_id", "person_id"}`` → 201, 409 when the slot is full or the person already holds it,
404 when either is not visible to the caller; ``DELETE /bookings/{id}`` cancels. Errors are
problem+json. ``POST /bookings`` honours an ``Idempotency-Key`` header (see
:func:`carematch.booking.service.book`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.booking import clocks, ratings, records, service
from carematch.booking.schemas import (
    BookingCreate,
    BookingPublic,
    BookingsPublic,
    BookingStatus,
    DependantCreate,
    DependantPublic,
    DependantsPublic,
    RatingCreate,
    RatingPublic,
    RatingsPublic,
    RescheduleRequest,
    ServiceRecordCreate,
    ServiceRecordPublic,
    ServiceRecordsPublic,
    ServiceRecordWritten,
    SlaClockPublic,
    SlaCountsPublic,
    SlotCreate,
    SlotPublic,
    SlotsPublic,
    WaitlistCreate,
    WaitlistEntryPublic,
    WaitlistPublic,
    WaitlistStatus,
)
from carematch.security.authz import Principal, require

# Admission control: at most this many booking requests per server process work at once; the
# rest wait in the event loop, holding neither a worker thread nor a database connection. A burst
# (a clinic opening its slots at 8:00) would otherwise fill the thread pool (40 threads) with
# requests waiting for one of the connection pool's 15 connections, while the requests holding
# connections wait for a thread to run on: a deadlock that ends in pool timeouts (500s). Below
# the pool's size, every admitted request gets its connection at once.
ADMITTED = 10


async def admission(request: Request) -> AsyncIterator[None]:
    """Hold one of the process's ADMITTED places for the request's database work."""
    gate = getattr(request.app.state, "booking_admission", None)
    if gate is None:  # one per app, created in its event loop
        gate = request.app.state.booking_admission = anyio.Semaphore(ADMITTED)
    async with gate:
        yield


router = APIRouter(tags=["booking"], dependencies=[Depends(admission, scope="function")])

# Everyone who may book: residents for themselves and dependants, staff in their jurisdiction.
BOOKERS = ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs", "resident")
# Those who run a clinic's calendar: open slots, check people in, record no-shows.
CLINIC = ("official", "doctor", "vaccinator")
# Those who register who may book for whom (families, guardians of the elderly).
REGISTRARS = ("official", "doctor", "grid_worker", "civil_affairs")

Booker = Annotated[Principal, Depends(require(*BOOKERS))]
Clinic = Annotated[Principal, Depends(require(*CLINIC))]
Registrar = Annotated[Principal, Depends(require(*REGISTRARS))]

# Filters are checked for shape here, so that no control character reaches the database.
IdQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
ServiceQuery = Annotated[
    str | None, Query(alias="service", pattern=r"^[a-z0-9_]{1,64}$", description="service code")
]
From = Annotated[
    datetime | None, Query(alias="from", description="slots starting at or after (city time)")
]
To = Annotated[datetime | None, Query(alias="to", description="slots starting before")]

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "not visible to the caller", **_PROBLEM}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "conflicts with the current state", **_PROBLEM}
}


@router.post(
    "/slots",
    response_model=SlotPublic,
    status_code=201,
    responses={**NOT_FOUND, 400: {"description": "invalid slot", **_PROBLEM}},
)
def create_slot(
    session: SessionDep, principal: Clinic, body: SlotCreate, response: Response
) -> SlotPublic:
    """Open a slot at a provider of the caller's jurisdiction for a service it offers."""
    slot = service.create_slot(
        session,
        principal,
        provider_id=body.provider_id,
        service=body.service,
        start=body.start,
        end=body.end,
        capacity=body.capacity,
    )
    response.headers["Location"] = f"/api/v1/slots/{slot.id}"
    return SlotPublic.of(slot)


@router.get("/slots", response_model=SlotsPublic)
def list_slots(
    session: SessionDep,
    principal: Booker,
    limit: Limit = 50,
    offset: Offset = 0,
    provider_id: IdQuery = None,
    service_code: ServiceQuery = None,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}(\d{3}){0,2}$", description="region code, any level")
    ] = None,
    start_from: From = None,
    start_to: To = None,
    available: Annotated[bool | None, Query(description="only slots with a free place")] = None,
) -> SlotsPublic:
    """Slots, earliest first: every slot for residents, the jurisdiction's for staff."""
    total, slots = service.list_slots(
        session,
        principal,
        limit=limit,
        offset=offset,
        provider_id=provider_id,
        service=service_code,
        region=region,
        start_from=start_from,
        start_to=start_to,
        available=available,
    )
    return SlotsPublic(
        items=[SlotPublic.of(s) for s in slots], total=total, limit=limit, offset=offset
    )


@router.get("/slots/{slot_id}", response_model=SlotPublic, responses=NOT_FOUND)
def get_slot(session: SessionDep, principal: Booker, slot_id: str) -> SlotPublic:
    """One slot with its free places."""
    return SlotPublic.of(service.visible_slot(session, principal, slot_id))


@router.post(
    "/bookings",
    response_model=BookingPublic,
    status_code=201,
    responses={
        **NOT_FOUND,
        **CONFLICT,
        422: {"description": "malformed, or Idempotency-Key reused with another body", **_PROBLEM},
    },
)
def create_booking(
    session: SessionDep,
    principal: Booker,
    body: BookingCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=128,
            pattern=r"^[\x21-\x7e]+$",
            description="retry-safe key; the same key and body return the first booking",
        ),
    ] = None,
) -> BookingPublic:
    """Book a place: 201; 409 when the slot is full or the person holds it; 404 when the
    slot or the person is not visible to the caller."""
    result = service.book(
        session,
        principal,
        slot_id=body.slot_id,
        person_id=body.person_id,
        demand_id=body.demand_id,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/api/v1/bookings/{result.view.booking.id}"
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return BookingPublic.of(result.view)


@router.get("/bookings", response_model=BookingsPublic)
def list_bookings(
    session: SessionDep,
    principal: Booker,
    limit: Limit = 50,
    offset: Offset = 0,
    person_id: IdQuery = None,
    status: BookingStatus | None = None,
    slot_id: IdQuery = None,
    provider_id: IdQuery = None,
    service_code: ServiceQuery = None,
    start_from: From = None,
    start_to: To = None,
) -> BookingsPublic:
    """Bookings by slot start: a resident's own and dependants'; staff's jurisdiction's."""
    total, views = service.list_bookings(
        session,
        principal,
        limit=limit,
        offset=offset,
        person_id=person_id,
        status=status,
        slot_id=slot_id,
        provider_id=provider_id,
        service=service_code,
        start_from=start_from,
        start_to=start_to,
    )
    return BookingsPublic(
        items=[BookingPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/bookings/{booking_id}", response_model=BookingPublic, responses=NOT_FOUND)
def get_booking(session: SessionDep, principal: Booker, booking_id: str) -> BookingPublic:
    """One booking."""
    return BookingPublic.of(service.visible_booking(session, principal, booking_id))


@router.delete(
    "/bookings/{booking_id}", response_model=BookingPublic, responses={**NOT_FOUND, **CONFLICT}
)
def cancel_booking(session: SessionDep, principal: Booker, booking_id: str) -> BookingPublic:
    """Cancel (idempotent); the freed place goes to the slot's waitlist at once."""
    return BookingPublic.of(service.cancel(session, principal, booking_id))


@router.post(
    "/bookings/{booking_id}/reschedule",
    response_model=BookingPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def reschedule_booking(
    session: SessionDep, principal: Booker, booking_id: str, body: RescheduleRequest
) -> BookingPublic:
    """Move to another slot of the same service; if it is full, nothing changes (409)."""
    return BookingPublic.of(service.reschedule(session, principal, booking_id, body.slot_id))


@router.post(
    "/bookings/{booking_id}/check-in",
    response_model=BookingPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def check_in(session: SessionDep, principal: Clinic, booking_id: str) -> BookingPublic:
    """Check the person in on arrival (idempotent)."""
    return BookingPublic.of(service.check_in(session, principal, booking_id))


@router.post(
    "/bookings/{booking_id}/no-show",
    response_model=BookingPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def no_show(session: SessionDep, principal: Clinic, booking_id: str) -> BookingPublic:
    """Record that the person did not come; only once the slot has started."""
    return BookingPublic.of(service.mark_no_show(session, principal, booking_id))


@router.post(
    "/waitlist",
    response_model=WaitlistEntryPublic,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT},
)
def join_waitlist(
    session: SessionDep, principal: Booker, body: WaitlistCreate
) -> WaitlistEntryPublic:
    """Wait for a place in a slot; if one is free now the entry is booked at once."""
    view = service.join_waitlist(
        session,
        principal,
        slot_id=body.slot_id,
        person_id=body.person_id,
        demand_id=body.demand_id,
    )
    return WaitlistEntryPublic.of(view)


@router.get("/waitlist", response_model=WaitlistPublic)
def list_waitlist(
    session: SessionDep,
    principal: Booker,
    limit: Limit = 50,
    offset: Offset = 0,
    slot_id: IdQuery = None,
    status: WaitlistStatus | None = None,
) -> WaitlistPublic:
    """Waitlist entries, oldest first: a resident's own and dependants'; staff's by region."""
    total, views = service.list_waitlist(
        session, principal, limit=limit, offset=offset, slot_id=slot_id, status=status
    )
    return WaitlistPublic(
        items=[WaitlistEntryPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.delete(
    "/waitlist/{entry_id}",
    response_model=WaitlistEntryPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def leave_waitlist(session: SessionDep, principal: Booker, entry_id: str) -> WaitlistEntryPublic:
    """Leave a waitlist (idempotent)."""
    return WaitlistEntryPublic.of(service.leave_waitlist(session, principal, entry_id))


@router.post("/dependants", response_model=DependantPublic, status_code=201, responses=NOT_FOUND)
def register_dependant(
    session: SessionDep, principal: Registrar, body: DependantCreate
) -> DependantPublic:
    """Register that a guardian may book for a dependant (both in the caller's jurisdiction)."""
    link = service.register_dependant(
        session,
        principal,
        guardian_id=body.guardian_id,
        dependant_id=body.dependant_id,
        relation=body.relation,
    )
    return DependantPublic.of(link)


@router.get("/dependants", response_model=DependantsPublic, responses=NOT_FOUND)
def list_dependants(
    session: SessionDep, principal: Booker, guardian_id: IdQuery = None
) -> DependantsPublic:
    """A resident's dependants; staff name the guardian."""
    links = service.list_dependants(session, principal, guardian_id)
    return DependantsPublic(items=[DependantPublic.of(d) for d in links])


# --- service records, ratings, SLA clocks (issue 5, item 2) --------------------------------

# Those who write and read visit records: the clinic's staff. Residents read their own.
RECORD_READERS = (*CLINIC, "resident")
# Those who answer a raised need by contacting the person (grid workers do much of it).
RESPONDERS = (*CLINIC, "grid_worker")
RecordReader = Annotated[Principal, Depends(require(*RECORD_READERS))]
Rater = Annotated[Principal, Depends(require("resident"))]
Responder = Annotated[Principal, Depends(require(*RESPONDERS))]
Official = Annotated[Principal, Depends(require("official", "doctor"))]


@router.post(
    "/service-records",
    response_model=ServiceRecordWritten,
    status_code=201,
    responses={
        **NOT_FOUND,
        **CONFLICT,
        400: {"description": "invalid record", **_PROBLEM},
    },
)
def create_service_record(
    session: SessionDep, principal: Clinic, body: ServiceRecordCreate, response: Response
) -> ServiceRecordWritten:
    """Write what was done at a visit (a booking, or a walk-in): 201; the booking completes and
    the person's demands for the service are served. 409 when the booking has its record or
    was cancelled or missed; 404 when the booking, person or provider is not visible."""
    result = records.write(
        session,
        principal,
        booking_id=body.booking_id,
        person_id=body.person_id,
        provider_id=body.provider_id,
        service=body.service,
        demand_id=body.demand_id,
        summary=body.summary,
        outcome=body.outcome,
        notes=body.notes,
        next_followup_on=body.next_followup_on,
    )
    response.headers["Location"] = f"/api/v1/service-records/{result.record.id}"
    public = ServiceRecordPublic.of(result.record)
    points = getattr(getattr(result.points, "entry", None), "amount", None)
    return ServiceRecordWritten(
        **public.model_dump(),
        booking_status=result.booking.booking.status if result.booking else None,  # type: ignore[arg-type]
        demands_served=result.served,
        points_earned=points if isinstance(points, int) else None,
    )


@router.get("/service-records", response_model=ServiceRecordsPublic)
def list_service_records(
    session: SessionDep,
    principal: RecordReader,
    limit: Limit = 50,
    offset: Offset = 0,
    person_id: IdQuery = None,
    provider_id: IdQuery = None,
    booking_id: IdQuery = None,
    service_code: ServiceQuery = None,
) -> ServiceRecordsPublic:
    """Service records, newest first: staff's jurisdiction, a resident's own and dependants'
    (the read is audited)."""
    total, rows = records.list_records(
        session,
        principal,
        limit=limit,
        offset=offset,
        person_id=person_id,
        provider_id=provider_id,
        booking_id=booking_id,
        service=service_code,
    )
    return ServiceRecordsPublic(
        items=[ServiceRecordPublic.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/service-records/{record_id}", response_model=ServiceRecordPublic, responses=NOT_FOUND)
def get_service_record(
    session: SessionDep, principal: RecordReader, record_id: str
) -> ServiceRecordPublic:
    """One service record (the read is audited)."""
    return ServiceRecordPublic.of(records.read_record(session, principal, record_id))


@router.post(
    "/ratings",
    response_model=RatingPublic,
    status_code=201,
    responses={
        **NOT_FOUND,
        **CONFLICT,
        403: {"description": "only the resident rates", **_PROBLEM},
    },
)
def create_rating(
    session: SessionDep, principal: Rater, body: RatingCreate, response: Response
) -> RatingPublic:
    """Rate a completed visit of yourself or a dependant once, 1-5 with a comment: 201; 409
    on a second rating or a visit not yet recorded; 404 for anyone else's visit."""
    rating = ratings.rate(
        session,
        principal,
        score=body.score,
        comment=body.comment,
        service_record_id=body.service_record_id,
        booking_id=body.booking_id,
    )
    response.headers["Location"] = f"/api/v1/ratings?service_record_id={rating.service_record_id}"
    return RatingPublic.of(rating)


@router.get("/ratings", response_model=RatingsPublic)
def list_ratings(
    session: SessionDep,
    principal: RecordReader,
    limit: Limit = 50,
    offset: Offset = 0,
    provider_id: IdQuery = None,
    service_record_id: IdQuery = None,
) -> RatingsPublic:
    """Ratings, newest first: a resident's own and dependants'; staff's jurisdiction's."""
    total, rows = ratings.list_ratings(
        session,
        principal,
        limit=limit,
        offset=offset,
        provider_id=provider_id,
        service_record_id=service_record_id,
    )
    return RatingsPublic(
        items=[RatingPublic.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/sla-clocks/counts", response_model=SlaCountsPublic)
def sla_counts(
    session: SessionDep,
    principal: Official,
    kind: Annotated[Literal["demand_response", "online_consultation"] | None, Query()] = None,
    since: Annotated[
        datetime | None, Query(alias="from", description="deadlines at or after (city time)")
    ] = None,
    until: Annotated[datetime | None, Query(alias="to", description="deadlines before")] = None,
) -> SlaCountsPublic:
    """SLA clocks of the caller's jurisdiction by state now (breaches count in the indicators)."""
    counts = clocks.clock_counts(
        session,
        since=service.from_input(since, "from") if since else None,
        until=service.from_input(until, "to") if until else None,
        kind=kind,
        region=principal.jurisdiction,
    )
    return SlaCountsPublic(
        running=counts.running,
        met=counts.met,
        void=counts.void,
        breached=counts.breached,
        total=counts.total,
        breach_rate=counts.breach_rate,
    )


@router.post(
    "/sla-clocks/{clock_id}/contact",
    response_model=SlaClockPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def record_contact(session: SessionDep, principal: Responder, clock_id: str) -> SlaClockPublic:
    """Record that the person was contacted about a raised demand: its clock is answered."""
    row = clocks.record_contact(session, principal, clock_id)
    return SlaClockPublic.of(row, clocks.state_of(row).value)

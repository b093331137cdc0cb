"""The vaccination appointments API under /api/v1 (R-VX-2): slots for due doses, dose bookings,
group bookings and home-vaccination requests. Every route declares its authorisation.

Errors are problem+json through the domain errors; 422 only for malformed payloads.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Response, UploadFile
from pydantic import BaseModel, Field

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.booking.schemas import BookingPublic, SlotPublic
from carematch.booking.service import city_time
from carematch.core.errors import InvalidInput
from carematch.providers.hours import CITY_TZ
from carematch.security.authz import Principal, require
from carematch.vaccination import appointments, group_booking, home_requests
from carematch.vaccination.appointment_models import HomeVaccinationRequest

router = APIRouter(tags=["vaccination"])

# A person's due doses are health data: the resident (for themselves and dependants) and the
# staff who plan, give or oversee vaccinations, as for the forecast.
DOSE_BOOKERS = ("resident", "official", "doctor", "vaccinator")
# Group sessions and home-visit triage are clinic work.
CLINIC = ("official", "doctor", "vaccinator")

DoseBooker = Annotated[Principal, Depends(require(*DOSE_BOOKERS))]
Clinic = Annotated[Principal, Depends(require(*CLINIC))]

ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SERIES = r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,31}$"
SERVICE = r"^[a-z0-9_]{1,64}$"

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid input", **_PROBLEM},
    404: {"description": "not visible to the caller", **_PROBLEM},
    409: {"description": "conflicts with the current state", **_PROBLEM},
}


# --- slots for due doses and dose bookings ------------------------------------------------------


class OfferedSlotPublic(SlotPublic):
    """An open slot offered for a dose; ``distance_km`` when a location was given."""

    distance_km: float | None = None


class DoseSlotsPublic(BaseModel):
    """A due or overdue dose and the open slots from its due date on."""

    series: str
    name: str
    dose: int
    status: str
    due_date: date
    service: str
    slots: list[OfferedSlotPublic]


class DueDoseSlotsPublic(BaseModel):
    """The doses a person is due or overdue for today, each with slots to book."""

    person_id: str
    as_of: date
    doses: list[DoseSlotsPublic]


@router.get(
    "/persons/{person_id}/vaccination-slots", response_model=DueDoseSlotsPublic, responses=ERRORS
)
def get_due_dose_slots(
    session: SessionDep,
    principal: DoseBooker,
    person_id: Annotated[str, Path(pattern=ID)],
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    providers: Annotated[int, Query(ge=1, le=appointments.MAX_PROVIDERS)] = 5,
    per_dose: Annotated[int, Query(ge=1, le=appointments.MAX_SLOTS)] = 10,
) -> DueDoseSlotsPublic:
    """Open 15-minute slots for each dose the person is due or overdue for, from its due date
    on: at the nearest providers when ``lat``/``lon`` are given, else in the person's district.

    A resident asks for themselves or a registered dependant; the read is audited.
    """
    forecast, doses = appointments.due_dose_slots(
        session, principal, person_id, lat=lat, lon=lon, providers=providers, per_dose=per_dose
    )
    return DueDoseSlotsPublic(
        person_id=forecast.person_id,
        as_of=forecast.as_of,
        doses=[
            DoseSlotsPublic(
                series=d.series,
                name=d.name,
                dose=d.dose,
                status=d.status,
                due_date=d.due_date,
                service=d.service,
                slots=[
                    OfferedSlotPublic(
                        **SlotPublic.of(o.slot).model_dump(), distance_km=o.distance_km
                    )
                    for o in d.slots
                ],
            )
            for d in doses
        ],
    )


class DoseBookingCreate(BaseModel):
    """Book a slot for a person's due dose of a series."""

    slot_id: str = Field(pattern=ID)
    person_id: str = Field(pattern=ID)
    series: str = Field(pattern=SERIES)


class DoseBookingPublic(BaseModel):
    """A vaccination booking with the series and dose it is for."""

    id: str
    series: str
    dose: int | None
    group_booking_id: str | None
    booking: BookingPublic


class DoseBookingsPublic(BaseModel):
    items: list[DoseBookingPublic]
    total: int


@router.post(
    "/vaccination/appointments",
    response_model=DoseBookingPublic,
    status_code=201,
    responses=ERRORS,
)
def create_dose_booking(
    session: SessionDep,
    principal: DoseBooker,
    body: DoseBookingCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"),
    ] = None,
) -> DoseBookingPublic:
    """Book a place for a due or overdue dose in a vaccination slot on or after its due day:
    201; 409 when the dose is not due, the slot is before the due date, full or held already;
    404 when the slot or person is not visible. Honours ``Idempotency-Key`` like /bookings."""
    made = appointments.book_dose(
        session,
        principal,
        slot_id=body.slot_id,
        person_id=body.person_id,
        series=body.series,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/api/v1/bookings/{made.view.booking.id}"
    if made.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    a = made.appointment
    return DoseBookingPublic(
        id=a.booking_id,
        series=a.series,
        dose=a.dose,
        group_booking_id=a.group_booking_id,
        booking=BookingPublic.of(made.view),
    )


@router.get("/vaccination/appointments", response_model=DoseBookingsPublic, responses=ERRORS)
def list_dose_bookings(
    session: SessionDep,
    principal: DoseBooker,
    person_id: Annotated[str, Query(pattern=ID)],
    series: Annotated[str | None, Query(pattern=SERIES)] = None,
) -> DoseBookingsPublic:
    """A person's vaccination bookings with the series and dose each is for, newest first."""
    rows = appointments.person_appointments(session, principal, person_id, series)
    items = [
        DoseBookingPublic(
            id=a.booking_id,
            series=a.series,
            dose=a.dose,
            group_booking_id=a.group_booking_id,
            booking=BookingPublic.of(view),
        )
        for a, view in rows
    ]
    return DoseBookingsPublic(items=items, total=len(items))


# --- group bookings ------------------------------------------------------------------------------


class GroupBookedPublic(BaseModel):
    row: int
    person_id: str
    booking_id: str | None
    slot_id: str | None
    repeated: bool
    """True when the person had this place before the upload (a re-upload books nobody twice)."""


class GroupWaitlistedPublic(BaseModel):
    row: int
    person_id: str
    waitlist_entry_id: str | None
    slot_id: str | None
    repeated: bool


class GroupRejectedPublic(BaseModel):
    row: int
    reason: str
    person_id: str | None = None


class GroupBookingPublic(BaseModel):
    """What a group upload did (团体预约): places, waitlist entries and rejected rows."""

    id: str
    provider_id: str
    service: str
    window_start: datetime
    window_end: datetime
    organisation: str | None
    series: str | None
    rows: int
    booked: list[GroupBookedPublic]
    waitlisted: list[GroupWaitlistedPublic]
    rejected: list[GroupRejectedPublic]
    created_by: str
    created_at: datetime | None

    @classmethod
    def of(cls, report: group_booking.GroupReport) -> GroupBookingPublic:
        return cls(
            id=report.id,
            provider_id=report.provider_id,
            service=report.service,
            window_start=city_time(report.window_start),
            window_end=city_time(report.window_end),
            organisation=report.organisation,
            series=report.series,
            rows=report.rows,
            booked=[GroupBookedPublic(**b) for b in report.booked],
            waitlisted=[GroupWaitlistedPublic(**w) for w in report.waitlisted],
            rejected=[GroupRejectedPublic(**r) for r in report.rejected],
            created_by=report.created_by,
            created_at=city_time(report.created_at) if report.created_at else None,
        )


class GroupBookingsPublic(BaseModel):
    items: list[GroupBookingPublic]
    total: int
    limit: int
    offset: int


def _window(
    day: date | None, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """A whole city day, or an explicit start and end (city time when given without offset)."""
    if day is not None and (start is None and end is None):
        first = datetime.combine(day, time.min, tzinfo=CITY_TZ)
        return first, first + timedelta(days=1)
    if day is None and start is not None and end is not None:
        return start, end
    raise InvalidInput("give either date, or both start and end")


@router.post(
    "/vaccination/group-bookings",
    response_model=GroupBookingPublic,
    status_code=201,
    responses=ERRORS,
)
def create_group_booking(
    session: SessionDep,
    principal: Clinic,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV: name, id_number or person_id, phone")],
    provider_id: Annotated[str, Form(pattern=ID)],
    service: Annotated[str, Form(pattern=SERVICE)],
    day: Annotated[date | None, Form(alias="date", description="the session's city day")] = None,
    start: Annotated[datetime | None, Form(description="or: the window's start")] = None,
    end: Annotated[datetime | None, Form(description="and its end")] = None,
    organisation: Annotated[str | None, Form(max_length=200)] = None,
    series: Annotated[str | None, Form(pattern=SERIES)] = None,
    waitlist: Annotated[bool, Form(description="waitlist those without a place")] = True,
) -> GroupBookingPublic:
    """Book an employer's or a school's list into a vaccination session at a provider: each
    person gets a place while the session has one, the rest are waitlisted (or reported), bad
    rows are reported with their reasons; uploading the list again books nobody twice."""
    data = file.file.read(group_booking.MAX_LIST_BYTES + 1)
    window_start, window_end = _window(day, start, end)
    report = group_booking.upload_group(
        session,
        principal,
        data=data,
        provider_id=provider_id,
        service=service,
        start=window_start,
        end=window_end,
        organisation=organisation,
        series=series,
        waitlist=waitlist,
    )
    response.headers["Location"] = f"/api/v1/vaccination/group-bookings/{report.id}"
    return GroupBookingPublic.of(report)


@router.get("/vaccination/group-bookings", response_model=GroupBookingsPublic)
def list_group_bookings(
    session: SessionDep, principal: Clinic, limit: Limit = 50, offset: Offset = 0
) -> GroupBookingsPublic:
    """Group uploads of the caller's jurisdiction, newest first."""
    total, reports = group_booking.list_groups(session, principal, limit=limit, offset=offset)
    return GroupBookingsPublic(
        items=[GroupBookingPublic.of(r) for r in reports], total=total, limit=limit, offset=offset
    )


@router.get(
    "/vaccination/group-bookings/{group_id}", response_model=GroupBookingPublic, responses=ERRORS
)
def get_group_booking(session: SessionDep, principal: Clinic, group_id: str) -> GroupBookingPublic:
    """One upload's report; 404 outside the caller's jurisdiction."""
    return GroupBookingPublic.of(group_booking.get_group(session, principal, group_id))


# --- home-vaccination requests ------------------------------------------------------------------

HomeStatus = Literal["requested", "accepted", "declined", "done", "cancelled"]
HomeReason = Literal["disability", "bedridden", "staff_assessed"]


class HomeRequestCreate(BaseModel):
    """Ask for a home visit for a due dose of a person who cannot travel."""

    person_id: str = Field(pattern=ID)
    series: str = Field(pattern=SERIES)
    reason: HomeReason
    note: str | None = Field(default=None, max_length=home_requests.MAX_TEXT)


class HomeRequestAccept(BaseModel):
    planned_on: date
    vaccinator: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")


class HomeRequestDecline(BaseModel):
    reason: str = Field(min_length=1, max_length=home_requests.MAX_TEXT)


class HomeRequestPublic(BaseModel):
    """A home-vaccination request (上门接种) and its triage."""

    id: str
    person_id: str
    series: str
    dose: int | None
    due_on: date | None
    reason: HomeReason
    disability_level: int | None
    note: str | None
    status: HomeStatus
    requested_by: str
    requested_at: datetime
    planned_on: date | None
    vaccinator: str | None
    decline_reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, row: HomeVaccinationRequest) -> HomeRequestPublic:
        def shown(at: datetime | None) -> datetime | None:
            return city_time(at) if at is not None else None

        return cls(
            id=row.id,
            person_id=row.person_id,
            series=row.series,
            dose=row.dose,
            due_on=row.due_on,
            reason=row.reason,  # type: ignore[arg-type]
            disability_level=row.disability_level,
            note=row.note,
            status=row.status,  # type: ignore[arg-type]
            requested_by=row.requested_by,
            requested_at=city_time(row.requested_at),
            planned_on=row.planned_on,
            vaccinator=row.vaccinator,
            decline_reason=row.decline_reason,
            decided_by=row.decided_by,
            decided_at=shown(row.decided_at),
            closed_at=shown(row.closed_at),
        )


class HomeRequestsPublic(BaseModel):
    items: list[HomeRequestPublic]
    total: int
    limit: int
    offset: int


@router.post(
    "/vaccination/home-requests",
    response_model=HomeRequestPublic,
    status_code=201,
    responses={**ERRORS, 403: {"description": "staff-only reason", **_PROBLEM}},
)
def create_home_request(
    session: SessionDep, principal: DoseBooker, body: HomeRequestCreate, response: Response
) -> HomeRequestPublic:
    """Ask for home vaccination of a due dose: 201; 409 when the dose is not due, the ground
    does not hold (disability level below 3) or an open request exists."""
    row = home_requests.request_home_visit(
        session,
        principal,
        person_id=body.person_id,
        series=body.series,
        reason=body.reason,
        note=body.note,
    )
    response.headers["Location"] = f"/api/v1/vaccination/home-requests/{row.id}"
    return HomeRequestPublic.of(row)


@router.get("/vaccination/home-requests", response_model=HomeRequestsPublic)
def list_home_requests(
    session: SessionDep,
    principal: DoseBooker,
    limit: Limit = 50,
    offset: Offset = 0,
    status: HomeStatus | None = None,
    person_id: Annotated[str | None, Query(pattern=ID)] = None,
    vaccinator: Annotated[str | None, Query(pattern=r"^[\x21-\x7e]{1,64}$")] = None,
) -> HomeRequestsPublic:
    """Requests oldest first: the workbench's queue for staff, a resident's own."""
    total, rows = home_requests.list_requests(
        session,
        principal,
        limit=limit,
        offset=offset,
        filters=home_requests.HomeFilters(status, person_id, vaccinator),
    )
    return HomeRequestsPublic(
        items=[HomeRequestPublic.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/vaccination/home-requests/{request_id}", response_model=HomeRequestPublic, responses=ERRORS
)
def get_home_request(
    session: SessionDep, principal: DoseBooker, request_id: str
) -> HomeRequestPublic:
    """One request; 404 when not the caller's to see."""
    return HomeRequestPublic.of(home_requests.get_request(session, principal, request_id))


@router.post(
    "/vaccination/home-requests/{request_id}/accept",
    response_model=HomeRequestPublic,
    responses=ERRORS,
)
def accept_home_request(
    session: SessionDep, principal: Clinic, request_id: str, body: HomeRequestAccept
) -> HomeRequestPublic:
    """Plan the visit: a day and a vaccinator of the person's area; 409 unless requested."""
    row = home_requests.accept(
        session, principal, request_id, planned_on=body.planned_on, vaccinator=body.vaccinator
    )
    return HomeRequestPublic.of(row)


@router.post(
    "/vaccination/home-requests/{request_id}/decline",
    response_model=HomeRequestPublic,
    responses=ERRORS,
)
def decline_home_request(
    session: SessionDep, principal: Clinic, request_id: str, body: HomeRequestDecline
) -> HomeRequestPublic:
    """Decline with a reason the requester sees; 409 unless requested."""
    return HomeRequestPublic.of(
        home_requests.decline(session, principal, request_id, reason=body.reason)
    )


@router.post(
    "/vaccination/home-requests/{request_id}/complete",
    response_model=HomeRequestPublic,
    responses=ERRORS,
)
def complete_home_request(
    session: SessionDep, principal: Clinic, request_id: str
) -> HomeRequestPublic:
    """The visit took place; 409 unless accepted."""
    return HomeRequestPublic.of(home_requests.complete(session, principal, request_id))


@router.post(
    "/vaccination/home-requests/{request_id}/cancel",
    response_model=HomeRequestPublic,
    responses=ERRORS,
)
def cancel_home_request(
    session: SessionDep, principal: DoseBooker, request_id: str
) -> HomeRequestPublic:
    """Withdraw an open request (the requester or staff); 409 once closed."""
    return HomeRequestPublic.of(home_requests.cancel(session, principal, request_id))

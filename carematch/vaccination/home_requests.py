"""Home-vaccination requests (上门接种, R-VX-2): a due dose for a person who cannot travel.

Who may ask, and on what grounds (:data:`HOME_REASONS`):

- ``disability``: the person's features say ``disability_level`` ≥ 3 (checked here, from the
  profiling features view, when the request is made);
- ``bedridden``: stated by the resident or parent, or by staff, and judged at triage;
- ``staff_assessed``: a staff member assessed another reason; staff only, and the note saying
  why is required.

The dose must be due or overdue by the forecaster. A request is a task on the staff workbench:
staff of the person's jurisdiction triage it (accept with a planned date and a vaccinator, or
decline with a reason), the vaccinator marks it done after the visit, and the requester or staff
may cancel it while it is open. Every move is one conditional UPDATE from the states it may
leave, so two staff triaging at once cannot both win; one open request per person and series
is a partial unique index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.booking import service as booking
from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from carematch.core.ids import new_id
from carematch.identity import service as identity
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix
from carematch.vaccination.appointment_models import (
    HOME_REASONS,
    OPEN_HOME_STATUSES,
    HomeVaccinationRequest,
)
from carematch.vaccination.appointments import BOOKABLE, DoseNotDue
from carematch.vaccination.service import person_forecast

MIN_DISABILITY_LEVEL: Final = 3
"""From this disability level (0 none … 4 most severe) a person qualifies without triage."""
MAX_PLAN_AHEAD: Final = timedelta(days=90)
MAX_TEXT: Final = 1_000
VACCINATORS: Final = ("vaccinator", "doctor")
"""The roles that may be sent to vaccinate at home."""


class HomeRequestNotFound(NotFound):
    """No such request, or not the caller's to see."""

    type = "/problems/home-request-not-found"
    title = "Home-vaccination request not found"


class HomeRequestConflict(Conflict):
    """The request is not in a state that allows the change (or one is open already)."""

    type = "/problems/home-request-conflict"
    title = "Home-vaccination request conflict"


class NotEligibleForHome(Conflict):
    """The stated ground does not hold: the features show no disability of level 3 or more."""

    type = "/problems/not-eligible-for-home-vaccination"
    title = "Not eligible for home vaccination"


def _is_resident(principal: Principal) -> bool:
    return principal.role == "resident"


def _clean(text: str | None, what: str) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if "\x00" in text:
        raise InvalidInput(f"{what} contains a NUL character")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{what} may be {MAX_TEXT} characters at most")
    return text or None


def disability_level(session: Session, person_id: str, as_of: date) -> int:
    """The person's ``disability_level`` feature (0 when no record says otherwise)."""
    from carematch.profiling.service import features_for

    table = features_for(session, [person_id], as_of)
    if not table.num_rows or "disability_level" not in table.column_names:
        return 0
    value = table.column("disability_level")[0].as_py()
    return int(value or 0)


def request_home_visit(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    series: str,
    reason: str,
    note: str | None = None,
    now: datetime | None = None,
) -> HomeVaccinationRequest:
    """Ask for a home visit to give the person's due dose of ``series``.

    Raises:
        PersonNotFound: not the caller's to act for (a resident: themselves or a dependant).
        InvalidInput: an unknown series or reason; staff_assessed without a note.
        Forbidden: a resident giving ``staff_assessed``.
        DoseNotDue: the series has no due or overdue dose.
        NotEligibleForHome: ``disability`` without a level of 3 or more in the features.
        HomeRequestConflict: an open request for the series exists.
    """
    now = now or utcnow()
    if reason not in HOME_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(HOME_REASONS)}")
    note = _clean(note, "note")
    if reason == "staff_assessed":
        if _is_resident(principal):
            raise Forbidden("only staff may give a staff-assessed reason")
        if not note:
            raise InvalidInput("a staff-assessed reason needs a note saying why")
    booking.bookable_person(session, principal, person_id)
    today = now.astimezone(CITY_TZ).date()
    forecast = person_forecast(session, principal, person_id, today)
    entry = next((e for e in forecast.forecast.entries if e.series == series), None)
    if entry is None:
        raise InvalidInput(f"the schedule has no series {series!r}")
    if entry.status not in BOOKABLE:
        raise DoseNotDue(f"series {series} has no due dose (it is {entry.status})")
    level = None
    if reason == "disability":
        level = disability_level(session, person_id, today)
        if level < MIN_DISABILITY_LEVEL:
            raise NotEligibleForHome(
                f"the person's disability level is {level}; home vaccination on this ground "
                f"needs {MIN_DISABILITY_LEVEL} or more (staff may assess another reason)"
            )
    person = identity.visible_person(session, principal, person_id)
    row = HomeVaccinationRequest(
        id=new_id(),
        person_id=person_id,
        series=series,
        dose=entry.dose,
        due_on=entry.due_date,
        reason=reason,
        disability_level=level,
        note=note,
        region_code=person.community_code,
        status="requested",
        requested_by=principal.username,
        requested_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise HomeRequestConflict(
            f"an open home-vaccination request for {series} exists for this person"
        ) from None
    _audit(session, principal, "request_home_vaccination", row, {"reason": reason})
    return row


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    row: HomeVaccinationRequest,
    detail: dict[str, Any],
) -> None:
    audit.record(
        session,
        actor=principal.username,
        action=action,
        entity="vaccination_home_request",
        entity_id=row.id,
        detail={"person_id": row.person_id, "series": row.series, **detail},
    )


def _may_see(session: Session, principal: Principal, row: HomeVaccinationRequest) -> bool:
    if _is_resident(principal):
        return row.person_id in booking.own_persons(session, principal)
    return principal.can_see(row.region_code)


def get_request(session: Session, principal: Principal, request_id: str) -> HomeVaccinationRequest:
    """A request the caller may see: a resident's own or a dependant's; staff's by region.

    Raises:
        HomeRequestNotFound: no such request, or not the caller's to see.
    """
    row = (
        session.get(HomeVaccinationRequest, request_id, populate_existing=True)
        if booking.ID_PATTERN.match(request_id)
        else None
    )
    if row is None or not _may_see(session, principal, row):
        raise HomeRequestNotFound(f"no home-vaccination request {request_id}")
    return row


def _move(
    session: Session,
    principal: Principal,
    request_id: str,
    from_statuses: tuple[str, ...],
    action: str,
    detail: dict[str, Any],
    **values: Any,
) -> HomeVaccinationRequest:
    """One conditional UPDATE from the allowed states; a lost race is a 409 naming the state."""
    row = get_request(session, principal, request_id)
    result = session.execute(
        update(HomeVaccinationRequest)
        .where(
            HomeVaccinationRequest.id == request_id,
            HomeVaccinationRequest.status.in_(from_statuses),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(result.rowcount == 1)  # type: ignore[attr-defined]
    current = get_request(session, principal, request_id)
    if not changed:
        raise HomeRequestConflict(
            f"request {request_id} is {current.status}",
            status_now=current.status,
            allowed_from=list(from_statuses),
        )
    _audit(session, principal, action, row, detail)
    return current


def _check_vaccinator(session: Session, row: HomeVaccinationRequest, username: str) -> None:
    from carematch.security.models import User

    user = session.scalar(select(User).where(User.username == username))
    if (
        user is None
        or not user.active
        or user.role not in VACCINATORS
        or not (user.region_code and row.region_code)
        or not row.region_code.startswith(region_prefix(user.region_code))
    ):
        raise InvalidInput(
            f"{username!r} is not an active vaccinator or doctor serving the person's area"
        )


def accept(
    session: Session,
    principal: Principal,
    request_id: str,
    *,
    planned_on: date,
    vaccinator: str,
    now: datetime | None = None,
) -> HomeVaccinationRequest:
    """Staff accept a request: the visit is planned for a day, with a vaccinator.

    Raises:
        HomeRequestNotFound: outside the jurisdiction.
        InvalidInput: a day in the past or more than 90 days ahead, before the dose is due, or
            a vaccinator who is not an active vaccinator/doctor covering the person's area.
        HomeRequestConflict: the request is no longer waiting for triage.
    """
    now = now or utcnow()
    row = get_request(session, principal, request_id)
    today = now.astimezone(CITY_TZ).date()
    if planned_on < today or planned_on > today + MAX_PLAN_AHEAD:
        raise InvalidInput("the planned day must be between today and 90 days ahead")
    if row.due_on is not None and planned_on < row.due_on:
        raise InvalidInput(f"the dose is due on {row.due_on.isoformat()}; plan it then or later")
    _check_vaccinator(session, row, vaccinator)
    return _move(
        session, principal, request_id, ("requested",), "accept_home_vaccination",
        {"planned_on": planned_on.isoformat(), "vaccinator": vaccinator},
        status="accepted", planned_on=planned_on, vaccinator=vaccinator,
        decided_by=principal.username, decided_at=now,
    )  # fmt: skip


def decline(
    session: Session,
    principal: Principal,
    request_id: str,
    *,
    reason: str,
    now: datetime | None = None,
) -> HomeVaccinationRequest:
    """Staff decline a request, saying why (the requester sees the reason).

    Raises:
        HomeRequestNotFound, InvalidInput (no reason), HomeRequestConflict (not waiting).
    """
    now = now or utcnow()
    text = _clean(reason, "reason")
    if not text:
        raise InvalidInput("a declined request needs a reason")
    return _move(
        session, principal, request_id, ("requested",), "decline_home_vaccination", {},
        status="declined", decline_reason=text, decided_by=principal.username, decided_at=now,
    )  # fmt: skip


def complete(
    session: Session, principal: Principal, request_id: str, *, now: datetime | None = None
) -> HomeVaccinationRequest:
    """The visit took place: an accepted request is done.

    Raises:
        HomeRequestNotFound, HomeRequestConflict (not accepted).
    """
    now = now or utcnow()
    return _move(
        session, principal, request_id, ("accepted",), "complete_home_vaccination", {},
        status="done", closed_by=principal.username, closed_at=now,
    )  # fmt: skip


def cancel(
    session: Session, principal: Principal, request_id: str, *, now: datetime | None = None
) -> HomeVaccinationRequest:
    """The requester (or staff) withdraws an open request.

    Raises:
        HomeRequestNotFound, HomeRequestConflict (declined, done or cancelled already).
    """
    now = now or utcnow()
    return _move(
        session, principal, request_id, OPEN_HOME_STATUSES, "cancel_home_vaccination", {},
        status="cancelled", closed_by=principal.username, closed_at=now,
    )  # fmt: skip


@dataclass(frozen=True)
class HomeFilters:
    """What a list of requests may be narrowed to."""

    status: str | None = None
    person_id: str | None = None
    vaccinator: str | None = None


def list_requests(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    filters: HomeFilters | None = None,
) -> tuple[int, list[HomeVaccinationRequest]]:
    """Requests oldest first (the workbench's queue): a resident's own and dependants';
    staff's jurisdiction's."""
    filters = filters or HomeFilters()
    where: list[Any] = []
    if _is_resident(principal):
        where.append(HomeVaccinationRequest.person_id.in_(booking.own_persons(session, principal)))
    elif principal.jurisdiction is not None:
        prefix = region_prefix(principal.jurisdiction)
        where.append(HomeVaccinationRequest.region_code.startswith(prefix, autoescape=True))
    if filters.status is not None:
        where.append(HomeVaccinationRequest.status == filters.status)
    if filters.person_id is not None:
        where.append(HomeVaccinationRequest.person_id == filters.person_id)
    if filters.vaccinator is not None:
        where.append(HomeVaccinationRequest.vaccinator == filters.vaccinator)
    total = (
        session.scalar(select(func.count()).select_from(HomeVaccinationRequest).where(*where)) or 0
    )
    rows = session.scalars(
        select(HomeVaccinationRequest)
        .where(*where)
        .order_by(HomeVaccinationRequest.requested_at, HomeVaccinationRequest.id)
        .limit(limit)
        .offset(offset)
    )
    return total, list(rows)

"""Recording a dose given (接种登记), the 30-minute observation after it (留观), and the doses
a person was given here, which the forecaster counts beside the registry's.

Recording a dose checks the lot first (not expired on the day, VVM stage 1 or 2, neither suspect,
recalled nor discarded: a 409 saying which), then appends an "administered" event to the
cold-chain log in the same transaction, so a dose is never recorded without its event. The log
is public, so the event names the administration, never the person. Services flush; the caller
commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.coldchain import service as coldchain
from carematch.coldchain.errors import LotNotUsable
from carematch.coldchain.repository import aware
from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput, NotFound
from carematch.core.ids import new_id
from carematch.identity.service import visible_person
from carematch.providers.hours import CITY_TZ
from carematch.providers.models import Provider
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.vaccination.forecast import GivenDose
from carematch.vaccination.models import SITES, Administration

OBSERVATION = timedelta(minutes=30)
"""How long a person stays under observation after a dose (留观 30 分钟)."""
MAX_BACKDATE = timedelta(days=7)
"""A dose is recorded when given; a late entry of up to a week is allowed, never a future one."""


class DoseAlreadyRecorded(Conflict):
    """This person's dose of this series and number is recorded already (409)."""

    type = "/problems/dose-already-recorded"
    title = "Dose already recorded"


class AdministrationNotFound(NotFound):
    """No such administration in the caller's jurisdiction."""

    type = "/problems/administration-not-found"
    title = "Administration not found"


def city_date(moment: datetime) -> datetime:
    """``moment`` in the city's time zone (UTC+8), whose calendar day a dose counts on."""
    return aware(moment).astimezone(CITY_TZ)


def check_lot_usable(lot_status: str, expiry: date, vvm_stage: int, on: datetime) -> None:
    """Refuse a lot that may not be used on ``on`` (409 with the reason).

    Raises:
        LotNotUsable: expired before that day, VVM stage 3 or 4 (discard point reached), or a
            suspect, recalled or discarded lot.
    """
    if lot_status != "usable":
        raise LotNotUsable(f"the lot is {lot_status}: no dose may be given from it")
    if vvm_stage >= 3:
        raise LotNotUsable(f"the lot's vial monitor is at stage {vvm_stage}: discard, do not use")
    day = city_date(on).date()
    if expiry < day:
        raise LotNotUsable(f"the lot expired on {expiry}")


def record_administration(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    lot_id: str,
    series: str,
    dose_number: int,
    site: str,
    administered_at: datetime | None = None,
    provider_id: str | None = None,
) -> Administration:
    """Record a dose given to a person from a lot, log it, and start the observation timer.

    Raises:
        PersonNotFound, LotNotFound: not visible to the caller (404).
        InvalidInput: an unknown series, dose number or site; a time in the future or more than
            a week ago (400).
        LotNotUsable: the lot may not be used (409); also when it holds another product.
        DoseAlreadyRecorded: this dose is recorded already (409).
    """
    from carematch.vaccination.service import city_schedule

    person = visible_person(session, principal, person_id)
    lot = coldchain.visible_lot(session, principal, lot_id)
    known = {s.code: s for s in city_schedule().series}
    if series not in known:
        raise InvalidInput(f"unknown series {series!r}")
    if not 1 <= dose_number <= len(known[series].doses):
        raise InvalidInput(f"{series} has doses 1 to {len(known[series].doses)}")
    if site not in SITES:
        raise InvalidInput(f"site is one of {list(SITES)}")
    if provider_id is not None and session.get(Provider, provider_id) is None:
        raise InvalidInput(f"no provider {provider_id}")
    now = utcnow()
    at = coldchain.instant(administered_at) if administered_at is not None else now
    if at > now + timedelta(minutes=5) or at < now - MAX_BACKDATE:
        raise InvalidInput("a dose is recorded when given (up to a week late, never ahead)")
    if lot.product != series:
        raise LotNotUsable(f"the lot holds {lot.product}, not {series}")
    check_lot_usable(lot.status, lot.expiry, lot.vvm_stage, at)
    existing = session.scalar(
        select(Administration.id).where(
            Administration.person_id == person.id,
            Administration.series == series,
            Administration.dose_number == dose_number,
        )
    )
    if existing is not None:
        raise DoseAlreadyRecorded(f"{series} dose {dose_number} is recorded already")
    administration_id = new_id()
    event = coldchain.append_event(
        session,
        principal,
        lot,
        "administered",
        at=at,
        detail={
            "administration_id": administration_id,
            "series": series,
            "dose_number": dose_number,
        },
    )
    row = Administration(
        id=administration_id,
        person_id=person.id,
        lot_id=lot.id,
        series=series,
        dose_number=dose_number,
        site=site,
        vaccinator_id=principal.user_id,
        vaccinator=principal.username,
        provider_id=provider_id,
        region_code=person.community_code,
        administered_at=event.at,
        observe_until=event.at + OBSERVATION,
        event_index=event.leaf_index,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Two submits at once: the other one won; this one's event goes with the rollback.
        raise DoseAlreadyRecorded(f"{series} dose {dose_number} is recorded already") from None
    audit.record(
        session,
        actor=principal.username,
        action="record_vaccination",
        entity="person",
        entity_id=person.id,
        detail={"administration_id": row.id, "lot_id": lot.id, "series": series},
    )
    # The vaccine's follow-up reminders (watch for a rash around day 6 after MMR, …) commit
    # with the dose, or not at all.
    from carematch.vaccination.followup import schedule_followups

    schedule_followups(session, person.id, series, dose_number, event.at, now=now)
    return row


def administered_doses(session: Session, person_id: str) -> list[GivenDose]:
    """The doses given here to a person, as the forecaster takes them (series, city day)."""
    rows = session.execute(
        select(Administration.series, Administration.administered_at)
        .where(Administration.person_id == person_id)
        .order_by(Administration.administered_at)
    )
    return [GivenDose(series, city_date(at).date()) for series, at in rows]


def administered_dose_rows(
    session: Session, person_ids: list[str] | None = None
) -> list[dict[str, str]]:
    """The doses given here as immunization-registry rows, one per person, for the profile:
    ``{"person_id", "record_id", "doses": "HepB:2026-11-22|…"}`` (city days). The profile's
    ``doses_overdue`` then counts a dose from the moment it is recorded, not from the next
    registry extract (the forecast and the certificate already do, through
    :func:`administered_doses`)."""
    query = select(Administration.person_id, Administration.series, Administration.administered_at)
    if person_ids is not None:
        query = query.where(Administration.person_id.in_(person_ids))
    doses: dict[str, list[str]] = {}
    for person_id, series, at in session.execute(query.order_by(Administration.administered_at)):
        doses.setdefault(person_id, []).append(f"{series}:{city_date(at).date().isoformat()}")
    return [
        {"person_id": pid, "record_id": f"administered:{pid}", "doses": "|".join(given)}
        for pid, given in sorted(doses.items())
    ]


def person_administrations(
    session: Session, principal: Principal, person_id: str
) -> Sequence[Administration]:
    """A person's doses given here; the read is audited (health data)."""
    if principal.role == "resident" and principal.person_id != person_id:
        raise AdministrationNotFound(f"no administrations of {person_id}")
    person = visible_person(session, principal, person_id)
    rows = session.scalars(
        select(Administration)
        .where(Administration.person_id == person.id)
        .order_by(Administration.administered_at)
    ).all()
    audit.record(
        session,
        actor=principal.username,
        action="read_vaccinations",
        entity="person",
        entity_id=person.id,
        detail={"administrations": len(rows)},
    )
    return rows


def doses_from_lots(session: Session, lot_ids: Iterable[str]) -> Sequence[Administration]:
    """Every dose given from the given lots (what a recall list is made of)."""
    ids = list(lot_ids)
    if not ids:
        return []
    return session.scalars(
        select(Administration)
        .where(Administration.lot_id.in_(ids))
        .order_by(Administration.person_id, Administration.administered_at)
    ).all()


def under_observation(
    session: Session, principal: Principal, now: datetime | None = None
) -> Sequence[Administration]:
    """Doses not yet released whose observation ends within the last hour or later.

    A person whose 30 minutes are over stays on the list (at 0:00) until released, for an hour.
    """
    now = now or utcnow()
    stmt = (
        select(Administration)
        .where(
            Administration.released_at.is_(None),
            Administration.observe_until > now - timedelta(hours=1),
        )
        .order_by(Administration.observe_until)
    )
    prefix = principal.jurisdiction
    if prefix:
        stmt = stmt.where(Administration.region_code.startswith(prefix, autoescape=True))
    return session.scalars(stmt.limit(200)).all()


def release(session: Session, principal: Principal, administration_id: str) -> Administration:
    """Mark a person released from observation (idempotent: a second release changes nothing)."""
    row = session.get(Administration, administration_id) if len(administration_id) <= 32 else None
    if row is None or not principal.can_see(row.region_code):
        raise AdministrationNotFound(f"no administration {administration_id}")
    if row.released_at is None:
        row.released_at = utcnow()
        row.released_by = principal.username
        session.flush()
    return row

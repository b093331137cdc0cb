"""Group bookings (团体预约): an employer's or a school's list → places in a vaccination session.

Staff upload a CSV (``name``, ``id_number`` or ``person_id``, ``phone``) for a session: one
provider, one vaccination service, one window of time. The upload is all-or-report:

- every row is read and checked; a row that cannot be used (no name, a malformed ID number, a
  person identity does not know or the caller's jurisdiction does not hold, a name that does
  not match the record, the same person twice) is **rejected** with its reason and never
  creates anybody;
- each person then gets a place in the session's slots, earliest first, through the booking
  engine (:func:`carematch.booking.service.book`), whose conditional UPDATE never overbooks;
  when the session is full the rest are **waitlisted** on its first slot (or, with
  ``waitlist=False``, reported as rejected for want of a place);
- uploading the list again books nobody twice: a person is a member of a session at most once
  (a unique (session, person) row), so a re-upload reports the places given before; only the
  persons left without a place are tried again.

Concurrent uploads: members are claimed before any place is taken, in person-id order, so two
uploads sharing persons wait for each other in one order and never deadlock; the second then
reports those persons as placed already.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.booking import service as booking
from carematch.booking.errors import AlreadyBooked, AlreadyWaiting, SlotClosed, SlotFull
from carematch.booking.models import Slot
from carematch.core.clock import utcnow
from carematch.core.errors import InvalidInput, NotFound
from carematch.core.ids import new_id
from carematch.identity import service as identity
from carematch.identity.errors import PersonNotFound
from carematch.identity.ingest import normalise_name, normalise_phone
from carematch.identity.normalise import id_parts
from carematch.providers.errors import ProviderNotFound
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix
from carematch.vaccination.appointment_models import GroupBooking, GroupMember
from carematch.vaccination.appointments import (
    VACCINATION_SERVICES,
    NotAVaccinationSlot,
    record_appointment,
)
from carematch.vaccination.service import city_schedule

MAX_LIST_BYTES: Final = 1_000_000
MAX_ROWS: Final = 2_000
MAX_WINDOW: Final = timedelta(days=31)
PERSON_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
HOLDING: Final = ("booked", "checked_in", "completed")
"""Bookings that show the person already has their place in the session."""


class GroupBookingNotFound(NotFound):
    """No such group booking, or its provider lies outside the caller's jurisdiction."""

    type = "/problems/group-booking-not-found"
    title = "Group booking not found"


class InvalidGroupList(InvalidInput):
    """The uploaded file is not a list that can be read (its rows are judged one by one)."""

    type = "/problems/invalid-group-list"
    title = "Invalid group list"


# --- reading the list (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class ListRow:
    """One usable row of the list; ``row`` is its line in the file (the header is line 1)."""

    row: int
    name: str
    id_number: str | None
    person_id: str | None
    phone: str | None


@dataclass(frozen=True)
class Rejected:
    """A row that was not booked, and why."""

    row: int
    reason: str


def _decode(data: bytes) -> str:
    # Spreadsheets save CSV as UTF-8 (often with a BOM) or, on Chinese Windows, GB18030.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidGroupList("the list is neither UTF-8 nor GB18030 text")


def _cell(record: dict[str | None, Any], key: str) -> str:
    value = record.get(key)
    return value.strip() if isinstance(value, str) else ""


def read_list(data: bytes) -> tuple[list[ListRow], list[Rejected]]:
    """The usable rows of a group list and the rejected ones with their reasons.

    Columns (any order, header names case-insensitive): ``name``, ``id_number`` and/or
    ``person_id``, ``phone`` (optional); other columns are ignored.

    Raises:
        InvalidGroupList: not text, too large, no header, no ``name`` or identifier column,
            no rows, or more than :data:`MAX_ROWS` rows.
    """
    if len(data) > MAX_LIST_BYTES:
        raise InvalidGroupList(f"the list is larger than {MAX_LIST_BYTES} bytes")
    text = _decode(data)
    if "\x00" in text:
        raise InvalidGroupList("the list contains NUL characters")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InvalidGroupList(f"the list is not CSV: {exc}") from None
    if not header:
        raise InvalidGroupList("the list has no header row")
    reader.fieldnames = header
    if "name" not in header:
        raise InvalidGroupList("the list has no `name` column")
    if "id_number" not in header and "person_id" not in header:
        raise InvalidGroupList("the list needs an `id_number` or a `person_id` column")
    rows: list[ListRow] = []
    rejected: list[Rejected] = []
    try:
        records = list(reader)
    except csv.Error as exc:
        raise InvalidGroupList(f"the list is not CSV: {exc}") from None
    if not records:
        raise InvalidGroupList("the list has no rows")
    if len(records) > MAX_ROWS:
        raise InvalidGroupList(f"a list may hold {MAX_ROWS} rows at most")
    for index, record in enumerate(records):
        line = index + 2
        values = [v for k, v in record.items() if k is not None and isinstance(v, str)]
        if not any(v.strip() for v in values):
            continue  # a blank line at the end of a spreadsheet export
        problem, row = _check_row(line, record)
        if problem is not None:
            rejected.append(Rejected(line, problem))
        elif row is not None:
            rows.append(row)
    if not rows and not rejected:
        raise InvalidGroupList("the list has no rows")
    return rows, rejected


def _check_row(line: int, record: dict[str | None, Any]) -> tuple[str | None, ListRow | None]:
    name = normalise_name(_cell(record, "name"))
    raw_id = _cell(record, "id_number")
    person_id = _cell(record, "person_id")
    raw_phone = _cell(record, "phone")
    if not name:
        return "name is missing", None
    if len(name) > 100:
        return "name is longer than 100 characters", None
    if not raw_id and not person_id:
        return "id_number or person_id is required", None
    id_number = None
    if raw_id:
        normal, valid, _, _ = id_parts(raw_id[:64])
        if not valid:
            return "id_number is not a valid resident ID number", None
        id_number = normal
    if person_id and not PERSON_ID.match(person_id):
        return "person_id is malformed", None
    phone = None
    if raw_phone:
        digits, ok = normalise_phone(raw_phone[:64])
        if not ok:
            return "phone is not a phone number", None
        phone = digits
    return None, ListRow(line, name, id_number, person_id or None, phone)


# --- resolving persons ------------------------------------------------------------------------


def _same_name(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return "".join(unicodedata.normalize("NFKC", s).split()).casefold()

    return norm(a) == norm(b)


def resolve(session: Session, principal: Principal, row: ListRow) -> tuple[str | None, str | None]:
    """The person a row names, through identity, or the reason it names nobody usable.

    Unknown persons are never created: a group list is not a source of identity.
    """
    from carematch.identity.repository import search_persons_by_id_bidx
    from carematch.security.crypto import current_cipher

    by_id = None
    if row.id_number:
        bidx = current_cipher().blind_index(row.id_number, "id_number")
        found = [
            p
            for p in search_persons_by_id_bidx(session, bidx)
            if principal.can_see(p.community_code)
        ]
        if not found:
            return None, "no person with this ID number in your jurisdiction"
        if len(found) > 1:
            return None, "the ID number names more than one person; give person_id"
        by_id = found[0]
    person = by_id
    if row.person_id:
        try:
            named = identity.visible_person(session, principal, row.person_id)
        except PersonNotFound:
            return None, "no such person_id in your jurisdiction"
        if by_id is not None and by_id.id != named.id:
            return None, "id_number and person_id name different persons"
        person = named
    assert person is not None
    if person.name and not _same_name(person.name, row.name):
        return None, "the name does not match the person's record"
    return person.id, None


# --- the upload -------------------------------------------------------------------------------


@dataclass
class GroupReport:
    """What an upload did: places given, waitlist entries, rejected rows with reasons."""

    id: str
    provider_id: str
    service: str
    window_start: datetime
    window_end: datetime
    rows: int
    booked: list[dict[str, Any]] = field(default_factory=list)
    waitlisted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    created_by: str = ""
    created_at: datetime | None = None
    organisation: str | None = None
    series: str | None = None


def session_key(provider_id: str, service: str, start: datetime, end: datetime) -> str:
    """The fingerprint of a group session: uploads for the same one share their members."""
    text = "|".join((provider_id, service, start.isoformat(), end.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()


def _claim(
    session: Session, key: str, person_id: str, group_id: str, now: datetime
) -> tuple[GroupMember, bool]:
    """The person's membership of the session: a new one, or the one an earlier upload made.

    The unique (session, person) row is the guard: a concurrent upload's insert waits for this
    transaction and then fails, so it finds this member instead of placing the person again.
    """
    member = GroupMember(
        id=new_id(),
        session_key=key,
        person_id=person_id,
        group_booking_id=group_id,
        outcome="unplaced",
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(member)
    except IntegrityError:
        earlier = session.scalar(
            select(GroupMember)
            .where(GroupMember.session_key == key, GroupMember.person_id == person_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert earlier is not None
        return earlier, False
    return member, True


def _session_slots(
    session: Session, principal: Principal, provider_id: str, service: str,
    start: datetime, end: datetime,
) -> list[Slot]:  # fmt: skip
    """Every slot of the session that has not started, earliest first."""
    slots: list[Slot] = []
    offset = 0
    while True:
        total, page = booking.list_slots(
            session, principal, limit=500, offset=offset,
            provider_id=provider_id, service=service, start_from=start, start_to=end,
        )  # fmt: skip
        slots += page
        offset += len(page)
        if not page or offset >= total:
            return slots


def _existing_place(
    session: Session, principal: Principal, person_id: str, provider_id: str, service: str,
    start: datetime, end: datetime,
) -> booking.BookingView | None:  # fmt: skip
    """A place the person already holds in the session (booked on their own, or before)."""
    _, views = booking.list_bookings(
        session, principal, limit=50, offset=0, person_id=person_id,
        provider_id=provider_id, service=service, start_from=start, start_to=end,
    )  # fmt: skip
    return next((v for v in views if v.booking.status in HOLDING), None)


def upload_group(
    session: Session,
    principal: Principal,
    *,
    data: bytes,
    provider_id: str,
    service: str,
    start: datetime,
    end: datetime,
    organisation: str | None = None,
    series: str | None = None,
    waitlist: bool = True,
    now: datetime | None = None,
) -> GroupReport:
    """Book a list of persons into a vaccination session at a provider (see the module doc).

    Times without an offset are city time. The upload and its counts are audited; the stored
    report holds row numbers, person ids and reasons, never names or ID numbers.

    Raises:
        ProviderNotFound: no such provider in the caller's jurisdiction (404).
        NotAVaccinationSlot: the service gives no vaccinations, or the provider does not offer it.
        InvalidInput: a window that ends before it starts, has ended, or is over 31 days; an
            unknown series.
        InvalidGroupList: a file that cannot be read as a list (400).
    """
    from carematch.providers.service import get_provider

    now = now or utcnow()
    view = get_provider(session, provider_id)
    if not principal.can_see(view.provider.region_code):
        raise ProviderNotFound(f"no provider {provider_id}")
    if service not in VACCINATION_SERVICES:
        raise NotAVaccinationSlot(f"{service} is not a clinic vaccination service")
    if service not in {s.service_code for s in view.services}:
        raise NotAVaccinationSlot(f"provider {provider_id} does not offer {service}")
    window_start = booking.from_input(start, "start")
    window_end = booking.from_input(end, "end")
    if window_end <= window_start:
        raise InvalidInput("the window must end after it starts")
    if window_end - window_start > MAX_WINDOW:
        raise InvalidInput("a group session's window may span 31 days at most")
    if window_end <= now:
        raise InvalidInput("the window has already ended")
    if series is not None and city_schedule().position(series) is None:
        raise InvalidInput(f"the schedule has no series {series!r}")
    if organisation is not None and len(organisation) > 200:
        raise InvalidInput("organisation may be 200 characters at most")
    rows, rejected = read_list(data)

    group = GroupBooking(
        id=new_id(),
        session_key=session_key(provider_id, service, window_start, window_end),
        provider_id=provider_id,
        service=service,
        window_start=window_start,
        window_end=window_end,
        region_code=view.provider.region_code,
        organisation=organisation,
        series=series,
        list_sha256=hashlib.sha256(data).hexdigest(),
        rows=len(rows) + len(rejected),
        report="{}",
        created_by=principal.username,
        created_at=now,
    )
    session.add(group)
    session.flush()
    report = GroupReport(
        id=group.id,
        provider_id=provider_id,
        service=service,
        window_start=window_start,
        window_end=window_end,
        rows=group.rows,
        rejected=[{"row": r.row, "reason": r.reason} for r in rejected],
        created_by=principal.username,
        created_at=now,
        organisation=organisation,
        series=series,
    )

    # Resolve every row; a person named twice keeps their first row.
    persons: list[tuple[ListRow, str]] = []
    first_row: dict[str, int] = {}
    for row in rows:
        person_id, reason = resolve(session, principal, row)
        if person_id is None:
            report.rejected.append({"row": row.row, "reason": reason})
        elif person_id in first_row:
            report.rejected.append(
                {"row": row.row, "reason": f"the same person as row {first_row[person_id]}"}
            )
        else:
            first_row[person_id] = row.row
            persons.append((row, person_id))

    # Claim first, in person-id order (see the module doc), then place in the list's order.
    members = {
        pid: _claim(session, group.session_key, pid, group.id, now) for pid in sorted(first_row)
    }
    slots = [s for s in _session_slots(
        session, principal, provider_id, service, max(window_start, now), window_end
    )]  # fmt: skip
    full: set[str] = set()
    for row, person_id in persons:
        member, new = members[person_id]
        if not new and member.outcome == "booked":
            report.booked.append(
                {"row": row.row, "person_id": person_id, "booking_id": member.booking_id,
                 "slot_id": member.slot_id, "repeated": True}
            )  # fmt: skip
            continue
        if not new and member.outcome == "waitlisted":
            report.waitlisted.append(
                {"row": row.row, "person_id": person_id,
                 "waitlist_entry_id": member.waitlist_entry_id, "slot_id": member.slot_id,
                 "repeated": True}
            )  # fmt: skip
            continue
        _place(session, principal, group, member, row, person_id, slots, full, waitlist, now,
               report)  # fmt: skip

    group.booked = len(report.booked)
    group.waitlisted = len(report.waitlisted)
    group.rejected = len(report.rejected)
    report.rejected.sort(key=lambda r: r["row"])
    group.report = json.dumps(_report_json(report), ensure_ascii=False, default=str)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="vaccination_group_booking",
        entity="vaccination_group_booking",
        entity_id=group.id,
        detail={
            "provider_id": provider_id,
            "service": service,
            "rows": group.rows,
            "booked": group.booked,
            "waitlisted": group.waitlisted,
            "rejected": group.rejected,
        },
    )
    return report


def _place(
    session: Session,
    principal: Principal,
    group: GroupBooking,
    member: GroupMember,
    row: ListRow,
    person_id: str,
    slots: list[Slot],
    full: set[str],
    waitlist: bool,
    now: datetime,
    report: GroupReport,
) -> None:
    """Give one member a place, a waitlist entry, or report that there is none."""
    held = _existing_place(
        session, principal, person_id, group.provider_id, group.service,
        booking.as_utc(group.window_start), booking.as_utc(group.window_end),
    )  # fmt: skip
    if held is not None:
        _mark(member, "booked", now, booking_id=held.booking.id, slot_id=held.slot.id)
        report.booked.append(
            {"row": row.row, "person_id": person_id, "booking_id": held.booking.id,
             "slot_id": held.slot.id, "repeated": True}
        )  # fmt: skip
        return
    for slot in slots:
        if slot.id in full:
            continue
        try:
            with session.begin_nested():
                made = booking.book(
                    session, principal, slot_id=slot.id, person_id=person_id, now=now
                )
        except (SlotFull, SlotClosed):
            full.add(slot.id)
            continue
        except AlreadyBooked:
            continue
        _mark(member, "booked", now, booking_id=made.view.booking.id, slot_id=slot.id)
        if group.series is not None:
            record_appointment(
                session,
                booking_id=made.view.booking.id,
                person_id=person_id,
                series=group.series,
                dose=None,
                actor=principal.username,
                group_booking_id=group.id,
                now=now,
            )
        report.booked.append(
            {"row": row.row, "person_id": person_id, "booking_id": made.view.booking.id,
             "slot_id": slot.id, "repeated": False}
        )  # fmt: skip
        return
    first = next((s for s in slots if booking.as_utc(s.starts_at) > now), None)
    if waitlist and first is not None:
        try:
            with session.begin_nested():
                entry = booking.join_waitlist(
                    session, principal, slot_id=first.id, person_id=person_id, now=now
                ).entry
        except AlreadyWaiting:
            _, views = booking.list_waitlist(
                session, principal, limit=500, offset=0, slot_id=first.id, status="waiting"
            )
            entry = next(v.entry for v in views if v.entry.person_id == person_id)
        if entry.status == "booked" and entry.booking_id:
            # A place freed meanwhile: the waitlist gave it at once.
            _mark(member, "booked", now, booking_id=entry.booking_id, slot_id=first.id)
            report.booked.append(
                {"row": row.row, "person_id": person_id, "booking_id": entry.booking_id,
                 "slot_id": first.id, "repeated": False}
            )  # fmt: skip
            return
        _mark(member, "waitlisted", now, waitlist_entry_id=entry.id, slot_id=first.id)
        report.waitlisted.append(
            {"row": row.row, "person_id": person_id, "waitlist_entry_id": entry.id,
             "slot_id": first.id, "repeated": False}
        )  # fmt: skip
        return
    _mark(member, "unplaced", now)
    report.rejected.append(
        {"row": row.row, "person_id": person_id, "reason": "no free place in the session"}
    )


def _mark(member: GroupMember, outcome: str, now: datetime, **values: Any) -> None:
    member.outcome = outcome
    member.updated_at = now
    for key, value in values.items():
        setattr(member, key, value)


def _report_json(report: GroupReport) -> dict[str, Any]:
    return {
        "booked": report.booked,
        "waitlisted": report.waitlisted,
        "rejected": report.rejected,
    }


def _of(group: GroupBooking) -> GroupReport:
    body = json.loads(group.report or "{}")
    return GroupReport(
        id=group.id,
        provider_id=group.provider_id,
        service=group.service,
        window_start=booking.as_utc(group.window_start),
        window_end=booking.as_utc(group.window_end),
        rows=group.rows,
        booked=body.get("booked", []),
        waitlisted=body.get("waitlisted", []),
        rejected=body.get("rejected", []),
        created_by=group.created_by,
        created_at=booking.as_utc(group.created_at),
        organisation=group.organisation,
        series=group.series,
    )


def get_group(session: Session, principal: Principal, group_id: str) -> GroupReport:
    """An upload's report, for staff whose jurisdiction holds its provider.

    Raises:
        GroupBookingNotFound: no such upload, or outside the jurisdiction.
    """
    found = session.get(GroupBooking, group_id) if booking.ID_PATTERN.match(group_id) else None
    if found is None or not principal.can_see(found.region_code):
        raise GroupBookingNotFound(f"no group booking {group_id}")
    return _of(found)


def list_groups(
    session: Session, principal: Principal, *, limit: int, offset: int
) -> tuple[int, list[GroupReport]]:
    """Uploads of the caller's jurisdiction, newest first."""
    where = []
    if principal.jurisdiction is not None:
        prefix = region_prefix(principal.jurisdiction)
        where.append(GroupBooking.region_code.startswith(prefix, autoescape=True))
    total = session.scalar(select(func.count()).select_from(GroupBooking).where(*where)) or 0
    rows = session.scalars(
        select(GroupBooking)
        .where(*where)
        .order_by(GroupBooking.created_at.desc(), GroupBooking.id)
        .limit(limit)
        .offset(offset)
    )
    return total, [_of(g) for g in rows]

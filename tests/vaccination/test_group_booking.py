"""Group bookings (R-VX-2): an employer's or school's list → places in a vaccination session.

The list is read row by row (bad rows kept with reasons), persons resolved through identity,
and places taken through the booking engine: capacity smaller than the list books exactly the
capacity, the rest are waitlisted or reported, and uploading the list again books nobody twice
— on SQLite and PostgreSQL, also when two uploads of the list run at once.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from carematch.booking.models import Booking, Slot, WaitlistEntry
from carematch.core.db import session_scope
from carematch.vaccination.appointment_models import GroupMember, VaccinationAppointment
from carematch.vaccination.group_booking import (
    MAX_ROWS,
    GroupReport,
    InvalidGroupList,
    read_list,
    upload_group,
)
from tests.booking.conftest import bearer, principal
from tests.fixtures.factories import make_id, wrong_check_digit
from tests.fixtures.people import D1
from tests.fixtures.vaccination_world import (
    ADULTS,
    OUTSIDER,
    World,
    at_city,
    build_world,
    city_today,
    slot,
)

SERVICE = "vaccination_adult"
URL = "/api/v1/vaccination/group-bookings"


def csv_bytes(rows: list[tuple[str, ...]], header: str = "name,id_number,person_id,phone") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue().encode()


# --- reading the list (no database) ---------------------------------------------------------------


def test_bad_rows_are_kept_with_their_reasons():
    good_id = ADULTS[0][1]
    data = csv_bytes(
        [
            ("张伟", good_id, "", "138 0013 8000"),  # row 2: fine
            ("", good_id, "", ""),  # 3
            ("王芳", "", "", ""),  # 4
            ("李娜", wrong_check_digit(ADULTS[2][1]), "", ""),  # 5
            ("刘洋", "", "bad id!", ""),  # 6
            ("陈静", ADULTS[4][1], "", "call me"),  # 7
            ("", "", "", ""),  # 8: a blank line is no row
        ]
    )
    rows, rejected = read_list(data)
    assert [(r.row, r.name, r.id_number, r.phone) for r in rows] == [
        (2, "张伟", good_id, "13800138000")
    ]
    assert [(r.row, r.reason) for r in rejected] == [
        (3, "name is missing"),
        (4, "id_number or person_id is required"),
        (5, "id_number is not a valid resident ID number"),
        (6, "person_id is malformed"),
        (7, "phone is not a phone number"),
    ]


def test_a_spreadsheet_saved_as_gb18030_with_only_person_ids_is_read():
    data = "姓名备注,name,person_id\n-,王芳,P123\n".encode("gb18030")
    rows, rejected = read_list(data)
    assert [(r.name, r.person_id, r.id_number) for r in rows] == [("王芳", "P123", None)]
    assert rejected == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "no header"),
        (b"id_number\n110101199003070011\n", "no `name` column"),
        (b"name,phone\nA,138\n", "`id_number` or a `person_id`"),
        (b"name,person_id\n", "no rows"),
        (b"name,person_id\nA,\x00\n", "NUL"),
        (b"\xff\xfe\x00\x00\xff", "neither UTF-8 nor GB18030"),
        (b"name,person_id\n" + b"A,P1\n" * (MAX_ROWS + 1), f"{MAX_ROWS} rows"),
    ],
)
def test_a_file_that_is_no_list_is_refused_whole(data, problem):
    with pytest.raises(InvalidGroupList, match=problem):
        read_list(data)


cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(cells, cells, cells, cells), min_size=1, max_size=20))
def test_every_non_blank_row_is_either_usable_or_rejected_with_a_reason(rows):
    data = csv_bytes(rows)
    try:
        usable, rejected = read_list(data)
    except InvalidGroupList:
        return  # e.g. every row blank: refused whole, never a crash
    records = list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]
    non_blank = [r for r in records if any(c.strip() for c in r)]
    assert len(usable) + len(rejected) == len(non_blank)
    lines = [r.row for r in usable] + [r.row for r in rejected]
    assert len(set(lines)) == len(lines) and min(lines) >= 2
    assert all(r.reason for r in rejected)
    assert all(r.name and (r.id_number or r.person_id) for r in usable)


# --- booking a list -----------------------------------------------------------------------------


@pytest.fixture
def world(env, tmp_path) -> World:
    return build_world(tmp_path)


def session_day() -> date:
    return city_today() + timedelta(days=3)


def the_list(world: World) -> bytes:
    """Six adults of district 1, then five rows that name nobody usable."""
    unknown = make_id(D1, date(1970, 1, 1), 901, "M")
    return csv_bytes(
        [
            *((name, idn, "", "13800138000") for name, idn in ADULTS),  # rows 2-7
            ("无名", unknown, "", ""),  # 8: nobody has this ID number
            (ADULTS[0][0], "", world.adults[0], ""),  # 9: the person of row 2 again
            (OUTSIDER[0], OUTSIDER[1], "", ""),  # 10: district 2
            ("王五", ADULTS[1][1], "", ""),  # 11: not the name on record
            ("", ADULTS[2][1], "", ""),  # 12: no name
        ]
    )


def upload(data: bytes, user: str = "official_d1", **kwargs) -> GroupReport:
    day = session_day()
    options = {
        "provider_id": "PRVD1",
        "service": SERVICE,
        "start": at_city(day, 0),
        "end": at_city(day + timedelta(days=1), 0),
        **kwargs,
    }
    with session_scope() as session:
        return upload_group(session, principal(session, user), data=data, **options)


def counts() -> tuple[int, int, int]:
    with session_scope() as session:
        bookings = session.scalar(
            select(func.count()).select_from(Booking).where(Booking.status == "booked")
        )
        waiting = session.scalar(
            select(func.count()).select_from(WaitlistEntry).where(WaitlistEntry.status == "waiting")
        )
        over = session.scalar(
            select(func.count()).select_from(Slot).where(Slot.booked > Slot.capacity)
        )
    return bookings or 0, waiting or 0, over or 0


def test_a_list_longer_than_the_session_books_exactly_its_capacity_and_again_nobody_twice(world):
    first_slot = slot("PRVD1", session_day(), service=SERVICE, capacity=2, hour=9)
    second_slot = slot("PRVD1", session_day(), service=SERVICE, capacity=1, hour=10)
    data = the_list(world)

    report = upload(data, series="HepB")

    # Capacity 3: the first three adults in list order get places, earliest slot first.
    assert [(b["row"], b["slot_id"], b["repeated"]) for b in report.booked] == [
        (2, first_slot, False),
        (3, first_slot, False),
        (4, second_slot, False),
    ]
    assert [w["row"] for w in report.waitlisted] == [5, 6, 7]
    assert {w["slot_id"] for w in report.waitlisted} == {first_slot}
    assert [(r["row"], r["reason"]) for r in report.rejected] == [
        (8, "no person with this ID number in your jurisdiction"),
        (9, "the same person as row 2"),
        (10, "no person with this ID number in your jurisdiction"),
        (11, "the name does not match the person's record"),
        (12, "name is missing"),
    ]
    assert counts() == (3, 3, 0)
    with session_scope() as session:
        full = [session.get(Slot, s) for s in (first_slot, second_slot)]
        assert [(s.booked, s.capacity) for s in full if s] == [(2, 2), (1, 1)]
        # The series the session is for is recorded with each place.
        series = session.scalars(select(VaccinationAppointment.series)).all()
        assert series == ["HepB"] * 3

    again = upload(data, series="HepB")

    assert again.id != report.id
    assert [(b["row"], b["booking_id"], b["repeated"]) for b in again.booked] == [
        (b["row"], b["booking_id"], True) for b in report.booked
    ]
    assert [(w["row"], w["waitlist_entry_id"]) for w in again.waitlisted] == [
        (w["row"], w["waitlist_entry_id"]) for w in report.waitlisted
    ]
    assert all(w["repeated"] for w in again.waitlisted)
    assert again.rejected == report.rejected
    assert counts() == (3, 3, 0)


def test_without_a_waitlist_the_rest_are_reported_and_tried_again_on_the_next_upload(
    sqlite_env, tmp_path
):
    build_world(tmp_path)
    slot("PRVD1", session_day(), service=SERVICE, capacity=2)
    data = csv_bytes([(name, idn, "", "") for name, idn in ADULTS[:4]])

    report = upload(data, waitlist=False)

    assert [b["row"] for b in report.booked] == [2, 3]
    assert report.waitlisted == []
    assert [(r["row"], r["reason"]) for r in report.rejected] == [
        (4, "no free place in the session"),
        (5, "no free place in the session"),
    ]
    assert counts() == (2, 0, 0)

    # The clinic opens another slot; the same list now places the two left over, and only them.
    slot("PRVD1", session_day(), service=SERVICE, capacity=5, hour=11)
    again = upload(data, waitlist=False)
    assert [(b["row"], b["repeated"]) for b in again.booked] == [
        (2, True),
        (3, True),
        (4, False),
        (5, False),
    ]
    assert again.rejected == []
    assert counts() == (4, 0, 0)


def test_two_uploads_of_one_list_at_once_never_book_a_person_twice(world):
    slot("PRVD1", session_day(), service=SERVICE, capacity=3)
    data = csv_bytes([(name, idn, "", "") for name, idn in ADULTS])
    reports: list[GroupReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            reports.append(upload(data))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert counts() == (3, 3, 0)
    fresh = [b for r in reports for b in r.booked if not b["repeated"]]
    assert len(fresh) == 3
    with session_scope() as session:
        per_person = Counter(session.scalars(select(Booking.person_id)))
        members = Counter(session.scalars(select(GroupMember.person_id)))
    assert set(per_person.values()) == {1}
    assert len(members) == 6 and set(members.values()) == {1}


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api(sqlite_env, tmp_path) -> Iterator[tuple[TestClient, World]]:
    from carematch.api.app import create_app

    built = build_world(tmp_path)
    with TestClient(create_app()) as client:
        yield client, built


def test_the_api_books_a_list_reports_it_and_checks_who_may(api):
    client, world = api
    slot("PRVD1", session_day(), service=SERVICE, capacity=2)
    form = {"provider_id": "PRVD1", "service": SERVICE, "date": session_day().isoformat()}
    files = {"file": ("list.csv", the_list(world), "text/csv")}

    made = client.post(URL, data=form, files=files, headers=bearer("vaccinator_d1"))

    assert made.status_code == 201, made.text
    body = made.json()
    assert (len(body["booked"]), len(body["waitlisted"]), len(body["rejected"])) == (2, 4, 5)
    assert body["rejected"][0] == {
        "row": 8,
        "reason": "no person with this ID number in your jurisdiction",
        "person_id": None,
    }
    assert datetime.fromisoformat(body["window_start"]).date() == session_day()
    assert made.headers["Location"].endswith(body["id"])
    got = client.get(f"{URL}/{body['id']}", headers=bearer("official_d1"))
    assert got.status_code == 200 and got.json() == body
    listed = client.get(URL, headers=bearer("official_d1")).json()
    assert [i["id"] for i in listed["items"]] == [body["id"]]

    # Staff only; other districts see neither the provider nor the report.
    assert client.post(URL, data=form, files=files, headers=bearer("resident1")).status_code == 403
    assert client.post(URL, data=form, files=files, headers=bearer("grid_d1")).status_code == 403
    assert (
        client.post(URL, data=form, files=files, headers=bearer("official_d2")).status_code == 404
    )
    assert client.get(f"{URL}/{body['id']}", headers=bearer("official_d2")).status_code == 404
    assert client.get(URL, headers=bearer("official_d2")).json()["items"] == []


BAD_INPUT: list[tuple[dict[str, str | None], bytes | None, int]] = [
    ({"service": "chronic_followup"}, None, 400),  # not a vaccination service
    ({"date": None, "start": "2030-01-02T10:00", "end": "2030-01-02T09:00"}, None, 400),
    ({"date": None}, None, 400),  # neither date nor start/end
    ({"date": "2000-01-01"}, None, 400),  # the window has ended
    ({"date": "not a date"}, None, 422),
    ({"provider_id": "NOPE"}, None, 404),
    ({"provider_id": "x y"}, None, 422),
    ({"series": "Nope"}, None, 400),
    ({}, b"\xff\xfe\xfa", 400),
    ({}, b"id_number\n1\n", 400),
]


def test_bad_input_is_a_problem_never_a_500(api):
    client, world = api
    for form, content, status in BAD_INPUT:
        fields: dict[str, str | None] = {
            "provider_id": "PRVD1",
            "service": SERVICE,
            "date": session_day().isoformat(),
            **form,
        }
        data = {k: v for k, v in fields.items() if v is not None}
        files = {"file": ("list.csv", content or the_list(world), "text/csv")}
        response = client.post(URL, data=data, files=files, headers=bearer("official_d1"))
        assert response.status_code == status, (form, response.text)
        if status != 422:
            assert response.headers["content-type"].startswith("application/problem+json")
    # Nothing was booked by any of them.
    assert counts() == (0, 0, 0)

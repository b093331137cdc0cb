"""The family's vaccinations on the portal: a guardian sees each child's due and overdue doses
with 15-minute slots, books one once, is sent to the pre-screening, and gets a certificate whose
QR code, read back like a phone camera would, opens a verify page that says it is valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from carematch.api.app import create_app
from carematch.booking.models import Booking
from carematch.core.db import session_scope
from carematch.security.authz import TOKEN_COOKIE
from carematch.security.models import User
from carematch.security.tokens import issue_token
from carematch.vaccination.appointment_models import VaccinationAppointment
from carematch.web.workbench import csrf
from tests.fixtures.vaccination_world import World, build_world, city_today, slot

PAGE = "/portal/vaccination"


@pytest.fixture
def client(sqlite_env) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def world(sqlite_env, tmp_path) -> World:
    return build_world(tmp_path)


def _sign_in(client: TestClient, username: str = "resident1") -> str:
    """Sign the browser stand-in in (token issued directly) and return its form token."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        access, _ = issue_token(user.id, user.role, user.region_code)
    client.cookies.set(TOKEN_COOKIE, access)
    return hmac.new(access.encode(), csrf._LABEL, hashlib.sha256).hexdigest()


def _member(html: str, person_id: str) -> str:
    start = html.index(f'data-person="{person_id}"')
    end = html.find('<section class="card member"', start)
    return html[start : end if end > 0 else len(html)]


def _booking_forms(section: str, series: str) -> list[dict[str, str]]:
    start = section.index(f'class="dose" data-series="{series}"')
    end = section.find('class="dose" data-series=', start + 1)
    dose = section[start : end if end > 0 else len(section)]
    return [
        dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
        for form in re.findall(r"<form.*?</form>", dose, re.S)
    ]


def test_a_guardian_books_a_childs_overdue_dose_once_and_is_sent_to_prescreening(
    client: TestClient, world: World
):
    tomorrow = city_today() + timedelta(days=1)
    slot_id = slot(world.provider_d1, tomorrow, capacity=2)
    _sign_in(client)

    page = client.get(PAGE)
    assert page.status_code == 200
    for person in (world.guardian, world.child, world.disabled_child):
        assert f'data-person="{person}"' in page.text
    child = _member(page.text, world.child)
    # MPSV-A is overdue and DTaP due for the 18-month-old; MMR is overdue too but due only
    # after the live-vaccine gap, so tomorrow's slot is not offered for it.
    assert 'class="dose" data-series="MPSV-A" data-status="overdue"' in child
    assert 'class="dose" data-series="DTaP" data-status="due"' in child
    assert f"{world.doses.mmr_due.isoformat()}" in child
    assert _booking_forms(child, "MMR") == []
    forms = _booking_forms(child, "MPSV-A")
    assert [f["slot_id"] for f in forms] == [slot_id]

    first = client.post(f"{PAGE}/book", data=forms[0], follow_redirects=False)
    assert first.status_code == 303, first.text
    again = client.post(f"{PAGE}/book", data=forms[0], follow_redirects=False)
    assert again.status_code == 303
    with session_scope() as session:
        booked = list(session.scalars(select(Booking).where(Booking.person_id == world.child)))
        notes = list(session.scalars(select(VaccinationAppointment)))
    assert [(b.slot_id, b.status) for b in booked] == [(slot_id, "booked")]
    assert [(n.person_id, n.series) for n in notes] == [(world.child, "MPSV-A")]

    after = _member(client.get(first.headers["location"]).text, world.child)
    assert f'data-booking="{booked[0].id}" data-series="MPSV-A"' in after
    prescreen = re.search(r'class="button prescreen" href="([^"]+)"', after)
    assert prescreen is not None
    link = prescreen.group(1).replace("&amp;", "&")
    assert link.startswith("/portal/vaccination/prescreen?")
    assert client.get(link).status_code == 200


def test_a_dose_refused_by_the_rules_is_explained_and_nothing_is_booked(
    client: TestClient, world: World
):
    # A slot before the MMR's due date (the 28-day live-vaccine gap): the page must say why.
    early = slot(world.provider_d1, city_today() + timedelta(days=1))
    token = _sign_in(client)
    refused = client.post(
        f"{PAGE}/book",
        data={
            csrf.FIELD: token,
            "slot_id": early,
            "person_id": world.child,
            "series": "MMR",
            "key": "k1",
        },
    )
    assert refused.status_code == 409
    assert 'id="vx-error"' in refused.text
    # Someone who is not mine: as if they did not exist.
    stranger = client.post(
        f"{PAGE}/book",
        data={
            csrf.FIELD: token,
            "slot_id": early,
            "person_id": world.outsider,
            "series": "MMR",
            "key": "k2",
        },
    )
    assert stranger.status_code == 404
    with session_scope() as session:
        assert list(session.scalars(select(Booking))) == []


def test_the_certificate_qr_read_back_opens_a_verify_page_that_says_valid(
    client: TestClient, world: World
):
    _sign_in(client)
    page = client.get(f"{PAGE}/certificate", params={"person_id": world.child})
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    certified = re.findall(r'class="certified-dose" data-series="([^"]+)"', page.text)
    assert "DTaP" in certified and "JE-L" in certified

    png = re.search(r'id="certificate-qr" src="data:image/png;base64,([^"]+)"', page.text)
    assert png is not None
    image = Image.open(io.BytesIO(base64.b64decode(png.group(1))))
    (code,) = zxingcpp.read_barcodes(image)
    link = re.search(r'id="verify-link" href="([^"]+)"', page.text)
    assert link is not None and code.text == link.group(1).replace("&amp;", "&")

    target = urlsplit(code.text)
    verdict = client.get(f"{target.path}?{target.query}")
    assert verdict.status_code == 200
    assert 'id="verdict" data-valid="true"' in verdict.text

    # Not mine: the same "not found" as any other person read.
    other = client.get(f"{PAGE}/certificate", params={"person_id": world.outsider})
    assert other.status_code == 404
    assert 'id="certificate-problem"' in other.text

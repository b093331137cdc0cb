"""The resident portal: offers that are real open slots at the best-ranked provider, a one-tap
booking that books once, my bookings and reminders, rating a visit, and the cockpit's loop."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carematch.api.app import create_app
from carematch.booking import records
from carematch.booking.models import Booking, Rating, Slot
from carematch.core.clock import utcnow
from carematch.core.db import session_factory, session_scope
from carematch.core.ids import new_id
from carematch.core.models import Region
from carematch.core.regions import load_regions
from carematch.identity.models import Person
from carematch.matching.service import recommend_for_person
from carematch.notifications.channels import default_channels
from carematch.notifications.worker import Worker
from carematch.profiling.models import Demand
from carematch.providers import service as providers
from carematch.security.authz import TOKEN_COOKIE, Principal
from carematch.security.models import User
from carematch.security.service import create_user
from carematch.synth import generate_city
from carematch.web.workbench import csrf
from carematch.web.workbench.csrf import FIELD
from tests.web.conftest import PASSWORD, login

SERVICE = "chronic_followup"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(residents=300, seed=7, out=out)
    return out


class Portal:
    """The loaded city, one resident with an open need and their account."""

    def __init__(self, person_id: str, demand_id: str, community: str) -> None:
        self.person_id = person_id
        self.demand_id = demand_id
        self.community = community

    def principal(self, username: str = "elder") -> Principal:
        with session_scope() as session:
            user = session.scalar(select(User).where(User.username == username))
            assert user is not None
            return Principal(user.id, user.username, user.role, user.region_code, user.person_id)

    def ranked_providers(self) -> list[str]:
        """The providers recommended for the need, best first (what the offer must follow)."""
        s = session_factory()()
        try:
            recs = recommend_for_person(
                s, self.principal(), self.person_id, gettext=lambda m: m, limit=5
            )
            return [c.provider_id for c in recs.services[0].choices]
        finally:
            s.rollback()
            s.close()


@pytest.fixture
def portal(sqlite_env, generated: Path) -> Portal:
    """The portal's world on SQLite: the pages' logic does not depend on the database (the
    booking engine under them is tested on both backends)."""
    return _build(generated)


@pytest.fixture
def portal_both(env, generated: Path) -> Portal:
    """The world on each backend, for the counts that are SQL of their own."""
    return _build(generated)


@pytest.fixture
def client(sqlite_env) -> Iterator[TestClient]:
    """The app on SQLite (this module's pages); ``client_both`` runs on each backend."""
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def client_both(env) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def _build(generated: Path) -> Portal:
    with session_scope() as session:
        load_regions(session, generated / "regions.csv")
        providers.load_providers(session, generated)
    with session_scope() as session:
        community = session.scalar(
            select(Region.code)
            .where(Region.level == "community", Region.lat.is_not(None))
            .order_by(Region.code)
        )
        assert community is not None
        person_id, demand_id = f"P{new_id()[:20]}", new_id()
        session.add(Person(id=person_id, name="欧阳长者", community_code=community))
        session.flush()
        session.add(
            Demand(
                id=demand_id,
                person_id=person_id,
                tag="hypertension_followup_due",
                service=SERVICE,
                demand_type="chronic",
                level="person",
                priority=1,
                because="测试",
                community_code=community,
                as_of=utcnow().date(),
            )
        )
        create_user(session, "elder", "resident", PASSWORD, person_id=person_id)
        create_user(session, "doc", "doctor", PASSWORD, community[:6])
        create_user(session, "city_official", "official", PASSWORD, community[:4] + "00")
    return Portal(person_id, demand_id, community)


def _slot(provider_id: str, *, days: float = 1, capacity: int = 3) -> str:
    with session_scope() as session:
        region = providers.get_provider(session, provider_id).provider.region_code
        start = utcnow() + timedelta(days=days)
        slot_id = new_id()
        session.add(
            Slot(
                id=slot_id,
                provider_id=provider_id,
                service=SERVICE,
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                capacity=capacity,
                booked=0,
                region_code=region,
                source="staff",
                created_by="test",
            )
        )
    return slot_id


def _sign_in(client: TestClient, username: str) -> TestClient:
    assert login(client, username).status_code == 303
    return client


def _form(html: str, form_id: str | None = None) -> dict[str, str]:
    """The hidden fields of the first booking form (or of the form holding ``form_id``)."""
    start = html.index(form_id) if form_id else html.index('action="/portal/book"')
    chunk = html[start : html.index("</form>", start)]
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', chunk))


def _bookings(person_id: str) -> list[Booking]:
    with session_scope() as session:
        return list(session.scalars(select(Booking).where(Booking.person_id == person_id)))


def test_elderly_mode_offers_the_best_ranked_provider_and_one_tap_books_once(
    client: TestClient, portal: Portal
):
    ranked = portal.ranked_providers()
    assert len(ranked) >= 2
    slots = {pid: _slot(pid) for pid in ranked}
    _sign_in(client, "elder")

    page = client.get("/portal", params={"text": "large"})
    assert page.status_code == 200
    assert 'id="one-tap-book"' in page.text and "read-aloud.js" in page.text
    fields = _form(page.text)
    assert fields["slot_id"] == slots[ranked[0]]
    assert fields["demand_id"] == portal.demand_id

    first = client.post("/portal/book", data=fields, follow_redirects=False)
    assert first.status_code == 303, first.text
    # A double tap (or a retried post on a bad connection) carries the same key: one booking.
    again = client.post("/portal/book", data=fields, follow_redirects=False)
    assert again.status_code == 303
    booked = _bookings(portal.person_id)
    assert [(b.slot_id, b.demand_id, b.status) for b in booked] == [
        (slots[ranked[0]], portal.demand_id, "booked")
    ]
    with session_scope() as session:
        assert session.get(Slot, slots[ranked[0]]).booked == 1

    after = client.get(first.headers["location"])
    assert 'id="portal-notice"' in after.text
    assert f'data-booking="{booked[0].id}" data-status="booked"' in after.text


def test_the_offer_falls_to_the_next_ranked_provider_with_an_open_slot(
    client: TestClient, portal: Portal
):
    ranked = portal.ranked_providers()
    full = _slot(ranked[0], capacity=1)
    with session_scope() as session:
        session.get(Slot, full).booked = 1  # taken by someone else
    later = _slot(ranked[0], days=20)  # beyond the two-week horizon
    second = _slot(ranked[1])
    _sign_in(client, "elder")
    fields = _form(client.get("/portal").text)
    assert fields["slot_id"] == second
    assert later != second


def test_without_any_open_slot_there_is_no_button_but_a_way_on(client: TestClient, portal: Portal):
    _sign_in(client, "elder")
    page = client.get("/portal", params={"text": "large"})
    assert page.status_code == 200
    assert 'id="one-tap-book"' not in page.text
    assert 'id="no-offers"' in page.text and 'href="/services/nearby"' in page.text


def test_a_full_slot_is_refused_with_a_plain_message_and_nothing_kept(
    client: TestClient, portal: Portal
):
    ranked = portal.ranked_providers()
    slot = _slot(ranked[0], capacity=1)
    _sign_in(client, "elder")
    fields = _form(client.get("/portal").text)
    with session_scope() as session:
        session.get(Slot, slot).booked = 1  # someone else took the last place meanwhile
    refused = client.post("/portal/book", data=fields)
    assert refused.status_code == 409
    assert 'id="portal-error"' in refused.text and "约满" in refused.text
    assert _bookings(portal.person_id) == []


def test_forms_need_the_session_token_and_a_resident_acts_only_for_themselves(
    client: TestClient, portal: Portal
):
    ranked = portal.ranked_providers()
    _slot(ranked[0])
    _sign_in(client, "elder")
    fields = _form(client.get("/portal").text)
    forged = {k: v for k, v in fields.items() if k != FIELD}
    assert client.post("/portal/book", data=forged).status_code == 403
    assert _bookings(portal.person_id) == []

    # Someone else's booking cannot be cancelled from my portal: it does not exist for me.
    with session_scope() as session:
        other = f"P{new_id()[:20]}"
        session.add(Person(id=other, community_code=portal.community))
        slot = session.get(Slot, _slot(ranked[1]))
        session.add(
            Booking(id=new_id(), slot_id=slot.id, person_id=other, status="booked", created_by="x")
        )
        session.flush()
        theirs = session.scalar(select(Booking.id).where(Booking.person_id == other))
    token = fields[FIELD]
    refused = client.post(f"/portal/bookings/{theirs}/cancel", data={FIELD: token})
    assert refused.status_code == 404
    with session_scope() as session:
        assert session.get(Booking, theirs).status == "booked"


def test_reminder_arrives_and_the_visit_is_rated_once(client: TestClient, portal: Portal):
    ranked = portal.ranked_providers()
    _slot(ranked[0])
    _sign_in(client, "elder")
    client.post("/portal/book", data=_form(client.get("/portal").text))
    (booking,) = _bookings(portal.person_id)

    sessions = session_factory()
    Worker(sessions=sessions, channels=default_channels(sessions)).drain()
    page = client.get("/portal").text
    reminders = page[page.index('id="my-reminders"') :]
    assert 'class="reminder unread"' in reminders and "预约" in reminders

    with session_scope() as session:
        record = records.write(
            session,
            portal.principal("doc"),
            booking_id=booking.id,
            summary="血压 128/82",
            outcome="resolved",
        ).record
        record_id = record.id
    page = client.get("/portal").text
    form = _form(page, 'action="/portal/ratings"')
    assert form["service_record_id"] == record_id

    bad = client.post("/portal/ratings", data={**form, "score": "9"})
    assert bad.status_code == 400 and 'id="portal-error"' in bad.text
    rated = client.post(
        "/portal/ratings",
        data={**form, "score": "4", "comment": "医生很耐心"},
        follow_redirects=False,
    )
    assert rated.status_code == 303
    twice = client.post("/portal/ratings", data={**form, "score": "1"})
    assert twice.status_code == 409
    with session_scope() as session:
        scores = list(
            session.scalars(select(Rating.score).where(Rating.person_id == portal.person_id))
        )
    assert scores == [4]
    assert "★★★★☆" in client.get("/portal").text


def test_the_cockpit_loop_counts_move_with_a_visit(client_both: TestClient, portal_both: Portal):
    client, portal = client_both, portal_both
    ranked = portal.ranked_providers()
    slot = _slot(ranked[0])

    def loop() -> dict:
        response = client.get("/cockpit/data/loop")
        assert response.status_code == 200
        return response.json()

    _sign_in(client, "city_official")
    before = loop()
    with session_scope() as session:
        booking_id = new_id()
        session.add(
            Booking(id=booking_id, slot_id=slot, person_id=portal.person_id, created_by="t")
        )
        session.get(Slot, slot).booked = 1
    middle = loop()
    assert middle["delivery"]["booked"] == before["delivery"]["booked"] + 1
    with session_scope() as session:
        records.write(
            session,
            portal.principal("doc"),
            booking_id=booking_id,
            summary="随访",
            outcome="resolved",
        )
    after = loop()
    assert after["demands"]["open"] == before["demands"]["open"] - 1
    assert after["demands"]["served"] == before["demands"]["served"] + 1
    assert after["delivery"]["records"] == before["delivery"]["records"] + 1
    assert after["delivery"]["booked"] == before["delivery"]["booked"]
    assert after["delivery"]["completed"] == before["delivery"]["completed"] + 1
    page = client.get("/cockpit").text
    assert 'id="loop-served"' in page
    served = re.search(r'id="loop-served">.*?data-count="(\d+)"', page, re.S)
    assert served and int(served.group(1)) == after["demands"]["served"]


def test_the_elderly_page_stays_under_300_kb_with_everything_it_loads(
    client: TestClient, portal: Portal
):
    for pid in portal.ranked_providers():
        _slot(pid)
    _sign_in(client, "elder")
    page = client.get("/portal", params={"text": "large"})
    total = len(page.content)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        total += len(response.content)
    assert total < 300 * 1024, total


def test_an_unlinked_resident_is_told_how_to_link_and_offered_the_search(
    client: TestClient, portal: Portal
):
    with session_scope() as session:
        create_user(session, "newcomer", "resident", PASSWORD)
    _sign_in(client, "newcomer")
    page = client.get("/portal")
    assert page.status_code == 200 and 'id="not-linked"' in page.text
    refused = client.post(
        "/portal/book", data={FIELD: _token_from(client), "slot_id": "x"}, follow_redirects=False
    )
    assert refused.status_code == 404
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 0


def _token_from(client: TestClient) -> str:
    """The session's form token, as a page rendered for this session would carry it."""
    session_token = client.cookies.get(TOKEN_COOKIE)
    assert session_token
    return hmac.new(session_token.encode(), csrf._LABEL, hashlib.sha256).hexdigest()

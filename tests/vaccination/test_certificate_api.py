"""GET /api/v1/persons/{id}/vaccination-certificate, and the public /verify page, on both DBs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from carematch.api.routes import iter_endpoints
from carematch.core.db import session_scope
from carematch.identity.models import Person
from carematch.security.models import AuditEntry, User
from carematch.vaccination import certificate as cert
from tests.fixtures.people import token
from tests.vaccination.test_api import World, build_world

URL = "/api/v1/persons/{}/vaccination-certificate"


@pytest.fixture
def client(env) -> Iterator[TestClient]:
    """The app, with the verify page mounted until carematch.web.pages mounts it itself."""
    from carematch.api.app import create_app

    app = create_app()
    assert any(e.path == "/verify" for e in iter_endpoints(app)), "the verify page is not mounted"
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def world(env, tmp_path) -> World:
    """The two districts and a girl in district 1 with registry doses; a resident is her."""
    built = build_world(tmp_path)
    with session_scope() as session:
        session.execute(
            update(User).where(User.username == "resident1").values(person_id=built.child_d1)
        )
    return built


def _published_key(client: TestClient) -> dict:
    response = client.get("/verify/key")
    assert response.status_code == 200
    return cert.trust(cert.load_public_key(response.content))


def test_a_vaccinator_gets_a_certificate_that_verifies_with_the_published_key(client, world):
    response = client.get(URL.format(world.child_d1), headers=token(client, "vaccinator_d1"))

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["person_id"] == world.child_d1
    assert body["holder"] == {"name": "林小雨", "birth_date": "2021-05-15"}
    assert [(d["series"], d["date"], d["dose"]) for d in body["doses"]] == [
        ("BCG", "2021-05-16", 1),
        ("Flu", "2023-10-01", None),
        ("HepB", "2021-05-15", 1),
        ("HepB", "2021-06-01", None),
        ("HepB", "2021-06-15", 2),
        ("MMR", "2022-01-15", 1),
    ]
    assert body["unreadable"] == ["junk"]
    # The QR holds this server's verify page with the certificate in it.
    assert body["url"] == f"http://testserver/verify?c={body['certificate']}"
    assert body["qr_svg"].startswith("<svg")
    # Anyone holding only the published key can check it; it says what the API said.
    verdict = cert.verify(body["url"], _published_key(client))
    assert verdict.valid, verdict.detail
    assert verdict.content is not None
    assert verdict.content.certificate_id == body["certificate_id"]
    assert [d.series for d in verdict.content.doses] == [d["series"] for d in body["doses"]]

    # Both the read of the person and the issue are in the audit log, without the content.
    with session_scope() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2)).all()
    assert [(e.action, e.actor, e.entity_id) for e in entries] == [
        ("issue_vaccination_certificate", "vaccinator_d1", world.child_d1),
        ("read_person", "vaccinator_d1", world.child_d1),
    ]
    assert json.loads(entries[0].detail) == {
        "certificate_id": body["certificate_id"],
        "key_id": body["key_id"],
        "doses": 6,
    }


def test_the_qr_code_alone_as_png_or_svg(client, world):
    doctor = token(client, "doctor_d1")
    png = client.get(URL.format(world.child_d1), params={"format": "png"}, headers=doctor)
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["cache-control"] == "no-store"
    assert "attachment" in png.headers["content-disposition"]
    svg = client.get(URL.format(world.child_d1), params={"format": "svg"}, headers=doctor)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    bad = client.get(URL.format(world.child_d1), params={"format": "pdf"}, headers=doctor)
    assert bad.status_code == 422


def test_who_may_have_a_certificate(client, world):
    child = URL.format(world.child_d1)
    # The resident who is the child gets her own; nobody else's, as if it did not exist.
    own = client.get(child, headers=token(client, "resident1"))
    assert own.status_code == 200, own.text
    other = client.get(URL.format(world.adult_d1), headers=token(client, "resident1"))
    assert other.status_code == 404
    assert other.json()["type"] == "/problems/person-not-found"
    # Another district's staff: 404; a role that does not see doses: 403; signed out: 401.
    assert client.get(child, headers=token(client, "official_d2")).status_code == 404
    assert client.get(child, headers=token(client, "civil_d1")).status_code == 403
    assert client.get(child).status_code == 401
    assert client.get(URL.format("P-nobody"), headers=token(client, "admin1")).status_code == 404
    # No issue was audited for the refused requests.
    with session_scope() as session:
        issued = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "issue_vaccination_certificate")
        ).all()
    assert issued == ["resident1"]


def test_a_person_the_certificate_cannot_identify_is_a_409(client, world):
    admin = token(client, "admin1")
    with session_scope() as session:
        session.execute(update(Person).where(Person.id == world.adult_d1).values(name=None))
        session.execute(update(Person).where(Person.id == world.adult_d2).values(birth_date=None))
    no_name = client.get(URL.format(world.adult_d1), headers=admin)
    assert no_name.status_code == 409
    assert no_name.json()["type"] == "/problems/holder-name-unknown"
    no_birth = client.get(URL.format(world.adult_d2), headers=admin)
    assert no_birth.status_code == 409
    assert no_birth.json()["type"] == "/problems/birth-date-unknown"


# --- the public verify page ------------------------------------------------------------------


def test_the_verify_page_shows_a_valid_certificate_and_its_doses(client, world):
    issued = client.get(URL.format(world.child_d1), headers=token(client, "vaccinator_d1")).json()
    # What a phone camera opens from the QR code, signed out.
    path = urlsplit(issued["url"])
    client.cookies.clear()

    page = client.get(f"{path.path}?{path.query}&lang=en")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert 'data-valid="true"' in html
    assert "Valid certificate" in html
    assert "林小雨" in html and "2021-05-15" in html
    assert html.count('<tr data-series="HepB">') == 3
    assert "乙肝疫苗 · HepB" in html
    assert "Not counted" in html
    assert issued["certificate_id"] in html
    assert parse_qs(path.query)["c"] == [issued["certificate"]]


def test_the_verify_page_says_why_a_certificate_is_not_valid(client, world):
    issued = client.get(URL.format(world.child_d1), headers=token(client, "vaccinator_d1")).json()
    text = issued["certificate"]
    middle = len(text) // 2
    changed = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]

    tampered = client.get("/verify", params={"c": changed, "lang": "en"})
    garbage = client.get("/verify", params={"c": "<script>alert(1)</script>", "lang": "en"})

    assert tampered.status_code == 200
    assert 'data-valid="false"' in tampered.text
    assert 'data-reason="bad_signature"' in tampered.text
    assert "changed after it was signed" in tampered.text
    assert "林小雨" not in tampered.text  # nothing from an invalid certificate is shown
    assert 'data-reason="malformed"' in garbage.text
    assert "<script>alert(1)</script>" not in garbage.text  # echoed back escaped
    assert "&lt;script&gt;" in garbage.text


def test_the_verify_page_form_and_the_published_key(client, world):
    empty = client.get("/verify")
    assert empty.status_code == 200
    assert 'id="verify-form"' in empty.text
    assert 'id="verdict"' not in empty.text
    key = client.get("/verify/key")
    assert key.text.startswith("-----BEGIN PUBLIC KEY-----")
    kid = key.headers["x-key-id"]
    assert kid == cert.key_id(cert.load_public_key(key.content))
    assert kid in empty.text


def test_a_parent_gets_the_certificate_of_a_registered_child_only(client, env, tmp_path):
    """The parent (the district-1 adult's account) may have the child's certificate once the
    child is registered as their dependant, and not before."""
    from carematch.booking.models import Dependant

    world = build_world(tmp_path)
    with session_scope() as session:
        session.execute(
            update(User).where(User.username == "resident1").values(person_id=world.adult_d1)
        )
    child = URL.format(world.child_d1)
    before = client.get(child, headers=token(client, "resident1"))
    assert before.status_code == 404
    with session_scope() as session:
        session.add(
            Dependant(
                guardian_id=world.adult_d1,
                dependant_id=world.child_d1,
                relation="child",
                created_by="test",
            )
        )
    after = client.get(child, headers=token(client, "resident1"))
    assert after.status_code == 200, after.text
    assert after.json()["holder"]["name"] == "林小雨"
    # Still nobody else's.
    assert (
        client.get(URL.format(world.adult_d2), headers=token(client, "resident1")).status_code
        == 404
    )

"""The exchange API: FHIR export, bundle import, consents and imported history, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from carematch.api.app import API_PREFIX, create_app
from carematch.api.routes import iter_endpoints
from carematch.core.db import session_scope
from carematch.identity.exchange import (
    ConditionFact,
    ConsentFacts,
    Origin,
    PatientFacts,
    PersonHistory,
    build_bundle,
)
from carematch.identity.exchange_endpoints import router
from carematch.identity.models import Person, SourceRecord
from carematch.security.authz import declared_authz
from carematch.security.models import AuditEntry, User
from carematch.security.tokens import issue_token
from tests.fixtures.factories import make_id
from tests.fixtures.people import D1, build_two_districts, token

# The person build_two_districts puts in district 1 (same ID number, so the same person).
D1_ID_NUMBER = make_id(D1, date(1958, 5, 20), 11, "M")
OTHER_NODE = Origin("feedfacefeedface", "510104", datetime.now(UTC))


def app_with_exchange() -> FastAPI:
    """The app with the exchange router under /api/v1 (once, whether app.py has it or not)."""
    app = create_app()
    paths = {e.path for e in iter_endpoints(app)}
    if f"{API_PREFIX}/exchange/bundles" not in paths:
        app.include_router(router, prefix=API_PREFIX)
    return app


@pytest.fixture
def api(env) -> Iterator[TestClient]:
    with TestClient(app_with_exchange()) as client:
        yield client


def incoming_bundle(grantee: str | None = "449900", **consent_changes) -> dict:
    """A bundle another region made about district 1's person, with or without consent."""
    now = datetime.now(UTC)
    history = PersonHistory(
        patient=PatientFacts(name="林国栋", id_number=D1_ID_NUMBER, sex="M"),
        person_ref="remote-1",
        conditions=[ConditionFact("copd", "ehr/R9")],
    )
    consent = None
    if grantee is not None:
        terms = {
            "consent_id": "remote-consent",
            "purpose": "cross_region_continuity",
            "status": "active",
            "grantee_region": grantee,
            "period_start": now - timedelta(days=1),
            "period_end": now + timedelta(days=30),
        } | consent_changes
        consent = ConsentFacts(**terms)
    return build_bundle(history, OTHER_NODE, consent)


def exchange_records() -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(SourceRecord)
                .where(SourceRecord.source == "exchange")
            )
            or 0
        )


def assert_problem(response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == type_
    return body


def consent_body(region: str = "440100", days: int = 30) -> dict:
    end = datetime.now(UTC) + timedelta(days=days)
    return {"grantee_region": region, "period_end": end.isoformat()}


# --- the route table ---------------------------------------------------------------------


def test_every_exchange_route_declares_authorisation(sqlite_env):
    mine = [e for e in iter_endpoints(app_with_exchange()) if e.is_api_route]
    mine = [e for e in mine if e.route.endpoint.__module__.endswith("exchange_endpoints")]
    assert len(mine) == 6
    assert [e.path for e in mine if declared_authz(e.route.dependant) is None] == []


def test_every_person_get_endpoint_is_404_outside_and_200_inside_the_jurisdiction(api, tmp_path):
    world = build_two_districts(tmp_path)
    headers = token(api, "official_d1")
    paths = [
        e.path
        for e in iter_endpoints(api.app)
        if e.is_api_route
        and e.path.startswith(API_PREFIX)
        and "{person_id}" in e.path
        and "GET" in e.methods
    ]
    assert f"{API_PREFIX}/persons/{{person_id}}/fhir" in paths
    for path in paths:
        outside = api.get(path.replace("{person_id}", world.person_d2), headers=headers)
        assert_problem(outside, 404, "/problems/person-not-found")
        inside = api.get(path.replace("{person_id}", world.person_d1), headers=headers)
        assert inside.status_code == 200, (path, inside.text)


# --- export ------------------------------------------------------------------------------


def test_a_local_fhir_view_needs_no_consent_and_is_audited(api, tmp_path):
    world = build_two_districts(tmp_path)
    response = api.get(
        f"{API_PREFIX}/persons/{world.person_d1}/fhir", headers=token(api, "doctor_d1")
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    assert "Consent" not in {e.resource.__class__.__name__ for e in bundle.entry}
    with session_scope() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "read_person_fhir")
        ).one()
    assert (entry.actor, entry.entity_id) == ("doctor_d1", world.person_d1)


def test_cross_region_export_needs_a_recorded_consent(api, tmp_path):
    world = build_two_districts(tmp_path)
    official = token(api, "official_d1")
    url = f"{API_PREFIX}/persons/{world.person_d1}/fhir?to=440106"

    refused = assert_problem(api.get(url, headers=official), 403, "/problems/consent-required")
    assert refused["region"] == "440106" and "recorded none" in refused["detail"]

    created = api.post(
        f"{API_PREFIX}/persons/{world.person_d1}/consents",
        headers=official,
        json=consent_body("440100"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["recorded_by"] == "official_d1"
    exported = api.get(url, headers=official)
    assert exported.status_code == 200, exported.text
    consents = [
        e["resource"]
        for e in exported.json()["entry"]
        if e["resource"]["resourceType"] == "Consent"
    ]
    assert consents[0]["identifier"][0]["value"] == created.json()["id"]


def test_a_revoked_consent_stops_exports(api, tmp_path):
    world = build_two_districts(tmp_path)
    official = token(api, "official_d1")
    base = f"{API_PREFIX}/persons/{world.person_d1}"
    consent_id = api.post(f"{base}/consents", headers=official, json=consent_body()).json()["id"]
    assert api.get(f"{base}/fhir?to=440100", headers=official).status_code == 200

    revoked = api.post(
        f"{base}/consents/{consent_id}/revoke", headers=official, json={"reason": "withdrawn"}
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert_problem(
        api.get(f"{base}/fhir?to=440100", headers=official), 403, "/problems/consent-required"
    )
    again = api.post(f"{base}/consents/{consent_id}/revoke", headers=official)
    assert_problem(again, 409, "/problems/consent-revoked")
    listed = api.get(f"{base}/consents", headers=official).json()
    assert [(c["id"], c["status"]) for c in listed["items"]] == [(consent_id, "revoked")]


def test_an_invalid_destination_is_a_clear_400(api, tmp_path):
    world = build_two_districts(tmp_path)
    response = api.get(
        f"{API_PREFIX}/persons/{world.person_d1}/fhir?to=abc", headers=token(api, "official_d1")
    )
    assert_problem(response, 400, "/problems/invalid-region")


# --- consents ----------------------------------------------------------------------------


def test_consents_are_recorded_by_staff_inside_the_jurisdiction_only(api, tmp_path):
    world = build_two_districts(tmp_path)
    official = token(api, "official_d1")
    outside = api.post(
        f"{API_PREFIX}/persons/{world.person_d2}/consents", headers=official, json=consent_body()
    )
    assert_problem(outside, 404, "/problems/person-not-found")
    resident = api.post(
        f"{API_PREFIX}/persons/{world.person_d1}/consents",
        headers=token(api, "resident1"),
        json=consent_body(),
    )
    assert resident.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "type_"),
    [
        ({"grantee_region": "44", "period_end": "2030-01-01T00:00:00Z"}, 400, "invalid-consent"),
        (
            {"grantee_region": "440100", "period_end": "2030-01-01T00:00:00Z", "purpose": "ads"},
            400,
            "invalid-consent",
        ),
        (
            {
                "grantee_region": "440100",
                "period_start": "2030-01-02T00:00:00Z",
                "period_end": "2030-01-01T00:00:00Z",
            },
            400,
            "invalid-consent",
        ),
        (
            {"grantee_region": "440100", "period_end": "0001-01-01T00:00:00-05:00"},
            422,
            "validation",
        ),
        ({"grantee_region": "440100"}, 422, "validation"),
    ],
)
def test_a_bad_consent_is_refused_clearly(api, tmp_path, body, status, type_):
    world = build_two_districts(tmp_path)
    response = api.post(
        f"{API_PREFIX}/persons/{world.person_d1}/consents",
        headers=token(api, "official_d1"),
        json=body,
    )
    assert_problem(response, status, f"/problems/{type_}")


def test_revoking_another_persons_consent_through_this_person_is_not_found(api, tmp_path):
    world = build_two_districts(tmp_path)
    admin = token(api, "admin1")
    other = api.post(
        f"{API_PREFIX}/persons/{world.person_d2}/consents", headers=admin, json=consent_body()
    ).json()["id"]
    response = api.post(
        f"{API_PREFIX}/persons/{world.person_d1}/consents/{other}/revoke", headers=admin
    )
    assert_problem(response, 404, "/problems/consent-not-found")


# --- import ------------------------------------------------------------------------------


def test_import_links_to_the_known_person_and_shows_in_history(api, tmp_path):
    world = build_two_districts(tmp_path)
    official = token(api, "official_d1")

    response = api.post(f"{API_PREFIX}/exchange/bundles", headers=official, json=incoming_bundle())

    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary["person_id"] == world.person_d1
    assert (summary["origin_node"], summary["origin_region"]) == ("feedfacefeedface", "510104")
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 2
    history = api.get(
        f"{API_PREFIX}/persons/{world.person_d1}/exchange/history", headers=official
    ).json()
    kinds = {item["kind"]: item for item in history["items"]}
    assert set(kinds) == {"patient", "condition", "consent", "provenance"}
    assert kinds["condition"]["data"]["conditions"] == ["copd"]
    assert kinds["condition"]["origin_record"] == "ehr/R9"
    detail = api.get(f"{API_PREFIX}/persons/{world.person_d1}", headers=official).json()
    assert sum(r["source"] == "exchange" for r in detail["records"]) == history["total"]


def test_import_without_consent_is_a_403_problem_and_stores_nothing(api, tmp_path):
    build_two_districts(tmp_path)
    response = api.post(
        f"{API_PREFIX}/exchange/bundles",
        headers=token(api, "admin1"),
        json=incoming_bundle(grantee=None),
    )
    body = assert_problem(response, 403, "/problems/consent-required")
    assert "no Consent resource" in body["detail"]
    assert exchange_records() == 0


def test_a_staff_importer_must_be_inside_the_consents_grantee_region(api, tmp_path):
    build_two_districts(tmp_path)
    bundle = incoming_bundle(grantee="440100")
    refused = api.post(
        f"{API_PREFIX}/exchange/bundles", headers=token(api, "official_d1"), json=bundle
    )
    body = assert_problem(refused, 403, "/problems/consent-required")
    assert "does not cover 449901" in body["detail"]
    assert exchange_records() == 0


def test_only_officials_and_admins_import(api, tmp_path):
    build_two_districts(tmp_path)
    response = api.post(
        f"{API_PREFIX}/exchange/bundles", headers=token(api, "doctor_d1"), json=incoming_bundle()
    )
    assert_problem(response, 403, "/problems/forbidden")


def test_a_malformed_bundle_is_a_422_problem(api, tmp_path):
    build_two_districts(tmp_path)
    response = api.post(
        f"{API_PREFIX}/exchange/bundles",
        headers=token(api, "admin1"),
        json={"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {}}]},
    )
    assert_problem(response, 422, "/problems/invalid-bundle")
    assert exchange_records() == 0


def test_the_fhir_content_type_is_accepted_for_import(api, tmp_path):
    world = build_two_districts(tmp_path)
    response = api.post(
        f"{API_PREFIX}/exchange/bundles",
        headers=token(api, "admin1") | {"content-type": "application/fhir+json"},
        content=json.dumps(incoming_bundle()),
    )
    assert response.status_code == 201, response.text
    assert response.json()["person_id"] == world.person_d1


# --- fuzzing -----------------------------------------------------------------------------


def test_no_input_makes_an_exchange_endpoint_fail_with_a_server_error(sqlite_env, tmp_path):
    build_two_districts(tmp_path)
    schema = schemathesis.openapi.from_asgi(f"{API_PREFIX}/openapi.json", app_with_exchange())
    with session_scope() as session:
        admin = session.scalar(select(User).where(User.username == "admin1"))
        access, _ = issue_token(admin.id, admin.role, admin.region_code)
    headers = {"Authorization": f"Bearer {access}"}
    operations = [
        op
        for result in schema.get_all_operations()
        if any(part in (op := result.ok()).path for part in ("/fhir", "/consents", "/exchange"))
    ]
    assert len(operations) == 6

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
            assert content_type[0].startswith("application/problem+json"), where

        check()

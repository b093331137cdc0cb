"""Every endpoint declares its authorisation; jurisdiction hides other districts' persons."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from sqlalchemy import func, select

from carematch.api.app import create_app
from carematch.api.routes import iter_endpoints
from carematch.core.db import session_scope
from carematch.security.authz import declared_authz
from carematch.security.models import AuditEntry
from tests.fixtures.people import build_two_districts, token

# Routes FastAPI or Starlette add themselves: the API docs and static files, public by design.
BUILT_IN = {"/api/v1/openapi.json", "/api/v1/docs", "/docs/oauth2-redirect", "/static"}


def test_every_route_declares_authorisation(sqlite_env):
    endpoints = list(iter_endpoints(create_app()))
    api = [e for e in endpoints if e.is_api_route]
    assert len(api) >= 10
    undeclared = [
        f"{sorted(e.methods)} {e.path}" for e in api if declared_authz(e.route.dependant) is None
    ]
    assert undeclared == []
    others = {e.path for e in endpoints if not e.is_api_route}
    assert others <= BUILT_IN, f"unexpected non-API routes: {others - BUILT_IN}"


def test_route_walk_catches_an_undeclared_endpoint(sqlite_env):
    app = create_app()
    leaky_router = APIRouter(prefix="/api/v1")

    @leaky_router.get("/leaky")
    def leaky() -> dict:
        return {}

    app.include_router(leaky_router)
    found = [e for e in iter_endpoints(app) if e.path == "/api/v1/leaky"]
    assert len(found) == 1
    assert declared_authz(found[0].route.dependant) is None


def _person_endpoints(person_id: str) -> list[str]:
    """Every GET endpoint whose path names a person."""
    paths = [
        e.path
        for e in iter_endpoints(create_app())
        if e.is_api_route
        and e.path.startswith("/api/v1/")
        and "{person_id}" in e.path
        and "GET" in e.methods
    ]
    assert paths, "there must be person endpoints to check"
    return [p.replace("{person_id}", person_id) for p in paths]


def test_official_gets_404_for_a_person_of_another_district_on_every_person_endpoint(
    client, env, tmp_path
):
    world = build_two_districts(tmp_path)
    headers = token(client, "official_d1")
    for url in _person_endpoints(world.person_d2):
        response = client.get(url, headers=headers)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("application/problem+json")
    for url in _person_endpoints(world.person_d1):
        assert client.get(url, headers=headers).status_code == 200, url


def test_list_is_scoped_to_the_jurisdiction(client, env, tmp_path):
    world = build_two_districts(tmp_path)
    d1 = client.get("/api/v1/persons", headers=token(client, "official_d1")).json()
    everyone = client.get("/api/v1/persons", headers=token(client, "admin1")).json()
    assert [p["id"] for p in d1["items"]] == [world.person_d1]
    assert d1["total"] == 1
    assert {p["id"] for p in everyone["items"]} == {world.person_d1, world.person_d2}
    assert all("*" in p["name"] for p in d1["items"]), "lists mask names"


def test_reading_a_person_is_audited(client, env, tmp_path):
    world = build_two_districts(tmp_path)
    headers = token(client, "doctor_d1")
    with session_scope() as s:
        before = s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "read_person")
        )
    detail = client.get(f"/api/v1/persons/{world.person_d1}", headers=headers)
    assert detail.status_code == 200
    assert detail.json()["name"] == "林国栋"
    with session_scope() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "read_person")).all()
    assert len(entries) == before + 1
    assert entries[-1].actor == "doctor_d1" and entries[-1].entity_id == world.person_d1


def test_resident_sees_only_their_own_record(client, env, tmp_path):
    world = build_two_districts(tmp_path)
    headers = token(client, "resident1")
    assert client.get(f"/api/v1/persons/{world.person_d1}", headers=headers).status_code == 404
    assert client.get("/api/v1/persons", headers=headers).json()["items"] == []


@pytest.mark.parametrize("url", ["/api/v1/persons", "/api/v1/ingest/runs", "/api/v1/auth/me"])
def test_no_token_is_401_problem_json(client, url):
    response = client.get(url)
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_wrong_password_is_401_and_forged_token_is_refused(client, env, tmp_path):
    build_two_districts(tmp_path)
    bad = client.post("/api/v1/auth/token", data={"username": "official_d1", "password": "nope"})
    assert bad.status_code == 401
    unknown = client.post("/api/v1/auth/token", data={"username": "ghost", "password": "nope"})
    assert unknown.json()["detail"] == bad.json()["detail"]
    forged = client.get("/api/v1/persons", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401


def test_role_without_permission_is_403(client, env, tmp_path):
    build_two_districts(tmp_path)
    response = client.get("/api/v1/ingest/runs", headers=token(client, "doctor_d1"))
    assert response.status_code == 403


def test_ingest_runs_and_quarantine_over_the_api(client, env, tmp_path):
    build_two_districts(tmp_path)
    admin = token(client, "admin1")
    upload = client.post(
        "/api/v1/ingest/police",
        headers=admin,
        files={
            "file": (
                "p.csv",
                "record_id,name,birth_date\nX1,某人,2020-13-01\n".encode(),
                "text/csv",
            )
        },
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["quarantined"] == 1
    runs = client.get("/api/v1/ingest/runs", headers=admin).json()
    assert runs["total"] == 2
    run_id = upload.json()["run_id"]
    quarantine = client.get(f"/api/v1/ingest/runs/{run_id}/quarantine", headers=admin).json()
    assert quarantine["items"][0]["raw"] == "X1,某人,2020-13-01"
    assert quarantine["items"][0]["reasons"][0]["code"] == "bad_date"
    unknown = client.post(
        "/api/v1/ingest/nosuch",
        headers=admin,
        files={"file": ("p.csv", b"record_id\n1\n", "text/csv")},
    )
    assert unknown.status_code == 400

"""The cold-chain API: the public log endpoints answer anyone, staff ones need a role, and odd
input is a 4xx problem, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from carematch.core.db import session_scope
from tests.coldchain.world import add_lot, bearer, build_world


@pytest.fixture
def api(sqlite_env, tmp_path):
    from carematch.api.app import create_app

    build_world(tmp_path)
    with session_scope() as session:
        add_lot(session)
    with TestClient(create_app()) as client:
        yield client


def test_the_log_is_public_and_its_proof_checks_out(api):
    from carematch.coldchain import service

    events = api.get("/api/v1/coldchain/events")
    assert events.status_code == 200 and events.json()["size"] == 1
    checkpoint = api.get("/api/v1/coldchain/checkpoint").json()
    key = api.get("/api/v1/coldchain/key")
    verifier = service.load_verifier(key.content)
    proof = api.get("/api/v1/coldchain/proofs/inclusion/0").json()
    assert proof["checkpoint"] == checkpoint["note"]
    assert service.verify_bundle(proof, verifier)["tree_size"] == 1
    assert api.get("/api/v1/coldchain/verify").json()["ok"] is True


# (method, url, body or the user to sign in as, expected status); one installation for all.
ODD_INPUT = [
    ("get", "/api/v1/coldchain/proofs/inclusion/5", None, 404),
    ("get", "/api/v1/coldchain/proofs/inclusion/-1", None, 404),
    ("get", "/api/v1/coldchain/proofs/inclusion/99999999999999999999999", None, 404),
    ("get", "/api/v1/coldchain/proofs/consistency?first=0&second=1", None, 400),
    ("get", "/api/v1/coldchain/proofs/consistency?first=2&second=1", None, 400),
    ("get", "/api/v1/coldchain/checkpoints/77", None, 404),
    ("get", "/api/v1/coldchain/lots", None, 401),
    ("get", "/api/v1/coldchain/lots/%00", "official_d1", 404),
    ("get", "/api/v1/coldchain/alarms/" + "x" * 40 + "/recall-list", "official_d1", 404),
    ("post", "/api/v1/coldchain/lots", {"manufacturer": "x"}, 422),
    (
        "post",
        "/api/v1/coldchain/telemetry",
        {"source": "s", "readings": [{"device_id": "\u0000", "at": "x", "celsius": "nan"}]},
        200,
    ),
]


def test_odd_input_is_a_problem_never_a_500(api):
    for method, url, json, status in ODD_INPUT:
        headers = {}
        if isinstance(json, str):
            headers, json = bearer(json), None
        elif method == "post":
            headers = bearer("official_d1")
        answer = getattr(api, method)(url, headers=headers, **({"json": json} if json else {}))
        assert answer.status_code == status, (url, answer.text)
        if status >= 400:
            assert answer.headers["content-type"].startswith("application/problem+json"), url


def test_a_lot_registered_twice_is_a_409(api):
    body = {
        "manufacturer": "康泰生物",
        "product": "HepB",
        "lot_number": "L1",
        "expiry": "2030-01-01",
        "location_id": "FRIDGE-A",
    }
    first = api.post("/api/v1/coldchain/lots", headers=bearer("vaccinator_d1"), json=body)
    assert first.status_code == 201
    assert (
        api.post("/api/v1/coldchain/lots", headers=bearer("official_d1"), json=body).status_code
        == 409
    )
    unknown = {**body, "lot_number": "L2", "product": "Nope"}
    assert (
        api.post("/api/v1/coldchain/lots", headers=bearer("official_d1"), json=unknown).status_code
        == 400
    )
    assert (
        api.post("/api/v1/coldchain/lots", headers=bearer("doctor_d1"), json=body).status_code
        == 403
    )

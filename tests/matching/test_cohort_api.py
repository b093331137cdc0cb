"""/api/v1/allocations on SQLite and PostgreSQL: run, page, confirm; roles, jurisdiction and
problem+json for every bad input (never a 500)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from carematch.api.routes import iter_endpoints
from tests.fixtures.people import D1, D2, token
from tests.matching.test_cohort import SERVICE, TAG, YUNXI, World, build_world

URL = "/api/v1/allocations"
PROBLEM = "application/problem+json"


@pytest.fixture
def api(env) -> Iterator[TestClient]:
    """The app, with the allocation router mounted under /api/v1 if the app does not yet."""
    from carematch.api.app import API_PREFIX, create_app

    app = create_app()
    assert any(e.path == f"{API_PREFIX}/allocations" for e in iter_endpoints(app))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def world(env, tmp_path) -> World:
    return build_world(tmp_path)


def run_body(**extra) -> dict:
    return {"service": SERVICE, "tags": [TAG], "days": 2, **extra}


def test_an_official_runs_pages_and_confirms_an_allocation(api, world):
    official = token(api, "official_d1")

    created = api.post(URL, json=run_body(), headers=official)

    assert created.status_code == 201, created.text
    run = created.json()
    summary = run["summary"]
    assert (run["service"], run["tags"], run["region"]) == (SERVICE, [TAG], D1)
    assert (summary["cohort"], summary["assigned"], summary["unassigned"]) == (8, 4, 4)
    assert summary["coverage"] == pytest.approx(0.5)
    assert summary["mean_distance_km"] == pytest.approx(summary["total_distance_km"] / 4, 1e-3)
    assert summary["statuses"]["proposed"] == 4

    seen: list[dict] = []
    for offset in range(0, 8, 3):
        page = api.get(
            f"{URL}/{run['id']}", params={"limit": 3, "offset": offset}, headers=official
        )
        assert page.status_code == 200
        body = page.json()["proposals"]
        assert body["total"] == 8 and body["limit"] == 3 and body["offset"] == offset
        seen += body["items"]
    assert len({item["id"] for item in seen}) == 8
    assert [item["priority"] for item in seen] == sorted(item["priority"] for item in seen)
    assert all("name" not in item for item in seen)
    only = api.get(f"{URL}/{run['id']}", params={"status": "proposed"}, headers=official).json()
    assert only["proposals"]["total"] == 4

    confirmed = api.post(f"{URL}/{run['id']}/confirm", json={"all": True}, headers=official)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["changed"] == 4
    assert confirmed.json()["run"]["status"] == "closed"
    assert confirmed.json()["run"]["summary"]["statuses"]["confirmed"] == 4
    again = api.post(f"{URL}/{run['id']}/confirm", json={"all": True}, headers=official)
    assert again.status_code == 200 and again.json()["changed"] == 0

    listed = api.get(URL, headers=official).json()
    assert [item["id"] for item in listed["items"]] == [run["id"]] and listed["total"] == 1


def test_listed_rejections_free_the_children_for_the_next_run(api, world):
    official = token(api, "official_d1")
    run = api.post(URL, json=run_body(region=YUNXI), headers=official).json()
    items = api.get(f"{URL}/{run['id']}", headers=official).json()["proposals"]["items"]
    ids = [i["id"] for i in items if i["status"] == "proposed"]

    rejected = api.post(f"{URL}/{run['id']}/reject", json={"proposal_ids": ids}, headers=official)

    assert rejected.status_code == 200 and rejected.json()["changed"] == len(ids) == 2
    rerun = api.post(URL, json=run_body(region=YUNXI), headers=official).json()
    assert rerun["summary"]["already_proposed"] == 0 and rerun["summary"]["assigned"] == 2
    conflict = api.post(f"{URL}/{run['id']}/confirm", json={"proposal_ids": ids}, headers=official)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith(PROBLEM)


def test_other_districts_and_other_roles(api, world):
    run = api.post(URL, json=run_body(), headers=token(api, "official_d1")).json()
    other = token(api, "official_d2")

    for response in (
        api.get(f"{URL}/{run['id']}", headers=other),
        api.post(f"{URL}/{run['id']}/confirm", json={"all": True}, headers=other),
        api.post(URL, json=run_body(region=D1), headers=other),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
    assert api.get(URL, headers=other).json()["total"] == 0
    own = api.post(URL, json=run_body(), headers=other).json()
    assert own["region"] == D2 and own["summary"]["cohort"] == 2

    assert api.get(f"{URL}/{run['id']}", headers=token(api, "admin1")).status_code == 200
    assert api.post(URL, json=run_body(), headers=token(api, "doctor_d1")).status_code == 403
    assert api.post(URL, json=run_body()).status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"tags": [TAG]}, 422),  # no service
        (run_body(max_km=-1), 422),
        (run_body(max_km=0), 422),
        (run_body(max_km=1e9), 422),
        (run_body(wait_weight=-0.5), 422),
        (run_body(days=0), 422),
        (run_body(days=3.5), 422),
        (run_body(tags=["Bad Tag!"]), 422),
        (run_body(region="44990"), 422),
        (run_body(surprise=True), 422),
        (run_body(service="x_ray_vision"), 400),
        (run_body(tags=["no_such_tag"]), 400),
        (run_body(tags=["chronic_continuity"]), 400),
        (run_body(region="449901999999"), 404),
        (run_body(service="a\x00b"), 400),
    ],
)
def test_bad_inputs_are_problems_never_500(api, world, body, status):
    response = api.post(URL, json=body, headers=token(api, "official_d1"))

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all": True, "proposal_ids": ["a" * 32]},
        {"proposal_ids": []},
        {"proposal_ids": ["not-an-id"]},
        {"all": "yes please"},
    ],
)
def test_a_decision_must_name_its_proposals_or_all(api, world, body):
    official = token(api, "official_d1")
    run = api.post(URL, json=run_body(), headers=official).json()

    response = api.post(f"{URL}/{run['id']}/confirm", json=body, headers=official)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_unknown_runs_and_proposals_are_404(api, world):
    official = token(api, "official_d1")
    run = api.post(URL, json=run_body(), headers=official).json()

    assert api.get(f"{URL}/{'0' * 32}", headers=official).status_code == 404
    assert api.get(f"{URL}/not-a-run", headers=official).status_code == 404
    missing = api.post(
        f"{URL}/{run['id']}/confirm", json={"proposal_ids": ["e" * 32]}, headers=official
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    bad_page = api.get(f"{URL}/{run['id']}", params={"limit": 0}, headers=official)
    assert bad_page.status_code == 422


def test_fuzzed_requests_never_cause_a_server_error(sqlite_env, tmp_path):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    from carematch.api.app import API_PREFIX, create_app

    build_world(tmp_path)
    app = create_app()
    schema = schemathesis.openapi.from_asgi(f"{API_PREFIX}/openapi.json", app)
    operations = [
        op
        for result in schema.get_all_operations()
        if (op := result.ok()).path.startswith(f"{API_PREFIX}/allocations")
    ]
    assert len(operations) == 5
    with TestClient(app) as client:
        headers = token(client, "official_d1")
        # One real run, so that paths naming it reach the proposals.
        client.post(URL, json=run_body(), headers=headers)

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where

        check()

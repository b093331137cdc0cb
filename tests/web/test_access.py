"""Who may open which page: signed-out browsers go to /login, the API keeps problem+json."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from carematch.api.routes import iter_endpoints
from carematch.security.authz import declared_authz

PAGES = ["/portal", "/workbench", "/workbench/persons", "/cockpit"]


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_page_request_redirects_to_login_with_next(client: TestClient, path):
    response = client.get(path, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + path


def test_next_keeps_the_query_string(client: TestClient):
    response = client.get("/workbench?offset=20", follow_redirects=False)

    assert response.headers["location"] == "/login?next=/workbench%3Foffset%3D20"
    form = client.get(response.headers["location"])
    assert 'name="next" value="/workbench?offset=20"' in form.text


def test_signed_out_htmx_request_redirects_the_window_not_the_fragment(client: TestClient):
    response = client.get(
        "/workbench/persons?offset=20", headers={"HX-Request": "true"}, follow_redirects=False
    )

    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login?next=/workbench/persons")


def test_api_keeps_its_problem_json_401(client: TestClient):
    response = client.get("/api/v1/persons", follow_redirects=False)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["/cockpit/data/districts", "/cockpit/data/map"])
def test_cockpit_data_answers_scripts_with_401_not_a_redirect(client: TestClient, path):
    response = client.get(path, follow_redirects=False)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_forged_cookie_counts_as_signed_out(client: TestClient):
    client.cookies.set("cm_token", "forged.token.value")

    response = client.get("/cockpit", follow_redirects=False)

    assert response.status_code == 303


@pytest.mark.parametrize(
    ("username", "path"),
    [("doctor", "/cockpit"), ("resident", "/workbench"), ("official", "/portal")],
)
def test_wrong_role_gets_a_readable_403_page(client: TestClient, signed_in, username, path):
    signed_in(username)

    response = client.get(path, follow_redirects=False)

    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "您的角色无权访问此页面" in response.text


def test_doctor_cannot_read_cockpit_data(client: TestClient, signed_in):
    signed_in("doctor")

    response = client.get("/cockpit/data/districts")

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


def test_every_web_route_declares_its_authorisation(client: TestClient):
    web = [
        e
        for e in iter_endpoints(client.app)
        if e.is_api_route and not e.path.startswith(("/api/", "/healthz"))
    ]
    assert {"/", "/login", "/logout", "/portal", "/workbench", "/cockpit"} <= {e.path for e in web}
    undeclared = [e.path for e in web if declared_authz(e.route.dependant) is None]
    assert undeclared == []


def test_pages_send_a_content_security_policy(client: TestClient):
    response = client.get("/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_vendored_scripts_are_served(client: TestClient):
    htmx = client.get("/static/vendor/htmx/htmx.min.js")
    echarts = client.get("/static/vendor/echarts/echarts.min.js")

    assert htmx.status_code == 200 and "htmx" in htmx.text[:200]
    assert echarts.status_code == 200 and "registerMap" in echarts.text

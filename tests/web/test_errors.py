"""Errors a person meets in the browser are pages; the API keeps problem+json."""

from __future__ import annotations


def test_unknown_page_is_a_readable_page_in_chinese(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "页面不存在" in response.text


def test_unknown_api_path_stays_problem_json(client):
    response = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_script_without_html_accept_gets_problem_json(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.json()["status"] == 404

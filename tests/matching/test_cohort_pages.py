"""The cockpit's cohort allocation page (/cockpit/allocation) on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carematch.core.db import session_scope
from carematch.matching.models import AllocationRun, Proposal
from carematch.security.models import AuditEntry
from tests.fixtures.people import D1, PASSWORD
from tests.matching.test_cohort import CHILDREN, SERVICE, TAG, World, build_world

PAGE = "/cockpit/allocation"


@pytest.fixture
def world(env, tmp_path) -> World:
    return build_world(tmp_path)


def sign_in(client: TestClient, username: str) -> None:
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def form(token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "service": SERVICE,
        "tag": TAG,
        "region": D1,
        "max_km": "10",
        "wait_weight": "0.5",
        "days": "2",
        **extra,
    }


def test_an_official_runs_sees_coverage_and_confirms_all(client, world):
    sign_in(client, "official_d1")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'value="vaccination_child"' in page.text and f'value="{D1}"' in page.text

    ran = client.post(PAGE, data=form(csrf(page.text)), follow_redirects=False)

    assert ran.status_code == 303
    run_url = ran.headers["location"]
    shown = client.get(run_url)
    assert shown.status_code == 200
    html = shown.text
    assert "50.0%" in html  # 4 of 8 placed
    card = html.split('id="stat-coverage"', 1)[1].split("</article>", 1)[0]
    # The page is Chinese by default: "共8人，已安排4人" (8 in the cohort, 4 placed).
    assert "共8人，已安排4人" in card.split("stat-note", 1)[1]
    assert html.count('data-status="proposed"') == 4
    assert html.count("<tr data-proposal=") == 8
    for label, _ in CHILDREN:
        assert f"童{label}" not in html  # names are masked
    assert "童*" in html
    assert 'id="confirm-all"' in html

    confirmed = client.post(
        run_url + "/confirm", data={"csrf_token": csrf(html)}, follow_redirects=False
    )
    assert confirmed.status_code == 303
    after = client.get(confirmed.headers["location"]).text
    assert 'id="confirmed-notice"' in after
    assert after.count('data-status="confirmed"') == 4
    assert 'id="confirm-all"' not in after and 'id="nothing-to-decide"' in after
    with session_scope() as session:
        views = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "view_allocation")
        )
        confirms = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "confirm_allocation")
        )
    assert views == 2 and confirms == 1
    assert client.get(PAGE).text.count("<tr data-run=") == 1


def test_forms_without_the_sessions_token_change_nothing(client, world):
    sign_in(client, "official_d1")

    forged = client.post(PAGE, data=form("0" * 64), follow_redirects=False)

    assert forged.status_code == 403
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AllocationRun)) == 0


def test_a_cohort_that_cannot_be_drawn_reshows_the_form_with_why(client, world):
    sign_in(client, "official_d1")
    token = csrf(client.get(PAGE).text)

    wrong_tag = client.post(PAGE, data=form(token, tag="chronic_continuity"))
    bad_number = client.post(PAGE, data=form(token, max_km="far"))
    other_area = client.post(PAGE, data=form(token, region="449902"))

    assert wrong_tag.status_code == 400 and 'id="allocation-error"' in wrong_tag.text
    assert bad_number.status_code == 400 and 'id="allocation-error"' in bad_number.text
    assert other_area.status_code == 404 and 'id="allocation-error"' in other_area.text
    assert 'value="far"' in bad_number.text  # what was typed is kept
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AllocationRun)) == 0


def test_other_districts_and_roles_cannot_open_a_run(client, world):
    sign_in(client, "official_d1")
    page = client.get(PAGE)
    run_url = client.post(PAGE, data=form(csrf(page.text)), follow_redirects=False).headers[
        "location"
    ]

    sign_in(client, "official_d2")
    assert client.get(run_url, headers={"accept": "text/html"}).status_code == 404
    refused = client.post(
        run_url + "/confirm",
        data={"csrf_token": csrf(client.get(PAGE).text)},
        follow_redirects=False,
    )
    assert refused.status_code == 404
    with session_scope() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Proposal).where(Proposal.status == "confirmed")
            )
            == 0
        )

    sign_in(client, "doctor_d1")
    assert client.get(PAGE).status_code == 403
    client.cookies.clear()
    signed_out = client.get(PAGE, follow_redirects=False)
    assert signed_out.status_code == 303 and "/login" in signed_out.headers["location"]

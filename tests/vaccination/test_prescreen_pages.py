"""The pages: a parent's questionnaire at /portal/vaccination/prescreen and the vaccinator's
review queue at /workbench/vaccination/review (CSRF-protected decision form)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.vaccination.safety_models import Prescreening
from carematch.web.workbench.csrf import token_for
from tests.fixtures.people import PASSWORD
from tests.vaccination.test_prescreen_api import app_client, build_world

PORTAL = "/portal/vaccination/prescreen"
QUEUE = "/workbench/vaccination/review"


@pytest.fixture
def web(sqlite_env):
    """The app on a fresh SQLite installation."""
    yield from app_client()


def sign_in(client, username: str) -> None:
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "the form carries the session's CSRF token"
    return found.group(1)


def test_a_parent_answers_and_a_vaccinator_decides_in_the_queue(web, tmp_path):
    world = build_world(tmp_path)
    sign_in(web, "parent1")
    params = {"person_id": world.child, "series": "DTaP"}
    form = web.get(PORTAL, params=params)
    assert form.status_code == 200
    assert "今天是否发热" in form.text  # the table's questions, in Chinese by default
    token = csrf(form.text)

    forged = web.post(PORTAL, params=params, data={"yes": ["convulsions"]})
    assert forged.status_code == 403
    answered = web.post(PORTAL, params=params, data={"yes": ["convulsions"], "csrf_token": token})
    assert answered.status_code == 200
    assert 'data-status="needs_review"' in answered.text
    assert "抽搐" in answered.text  # the reason, in plain Chinese

    web.cookies.clear()
    sign_in(web, "vaccinator_d1")
    queue = web.get(QUEUE)
    assert queue.status_code == 200
    with session_scope() as session:
        screening = session.scalars(select(Prescreening)).one()
    assert f'data-id="{screening.id}"' in queue.text
    token = csrf(queue.text)
    blank = web.post(
        f"{QUEUE}/{screening.id}", data={"decision": "defer", "note": " ", "csrf_token": token}
    )
    assert blank.status_code == 200 and 'id="review-error"' in blank.text
    done = web.post(
        f"{QUEUE}/{screening.id}",
        data={"decision": "defer", "note": "近期抽搐，神经科评估后再约", "csrf_token": token},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, QUEUE)
    assert 'id="queue-empty"' in web.get(QUEUE).text
    with session_scope() as session:
        row = session.get(Prescreening, screening.id)
        assert row is not None
        assert (row.status, row.outcome, row.decided_by) == (
            "defer",
            "needs_review",
            "vaccinator_d1",
        )

    # The doctor is no reviewer; a resident who is not the child's guardian is refused.
    web.cookies.clear()
    sign_in(web, "doctor_d1")
    assert web.get(QUEUE).status_code == 403
    web.cookies.clear()
    sign_in(web, "resident1")
    not_mine = web.get(PORTAL, params=params)
    assert not_mine.status_code == 404 and 'name="yes"' not in not_mine.text
    # Posting anyway (with this session's valid token) is refused as well.
    token = token_for(SimpleNamespace(cookies=dict(web.cookies)))  # type: ignore[arg-type]
    refused = web.post(PORTAL, params=params, data={"csrf_token": token})
    assert refused.status_code == 404 and 'id="prescreen-error"' in refused.text

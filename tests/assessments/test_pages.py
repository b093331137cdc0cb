"""The phone visit form and the resident's needs questionnaire: plain POST forms that work
without JavaScript, refuse a post without the session's token, and count a re-sent post once."""

from __future__ import annotations

import re

from carematch.assessments.models import Assessment, HomeVisit, NeedsQuestionnaire
from tests.assessments.conftest import barthel_answers, count, form_fields, sign_in


def test_the_visit_form_records_once_when_the_phone_sends_it_twice(world, app_client):
    browser = sign_in(app_client, "grid_d1")
    page = browser.get(f"/workbench/visits/new?person_id={world.ht}")
    assert page.status_code == 200
    html = page.text
    assert 'lang="zh' in html and "入户走访" in html  # Chinese first
    # Nothing on the page needs script: the form is a plain POST, the Barthel items a <details>.
    assert re.search(r'<form[^>]+method="post"[^>]+action="/workbench/visits"', html)
    assert "<details" in html and "onclick" not in html
    fields = form_fields(html, "visit-form")
    assert fields["person_id"] == world.ht and fields["key"] and fields["csrf_token"]
    data = {
        **fields,
        "lives_alone": "yes",
        "needs": ["home_help", "rehabilitation"],
        "note": "独居，行动不便",
        **{f"adl_{code}": str(score) for code, score in barthel_answers(35).items()},
    }
    first = browser.post("/workbench/visits", data=data, follow_redirects=False)
    again = browser.post("/workbench/visits", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert count(HomeVisit) == 1 and count(Assessment) == 1
    done = browser.get(first.headers["location"])
    assert done.status_code == 200 and 'id="barthel-result"' in done.text and "35" in done.text
    # The person's page links the form for those who visit, not for a vaccinator.
    person_page = browser.get(f"/workbench/persons/{world.ht}").text
    assert f'href="/workbench/visits/new?person_id={world.ht}"' in person_page
    vaccinator = sign_in(app_client, "vaccinator_d1")
    assert 'id="new-visit"' not in vaccinator.get(f"/workbench/persons/{world.ht}").text


def test_the_visit_form_shows_what_to_fix_and_keeps_what_was_typed(world, app_client):
    browser = sign_in(app_client, "doctor_d1")
    fields = form_fields(
        browser.get(f"/workbench/visits/new?person_id={world.ht}").text, "visit-form"
    )
    partial = {**fields, "needs": ["home_help"], "adl_feeding": "10"}  # one item of ten
    response = browser.post("/workbench/visits", data=partial)
    assert response.status_code == 422
    assert 'id="form-error"' in response.text and "stairs" in response.text
    assert re.search(r'value="home_help"\s+checked', response.text)
    assert count(HomeVisit) == 0


def test_the_visit_form_refuses_a_forged_post_other_districts_and_residents(world, app_client):
    browser = sign_in(app_client, "grid_d1")
    page = browser.get(f"/workbench/visits/new?person_id={world.ht}")
    fields = form_fields(page.text, "visit-form")
    forged = {**fields, "csrf_token": "0" * 64}
    assert browser.post("/workbench/visits", data=forged).status_code == 403
    assert count(HomeVisit) == 0
    assert browser.get(f"/workbench/visits/new?person_id={world.d2}").status_code == 404
    resident = sign_in(app_client, "resident_ht")
    assert resident.get("/workbench/visits/new", follow_redirects=False).status_code == 403


def test_a_resident_fills_the_questionnaire_for_themselves(world, app_client):
    browser = sign_in(app_client, "resident_ht")
    page = browser.get("/portal/questionnaire")
    assert page.status_code == 200 and "需要" in page.text
    fields = form_fields(page.text, "questionnaire-form")
    data = {**fields, "needs": ["chronic_followup", "family_doctor"], "other": "想了解签约"}
    first = browser.post("/portal/questionnaire", data=data, follow_redirects=False)
    again = browser.post("/portal/questionnaire", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert count(NeedsQuestionnaire) == 1
    saved = browser.get(first.headers["location"])
    assert 'id="questionnaire-saved"' in saved.text
    # The form starts from the last answers.
    assert re.search(r'value="chronic_followup"\s+checked', saved.text)
    assert not re.search(r'value="home_help"\s+checked', saved.text)
    staff = sign_in(app_client, "grid_d1")
    assert staff.get("/portal/questionnaire", follow_redirects=False).status_code == 403

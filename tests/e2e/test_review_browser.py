"""Review in real Chromium: split a wrongly linked record off a person and unmerge it; link a
pair from the queue and undo it. Every change is undone, so the shared city is left as found."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Tab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results"


def _records(tab: Tab) -> list[str]:
    return tab.page.locator("#records article[data-record]").evaluate_all(
        "cards => cards.map(c => c.dataset.record)"
    )


def _open_person_with_records(tab: Tab, at_least: int) -> str:
    """From the workbench list, open the first person with enough source records."""
    rows = tab.page.locator("#persons tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.person, Number(r.lastElementChild.innerText)])"
    )
    person = next(pid for pid, count in rows if count >= at_least)
    with tab.page.expect_navigation():
        tab.page.click(f"#persons tr[data-person='{person}'] td:first-child a")
    assert tab.page.url.endswith(f"/workbench/persons/{person}")
    return person


def _count_on_person_page(tab: Tab, person: str) -> int:
    tab.goto(f"/workbench/persons/{person}")
    return len(_records(tab))


def test_reviewer_separates_a_wrongly_linked_record_and_unmerges_it(tab: Tab):
    tab.sign_in("doctor")
    person = _open_person_with_records(tab, at_least=2)
    before = _records(tab)
    wrong = before[-1]

    with tab.page.expect_navigation():
        tab.page.click(f"article[data-record='{wrong}'] button.separate-record")

    # The person splits: this page no longer lists the record...
    assert f"/workbench/persons/{person}?separated=" in tab.page.url
    assert _records(tab) == before[:-1]
    assert tab.page.locator("#separated").is_visible()
    # ...and the record is the split-off person's, a person of its own.
    split_off = tab.page.get_attribute("#split-person", "href")
    assert split_off and split_off != f"/workbench/persons/{person}"
    other = tab.page.context.new_page()
    other.goto(tab.base + split_off)
    assert other.locator("#records article[data-record]").evaluate_all(
        "cards => cards.map(c => c.dataset.record)"
    ) == [wrong]
    other.close()

    with tab.page.expect_navigation():
        tab.page.click("#unmerge")

    # Unmerge restores it: the record is back with the person and the split is gone.
    assert tab.page.url.endswith(f"/workbench/persons/{person}?undone=true")
    assert sorted(_records(tab)) == sorted(before)
    assert tab.page.locator("#undone").is_visible()
    tab.goto(split_off)
    assert wrong not in _records(tab)
    assert tab.errors == []


def test_reviewer_links_a_pair_from_the_queue_and_undoes_it(tab: Tab):
    tab.sign_in("doctor")
    with tab.page.expect_navigation():
        tab.page.click("#review-link")
    assert tab.page.url.endswith("/workbench/review")
    first_pair = tab.page.get_attribute("#queue a.pair-link", "href")
    assert first_pair
    with tab.page.expect_navigation():
        tab.page.click("#queue a.pair-link")
    left = tab.page.inner_text("#person-left")
    right = tab.page.inner_text("#person-right")
    assert left != right
    # The evidence is drawn: a bar per comparison, from the prior to the total.
    comparisons = tab.page.locator("#waterfall li").evaluate_all(
        "rows => rows.map(r => r.dataset.comparison)"
    )
    assert comparisons[0] == "prior" and comparisons[-1] == "total" and len(comparisons) > 3
    assert tab.page.locator("#waterfall .wf-bar").first.bounding_box()["width"] > 0
    assert tab.page.locator("#compare tr[data-state='differs']").count() >= 1
    sizes = {p: _count_on_person_page(tab, p) for p in (left, right)}
    tab.goto(first_pair)
    SCREENSHOTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / "review-pair.png"), full_page=True)

    with tab.page.expect_navigation():
        tab.page.click("#link-pair")

    assert tab.page.get_attribute("#decision", "data-status") == "linked"
    assert tab.page.locator("#decided").is_visible()
    assert tab.page.inner_text("#person-left") == tab.page.inner_text("#person-right") == left
    assert _count_on_person_page(tab, left) == sizes[left] + sizes[right]
    tab.goto(first_pair)

    with tab.page.expect_navigation():
        tab.page.click("#undo-decision")

    assert tab.page.get_attribute("#decision", "data-status") == "open"
    assert tab.page.inner_text("#person-left") == left
    assert tab.page.inner_text("#person-right") == right
    assert {p: _count_on_person_page(tab, p) for p in (left, right)} == sizes
    assert tab.errors == []


def test_review_pages_fit_a_phone(phone: Tab):
    phone.sign_in("doctor")
    phone.goto("/workbench/review")
    assert phone.horizontal_overflow() == 0

    with phone.page.expect_navigation():
        phone.page.click("#queue a.pair-link")
    assert phone.horizontal_overflow() == 0
    with phone.page.expect_navigation():
        phone.page.click("#person-left a")
    assert phone.page.locator("#records article[data-record]").count() >= 1
    assert phone.horizontal_overflow() == 0
    assert phone.errors == []

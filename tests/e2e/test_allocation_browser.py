"""A district official allocates the district's child catch-up cohort and confirms it (Chromium)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Tab

pytestmark = pytest.mark.browser
DISTRICT = "449901"


def test_official_allocates_child_catch_up_sees_coverage_and_confirms(tab: Tab):
    tab.sign_in("baiyun_official")
    tab.goto("/cockpit/allocation")

    tab.page.select_option("#service", "vaccination_child")
    tab.page.select_option("#tag", "child_catch_up")
    tab.page.select_option("#region", DISTRICT)
    tab.page.fill("#max_km", "10")
    with tab.page.expect_navigation():
        tab.page.click("#run-allocation")

    assert "/cockpit/allocation/" in tab.page.url
    coverage = tab.page.locator("#stat-coverage")
    cohort = int(coverage.get_attribute("data-cohort") or 0)
    assigned = int(coverage.get_attribute("data-assigned") or 0)
    assert cohort > 0, "the generated district has children with overdue doses"
    assert 0 < assigned <= cohort
    assert "%" in coverage.locator(".stat-value").inner_text()
    shown = tab.page.locator("#proposals-table tbody tr")
    assert shown.count() == min(cohort, 50)
    proposed = tab.page.locator("#proposals-table tbody tr[data-status='proposed']")
    # Rows go most urgent first and every proposed row names a provider and a distance.
    for row in proposed.all():
        cells = row.locator("td").all_inner_texts()
        assert cells[3].strip() not in ("", "—") and cells[4].strip().endswith("km")
    names = tab.page.locator("#proposals-table tbody tr td:nth-child(2)").all_inner_texts()
    assert all("*" in name for name in names if name != "—"), names

    with tab.page.expect_navigation():
        tab.page.click("#confirm-all")

    notice = tab.page.locator("#confirmed-notice")
    assert notice.is_visible()
    assert int(notice.get_attribute("data-count") or -1) == assigned
    decisions = tab.page.locator("#stat-decisions")
    assert decisions.get_attribute("data-proposed") == "0"
    assert decisions.get_attribute("data-confirmed") == str(assigned)
    assert tab.page.locator("#confirm-all").count() == 0
    assert tab.page.locator("#proposals-table tbody tr[data-status='proposed']").count() == 0
    assert tab.errors == []

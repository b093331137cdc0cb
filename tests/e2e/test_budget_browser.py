"""An official proposes a risk-weighted budget for the district and downloads it (Chromium)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.e2e.conftest import Tab

pytestmark = pytest.mark.browser


def test_official_sees_the_risk_table_and_chart_and_downloads_the_csv(tab: Tab):
    tab.sign_in("baiyun_official")
    tab.goto("/cockpit")
    with tab.page.expect_navigation():
        tab.page.click("#to-budget")
    assert tab.page.url.endswith("/cockpit/budget")

    tab.page.fill("#total", "1000001")
    tab.page.fill("#risk_share", "80")
    with tab.page.expect_navigation():
        tab.page.click("#propose")

    rows = tab.page.locator("#budget-table tbody tr")
    assert rows.count() > 1
    codes = [rows.nth(i).get_attribute("data-community") or "" for i in range(rows.count())]
    assert all(code.startswith("449901") for code in codes), codes
    amounts = [int(rows.nth(i).get_attribute("data-amount") or 0) for i in range(rows.count())]
    indices = [float(rows.nth(i).get_attribute("data-index") or 0) for i in range(rows.count())]
    assert sum(amounts) == 1_000_001
    assert indices == sorted(indices, reverse=True)
    assert tab.page.locator("#stat-total").get_attribute("data-total") == "1000001"
    tab.page.wait_for_selector("#budget-chart[data-drawn='true'] canvas")

    with tab.page.expect_download() as download:
        tab.page.click("#budget-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["community"] for r in table] == codes
    assert sum(int(r["amount"]) for r in table) == 1_000_001
    assert tab.errors == []


def test_a_bad_total_is_explained_not_a_server_error(tab: Tab):
    tab.sign_in("baiyun_official")
    tab.goto("/cockpit/budget?total=-5&risk_share=70")
    assert tab.page.locator("#budget-error").is_visible()
    assert tab.page.locator("#budget-table tbody tr").count() > 0

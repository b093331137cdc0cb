"""A monitoring alert worked through in Chromium: a home device's readings are imported (the
operator's command), the district doctor finds the follow-up task on the workbench from the
work-area link, and closes it with a note; the task then shows among the closed ones."""

from __future__ import annotations

import csv
import os
import sqlite3
from datetime import date, timedelta

import pytest

from tests.e2e.conftest import _cli

pytestmark = pytest.mark.browser


def _person_in_district(data_dir, district: str) -> str:
    with sqlite3.connect(data_dir / "carematch.db") as db:
        row = db.execute(
            "SELECT id FROM persons WHERE community_code LIKE ? ORDER BY id LIMIT 1",
            (f"{district}%",),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_doctor_closes_a_monitoring_task_in_the_browser(tab, live_server, tmp_path):
    person = _person_in_district(live_server.data_dir, "449901")
    first = date(2026, 3, 1)
    readings = tmp_path / "device.csv"
    with readings.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "measured_at", "sbp", "dbp"])
        for i in range(3):
            writer.writerow([person, f"{first + timedelta(days=i)}T07:30:00+08:00", 158, 96])
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(live_server.data_dir)}
    env.pop("CAREMATCH_DATABASE_URL", None)
    _cli(env, "monitoring", "import", str(readings))

    tab.sign_in("doctor")
    tab.goto("/workbench?lang=en")
    with tab.page.expect_navigation():
        tab.page.click("a[href='/workbench/monitoring']")
    task = tab.page.locator(f"li[data-task]:has(a:text('{person}'))")
    assert task.count() == 1
    assert "Blood pressure high three days running" in task.inner_text()

    task.locator("textarea").fill("Visited at home; medication adjusted.")
    with tab.page.expect_navigation():
        task.locator("button[type=submit]").click()

    assert tab.page.locator("#task-closed").is_visible()
    assert tab.page.locator(f"li[data-task]:has(a:text('{person}'))").count() == 0
    tab.goto("/workbench/monitoring?show=done&lang=en")
    assert "Visited at home; medication adjusted." in tab.page.content()
    assert tab.errors == []

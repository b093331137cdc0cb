"""A complaint worked through in Chromium on a phone-sized screen: an official opens it from
today's page, accepts it, records a finding whose rectification item lands on the ledger, adds
the evidence, marks it rectified and verifies it; the public board then shows it closed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from carematch.core.db import session_scope
from carematch.feedback import service
from carematch.providers.hours import CITY_TZ
from tests.e2e.conftest import CHROMIUM
from tests.feedback.conftest import build_world, principal
from tests.fixtures.env import missing
from tests.fixtures.people import PASSWORD

pytestmark = pytest.mark.browser

MEASURE = "在大厅公示全部收费项目并组织服务礼仪培训"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(sqlite_env, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The two-district world with one complaint from a resident, served on a free port
    (in this process, so the test files the complaint through the service)."""
    import uvicorn

    from carematch.api.app import create_app

    if not CHROMIUM.exists():
        missing("Chromium (/usr/bin/chromium)")
    world = build_world(tmp_path)
    with session_scope() as session:
        complaint_id = service.file_complaint(
            session,
            principal("resident1"),
            channel=None,
            category="fees",
            text="收费处多收了挂号费，也不给解释。",
            provider_id=world.provider_d1,
        ).complaint.id
    app = create_app()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", complaint_id
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def phone(browser: Any, served: tuple[str, str]) -> Iterator[tuple[Any, list[str]]]:
    """A 390-pixel-wide tab of the session's Chromium, and the script errors it sees."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15_000)
    try:
        yield page, errors
    finally:
        context.close()


def _overflow(page: Any) -> int:
    return int(
        page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def _submit(page: Any, button: str) -> None:
    with page.expect_navigation():
        page.click(button)


def test_staff_take_a_complaint_through_rectification_to_the_board(phone, served, tmp_path):
    page, errors = phone
    base, complaint_id = served

    page.goto(base + "/login?next=/workbench/today")
    page.fill("#username", "official_d1")
    page.fill("#password", PASSWORD)
    _submit(page, "form.form button[type=submit]")
    assert page.url.endswith("/workbench/today")

    # Today's page loads the feedback links with their counters (htmx).
    link = page.locator("#complaints-link")
    link.wait_for()
    assert link.get_attribute("data-open") == "1"
    _submit(page, "#complaints-link")
    assert page.locator(f'li[data-complaint="{complaint_id}"]').count() == 1
    assert _overflow(page) == 0
    _submit(page, f'li[data-complaint="{complaint_id}"] a')

    # Accept it, then record the finding and its rectification item.
    _submit(page, "#do-accepted")
    assert page.locator("#complaint-status").get_attribute("data-status") == "accepted"
    page.click("#finding summary")
    page.fill("#finding-text", "经核查，收费处未公示收费项目，投诉属实。")
    page.fill("#measure", MEASURE)
    # The server runs on the real clock: the deadline is two weeks from the city's today.
    deadline = datetime.now(CITY_TZ).date() + timedelta(days=14)
    page.fill("#deadline", deadline.isoformat())
    _submit(page, "#record-finding")
    assert page.locator("#done-notice").is_visible()
    item = page.locator("#items li.item")
    assert item.count() == 1 and MEASURE in item.inner_text()
    assert item.get_attribute("data-status") == "open"
    assert _overflow(page) == 0
    page.screenshot(path=str(tmp_path / "complaint-page-phone.png"), full_page=True)

    # On the ledger: evidence first, then rectified, then verified and closed.
    _submit(page, "#items li.item a")
    page.fill("#evidence_text", "已在大厅张贴收费公示，并完成全员礼仪培训。")
    page.fill("#evidence_file", "evidence/2026/fees-notice.jpg")
    _submit(page, "#save-progress")
    assert "已在大厅张贴收费公示" in page.locator("#evidence-text").inner_text()
    page.check("#move-done")
    _submit(page, "#save-progress")
    assert page.locator("#item-status").get_attribute("data-status") == "done"
    page.check("#move-verified")
    _submit(page, "#save-progress")
    assert page.locator("#item-status").get_attribute("data-status") == "verified"
    assert page.locator("#closed-notice").is_visible()
    assert _overflow(page) == 0
    page.screenshot(path=str(tmp_path / "item-page-phone.png"), full_page=True)

    # The public board shows the item's progress, without the complaint or the evidence.
    page.goto(base + "/board?lang=en")
    row = page.locator("#ledger-table tbody tr")
    assert row.count() == 1
    assert row.get_attribute("data-status") == "verified"
    assert MEASURE in row.inner_text()
    board = page.content()
    assert "收费处多收了挂号费" not in board and "全员礼仪培训" not in board
    assert errors == []
    page.screenshot(path=str(tmp_path / "board-phone.png"), full_page=True)

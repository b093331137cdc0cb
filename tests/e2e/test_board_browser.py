"""The progress board in Chromium on a phone-sized screen: the charts draw, nothing overflows
sideways, no script error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import CHROMIUM
from tests.feedback.conftest import bearer, build_world, pinned  # noqa: F401 (a fixture)
from tests.feedback.test_api import accepted_complaint, file, open_items
from tests.fixtures.env import missing

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def board_url(sqlite_env, tmp_path: Path, pinned) -> Iterator[str]:  # noqa: F811
    """The app with complaints and ledger items, served on a free port."""
    import uvicorn

    from carematch.api.app import create_app

    if not CHROMIUM.exists():
        missing("Chromium (/usr/bin/chromium)")
    world = build_world(tmp_path)
    app = create_app()
    with TestClient(app) as client:
        cid = accepted_complaint(client, world)
        file(client, "resident2", provider_id=world.provider_d2, category="fees")
        items = open_items(client, cid, date(2026, 3, 20)).json()["items"]
        client.patch(
            f"/api/v1/rectifications/{items[0]['id']}",
            json={"status": "done", "evidence_text": "已整改"},
            headers=bearer("doctor_d1"),
        )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the board server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def phone(browser: Any, board_url: str) -> Iterator[tuple[Any, list[str]]]:
    """A 375-pixel-wide tab of the session's Chromium (tests/e2e/conftest.py) and its errors.

    One Playwright per test process: a second sync_playwright() beside the session's browser
    would refuse to start inside its event loop.
    """
    context = browser.new_context(viewport={"width": 375, "height": 740}, reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15_000)
    try:
        yield page, errors
    finally:
        context.close()


def test_the_board_draws_its_charts_on_a_phone(phone, board_url, tmp_path):
    page, errors = phone

    page.goto(board_url + "/board?lang=en")
    page.wait_for_selector('#board[data-ready="true"]')

    for chart in ("complaint-status-chart", "complaint-category-chart", "item-status-chart"):
        assert page.locator(f"#{chart} canvas").count() >= 1, chart
        box = page.locator(f"#{chart}").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
    assert page.locator("#ledger-table tbody tr").count() == 2
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
    assert errors == []
    page.screenshot(path=str(tmp_path / "board-phone.png"), full_page=True)

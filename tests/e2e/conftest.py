"""A live CareMatch server on a generated city, and Debian's Chromium to drive it.

The server runs in a subprocess (uvicorn on 127.0.0.1, a free port) with its own data
directory, so the browser exercises exactly what `carematch serve` would: real sockets, real
cookies, real static files. Browser tests skip when /usr/bin/chromium is missing, unless
CAREMATCH_REQUIRE_ALL=1, in which case they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.env import missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-test-password"
# username → (role, region): the city as a whole, one district, and a district doctor.
USERS = {
    "official": ("official", "449900"),
    "baiyun_official": ("official", "449901"),
    "doctor": ("doctor", "449901"),
}
RESIDENTS, SEED = 600, 3


@dataclass(frozen=True)
class LiveServer:
    """A running CareMatch: its base URL and data directory."""

    url: str
    data_dir: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    """Run a `carematch` command the way an operator would, against the test data dir."""
    done = subprocess.run(
        [sys.executable, "-m", "carematch.cli", *args],
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=300,
    )
    if done.returncode != 0:
        # Say why: a bare CalledProcessError hides the command's own message.
        raise AssertionError(
            f"carematch {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
        )


def _generate_city(out: Path) -> None:
    from carematch.synth import generate_city

    generate_city(residents=RESIDENTS, seed=SEED, out=out)


def _wait_until_up(url: str, server: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer at {url} within {timeout}s")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium, or a skip (a failure under CAREMATCH_REQUIRE_ALL=1)."""
    if not CHROMIUM.exists():
        missing("Chromium (/usr/bin/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright (Python)")
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Generate a 600-resident city, load it, create users and serve it on a free port."""
    data_dir = tmp_path_factory.mktemp("live") / "data"
    city = data_dir / "city"
    _generate_city(city)
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(data_dir), "CAREMATCH_ENV": "test"}
    env.pop("CAREMATCH_DATABASE_URL", None)
    _cli(env, "load", str(city))
    for username, (role, region) in USERS.items():
        _cli(
            env,
            "users",
            "create",
            username,
            "--role",
            role,
            "--region",
            region,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "carematch.api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        _wait_until_up(url, server, timeout=120.0)
        yield LiveServer(url, data_dir)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """A browser tab on the live server, with the console errors it has seen."""

    page: Any
    base: str
    errors: list[str]

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        """Fill and submit the login form, as a person would."""
        if "/login" not in self.page.url:
            self.goto("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        with self.page.expect_navigation():
            self.page.click("form.form button[type=submit]")

    def horizontal_overflow(self) -> int:
        """How many pixels the page is wider than the viewport (0 means no sideways scroll)."""
        return int(
            self.page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
        )


def _open_tab(browser: Any, server: LiveServer, **context_options: Any) -> Iterator[Tab]:
    # Reduced motion makes ECharts draw without animation, so what we assert and screenshot
    # is the final picture rather than a frame of a transition.
    context = browser.new_context(reduced_motion="reduce", **context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15_000)
    try:
        yield Tab(page, server.url, errors)
    finally:
        context.close()


@pytest.fixture
def tab(browser: Any, live_server: LiveServer) -> Iterator[Tab]:
    """A desktop-sized tab (1280×900), signed out."""
    yield from _open_tab(browser, live_server, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Iterator[Tab]:
    """A phone-sized tab (375×812, touch), signed out."""
    yield from _open_tab(
        browser,
        live_server,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )

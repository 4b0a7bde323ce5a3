"""Fixtures for the browser tests: the real app over real HTTP, and a real Chromium.

``live_server`` runs uvicorn in a background thread on a free loopback port, serving
``create_app`` on the shared ``database`` fixture (request ``town`` for data); the
thread and its start and stop are tests/live_server.py's ``serve_in_thread``.
``chromium`` is Debian's /usr/bin/chromium driven through Playwright; the machine
has no network beyond loopback, so Playwright's own browser download is not used.
Screenshots go to tests/browser/screenshots/ (gitignored); when a test fails, every
page it still had open is captured to tests/browser/artifacts/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from service.kernel.config import Settings
from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.live_server import serve_in_thread

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
HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"
ARTIFACTS = HERE / "artifacts"
SERVER_START_TIMEOUT_S = 15.0
# Fail fast: every step here is a local page load; Playwright's default is 30 s.
ACTION_TIMEOUT_MS = 10_000

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Lets fixtures see at teardown whether the test body failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def live_server(database: Database, rulebook: Rulebook, database_url: str) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1:<free port>; yields the base URL."""
    from web.app import create_app

    app = create_app(
        Settings(env="test", database_url=database_url), database=database, rulebook=rulebook
    )
    with serve_in_thread(app, timeout=SERVER_START_TIMEOUT_S) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright."""
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(
                f"Chromium not found at {CHROMIUM}: browser tests cannot run, and a skipped "
                "browser test is a failure in CI. Install it: apt-get install chromium"
            )
        pytest.skip("Chromium not installed: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(
    request: pytest.FixtureRequest, chromium: Browser, live_server: str
) -> Iterator[Callable[..., BrowserContext]]:
    """Make an isolated browser context (own cookies) whose base URL is the live server.

    Keyword arguments go to ``Browser.new_context``; the default locale is zh-CN, the
    language of the town, so Accept-Language does not depend on the machine.
    """
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai", **options}
        context = chromium.new_context(base_url=live_server, **options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    for index, context in enumerate(contexts):
        if failed:
            _capture_failure(request.node.name, index, context)
        context.close()


def _capture_failure(test_name: str, index: int, context: BrowserContext) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(context.pages):
        stem = re.sub(r"[^\w.-]+", "_", f"{test_name}-context{index}-page{number}")
        try:
            page.screenshot(path=ARTIFACTS / f"{stem}.png", full_page=True)
            (ARTIFACTS / f"{stem}.html").write_text(page.content(), encoding="utf-8")
        except Exception as exc:  # best effort; the real failure is reported anyway
            print(f"could not capture {stem}: {exc}")


def save_screenshot(page: Page, path: Path) -> None:
    """A full-page PNG of ``page`` at ``path``."""
    try:
        page.screenshot(path=path, full_page=True)
    except PlaywrightError:
        # A long page on a machine with every core busy: Chromium may fail to composite
        # the full-page capture once ("Unable to capture screenshot"). One more try after
        # the page settles; a second failure is real.
        page.wait_for_timeout(1000)
        page.screenshot(path=path, full_page=True)


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, "01-member-login")`` saves a full-page PNG and returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, step: str) -> Path:
        path = SCREENSHOTS / f"{step}.png"
        save_screenshot(page, path)
        return path

    return take

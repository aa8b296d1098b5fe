"""A real browser for the playground: Debian's Chromium driven by Playwright, one per session, a fresh
context (cookies, storage) per test. Screenshots go to test-artifacts/playground/ (kept by CI)."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.support.processes import ROOT

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts")) / "playground"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-default-apps", "--disable-sync"]


# Package scope: Playwright's sync API keeps an asyncio loop running in this thread while it is open,
# and later tests (the Python SDK's asyncio flavour) call asyncio.run().
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "the playground's browser tests need Debian's Chromium: apt-get install chromium (make test does, as root)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_context(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context, request):
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{_file_name(request.node.name)}.png"), full_page=True)
    except Exception:  # a page the test already closed has nothing to show
        pass


def _file_name(test_name: str) -> str:
    # Parametrised ids carry whatever the parameters hold (slashes, markup): one plain file name each.
    return re.sub(r"[^A-Za-z0-9_.\[\]-]+", "_", test_name)[:120]


def screenshot(page, name: str) -> Path:
    """A named screenshot of the page as it is now (for steps worth looking at, beside the final one)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

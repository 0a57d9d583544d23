"""Headless Chromium for the UI's tests and benchmarks: Debian's binary, never a download.

``--disable-background-networking`` and friends keep Chromium from calling out at
start (this machine's network refuses it, many connections at a time).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
WAIT_MS = 90_000  # a compose action over SSH, with a health check on the way


@contextmanager
def chromium() -> Iterator[Any]:
    """A running headless Chromium (Playwright's ``Browser``), closed afterwards; the test
    is skipped where Chromium or Playwright is missing (``scripts/install-deps.sh``)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/install-deps.sh")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def logged_in_tab(browser: Any, url: str, viewport: dict[str, int]) -> Iterator[Any]:
    """A tab of its own (fresh cookies and session storage) at ``viewport``, logged in to
    the ``cf web`` at ``url`` through its form as a person does, on the dashboard;
    closed afterwards. Its actions wait up to ``WAIT_MS``."""
    from tests.support.web import PASSWORD

    context = browser.new_context(viewport=viewport)
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    tab.goto(f"{url}/login")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{url}/")
    yield tab
    context.close()

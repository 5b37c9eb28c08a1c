"""Debian's Chromium driven by Playwright (no browser download): every request that is not to
127.0.0.1 is aborted, and screenshots are kept under ``test-output/browser`` to look at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Page, Route, sync_playwright

from shipflow.deployments import local

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _local_only(route: Route) -> None:
    url = urlparse(route.request.url)
    if url.scheme in ("data", "blob") or url.hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


@contextmanager
def browser_page() -> Iterator[Page]:
    """A page in a fresh headless Chromium that reaches 127.0.0.1 only."""
    chromium = local.require_binary("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.route("**/*", _local_only)
            yield page
        finally:
            browser.close()


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot, kept as a test output."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

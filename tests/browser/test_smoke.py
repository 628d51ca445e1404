"""The browser-test plumbing works end to end: Debian's chromium, driven by Playwright, opens a
page of the real `martingale run` process, and the service answers plain HTTP beside it.

/docs is Swagger UI, vendored in web/static/vendor like the dashboard's scripts: it renders
with every request to anything but the loopback service aborted.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.live import LiveService

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_running_service_opens_in_chromium_and_answers_its_liveness_probe(
    page: Page, live_service: LiveService, outside_requests: list[str]
) -> None:
    docs = page.goto(f"{live_service.base_url}/docs")
    live = httpx.get(f"{live_service.base_url}/health/live", timeout=30)

    assert docs is not None and docs.status == 200
    assert page.title() == "martingale - Swagger UI"
    # Swagger UI is vendored: it renders the API's operations with nothing from outside
    expect(page.locator(".opblock").first).to_be_visible()
    assert outside_requests == []
    assert live.status_code == 200, live.text


def test_a_page_reaches_nothing_outside_the_loopback_service(
    page: Page, outside_requests: list[str]
) -> None:
    """The guard the dashboard tests rely on: a request to another host is aborted and listed."""
    page.set_content('<img src="https://cdn.example.com/pixel.png" alt="">')

    assert outside_requests == ["https://cdn.example.com/pixel.png"]

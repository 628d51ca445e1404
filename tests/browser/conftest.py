"""Browser tests: Playwright (the pip package) driving Debian's chromium, against the real
service started as `martingale run` (tests/browser/live.py).

Chromium is `$MARTINGALE_CHROMIUM` or `chromium` on PATH (`apt-get install chromium`); never
`playwright install`. When it is absent the browser tests are skipped with the reason, unless
CI is set, in which case they fail: CI must never pass by skipping (as tests/conftest.py does
for MySQL).

Each test gets fresh browser contexts (no cookies shared between tests). Requests to anything
but the loopback service are aborted and listed in `outside_requests`: the dashboard must load
nothing from outside at run time, and a test must not depend on the network. Uncaught page
errors and console errors are listed in `page_errors`. A failing test leaves a screenshot of
each page it opened (and the service's log) in test-artifacts/browser/.

Mark browser test modules `pytestmark = [pytest.mark.browser, pytest.mark.slow]`.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, ViewportSize, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.browser.live import LiveService, start_live_service, stop_live_service

REPO_ROOT = Path(__file__).resolve().parents[2]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
DEFAULT_TIMEOUT_MS = 15_000
# Any http(s) URL whose host is not the loopback service (matched inside the browser driver,
# so local requests never make a round trip through Python).
OUTSIDE = re.compile(r"^(https?|wss?)://(?!(127\.0\.0\.1|localhost|\[::1\])([:/]|$))")

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell at teardown that the test
    failed (and leave a screenshot)."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(node: pytest.Item) -> bool:
    return any(report.failed for report in node.stash.get(_REPORTS, {}).values())


def _file_name(node: pytest.Item) -> str:
    return re.sub(r"[^\w.\[\]-]+", "_", node.name)


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("MARTINGALE_CHROMIUM") or shutil.which("chromium")
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    reason = "browser tests need Debian's chromium: apt-get install chromium"
    where = f" ({path} is not an executable file)" if path else ""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so browser tests are required: {reason}{where}")
    pytest.skip(f"{reason}{where} (or set MARTINGALE_CHROMIUM; required when CI is set)")


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless chromium per test process. --no-sandbox: root in a container has no
    user namespace for chromium's sandbox."""
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/browser/ at the repository root (git ignores it), where a failing test
    leaves its screenshots and the service's log."""
    path = REPO_ROOT / "test-artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def outside_requests() -> list[str]:
    """Every request a page of this test tried to make to anything but the loopback service
    (each was aborted)."""
    return []


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions and console errors of every page this test opened."""
    return []


@pytest.fixture
def open_page(
    browser: Browser,
    request: pytest.FixtureRequest,
    artifacts: Path,
    outside_requests: list[str],
    page_errors: list[str],
) -> Iterator[Callable[..., Page]]:
    """`open_page()` (1280x800) or `open_page(phone=True)` (390x844): a page in a new context
    of its own (its own cookies, e.g. a second user logged in beside the first). Every context is closed after the test; on a
    failure each page is first saved as test-artifacts/browser/<test>-failed[-n].png."""
    opened: list[Page] = []

    def block(route: Route) -> None:
        outside_requests.append(route.request.url)
        route.abort("blockedbyclient")

    def open_(*, phone: bool = False) -> Page:
        context = browser.new_context(viewport=PHONE if phone else DESKTOP)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.route(OUTSIDE, block)
        page = context.new_page()
        page.on("pageerror", lambda exc: page_errors.append(f"uncaught: {exc}"))
        page.on(
            "console",
            lambda msg: page_errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        opened.append(page)
        return page

    yield open_

    failed = _failed(request.node)
    for n, page in enumerate(opened, start=1):
        if failed:
            suffix = "" if n == 1 else f"-{n}"
            shot = artifacts / f"{_file_name(request.node)}-failed{suffix}.png"
            try:
                page.screenshot(path=shot, full_page=True)
            except PlaywrightError as exc:  # a crashed page must not hide the test's own error
                warnings.warn(f"no screenshot {shot.name}: {exc}", stacklevel=1)
        page.context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    """A desktop-sized page (1280x800)."""
    return open_page()


@pytest.fixture
def phone_page(open_page: Callable[..., Page]) -> Page:
    """A phone-sized page (390x844), in a context of its own."""
    return open_page(phone=True)


# --- the service --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _module_service(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    """One service per test module: starting one (onboarding, roles, passwords) takes about
    13 s, each `martingale` command 2 s of imports. Tests of a module share its database, so a
    test that changes state (pauses, creates) must leave what the module's other tests look at
    alone, or live in a module of its own. Needs chromium only so that, without one, nothing is
    started just to be skipped."""
    service = start_live_service(tmp_path_factory.mktemp("live"))
    try:
        yield service
    finally:
        status = stop_live_service(service.process)
    if status != 0:
        pytest.fail(
            f"martingale run did not stop cleanly on SIGTERM (status {status}):\n"
            + service.process.output()[-3000:]
        )


@pytest.fixture
def live_service(
    _module_service: LiveService, request: pytest.FixtureRequest, artifacts: Path
) -> Iterator[LiveService]:
    """The module's running service (`base_url`, `config`, `password(name)`); a test that
    fails leaves the service's log so far as test-artifacts/browser/<test>-service.log."""
    if not _module_service.alive():
        pytest.fail(
            "the module's service has exited (an earlier test may have crashed it):\n"
            + _module_service.process.output()[-3000:]
        )
    yield _module_service
    if _failed(request.node):
        shutil.copyfile(_module_service.log, artifacts / f"{_file_name(request.node)}-service.log")

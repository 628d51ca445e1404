"""The dashboard in chromium against the real service (issue 13's scenarios): log in, watch the
overview update as a paper strategy trades, pause and resume, create a strategy from the form
with its live preview, rotate a key, add a notification target and test it, and another user
sees none of it. Screenshots of the overview, a strategy page and the notification settings go
to test-artifacts/browser/.

Every test checks that the pages loaded nothing from outside and logged no error (a script
error, or a Content-Security-Policy violation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.live import LiveService
from tests.notify_hook import Hook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRADE_TIMEOUT_MS = 60_000


# The console notes every 4xx answer: a form refused (422), bob sent to a 404 or 403 page.
# Those are the tests' own doing; anything else logged is a defect.
EXPECTED = re.compile(r"^console: Failed to load resource: .* status of 4\d\d ")


@pytest.fixture(autouse=True)
def _clean_pages(outside_requests: list[str], page_errors: list[str]) -> Iterator[None]:
    yield
    assert outside_requests == [], "the dashboard loads nothing from outside"
    unexpected = [e for e in page_errors if not EXPECTED.match(e)]
    assert unexpected == [], "no script error and no CSP violation"


def log_in(page: Page, service: LiveService, name: str, path: str = "/") -> None:
    page.goto(service.base_url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(service.password(name))
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header .who")).to_contain_text(name)
    page.wait_for_load_state()


def follow(page: Page, link: Locator) -> None:
    """Click a link and wait for the new page's scripts: a button is visible (and clickable)
    before htmx has bound it, and a click in that window does nothing."""
    link.click()
    page.wait_for_load_state()


def _row(page: Page, strategy: str) -> object:
    return page.locator(f'tr[data-strategy="{strategy}"]')


def test_the_overview_updates_live_as_a_paper_strategy_trades(
    page: Page, live_service: LiveService, artifacts: Path
) -> None:
    log_in(page, live_service, "alice")
    row = page.locator('tr[data-strategy="btc"]')
    expect(row).to_be_visible()
    price = row.locator("td.price")
    expect(price).not_to_have_text("—", timeout=TRADE_TIMEOUT_MS)
    first = price.inner_text()
    # the replay moves the price every couple of seconds; the table follows without a reload
    expect(price).not_to_have_text(first, timeout=TRADE_TIMEOUT_MS)
    expect(row.locator("td").nth(5)).not_to_have_text("0", timeout=TRADE_TIMEOUT_MS)  # position
    expect(page.locator(".total[data-quote='USDT']")).to_be_visible()
    expect(page.locator("#service-down")).to_have_count(0)  # the service beats
    page.screenshot(path=artifacts / "overview.png", full_page=True)

    follow(page, row.get_by_role("link", name="btc"))
    expect(page.locator("#chart canvas").first).to_be_visible()
    expect(page.locator("#chart")).not_to_have_attribute("data-points", "0", timeout=20_000)
    expect(page.locator("#ladder")).to_be_visible(timeout=TRADE_TIMEOUT_MS)
    expect(page.locator("#ladder")).to_contain_text("filled")
    expect(page.locator("#events li").first).to_be_visible()
    page.screenshot(path=artifacts / "strategy.png", full_page=True)


def test_pause_and_resume(page: Page, live_service: LiveService) -> None:
    log_in(page, live_service, "alice")
    follow(page, page.locator('tr[data-strategy="btc"]').get_by_role("link", name="btc"))
    state = page.locator("#summary .state").first
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#action-result .flash")).to_contain_text("pause")
    expect(state).to_have_text("paused", timeout=20_000)  # the service applied it
    page.get_by_role("button", name="Resume").click()
    expect(state).to_have_text("running", timeout=20_000)


def test_stop_now_asks_for_confirmation_and_does_nothing_when_declined(
    page: Page, live_service: LiveService
) -> None:
    log_in(page, live_service, "alice")
    follow(page, page.locator('tr[data-strategy="btc"]').get_by_role("link", name="btc"))
    asked: list[str] = []

    def decline(dialog: object) -> None:
        asked.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.once("dialog", decline)
    page.get_by_role("button", name="Stop now").click()
    page.wait_for_timeout(1500)
    assert asked and "cancel every open order" in asked[0]
    expect(page.locator("#action-result .flash")).to_have_count(0)
    expect(page.locator("#summary .state").first).to_have_text("running")


def test_create_a_strategy_from_the_form_with_its_preview(
    page: Page, live_service: LiveService
) -> None:
    log_in(page, live_service, "alice", "/strategies/new")
    form = page.locator("#new-strategy")
    form.get_by_label("Name *").fill("btc-two")
    form.get_by_label("Symbol *").fill("BTC/USDT")
    for label, value in [
        ("Base order *", "20"),
        ("Safety order *", "40"),
        ("Max safety orders *", "3"),
        ("Price deviation % *", "1"),
        ("Take-profit %", "abc"),
    ]:
        form.get_by_label(label, exact=True).fill(value)
    expect(page.locator("#err-take_profit")).to_contain_text("not a number")
    form.get_by_label("Take-profit %", exact=True).fill("1.2")
    expect(page.locator("#preview-table tbody tr")).to_have_count(4)
    expect(page.locator("#err-take_profit")).to_have_text("")
    expect(page.locator("#funds-required")).to_contain_text("USDT")
    form.get_by_role("button", name="Create strategy").click()
    expect(page).to_have_url(re.compile(r"/strategies/\d+$"))
    expect(page.locator("h1")).to_contain_text("btc-two")
    page.goto(live_service.base_url + "/")
    expect(page.locator('tr[data-strategy="btc-two"]')).to_be_visible()


def test_rotate_an_accounts_key_without_the_key_ever_showing(
    page: Page, live_service: LiveService
) -> None:
    log_in(page, live_service, "alice", "/accounts")
    add = page.locator("#add-account")
    add.get_by_label("Name *").fill("live")
    add.get_by_label("Exchange *").fill("binance")
    add.get_by_label("API key").fill("FIRSTKEY" + "a" * 24)
    add.get_by_label("Secret").fill("FIRSTSECRET" + "b" * 24)
    add.get_by_role("button", name="Add account").click()
    account = page.locator('section.account[data-account="live"]')
    expect(account).to_be_visible()
    fingerprint = account.locator("code").first
    before = fingerprint.inner_text()
    account.get_by_text("Replace the key").click()
    account.get_by_label("New API key").fill("SECONDKEY" + "c" * 24)
    account.get_by_label("New secret").fill("SECONDSECRET" + "d" * 24)
    account.get_by_role("button", name="Replace key").click()
    expect(account.locator(".flash")).to_contain_text("Key replaced")
    assert fingerprint.inner_text() != before
    html = page.content()
    for secret in ("FIRSTKEY", "FIRSTSECRET", "SECONDKEY", "SECONDSECRET"):
        assert secret not in html


def test_add_a_notification_target_and_send_it_a_test(
    page: Page, live_service: LiveService, artifacts: Path
) -> None:
    """A target on the Settings page, pointed at a real HTTP server on loopback (apprise's
    json://): listed by its scheme only, and its test message arrives there."""
    hook = Hook(200)
    token = "BROWSERSECRET" + "e" * 16
    try:
        log_in(page, live_service, "alice", "/settings")
        add = page.locator("#add-target")
        add.get_by_label("Target name *").fill("phone")
        add.get_by_label("Apprise URL *").fill(hook.url(f"hook/{token}"))
        add.get_by_label("a stop loss closed a cycle").uncheck()
        add.get_by_role("button", name="Save target").click()
        row = page.locator('tr[data-target="phone"]')
        expect(page.locator("#notifications .flash")).to_contain_text("Target phone added")
        expect(row).to_contain_text("json://")
        expect(row).not_to_contain_text("stop_loss")
        expect(add.get_by_label("Apprise URL *")).to_have_value("")  # never echoed back
        row.get_by_role("button", name="Send a test").click()
        expect(page.locator('#test-results li[data-result="phone"]')).to_contain_text("sent")
        assert any("test" in str(body.get("title", "")).lower() for body in hook.bodies)
        page.screenshot(path=artifacts / "settings-notifications.png", full_page=True)
        assert token not in page.content()
        page.reload()
        expect(page.locator('tr[data-target="phone"]')).to_be_visible()  # stored
        assert token not in page.content()
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator('tr[data-target="phone"]').get_by_role("button", name="Delete").click()
        expect(page.locator('tr[data-target="phone"]')).to_have_count(0)
    finally:
        hook.close()


def test_another_user_sees_none_of_it(
    open_page: Callable[..., Page], live_service: LiveService
) -> None:
    alice = open_page()
    log_in(alice, live_service, "alice")
    follow(alice, alice.locator('tr[data-strategy="btc"]').get_by_role("link", name="btc"))
    expect(alice).to_have_url(re.compile(r"/strategies/\d+$"))
    alices_page = alice.url
    bob = open_page()
    log_in(bob, live_service, "bob")
    expect(bob.locator('tr[data-strategy="sol"]')).to_be_visible()
    expect(bob.locator('tr[data-strategy="btc"]')).to_have_count(0)
    expect(bob.get_by_role("link", name="Users")).to_have_count(0)  # not an admin
    answer = bob.goto(alices_page)
    assert answer is not None and answer.status == 404
    bob.goto(live_service.base_url + "/accounts")
    expect(bob.locator('section.account[data-account="live"]')).to_have_count(0)
    answer = bob.goto(live_service.base_url + "/admin/users")
    assert answer is not None and answer.status == 403


# The element reaching furthest right, for a failure's message.
WIDEST = """() => {
  let best = null, right = 0;
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect().right;
    if (r > right) { right = r; best = el; }
  }
  return best ? `${best.tagName}#${best.id}.${best.className} right=${right}` : "";
}"""


def test_the_overview_reads_on_a_phone(
    phone_page: Page, live_service: LiveService, artifacts: Path
) -> None:
    log_in(phone_page, live_service, "alice")
    expect(phone_page.locator('tr[data-strategy="btc"]')).to_be_visible()
    wide = phone_page.evaluate("document.documentElement.scrollWidth")
    widest = phone_page.evaluate(WIDEST)
    assert wide <= 390, f"the page itself never scrolls sideways; too wide: {widest}"
    phone_page.screenshot(path=artifacts / "overview-phone.png", full_page=True)


def test_logging_out_ends_the_session(page: Page, live_service: LiveService) -> None:
    log_in(page, live_service, "bob")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(live_service.base_url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_an_admin_disables_a_user_who_is_logged_out_at_once(
    open_page: Callable[..., Page], live_service: LiveService
) -> None:
    carol = open_page()
    log_in(carol, live_service, "carol")
    expect(carol.locator('tr[data-strategy="sol-c"]')).to_be_visible()
    alice = open_page()
    log_in(alice, live_service, "alice", "/admin/users")
    row = alice.locator('tr[data-user="carol"]')
    alice.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Disable").click()
    expect(alice.locator("#users .flash")).to_contain_text("carol disabled.")
    expect(row).to_contain_text("disabled")
    # carol's overview polls every 2 s: its next poll finds the session gone
    expect(carol).to_have_url(re.compile(r"/login"), timeout=20_000)
    carol.get_by_label("User name").fill("carol")
    carol.get_by_label("Password").fill(live_service.password("carol"))
    carol.get_by_role("button", name="Log in").click()
    expect(carol.locator(".error")).to_have_text("Wrong user name or password.")

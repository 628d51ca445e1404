"""The dashboard's pages over HTTP (the browser tests drive them in chromium): logging in,
what each page shows, that forms write through the same services as the API, and that every
page and fragment is scoped to its user and protected against CSRF."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.orders import OrderState
from persistence.records import ActualState, DesiredState, JournalEntry
from services.plan import preview
from tests.integration.persistence.helpers import TestEvent, at
from tests.web.conftest import PASSWORD, World, rules_for
from tests.web.dashboard_helpers import Browser

VALID = {
    "name": "sol-dca",
    "account": "alice-main",
    "symbol": "ETH/BTC",
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": "3",
    "price_deviation": "1.5",
    "take_profit": "1.5",
    "price": "0.05",
}


def _text(answer: Any) -> str:
    return str(answer.text)


def test_a_page_without_a_session_redirects_to_the_login_and_back(world: World) -> None:
    answer = world.client.get("/strategies/1?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/strategies/1%3Fx%3D1"
    fragment = world.client.get("/ui/overview", headers={"HX-Request": "true"})
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/login"


def test_login_sets_an_httponly_strict_cookie_and_goes_where_the_person_was_going(
    world: World,
) -> None:
    answer = world.client.post(
        "/login",
        data={"name": "alice", "password": PASSWORD, "next": "/settings"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/settings"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_the_site(world: World, target: str) -> None:
    answer = world.client.post(
        "/login",
        data={"name": "alice", "password": PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_a_wrong_password_shows_one_message_and_sets_no_cookie(world: World) -> None:
    answer = world.client.post("/login", data={"name": "alice", "password": "wrong password!"})
    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text
    assert "set-cookie" not in answer.headers
    nobody = world.client.post("/login", data={"name": "nobody", "password": "wrong password!"})
    assert nobody.status_code == 401 and "Wrong user name or password." in nobody.text


def test_a_login_posted_from_another_site_is_refused(world: World) -> None:
    answer = world.client.post(
        "/login",
        data={"name": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_the_overview_shows_the_users_strategies_only(world: World) -> None:
    alice = Browser(world, world.alice)
    page = _text(alice.get("/"))
    assert 'data-strategy="alice-eth"' in page
    assert "bob-eth" not in page
    assert "0.0001" in page and "BTC" in page  # realized profit with its currency
    fragment = _text(alice.get("/ui/overview"))
    assert 'data-strategy="alice-eth"' in fragment and "bob-eth" not in fragment
    assert "<html" not in fragment


def test_the_overview_says_so_when_the_service_does_not_beat(world: World) -> None:
    sid, now = world.alice.strategy_id, world.ctx.clock()
    alice = Browser(world, world.alice)
    world.repo.set_actual_state(sid, ActualState.RUNNING, now=now)
    assert "Service down?" not in _text(alice.get("/ui/overview"))  # just started: no beat yet
    world.repo.set_actual_state(sid, ActualState.RUNNING, now=now - timedelta(minutes=2))
    assert "no heartbeat from the service for 1" in _text(alice.get("/ui/overview"))
    world.repo.record_heartbeats({sid: now - timedelta(seconds=5)})
    assert "Service down?" not in _text(alice.get("/ui/overview"))
    world.repo.record_heartbeats({sid: now - timedelta(seconds=50)})
    assert "Service down?" in _text(alice.get("/ui/overview"))


def test_a_state_change_needs_the_csrf_token(world: World) -> None:
    alice = Browser(world, world.alice)
    path = f"/ui/strategies/{world.alice.strategy_id}/actions/pause"
    refused: Any = alice.post(path, csrf=False)
    assert refused.status_code == 403
    assert world.repo.get_strategy(world.alice.strategy_id).desired_state is DesiredState.RUNNING
    done: Any = alice.post(path)
    assert done.status_code == 200, done.text
    assert "The service applies it within seconds" in done.text
    assert world.repo.get_strategy(world.alice.strategy_id).desired_state is DesiredState.PAUSED


def test_a_state_change_from_another_origin_is_refused(world: World) -> None:
    alice = Browser(world, world.alice)
    answer = alice.client.post(
        f"/ui/strategies/{world.alice.strategy_id}/actions/pause",
        headers={"X-CSRF-Token": alice.csrf, "Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert world.repo.get_strategy(world.alice.strategy_id).desired_state is DesiredState.RUNNING


def test_the_preview_names_each_bad_field_beside_it(world: World) -> None:
    alice = Browser(world, world.alice)
    bad = {**VALID, "base_order": "abc", "max_safety_orders": "2.5", "take_profit": ""}
    page: Any = alice.post("/ui/preview", bad)
    slots = dict(re.findall(r'id="err-([a-z_]+)" hx-swap-oob="true">([^<]*)<', page.text))
    assert "not a number" in slots["base_order"]
    assert slots["max_safety_orders"] == "must be a whole number"
    assert slots["take_profit"] == "is required (or give take-profit steps)"
    assert slots["safety_order"] == ""
    assert 'id="preview-table"' not in page.text


def test_the_preview_shows_the_plans_numbers(world: World) -> None:
    alice = Browser(world, world.alice)
    page: Any = alice.post("/ui/preview", VALID)
    assert page.status_code == 200, page.text
    params = {k: v for k, v in VALID.items() if k not in ("name", "account", "symbol")}
    plan = preview(params, rules_for(None, "ETH/BTC"))  # what `martingale plan` prints
    funds = re.search(r'id="funds-required">([^ <]+)', page.text)
    assert funds is not None
    assert Decimal(funds.group(1)) == plan.max_funds.quantize(Decimal("1e-8"))
    rows = re.findall(r"<tr><td>(base|\d+)</td>", page.text)
    assert rows == ["base", "1", "2", "3"]


def test_creating_a_strategy_from_the_form(world: World) -> None:
    alice = Browser(world, world.alice)
    answer: Any = alice.post("/ui/strategies", VALID)
    assert answer.status_code == 200, answer.text
    created = [
        s for s in world.repo.list_strategies(user_id=world.alice.user_id) if s.name == "sol-dca"
    ]
    assert len(created) == 1
    assert answer.headers["HX-Redirect"] == f"/strategies/{created[0].id}"
    assert created[0].params["take_profit"] == "1.5"


def test_a_refused_strategy_writes_nothing_and_names_the_field(world: World) -> None:
    alice = Browser(world, world.alice)
    before = world.repo.list_strategies(user_id=world.alice.user_id)
    theirs: Any = alice.post("/ui/strategies", {**VALID, "account": "bob-main"})
    assert theirs.status_code == 404  # as in the API: another user's account does not exist
    bad: Any = alice.post("/ui/strategies", {**VALID, "symbol": "ETHBTC"})
    assert bad.status_code == 422
    assert re.search(r'id="err-symbol" hx-swap-oob="true">[^<]+<', bad.text)
    taken: Any = alice.post("/ui/strategies", {**VALID, "name": "alice-eth"})
    assert (
        taken.status_code == 422
        and 'id="err-name" hx-swap-oob="true">you already have' in taken.text
    )
    assert world.repo.list_strategies(user_id=world.alice.user_id) == before


def test_editing_parameters_applies_at_the_next_cycle(world: World) -> None:
    alice = Browser(world, world.alice)
    sid = world.alice.strategy_id
    answer: Any = alice.post(f"/ui/strategies/{sid}/params", {**VALID, "take_profit": "2.5"})
    assert answer.status_code == 200, answer.text
    assert "apply from the next cycle" in answer.text
    assert world.repo.get_strategy(sid).params["take_profit"] == "2.5"


def test_the_strategy_page_has_its_chart_ladder_cycles_and_actions(world: World) -> None:
    alice = Browser(world, world.alice)
    sid = world.alice.strategy_id
    page = _text(alice.get(f"/strategies/{sid}"))
    for part in ('id="chart"', 'id="cycles"', "/actions/close-now", "hx-confirm", "Stop now"):
        assert part in page
    chart: Any = alice.get(f"/ui/strategies/{sid}/chart")
    data = chart.json()
    assert data["symbol"] == "ETH/BTC"
    assert [f["side"] for f in data["fills"]] == ["buy"]
    assert isinstance(data["fills"][0]["price"], str)  # money as decimal strings


def test_an_api_token_is_shown_once_and_never_again(world: World) -> None:
    alice = Browser(world, world.alice)
    made: Any = alice.post("/ui/tokens", {"name": "script", "expires_days": "30"})
    secret = re.search(r'value="(mgt_[^"]+)"', made.text)
    assert secret is not None
    settings = _text(alice.get("/settings"))
    assert "script" in settings and secret.group(1) not in settings
    bad: Any = alice.post("/ui/tokens", {"name": "x", "expires_days": "0"})
    assert bad.status_code == 422 and "expires_days" in bad.text


def test_pages_carry_a_strict_content_security_policy(world: World) -> None:
    alice = Browser(world, world.alice)
    answer: Any = alice.get("/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in answer.text  # no inline script: the policy forbids them
    api = world.call(world.alice, "GET", "/api/v1/me")
    assert "content-security-policy" not in api.headers


def test_admin_pages_are_for_admins(world: World) -> None:
    alice = Browser(world, world.alice)
    assert alice.get("/admin/users").status_code == 403  # type: ignore[attr-defined]
    refused: Any = alice.post("/ui/admin/users", {"name": "mallory"})
    assert refused.status_code == 403
    assert world.repo.find_user("mallory") is None
    root = Browser(world, world.admin)
    page = _text(root.get("/admin/users"))
    assert 'data-user="alice"' in page and 'data-user="bob"' in page
    added: Any = root.post("/ui/admin/users", {"name": "carol", "password": "a long enough pw"})
    assert added.status_code == 200 and "User carol added." in added.text
    carol = world.repo.find_user("carol")
    assert carol is not None and carol.has_password
    weak: Any = root.post("/ui/admin/users", {"name": "dave", "password": "short"})
    assert weak.status_code == 422 and world.repo.find_user("dave") is None


def test_an_unknown_page_is_an_html_404_and_the_api_stays_json(world: World) -> None:
    alice = Browser(world, world.alice)
    page: Any = alice.get("/strategies/987654")
    assert page.status_code == 404 and "<h1>Not found</h1>" in page.text
    api = world.call(world.alice, "GET", "/api/v1/strategies/987654")
    assert api.json() == {"message": "not found"}


def test_changing_ones_password_keeps_this_session_and_ends_the_others(world: World) -> None:
    here, there = Browser(world, world.alice), Browser(world, world.alice)
    wrong: Any = here.post(
        "/ui/settings/password",
        {
            "current_password": "not it at all",
            "new_password": "a new long one",
            "new_password_again": "a new long one",
        },
    )
    assert wrong.status_code == 401 and "current password is wrong" in wrong.text
    differ: Any = here.post(
        "/ui/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a new long one",
            "new_password_again": "another",
        },
    )
    assert differ.status_code == 422 and "new_password_again" in differ.text
    new = "  spaces count too  "
    done: Any = here.post(
        "/ui/settings/password",
        {"current_password": PASSWORD, "new_password": new, "new_password_again": new},
    )
    assert done.status_code == 200, done.text
    assert done.headers["HX-Redirect"] == "/settings?changed=true"
    assert "Password changed" in _text(here.get("/settings?changed=true"))  # new cookie works
    gone: Any = there.get("/", follow_redirects=False)
    assert gone.status_code == 303  # the other session ended
    relogin = world.client.post("/login", data={"name": "alice", "password": new})
    assert relogin.status_code == 200 and 'data-strategy="alice-eth"' in relogin.text


def test_an_admin_disables_a_user_whose_strategies_stop_and_sessions_end(world: World) -> None:
    bob = Browser(world, world.bob)
    root = Browser(world, world.admin)
    answer: Any = root.post(f"/ui/admin/users/{world.bob.user_id}/disable")
    assert answer.status_code == 200, answer.text
    assert "bob disabled." in answer.text
    assert world.repo.get_user(world.bob.user_id).disabled
    assert world.repo.get_strategy(world.bob.strategy_id).desired_state is DesiredState.STOPPED
    assert bob.get("/", follow_redirects=False).status_code == 303  # type: ignore[attr-defined]
    refused = world.client.post("/login", data={"name": "bob", "password": PASSWORD})
    assert refused.status_code == 401
    itself: Any = root.post(f"/ui/admin/users/{world.admin.user_id}/disable")
    assert itself.status_code == 422 and not world.repo.get_user(world.admin.user_id).disabled
    back: Any = root.post(f"/ui/admin/users/{world.bob.user_id}/enable")
    assert back.status_code == 200 and not world.repo.get_user(world.bob.user_id).disabled


def test_an_error_answer_to_htmx_is_never_swapped_into_the_page(world: World) -> None:
    """Deleting a running strategy is refused: the message goes to the page's notice as text
    (HX-Trigger), and HX-Reswap keeps htmx from parsing it into the page as HTML."""
    alice = Browser(world, world.alice)
    answer: Any = alice.post(f"/ui/strategies/{world.alice.strategy_id}/delete")
    assert answer.status_code == 422
    assert answer.headers["HX-Reswap"] == "none"
    assert answer.headers["content-type"].startswith("text/plain")
    event = json.loads(answer.headers["HX-Trigger"])
    assert "running" in event["martingale-error"]


def test_odd_digits_in_a_token_expiry_are_refused_not_a_crash(world: World) -> None:
    alice = Browser(world, world.alice)
    answer: Any = alice.post("/ui/tokens", {"name": "odd", "expires_days": "²"})
    assert answer.status_code == 422 and "expires_days" in answer.text


def test_pages_are_never_cached(world: World) -> None:
    alice = Browser(world, world.alice)
    assert alice.get("/settings").headers["cache-control"] == "no-store"  # type: ignore[attr-defined]


def test_the_event_log_pages_back_through_older_events(world: World) -> None:
    sid = world.alice.strategy_id
    world.repo.append_events(
        [
            JournalEntry(
                strategy_id=sid,
                event=TestEvent(name=f"e{n}", price=Decimal(n)),
                occurred_at=at(10 + n),
            )
            for n in range(60)
        ]
    )
    alice = Browser(world, world.alice)
    newest = _text(alice.get(f"/ui/strategies/{sid}/events"))
    assert newest.count("<li ") == 50
    cursor = re.search(r'events\?cursor=([^"]+)" hx-target="#older-events"', newest)
    assert cursor is not None
    older = _text(alice.get(f"/ui/strategies/{sid}/events?cursor={cursor.group(1)}"))
    assert older.count("<li ") == 11  # the other 10 of the 60, and the seeded one
    assert "Older events" not in older


def test_a_huge_body_is_refused_before_it_is_read(world: World) -> None:
    big = "x" * (300 * 1024)
    page = world.client.post("/login", data={"name": "alice", "password": big})
    assert page.status_code == 413
    api = world.client.post("/api/v1/auth/login", json={"name": "alice", "password": big})
    assert api.status_code == 413


def test_an_unexpected_error_is_a_plain_500_page_with_the_pages_headers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail")

    alice = Browser(world, world.alice)  # its login lands on the overview: break it after
    monkeypatch.setattr("web.dashboard.strategy_pages.overview", broken)
    answer: Any = alice.get("/")
    assert answer.status_code == 500
    assert "secret detail" not in answer.text and "went wrong on our side" in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_a_stopped_strategy_is_deleted_from_its_page(world: World) -> None:
    sid = world.alice.strategy_id
    world.repo.set_desired_state(sid, DesiredState.STOPPED, now=world.ctx.clock())
    world.repo.set_actual_state(sid, ActualState.STOPPED, now=world.ctx.clock())
    alice = Browser(world, world.alice)
    assert "/delete" in _text(alice.get(f"/strategies/{sid}"))  # offered once stopped
    refused: Any = alice.post(f"/ui/strategies/{sid}/delete")
    assert refused.status_code == 422  # its seeded base order may still rest on the book
    assert "order(s) that may rest" in json.loads(refused.headers["HX-Trigger"])["martingale-error"]
    for order in world.repo.list_orders(sid):
        world.repo.update_order(sid, order.transition(OrderState.CANCELED), now=world.ctx.clock())
    answer: Any = alice.post(f"/ui/strategies/{sid}/delete")
    assert answer.status_code == 200 and answer.headers["HX-Redirect"] == "/"
    assert 'data-strategy="alice-eth"' not in _text(alice.get("/"))


def test_the_preview_shows_a_trailing_take_profit_note(world: World) -> None:
    alice = Browser(world, world.alice)
    page: Any = alice.post("/ui/preview", {**VALID, "trailing_deviation": "0.5"})
    assert page.status_code == 200, page.text
    note = re.search(r'id="trailing-note">([^<]+)<', page.text)
    assert note is not None and "0.5 % back from it" in note.group(1)
    plain: Any = alice.post("/ui/preview", VALID)
    assert 'id="trailing-note"' not in plain.text
    bad: Any = alice.post("/ui/preview", {**VALID, "trailing_deviation": "100"})
    slots = dict(re.findall(r'id="err-([a-z_]+)" hx-swap-oob="true">([^<]*)<', bad.text))
    assert "must be &gt; 0 and &lt; 100" in slots["trailing_deviation"]


def test_the_preview_shows_a_shorts_stop_loss_buy_back_and_checks_the_quote(
    world: World,
) -> None:
    alice = Browser(world, world.alice)
    short = {**VALID, "direction": "short", "stop_loss": "20"}
    page: Any = alice.post("/ui/preview", short)
    assert page.status_code == 200, page.text
    line = re.search(r'id="stop-loss-reserve">([^<]+)<', page.text)
    assert line is not None and "keep at least" in line.group(1)
    assert 'id="stop-loss-reserve"' not in alice.post("/ui/preview", VALID).text
    poor: Any = alice.post("/ui/preview", {**short, "quote_balance": "0.0001"})
    slots = dict(re.findall(r'id="err-([a-z_]+)" hx-swap-oob="true">([^<]*)<', poor.text))
    assert "buys back all" in slots["stop_loss"] and 'id="preview-table"' not in poor.text

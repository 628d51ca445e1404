"""The API's own behaviour on top of the services: status codes, JSON shapes, pagination,
secrets that never come back, and the login limit."""

from __future__ import annotations

import json
from decimal import Decimal

from persistence.vault import Vault, generate_key, parse_keyring
from tests.integration.persistence.helpers import at, intent, open_cycle
from tests.web.conftest import PASSWORD, World

PARAMS = {
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": 3,
    "price_deviation": "1.5",
    "take_profit": "1.5",
    "price": "0.05",
}


def _strategy(**changes: object) -> dict[str, object]:
    return {
        "name": "eth2",
        "account": "alice-main",
        "symbol": "ETH/BTC",
        "params": PARAMS,
        **changes,
    }


def test_a_dry_run_previews_and_writes_nothing_then_create_writes(world: World) -> None:
    before = len(world.repo.list_strategies(user_id=world.alice.user_id))
    dry = world.call(world.alice, "POST", "/api/v1/strategies?dry_run=true", json=_strategy())
    assert dry.status_code == 200, dry.text
    assert dry.json()["strategy"] is None
    levels = dry.json()["plan"]["levels"]
    assert len(levels) == 4 and all(isinstance(v, str) for v in levels[0].values() if v is not None)
    assert len(world.repo.list_strategies(user_id=world.alice.user_id)) == before
    made = world.call(world.alice, "POST", "/api/v1/strategies", json=_strategy())
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["strategy"]["name"] == "eth2" and body["strategy"]["desired_state"] == "running"
    assert body["plan"] == dry.json()["plan"]
    assert "price" not in body["strategy"]["params"]  # the preview's price is not stored
    again = world.call(world.alice, "POST", "/api/v1/strategies", json=_strategy())
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "name"


def test_invalid_input_is_422_naming_the_field_never_500(world: World) -> None:
    cases = [
        ({"params": {**PARAMS, "take_profit": "-1"}}, "body.params.take_profit"),
        ({"params": {**PARAMS, "take_profit": "0"}}, "take_profit"),
        ({"params": {**PARAMS, "leverage": "3"}}, "body.params.leverage"),
        ({"symbol": "ETHBTC"}, "symbol"),
        ({"name": "a b"}, "name"),
        ({"state": "finished"}, "body.state"),
    ]
    for changes, field in cases:
        answer = world.call(world.alice, "POST", "/api/v1/strategies", json=_strategy(**changes))
        assert answer.status_code == 422, (changes, answer.text)
        body = answer.json()
        assert body["errors"][0]["field"] == field, (changes, body)
        assert body["message"].startswith(field), body
    assert [s.name for s in world.repo.list_strategies(user_id=world.alice.user_id)] == [
        "alice-eth"
    ]
    bad_json = world.client.post(
        "/api/v1/strategies", content=b"{not json", headers=world.as_user(world.alice)
    )
    assert bad_json.status_code == 422 and "message" in bad_json.json()


def test_pages_walk_every_order_once_newest_first(world: World) -> None:
    sid = world.alice.strategy_id
    for leg in ("s1", "s2", "s3", "s4"):
        world.repo.record_order_intent(sid, intent(sid, 1, leg), now=at(10))
    seen: list[int] = []
    cursor: str | None = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = world.call(world.alice, "GET", f"/api/v1/strategies/{sid}/orders?{query}").json()
        seen += [item["id"] for item in page["items"]]
        assert all(isinstance(item["amount"], str) for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    bad = world.call(world.alice, "GET", f"/api/v1/strategies/{sid}/orders?cursor=zzz")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    # another user's cursor on my strategy is refused the same way, never read as mine
    bobs = world.call(world.bob, "GET", f"/api/v1/strategies/{world.bob.strategy_id}/fills")
    assert bobs.status_code == 200


def test_profit_and_status_are_the_callers_in_decimal_strings(world: World) -> None:
    profit = world.call(world.alice, "GET", "/api/v1/profit").json()
    assert profit["totals"] == [{"quote": "BTC", "realized_profit": "0.0001", "cycles_closed": 1}]
    assert [d["day"] for d in profit["days"]] == [at(4).date().isoformat()]
    status = world.call(world.alice, "GET", "/api/v1/status").json()
    assert [s["name"] for s in status["strategies"]] == ["alice-eth"]
    assert Decimal(status["strategies"][0]["realized_profit"]) == Decimal("0.0001")


def test_an_accounts_key_goes_in_and_never_comes_out(world: World) -> None:
    world.ctx.vault = Vault(parse_keyring(generate_key(1), source="test"))
    key, secret = "AKIAkey" + "k" * 20, "s3cr3t" + "s" * 30
    made = world.call(
        world.alice,
        "POST",
        "/api/v1/accounts",
        json={"name": "bn", "exchange": "binance", "api_key": key, "secret": secret},
    )
    assert made.status_code == 201, made.text
    assert made.json()["has_key"] is True
    account_id = made.json()["id"]
    replaced = world.call(
        world.alice,
        "PUT",
        f"/api/v1/accounts/{account_id}/credentials",
        json={"api_key": key + "2", "secret": secret + "2"},
    )
    assert replaced.status_code == 200 and replaced.json()["key_rotated_at"] is not None
    listed = world.call(world.alice, "GET", "/api/v1/accounts")
    for answer in (made, replaced, listed):
        assert key not in answer.text and secret not in answer.text
    refused = world.call(
        world.alice,
        "POST",
        "/api/v1/accounts",
        json={
            "name": "bn2",
            "exchange": "binance",
            "api_key": key,
            "secret": secret,
            "base_url": "https://evil.example.com",
        },
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "base_url"
    assert key not in refused.text and secret not in refused.text
    assert world.call(world.alice, "GET", f"/api/v1/accounts/{account_id}/balances").json() == {
        "balances": {"BTC": {"free": "1.5", "used": "0.25", "total": "1.75"}}
    }


def test_logins_are_limited_per_account_even_with_the_right_password(world: World) -> None:
    wrong = {"name": "alice", "password": "not the password at all"}
    for _ in range(5):
        assert world.client.post("/api/v1/auth/login", json=wrong).status_code == 401
    right = world.client.post("/api/v1/auth/login", json={"name": "alice", "password": PASSWORD})
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    assert PASSWORD not in right.text
    # another account from the same address is not locked yet
    bob = world.client.post("/api/v1/auth/login", json={"name": "bob", "password": PASSWORD})
    assert bob.status_code == 200
    assert "mg_session" in bob.headers["set-cookie"]
    assert json.dumps(bob.json()).count("csrf_token") == 1


def test_a_paper_account_is_opened_on_the_venue_with_its_balances(world: World) -> None:
    body = {"name": "pp", "exchange": "paper", "balances": {"BTC": "0.5"}, "fee_rate": "0.002"}
    refused = world.call(world.alice, "POST", "/api/v1/accounts", json=body)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "exchange"
    opened: list[tuple[str, dict[str, Decimal], Decimal]] = []
    world.ctx.open_paper = lambda key, balances, fee: opened.append((key, dict(balances), fee))
    made = world.call(world.alice, "POST", "/api/v1/accounts", json=body)
    assert made.status_code == 201, made.text
    assert opened == [("alice/pp", {"BTC": Decimal("0.5")}, Decimal("0.002"))]
    live = world.call(
        world.alice,
        "POST",
        "/api/v1/accounts",
        json={"name": "bn", "exchange": "binance", "balances": {"BTC": "1"}},
    )
    assert live.status_code == 422


def test_a_cycle_says_what_its_sells_received(world: World) -> None:
    sid = world.alice.strategy_id
    world.repo.upsert_cycle(
        sid, open_cycle(2, amount=Decimal("0.5"), cost=Decimal("0.05"), received=Decimal("0.03"))
    )
    cycles = world.call(world.alice, "GET", f"/api/v1/strategies/{sid}/cycles").json()
    by_number = {c["number"]: c for c in cycles["items"]}
    assert by_number[2]["received"] == "0.03" and by_number[2]["cost"] == "0.05"


def test_take_profit_steps_and_the_trailing_take_profit_are_accepted_and_shown(
    world: World,
) -> None:
    steps = [{"percent": "1", "portion": "60"}, {"percent": "2", "portion": "40"}]
    params = {k: v for k, v in PARAMS.items() if k != "take_profit"}
    made = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies",
        json=_strategy(params={**params, "take_profit_steps": steps}),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["strategy"]["params"]["take_profit_steps"] == steps
    assert body["plan"]["take_profit_steps"] == steps
    assert body["plan"]["levels"][0]["take_profit_step_prices"] == ["0.0505", "0.051"]
    trail = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies?dry_run=true",
        json=_strategy(name="eth3", params={**PARAMS, "trailing_deviation": "0.5"}),
    )
    assert trail.status_code == 200, trail.text
    assert trail.json()["plan"]["trailing_deviation"] == "0.5"
    bad = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies",
        json=_strategy(
            name="eth4",
            params={**params, "take_profit_steps": [{"percent": "1", "portion": "50"}]},
        ),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "take_profit_steps"


def test_a_start_condition_is_accepted_stored_and_shown(world: World) -> None:
    condition = {"type": "rsi", "below": "30", "period": 14, "timeframe": "5m"}
    made = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies",
        json=_strategy(params={**PARAMS, "start_condition": condition}),
    )
    assert made.status_code == 201, made.text
    shown = made.json()["strategy"]
    assert shown["params"]["start_condition"] == {
        "type": "rsi",
        "below": "30",
        "period": "14",
        "timeframe": "5m",
    }
    assert shown["waiting_for"] is None  # not waiting until the engine says so
    bad = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies",
        json=_strategy(name="eth3", params={**PARAMS, "start_condition": {"type": "rsi"}}),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "start_condition.below"

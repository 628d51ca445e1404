"""The API takes `direction: short`: the plan is mirrored, the balance it checks is base, and
the stored strategy says so."""

from __future__ import annotations

from decimal import Decimal

from tests.web.conftest import World
from tests.web.test_api import PARAMS, _strategy

SHORT = {**PARAMS, "direction": "short"}


def test_a_short_strategy_is_previewed_mirrored_and_stored(world: World) -> None:
    dry = world.call(
        world.alice, "POST", "/api/v1/strategies?dry_run=true", json=_strategy(params=SHORT)
    )
    assert dry.status_code == 200, dry.text
    plan = dry.json()["plan"]
    assert plan["direction"] == "short"
    prices = [row["price"] for row in plan["levels"]]
    assert prices == sorted(prices, key=float) and prices[0] == "0.05"  # levels above
    assert float(plan["levels"][0]["take_profit_price"]) < 0.05  # the buy-back below
    assert plan["required_funds"] == plan["max_base"]
    made = world.call(world.alice, "POST", "/api/v1/strategies", json=_strategy(params=SHORT))
    assert made.status_code == 201, made.text
    assert made.json()["strategy"]["params"]["direction"] == "short"


def test_a_short_balance_is_checked_in_base(world: World) -> None:
    # 0.04 + 0.0788 + 0.0776 + 0.0765 = 0.2729 ETH to sell: 0.2 ETH is too little, while as
    # quote 0.2 BTC would cover the 0.014 BTC the same ladder buys with
    answer = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies?dry_run=true",
        json=_strategy(params={**SHORT, "balance": "0.2"}),
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == "balance" and "base to sell" in answer.json()["message"]


def test_an_unknown_direction_is_refused_by_name(world: World) -> None:
    answer = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies",
        json=_strategy(params={**PARAMS, "direction": "sideways"}),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.params.direction"


def test_a_shorts_stop_loss_buy_back_is_shown_and_checked_against_the_quote_balance(
    world: World,
) -> None:
    stopped = {**SHORT, "stop_loss": "20"}
    dry = world.call(
        world.alice, "POST", "/api/v1/strategies?dry_run=true", json=_strategy(params=stopped)
    )
    assert dry.status_code == 200, dry.text
    reserve = dry.json()["plan"]["stop_loss_reserve"]
    keep = Decimal(reserve["keep_quote"])
    assert keep > 0 and reserve["base"] == dry.json()["plan"]["max_base"]
    answer = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies?dry_run=true",
        json=_strategy(params={**stopped, "quote_balance": str(keep / 2)}),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "stop_loss"
    assert "buys back all" in answer.json()["message"]
    enough = world.call(
        world.alice,
        "POST",
        "/api/v1/strategies?dry_run=true",
        json=_strategy(params={**stopped, "quote_balance": reserve["keep_quote"]}),
    )
    assert enough.status_code == 200, enough.text

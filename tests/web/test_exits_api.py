"""The exits' parameters through the API: accepted, previewed in the plan, stored, and the
running strategy's size scale and stop-loss price shown in its JSON and on its page."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain import codec
from domain.market import MarketRules
from strategy.params import MartingaleParams
from strategy.state import Book, Phase, initial_state
from tests.web.conftest import World
from tests.web.dashboard_helpers import Browser

PARAMS = {
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": 3,
    "price_deviation": "1.5",
    "take_profit": "1.5",
    "stop_loss": "10",
    "stop_loss_trailing": True,
    "stop_loss_timeout": "12",
    "stop_loss_timeout_action": "break_even",
    "reinvest_percent": "50",
    "price": "0.05",
}


def _body(**params: object) -> dict[str, object]:
    return {
        "name": "eth-exits",
        "account": "alice-main",
        "symbol": "ETH/BTC",
        "params": {**PARAMS, **params},
    }


def test_the_exit_parameters_are_previewed_stored_and_shown(world: World) -> None:
    made = world.call(world.alice, "POST", "/api/v1/strategies", json=_body())
    assert made.status_code == 201, made.text
    body = made.json()
    exits = body["plan"]["exits"]
    assert exits["stop_loss_trailing"] == "true" and exits["stop_loss_timeout"] == "12"
    assert exits["stop_loss_timeout_action"] == "break_even"
    assert exits["reinvest_percent"] == "50"
    assert exits["stop_loss_price_first"] == "0.045"  # 0.05 * 0.9
    stored = body["strategy"]["params"]
    assert stored["stop_loss_trailing"] == "true" and stored["reinvest_percent"] == "50"
    sid = body["strategy"]["id"]
    got = world.call(world.alice, "GET", f"/api/v1/strategies/{sid}")
    assert got.status_code == 200 and got.json()["exits"] is None  # not run yet

    # The engine's snapshot after a cycle sized up by reinvested profit, its trail risen.
    params = MartingaleParams.from_mapping({k: v for k, v in PARAMS.items() if k != "price"})
    state = replace(
        initial_state(sid, "ETH/BTC", params, MarketRules(symbol="ETH/BTC")),
        phase=Phase.ACTIVE,
        cycle=2,
        book=Book(bought=Decimal("0.04"), spent=Decimal("0.002")),
        stop_best=Decimal("0.06"),
        reinvested=Decimal("0.0003"),
        size_scale=Decimal("1.0214"),
        timeout_at=datetime(2024, 1, 2, tzinfo=UTC),
    )
    record = world.repo.get_strategy(sid)
    world.repo.save_step(
        sid,
        snapshot=codec.dumps(state),
        expected_version=record.version,
        now=datetime(2024, 1, 1, tzinfo=UTC),
        new_version=record.version + 1,
        new_orders=[],
        order_updates=[],
        fills=[],
        cycle=None,
        events=[],
        audits=[],
    )
    shown = world.call(world.alice, "GET", f"/api/v1/strategies/{sid}").json()["exits"]
    assert shown["size_scale"] == "1.0214" and shown["reinvested"] == "0.0003"
    assert shown["stop_loss_best"] == "0.06" and shown["stop_loss_price"] == "0.054"
    assert shown["timeout_at"] == "2024-01-02T00:00:00+00:00" and shown["timed_out"] == "false"
    assert world.call(world.bob, "GET", f"/api/v1/strategies/{sid}").status_code == 404
    page = Browser(world, world.alice).client.get(f"/strategies/{sid}").text
    assert 'id="size-scale">1.0214 (reinvested 0.0003)' in page
    assert 'id="stop-loss-price">0.054' in page and "best price 0.06" in page
    form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in PARAMS.items()}
    preview: Any = Browser(world, world.alice).post(
        "/ui/preview", {**form, "name": "x1", "account": "alice-main", "symbol": "ETH/BTC"}
    )
    assert preview.status_code == 200, preview.text
    assert "problems" not in preview.text, preview.text
    assert 'id="timeout">12 h after the base order, then take-profit at break-even' in preview.text
    assert 'id="stop-loss">0.045 after the base order' in preview.text
    assert 'id="reinvest">50 %' in preview.text


def test_bad_exit_parameters_are_422_naming_the_field(world: World) -> None:
    cases = [
        ({"stop_loss_timeout": "0"}, "stop_loss_timeout"),
        ({"stop_loss_timeout_action": "later"}, "body.params.stop_loss_timeout_action"),
        ({"reinvest_percent": "101"}, "reinvest_percent"),
        ({"stop_loss": None}, "stop_loss_trailing"),
    ]
    for changes, field in cases:
        body = _body(**changes)
        body["params"] = {k: v for k, v in body["params"].items() if v is not None}  # type: ignore[attr-defined]
        answer = world.call(world.alice, "POST", "/api/v1/strategies", json=body)
        assert answer.status_code == 422, (changes, answer.text)
        assert answer.json()["errors"][0]["field"] == field, (changes, answer.json())

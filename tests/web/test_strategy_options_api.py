"""The issue-16 strategy options through the API and the dashboard's parameter form."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import World
from tests.web.dashboard_helpers import Browser
from tests.web.test_api import PARAMS

OPTIONS = {
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": 3,
    "price_deviation": "1.5",
    "take_profit_steps": [{"percent": "1.5", "portion": "40"}, {"percent": "3", "portion": "60"}],
    "stop_loss": "25",
    "stop_loss_trailing": True,
    "stop_loss_timeout": "48",
    "stop_loss_timeout_action": "break_even",
    "reinvest_percent": "25",
    "start_condition": {"type": "rsi", "below": "30", "period": 14, "timeframe": "1h"},
    "price": "0.05",
}


def _create(world: World, params: dict[str, object], name: str = "opts") -> object:
    body = {"name": name, "account": "alice-main", "symbol": "ETH/BTC", "params": params}
    return world.call(world.alice, "POST", "/api/v1/strategies", json=body)


def test_the_options_are_stored_and_shown_as_json_values(world: World) -> None:
    made = _create(world, OPTIONS)
    assert made.status_code == 201, made.text  # type: ignore[attr-defined]
    params = made.json()["strategy"]["params"]  # type: ignore[attr-defined]
    assert params["take_profit_steps"] == [
        {"percent": "1.5", "portion": "40"},
        {"percent": "3", "portion": "60"},
    ]
    assert params["take_profit"] == "1.5"  # the first step
    assert params["start_condition"] == {
        "type": "rsi", "below": "30", "period": "14", "timeframe": "1h"
    }  # fmt: skip
    assert params["stop_loss_trailing"] == "true"
    assert params["reinvest_percent"] == "25"
    sid = made.json()["strategy"]["id"]  # type: ignore[attr-defined]
    again = world.call(world.alice, "GET", f"/api/v1/strategies/{sid}")
    assert again.json()["params"] == params


def test_bad_options_answer_422_naming_the_field(world: World) -> None:
    cases = [
        ({"take_profit_steps": [{"percent": "2", "portion": "50"}]}, "take_profit_steps"),
        ({"direction": "up"}, "body.params.direction"),
        ({"start_condition": {"type": "rsi"}}, "start_condition.below"),
        ({"reinvest_percent": "200"}, "reinvest_percent"),
        ({"trailing_deviation": "0.5", "stop_loss_trailing": True}, "stop_loss_trailing"),
    ]
    for changes, field in cases:
        answer = _create(world, {**PARAMS, **changes})
        assert answer.status_code == 422, (changes, answer.text)  # type: ignore[attr-defined]
        assert answer.json()["errors"][0]["field"] == field, answer.json()  # type: ignore[attr-defined]
    without_tp = {k: v for k, v in PARAMS.items() if k != "take_profit"}
    answer = _create(world, without_tp)
    assert answer.json()["errors"][0]["field"] == "take_profit"  # type: ignore[attr-defined]


def test_the_dashboard_form_shows_the_options_as_text_and_takes_them(world: World) -> None:
    made = _create(world, OPTIONS)
    sid = made.json()["strategy"]["id"]  # type: ignore[attr-defined]
    alice = Browser(world, world.alice)
    page: Any = alice.get(f"/strategies/{sid}")
    assert page.status_code == 200
    assert 'value="1.5:40,3:60"' in page.text
    assert 'value="rsi below=30 period=14 timeframe=1h"' in page.text
    form = {k: str(v) for k, v in PARAMS.items() if k != "take_profit"} | {
        "take_profit_steps": "1:50,2:50",
        "start_condition": "signal max_lag=30",
    }
    saved: Any = alice.post(f"/ui/strategies/{sid}/params", form)
    assert saved.status_code == 200, saved.text
    stored = world.repo.get_strategy(sid).params
    assert stored["take_profit_steps"] == [
        {"percent": "1", "portion": "50"},
        {"percent": "2", "portion": "50"},
    ]
    assert stored["start_condition"] == {"type": "signal", "max_lag": "30"}
    bad: Any = alice.post(f"/ui/strategies/{sid}/params", {**form, "take_profit_steps": "1:50"})
    assert bad.status_code == 422 and "add up to 100" in bad.text

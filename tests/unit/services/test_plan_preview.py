"""services.plan: the preview the CLI and the API share, called directly (no argparse)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domain.errors import ValidationError
from domain.market import MarketRules
from services.plan import market_rules, plan_json, preview, stored_params
from strategy.params import MartingaleParams, params_from_values

PARAMS = {
    "base_order": "10",
    "safety_order": "20",
    "max_safety_orders": 3,
    "price_deviation": "1",
    "step_scale": "2",
    "volume_scale": "2",
    "take_profit": "1",
    "price": "100",
}


def refused(changes: dict[str, object], rules: MarketRules | None = None) -> ValidationError:
    values = {k: v for k, v in {**PARAMS, **changes}.items() if v is not None}
    with pytest.raises(ValidationError) as info:
        preview(values, rules)  # type: ignore[arg-type]
    return info.value


def test_preview_takes_strings_and_ints_and_gives_the_ladder() -> None:
    plan = preview(PARAMS, None)
    assert [level.price for level in plan.levels] == [D(100), D(99), D(97), D(93)]
    assert [level.quote_size for level in plan.levels] == [D(10), D(20), D(40), D(80)]
    assert (plan.max_funds, plan.max_coverage_pct) == (D(150), D(7))


def test_json_is_decimal_strings_in_column_order() -> None:
    out = plan_json(preview(PARAMS, None))
    assert out["max_funds"] == "150" and out["max_coverage_pct"] == "7"
    first = out["levels"][0]
    assert list(first)[:3] == ["level", "deviation_pct", "price"]
    assert all(
        isinstance(v, str)
        for row in out["levels"]
        for k, v in row.items()
        if k != "stop_loss_price"
    )
    assert first["stop_loss_price"] is None  # no stop loss given
    assert (first["level"], first["take_profit_price"]) == ("0", "101")
    assert out["fee_rate"] == "0.001"  # the default; fees and profit are net of it
    assert list(first)[-4:] == ["stop_loss_price", "fees", "profit", "profit_pct"]


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"price": None}, "price", "is required"),
        ({"price": "-3"}, "price", "must be > 0"),
        ({"price": 1.5}, "price", "got float"),
        ({"take_profit": "0"}, "take_profit", "must be > 0"),
        ({"take_profit": "1e999999999"}, "take_profit", "out of range"),
        ({"base_order": "1" * 5000}, "base_order", "too long"),
        ({"max_safety_orders": 10**40}, "max_safety_orders", "is out of range"),
        ({"tick_size": "0.01"}, "tick_size", "unknown parameter"),
        ({"balance": "149"}, "balance", "exceed the available balance 149"),
        ({"balance": "-1"}, "balance", "must be >= 0"),
    ],
)
def test_bad_values_name_their_field(changes: dict[str, object], field: str, text: str) -> None:
    error = refused(changes)
    assert error.field == field
    assert text in str(error)


def test_rules_check_every_level_and_name_the_parameter_to_change() -> None:
    rules = MarketRules(symbol="ETH/BTC", min_notional=D(25))
    error = refused({"base_order": "30"}, rules)
    assert error.field == "safety_order"
    assert "level 1 (safety order 1 at price 99)" in str(error)
    assert refused({}, MarketRules(symbol="ETH/BTC", min_notional=D(11))).field == "base_order"


def test_a_ladder_beyond_exact_arithmetic_is_refused_as_a_whole() -> None:
    rules = MarketRules(symbol="ETH/BTC", tick_size=D("1e-18"))
    error = refused({"price": "100000000000000000"}, rules)
    assert error.field is None
    assert "cannot be computed" in str(error)


def test_market_rules_from_options() -> None:
    assert market_rules({}) is None
    rules = market_rules({"tick_size": "0.01", "min_notional": "5"})
    assert rules is not None and (rules.tick_size, rules.min_notional) == (D("0.01"), D(5))
    assert rules.step_size == 0
    with pytest.raises(ValidationError) as info:
        market_rules({"step_size": "0"})
    assert info.value.field == "step_size"


def test_stored_params_are_complete_decimal_strings() -> None:
    params = params_from_values(
        base_order="10.50", safety_order="20", max_safety_orders=3, price_deviation="1",
        take_profit="1.5",
    )  # fmt: skip
    assert stored_params(params) == {
        "base_order": "10.5",
        "safety_order": "20",
        "max_safety_orders": "3",
        "price_deviation": "1",
        "step_scale": "1",
        "volume_scale": "1",
        "take_profit": "1.5",
        "max_active_safety_orders": "1",
        "cooldown": "0",
        "base_order_type": "market",
        "direction": "long",
        "stop_loss_trailing": "false",
        "stop_loss_timeout_action": "market",
        "reinvest_percent": "0",
        "start_condition": {"type": "asap"},
    }
    assert MartingaleParams.from_mapping(stored_params(params)) == params


def test_stored_params_round_trip_the_options() -> None:
    params = MartingaleParams.from_mapping(
        {
            "base_order": "10", "safety_order": "20", "max_safety_orders": 3,
            "price_deviation": "1", "direction": "short",
            "take_profit_steps": "1:40,2.5:60", "stop_loss": "30", "stop_loss_trailing": True,
            "stop_loss_timeout": "48", "stop_loss_timeout_action": "break_even",
            "reinvest_percent": "50",
            "start_condition": "rsi below=30 period=14 timeframe=1h",
        }
    )  # fmt: skip
    stored = stored_params(params)
    assert stored["take_profit_steps"] == [
        {"percent": "1", "portion": "40"},
        {"percent": "2.5", "portion": "60"},
    ]
    assert stored["take_profit"] == "1"
    assert stored["start_condition"] == {
        "type": "rsi", "below": "30", "period": "14", "timeframe": "1h"
    }  # fmt: skip
    assert MartingaleParams.from_mapping(stored) == params

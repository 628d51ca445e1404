"""The plan's outcome columns, checked by hand: fees, profit net of fees, stop-loss price."""

from __future__ import annotations

from decimal import Decimal

from domain.market import MarketRules
from strategy.ladder import Plan, build_plan
from strategy.outcomes import with_outcomes
from strategy.params import MartingaleParams

RULES = MarketRules(symbol="ETH/USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.0001"))
FEE = Decimal("0.001")


def plan_of(**extra: object) -> Plan:
    params = MartingaleParams.from_mapping(
        {
            "base_order": "10",
            "safety_order": "20",
            "max_safety_orders": 2,
            "price_deviation": "1",
            **extra,
        }
    )
    return with_outcomes(params, build_plan(params, Decimal(100), RULES), RULES, FEE)


def test_the_base_alone_closing_at_the_take_profit() -> None:
    plan = plan_of(take_profit="1.5", stop_loss="10")
    first = plan.outcomes[0]
    # buy 0.1 at 100 (fee 0.01), sell 0.1 at 101.5 (fee 0.01015)
    assert first.fees == Decimal("0.02015")
    assert first.profit == Decimal("10.15") - Decimal("0.01015") - Decimal("10.01")
    assert first.stop_loss_price == Decimal(90)
    assert first.profit_pct == first.profit / 10 * 100


def test_no_stop_loss_no_price_and_no_fee_no_fees() -> None:
    params = MartingaleParams.from_mapping(
        {
            "base_order": "10",
            "safety_order": "20",
            "max_safety_orders": 1,
            "price_deviation": "1",
            "take_profit": "2",
        }
    )
    plan = with_outcomes(
        params, build_plan(params, Decimal(100)), MarketRules(symbol="A/B"), Decimal(0)
    )
    assert all(o.stop_loss_price is None for o in plan.outcomes)
    assert all(o.fees == 0 for o in plan.outcomes)
    assert plan.outcomes[0].profit == Decimal("0.2")  # 2 % of 10


def test_steps_sell_in_parts_at_their_own_prices() -> None:
    plan = plan_of(take_profit_steps="1:40,3:60")
    first = plan.outcomes[0]
    # 0.1 bought at 100: 0.04 sold at 101, 0.06 at 103
    proceeds = Decimal("0.04") * 101 + Decimal("0.06") * 103
    assert first.fees == Decimal("0.01") + proceeds * FEE
    assert first.profit == proceeds * (1 - FEE) - Decimal("10.01")


def test_step_portions_round_down_and_the_last_takes_the_rest() -> None:
    coarse = MarketRules(symbol="ETH/USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.03"))
    params = MartingaleParams.from_mapping(
        {
            "base_order": "10",
            "safety_order": "20",
            "max_safety_orders": 0,
            "price_deviation": "1",
            "take_profit_steps": "1:40,2:60",
        }
    )
    plan = with_outcomes(params, build_plan(params, Decimal(100), coarse), coarse, Decimal(0))
    # 0.09 bought (step 0.03) for 9; 40 % is 0.036 -> 0.03 sold at 101, the rest 0.06 at 102
    assert plan.outcomes[0].profit == Decimal("0.03") * 101 + Decimal("0.06") * 102 - 9


def test_a_short_mirrors_the_long() -> None:
    plan = plan_of(take_profit="1.5", stop_loss="10", direction="short")
    first = plan.outcomes[0]
    assert first.stop_loss_price is not None
    assert first.stop_loss_price > plan.levels[0].average_price
    assert first.profit > 0


def test_the_outcomes_and_the_exits_show_one_stop_loss_computation() -> None:
    rules = MarketRules(symbol="ETH/USDT", tick_size=Decimal("0.01"))
    for direction in ("long", "short"):
        params = MartingaleParams.from_mapping(
            {
                "base_order": "10",
                "safety_order": "20",
                "max_safety_orders": 3,
                "price_deviation": "1.3",
                "take_profit": "1.5",
                "stop_loss": "13.7",
                "direction": direction,
            }
        )
        plan = with_outcomes(params, build_plan(params, Decimal("123.457"), rules), rules, FEE)
        assert plan.exits is not None
        stops = [o.stop_loss_price for o in plan.outcomes]
        assert stops == list(plan.exits.stop_loss_prices) and len(stops) == 4
        # The first and the last, rounded to the tick away from the average, are the summary.
        away = rules.round_price_down if direction == "long" else rules.round_price_up
        assert plan.exits.stop_loss_first == away(plan.exits.stop_loss_prices[0])
        assert plan.exits.stop_loss_last == away(plan.exits.stop_loss_prices[-1])
        # The trigger of each level is 13.7 % past its own average.
        side = Decimal("0.863") if direction == "long" else Decimal("1.137")
        assert stops == [row.average_price * side for row in plan.levels]

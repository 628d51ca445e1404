"""Ladder math: hand-computed examples, rounding to market rules, and plan validation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.market import MarketRules
from strategy.ladder import build_plan, validate_plan
from strategy.params import MartingaleParams

P = MartingaleParams.from_mapping(
    {
        "base_order": "10",
        "safety_order": "20",
        "max_safety_orders": 3,
        "price_deviation": "1",
        "step_scale": "2",
        "volume_scale": "2",
        "take_profit": "1",
    }
)
RULES = MarketRules(symbol="X/Y", tick_size=D("0.01"), step_size=D("0.001"), min_notional=D("5"))


def test_unrounded_ladder_matches_the_formulas() -> None:
    plan = build_plan(P, D(100))
    assert [r.deviation_pct for r in plan.levels] == [0, 1, 3, 7]
    assert [r.price for r in plan.levels] == [100, 99, 97, 93]
    assert [r.quote_size for r in plan.levels] == [10, 20, 40, 80]
    assert [r.total_quote for r in plan.levels] == [10, 30, 70, 150]
    last = plan.levels[-1]
    total_base = D("0.1") + D(20) / 99 + D(40) / 97 + D(80) / 93
    assert abs(last.total_base - total_base) < D("1e-25")
    assert abs(last.average_price - D(150) / total_base) < D("1e-20")
    assert last.take_profit_price == last.average_price * D("1.01")
    assert abs(last.required_change_pct - (last.take_profit_price / 93 - 1) * 100) < D("1e-20")
    assert plan.levels[0].take_profit_price == 101 and plan.levels[0].required_change_pct == 1
    assert (plan.max_funds, plan.max_coverage_pct) == (D(150), D(7))


def test_rounding_buys_down_and_take_profit_up() -> None:
    plan = build_plan(P, D("100.007"), RULES)
    lvl1 = plan.levels[1]
    assert plan.levels[0].price == D("100.00")
    assert lvl1.price == D("99.00") and lvl1.base_amount == D("0.202")
    assert lvl1.quote_size == D("19.998")  # what the rounded order really spends
    assert lvl1.total_quote == D("29.998") and lvl1.total_base == D("0.302")
    assert lvl1.take_profit_price == D("100.33")  # 99.33112.. * 1.01 = 100.3244.., up to the tick
    assert plan.max_funds == sum(r.quote_size for r in plan.levels)
    validate_plan(plan, RULES, balance=D(150))


def test_validation_names_the_level_and_the_reason() -> None:
    plan = build_plan(P, D(100), RULES)
    with pytest.raises(
        ValidationError, match=r"level 0 \(base order at price 100\): notional"
    ) as info:
        validate_plan(plan, MarketRules(symbol="X/Y", min_notional=D(11)))
    assert info.value.field == "base_order"
    with pytest.raises(
        ValidationError, match=r"level 2 \(take-profit sell of 0.714 .*above the maximum amount"
    ) as info:
        validate_plan(plan, MarketRules(symbol="X/Y", max_amount=D("0.5")))
    assert info.value.field == "safety_order"
    with pytest.raises(
        ValidationError, match=r"max funds 149\.9.* exceed the available balance 100"
    ) as info:
        validate_plan(plan, RULES, balance=D(100))
    assert info.value.field == "balance"


def test_a_price_that_rounds_to_zero_is_refused() -> None:
    with pytest.raises(ValidationError, match="rounds down to 0") as info:
        build_plan(P, D("0.004"), RULES)
    assert info.value.field == "price"


scales = st.decimals(min_value=D("0.5"), max_value=D("2"), places=2)


@settings(max_examples=150, deadline=None)
@given(
    deviation=st.decimals(min_value=D("0.1"), max_value=D("5"), places=2),
    step=scales,
    volume=scales,
    n=st.integers(0, 8),
    tp=st.decimals(min_value=D("0.1"), max_value=D("5"), places=2),
    price=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
)
def test_ladder_properties(deviation: D, step: D, volume: D, n: int, tp: D, price: D) -> None:
    try:
        p = MartingaleParams(
            base_order=D(10),
            safety_order=D(10),
            max_safety_orders=n,
            price_deviation=deviation,
            step_scale=step,
            volume_scale=volume,
            take_profit=tp,
        )
    except ValidationError:
        return  # deviations that reach a price <= 0 are refused; covered above
    rules = MarketRules(symbol="X/Y", tick_size=D("0.01"), step_size=D("0.00001"))
    plan = build_plan(p, price, rules)
    prices = [r.price for r in plan.levels]
    assert prices == sorted(prices, reverse=True)  # every rung is at or below the one before
    for row in plan.levels:
        assert row.quote_size <= p.quote_size(row.level)  # rounding never spends more
        if row.total_base > 0:
            assert row.take_profit_price > row.average_price
            assert row.average_price >= row.price
    assert plan.max_funds <= p.max_funds

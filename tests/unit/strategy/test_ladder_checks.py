"""`validate_plan`'s checks beyond each level: the take-profit steps' parts against the market's
minimums (with the base order alone, the smallest position), and a short's stop-loss buy-back
against the quote balance."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.events import OrderFilled, Started
from domain.market import MarketRules
from domain.orders import Side
from strategy.ladder import Plan, build_plan, stop_loss_reserve, validate_plan
from strategy.outcomes import with_outcomes
from strategy.params import MartingaleParams
from tests.unit.strategy.helpers import SYMBOL, at, fill, fresh, placed, run

RULES = MarketRules(symbol=SYMBOL, tick_size=D("0.01"), step_size=D("0.0001"), min_notional=D("5"))
FEE = D("0.001")


def params(**values: object) -> MartingaleParams:
    base: dict[str, object] = {
        "base_order": "10",
        "safety_order": "100",
        "max_safety_orders": 3,
        "price_deviation": "2",
    }
    base.update(values)
    return MartingaleParams.from_mapping(base)


def refusal(p: MartingaleParams, rules: MarketRules = RULES, **kwargs: D) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate_plan(build_plan(p, D(2000), rules), rules, **kwargs)
    return caught.value


# --- take-profit steps -------------------------------------------------------------------------


def test_a_step_part_below_the_minimum_notional_names_its_portion_and_the_minimum() -> None:
    # the base order buys 0.005 at 2000; step 1's 20 % is 0.001, worth 2.02 at 2020
    error = refusal(params(take_profit_steps="1:20,2:80"))
    assert error.field == "take_profit_steps[0].portion"
    assert "would sell 0.001 of the base order's 0.005 at 2020" in str(error)
    assert "below the minimum notional 5" in str(error)
    assert "the market's least order there is 0.0025" in str(error)
    assert "a portion of at least 50 %" in str(error)


def test_the_last_step_takes_the_rest_and_is_checked_too() -> None:
    error = refusal(params(take_profit_steps="1:60,2:40"))  # 0.003, then the rest 0.002
    assert error.field == "take_profit_steps[1].portion"
    assert "would sell 0.002 of the base order's 0.005 at 2040" in str(error)


def test_the_minimum_amount_and_a_part_rounding_to_nothing_are_refused_alike() -> None:
    rules = MarketRules(symbol=SYMBOL, step_size=D("0.0001"), min_amount=D("0.002"))
    error = refusal(params(take_profit_steps="1:30,2:70"), rules)
    assert error.field == "take_profit_steps[0].portion"
    assert "below the minimum amount 0.002" in str(error)
    coarse = MarketRules(symbol=SYMBOL, step_size=D("0.001"))
    error = refusal(params(take_profit_steps="1:10,2:90"), coarse)  # 10 % of 0.005 is 0.0005
    assert error.field == "take_profit_steps[0].portion"
    assert "rounds to zero" in str(error) and "least order there is 0.001" in str(error)


def test_steps_whose_parts_the_market_takes_pass() -> None:
    validate_plan(build_plan(params(take_profit_steps="1:50,2:50"), D(2000), RULES), RULES)
    bare = MarketRules(symbol=SYMBOL)  # no minimums: nothing to refuse
    validate_plan(build_plan(params(take_profit_steps="1:20,2:80"), D(2000), bare), bare)


@pytest.mark.parametrize(
    ("steps", "rules"),
    [
        ("1:20,2:80", RULES),
        ("1:60,2:40", RULES),
        ("1:10,2:30,3:60", RULES),
        ("1:30,2:70", MarketRules(symbol=SYMBOL, step_size=D("0.0001"), min_amount=D("0.002"))),
    ],
)
def test_the_portion_the_error_asks_for_is_enough(steps: str, rules: MarketRules) -> None:
    """Give the refused step the portion the message names (taken from the last step, or the
    first when it is the last that failed): that step is no longer the one refused."""
    error = refusal(params(take_profit_steps=steps), rules)
    index = int(re.search(r"\[(\d+)\]", error.field or "")[1])  # type: ignore[index]
    need = D(re.search(r"at least ([0-9.]+) %", str(error))[1])  # type: ignore[index]
    pairs = [[D(x) for x in pair.split(":")] for pair in steps.split(",")]
    donor = 0 if index == len(pairs) - 1 else len(pairs) - 1
    pairs[donor][1] -= need - pairs[index][1]
    pairs[index][1] = need
    assert pairs[donor][1] > 0
    text = ",".join(f"{p}:{q}" for p, q in pairs)
    try:
        validate_plan(build_plan(params(take_profit_steps=text), D(2000), rules), rules)
    except ValidationError as again:
        assert again.field != error.field


def test_a_shorts_steps_buy_back_below_the_average_and_are_checked_there() -> None:
    short = params(take_profit_steps="1:50,2:50", direction="short")
    plan = build_plan(short, D(2000), RULES)
    level = plan.levels[0]
    assert level.step_prices == (D("1980"), D("1960"))  # 1 % and 2 % below the average
    assert all(price < row.average_price for row in plan.levels for price in row.step_prices)
    error = refusal(short)  # 0.0025 bought back at 1980 is 4.95, under 5
    assert error.field == "take_profit_steps[0].portion"
    assert "would buy back 0.0025 of the base order's 0.005 at 1980" in str(error)


def _first_take_profits(p: MartingaleParams, plan: Plan, rules: MarketRules) -> int:
    """How many take-profit orders the machine places once the plan's base order filled."""
    base = plan.levels[0]
    side = Side.SELL if p.direction.value == "short" else Side.BUY
    _, cmds = run(
        fresh(p, rules),
        Started(at=at(), price=base.price),
        OrderFilled(
            at=at(1),
            client_order_id="mg1c1b",
            fill=fill("mg1c1b", str(base.price), str(base.base_amount), side=side),
        ),
    )
    return sum(1 for leg in placed(cmds) if leg.startswith("t"))


@settings(max_examples=60, deadline=None)
@given(
    base_order=st.integers(min_value=5, max_value=60),
    first=st.integers(min_value=5, max_value=95),
    price=st.sampled_from([D("100"), D("1999.99"), D("2000"), D("37.5")]),
    min_notional=st.sampled_from([D("1"), D("5"), D("10")]),
    short=st.booleans(),
)
def test_a_plan_passes_exactly_when_the_machine_places_every_step_on_its_own(
    base_order: int, first: int, price: D, min_notional: D, short: bool
) -> None:
    """The check and the machine's merge of a too-small part agree on the first placement."""
    p = params(
        base_order=str(base_order),
        take_profit_steps=f"1:{first},2:{100 - first}",
        direction="short" if short else "long",
    )
    rules = MarketRules(
        symbol=SYMBOL, tick_size=D("0.01"), step_size=D("0.0001"), min_notional=min_notional
    )
    plan = build_plan(p, price, rules)
    try:
        validate_plan(plan, rules)
        passed = True
    except ValidationError as error:
        assume((error.field or "").startswith("take_profit_steps"))  # not the whole order
        passed = False
    orders = _first_take_profits(p, plan, rules)
    assert (orders == len(p.take_profit_steps)) is passed
    assert orders >= 1  # the merge: the base order alone is sellable, so something is placed


def test_the_runtime_merge_stays_as_the_safety_net() -> None:
    """A plan checked under looser rules still trades when the market's minimum rises: the
    too-small part goes to the next step."""
    p = params(take_profit_steps="1:20,2:80")
    plan = build_plan(p, D(2000), RULES)
    assert _first_take_profits(p, plan, RULES) == 1  # step 1's 20 % went to step 2


# --- a short's stop-loss buy-back ---------------------------------------------------------------


def short_plan(**values: object) -> Plan:
    p = params(direction="short", stop_loss="10", take_profit="1", **values)
    return with_outcomes(p, build_plan(p, D(2000), RULES), RULES, FEE)


def test_the_reserve_is_the_last_levels_buy_back_at_its_stop_beyond_what_the_sells_received() -> (
    None
):
    plan = short_plan()
    reserve = stop_loss_reserve(plan, FEE)
    assert reserve is not None and plan.stop_loss_reserve == reserve
    last = plan.levels[-1]
    assert plan.exits is not None and reserve.price == plan.exits.stop_loss_last
    assert reserve.base == last.total_base
    assert reserve.cost == last.total_base * reserve.price * (1 + FEE)
    assert reserve.received == last.total_quote * (1 - FEE)
    assert reserve.keep == reserve.cost - reserve.received > 0
    # the worst case: no earlier level's buy-back (at its own stop price) needs more
    for row, outcome in zip(plan.levels, plan.outcomes, strict=True):
        assert outcome.stop_loss_price is not None
        need = row.total_base * outcome.stop_loss_price * (1 + FEE) - row.total_quote * (1 - FEE)
        assert need <= reserve.keep


def test_no_reserve_for_a_long_or_a_short_without_a_stop_loss() -> None:
    long = params(stop_loss="10", take_profit="1")
    assert stop_loss_reserve(build_plan(long, D(2000), RULES), FEE) is None
    bare = params(direction="short", take_profit="1")
    assert stop_loss_reserve(build_plan(bare, D(2000), RULES), FEE) is None


def test_a_short_whose_quote_cannot_pay_the_stop_loss_buy_back_is_refused() -> None:
    plan = short_plan()
    reserve = stop_loss_reserve(plan, FEE)
    assert reserve is not None
    validate_plan(plan, RULES, quote_balance=reserve.keep, fee_rate=FEE)  # just enough
    with pytest.raises(ValidationError) as caught:
        validate_plan(plan, RULES, quote_balance=reserve.keep - D("0.01"), fee_rate=FEE)
    assert caught.value.field == "stop_loss"
    message = str(caught.value)
    assert f"buys back all {reserve.base} base" in message
    assert f"keep at least {reserve.keep} quote" in message


def test_a_quote_balance_is_a_longs_funds_and_no_concern_of_a_short_without_a_stop() -> None:
    long = params(take_profit="1")
    plan = build_plan(long, D(2000), RULES)
    with pytest.raises(ValidationError) as caught:
        validate_plan(plan, RULES, quote_balance=plan.max_funds - 1)
    assert caught.value.field == "quote_balance"
    validate_plan(plan, RULES, quote_balance=plan.max_funds)
    bare = params(direction="short", take_profit="1")
    validate_plan(build_plan(bare, D(2000), RULES), RULES, quote_balance=D(0), fee_rate=FEE)

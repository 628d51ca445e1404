"""The take-profit variants in the backtest, on real ETH/BTC candles (../shared/data, copied
into config/examples/data): a trailing take-profit rides a rising market past the plain
take-profit, and take-profit steps sell the position in parts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from backtest.runner import Run, run
from domain.market import MarketRules
from exchange.feeds.csv_replay import read_candles
from strategy.ladder import take_profit_price
from strategy.params import MartingaleParams

DATA = Path(__file__).parents[3] / "config/examples/data/ETH-BTC-5m.csv"
RULES = MarketRules(
    symbol="ETH/BTC",
    tick_size=Decimal("0.000001"),
    step_size=Decimal("0.001"),
    min_notional=Decimal("0.0001"),
)
PARAMS: dict[str, Any] = {
    "base_order": "0.05",
    "safety_order": "0.05",
    "max_safety_orders": 3,
    "price_deviation": "2",
    "take_profit": "1",
    "cooldown": 300,
}
RISING = slice(2150, 2450)  # 17 January 2018 from 16:05: the close gains about 10 %


def _run(**extra: Any) -> Run:
    bars, period = read_candles(DATA)
    return run(
        bars[RISING],
        period=period,
        params={**PARAMS, **extra},
        rules=RULES,
        balances={"BTC": Decimal("1")},
        fee_rate=Decimal("0.001"),
    )


def _sells(result: Run) -> list[tuple[int, str, Decimal, Decimal]]:
    return [
        (f.cycle, f.leg, f.fill.price, f.fill.amount)
        for f in result.fills
        if f.fill.side.value == "sell"
    ]


def test_a_trailing_take_profit_sells_above_the_plain_one_on_a_rising_market() -> None:
    plain = _run()
    trailing = _run(trailing_deviation="0.5")
    params = MartingaleParams.from_mapping({**PARAMS, "trailing_deviation": "0.5"})
    cycles = {c.number: c for c in trailing.cycles}
    above = 0
    sells = _sells(trailing)
    assert len(sells) >= 10
    for cycle, leg, price, _ in sells:
        assert leg.startswith("t")
        average = cycles[cycle].average_price  # with the dust carried in, as the machine has it
        assert average is not None
        tp = take_profit_price(params, average, RULES)
        assert price >= tp  # never below the take-profit price
        above += price > tp
    # Where the price ran on past the take-profit the trail sold higher; a candle that went
    # past it and closed back below leaves the sell at the take-profit (the backtest sees the
    # high and the close, not the path between).
    assert above >= 3
    per_cycle = _mean_profit(trailing)
    assert per_cycle > _mean_profit(plain) * Decimal("1.1")


def _mean_profit(result: Run) -> Decimal:
    profits = [c.realized_profit for c in result.cycles if c.realized_profit is not None]
    return sum(profits, start=Decimal(0)) / len(profits)


def test_take_profit_steps_sell_the_position_in_parts() -> None:
    steps = [{"percent": "1", "portion": "50"}, {"percent": "2", "portion": "50"}]
    params = dict(PARAMS)
    params.pop("take_profit")
    result = _run(take_profit_steps=steps, **params)
    sells = _sells(result)
    first_cycle = [s for s in sells if s[0] == 1]
    assert [leg[:2] for _, leg, _, _ in first_cycle] == ["ta", "tb"]
    (_, _, p1, a1), (_, _, p2, a2) = first_cycle
    assert p2 > p1 and abs(a1 - a2) <= RULES.step_size
    closed = [c for c in result.cycles if c.number == 1]
    assert closed and closed[0].realized_profit is not None and closed[0].realized_profit > 0

"""Start conditions in the backtest, on the real ETH/BTC candles of ../shared/data (copied to
config/examples/data): no cycle starts until the indicator holds on the candles closed by
then, and the backtest's candles never show the future."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.runner import run
from backtest.world import CandleHistory, VirtualClock
from domain.market import MarketRules
from exchange.feeds.csv_replay import read_candles
from strategy.candles import aggregate
from strategy.indicators import condition_met, history_needed, rsi
from strategy.options import start_condition
from strategy.start import next_close

DATA = Path(__file__).parents[3] / "config/examples/data/ETH-BTC-5m.csv"
CANDLES, PERIOD = read_candles(DATA)
RULES = MarketRules(
    symbol="ETH/BTC",
    tick_size=Decimal("0.000001"),
    step_size=Decimal("0.001"),
    min_notional=Decimal("0.0001"),
)
PARAMS = {
    "base_order": "0.01",
    "safety_order": "0.02",
    "max_safety_orders": 4,
    "price_deviation": "1.5",
    "step_scale": "1.3",
    "volume_scale": "1.5",
    "take_profit": "1",
    "max_active_safety_orders": 2,
    "cooldown": 600,
}


def closes_at(at: object, condition: object) -> list[Decimal]:
    cond = start_condition(condition)
    bars = aggregate(CANDLES, period=PERIOD, seconds=cond.seconds, now=at)  # type: ignore[arg-type]
    return [c.close for c in bars[-history_needed(cond) :]]


@pytest.mark.parametrize(
    "condition",
    [
        {"type": "rsi", "below": "30", "period": 14, "timeframe": "15m"},
        {"type": "ma", "period": 20, "timeframe": "1h"},
    ],
)
def test_no_cycle_starts_until_the_indicator_holds_on_closed_candles(
    condition: dict[str, object],
) -> None:
    cond = start_condition(condition)
    candles = CANDLES[:2500]
    outcome = run(
        candles,
        period=PERIOD,
        params={**PARAMS, "start_condition": condition},
        rules=RULES,
        balances={"BTC": Decimal(1)},
        fee_rate=Decimal("0.001"),
    )
    bases = [f for f in outcome.fills if f.leg == "b"]
    assert len(bases) >= 2, "the data holds several moments the condition is met"
    # The engine looks at every close of the timeframe after its start (the first candle's
    # close) and after each cooldown; the first base fill is at the first close it holds.
    look = next_close(candles[0].timestamp + PERIOD, cond.seconds)
    while not condition_met(cond, closes_at(look, condition)):
        look += timedelta(seconds=cond.seconds)
    assert bases[0].fill.timestamp == look
    for base in bases:  # every cycle starts at a close where the indicator held
        at = base.fill.timestamp
        assert at is not None
        assert condition_met(cond, closes_at(at, condition))
        if cond.kind.value == "rsi":
            value = rsi(closes_at(at, condition), cond.period)
            assert value is not None and value < Decimal(30)


def test_asap_starts_at_the_first_close_as_before() -> None:
    outcome = run(
        CANDLES[:50],
        period=PERIOD,
        params=PARAMS,
        rules=RULES,
        balances={"BTC": Decimal(1)},
        fee_rate=Decimal("0.001"),
    )
    assert outcome.fills[0].fill.timestamp == CANDLES[0].timestamp + PERIOD


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.integers(min_value=0, max_value=3000 * 5),
    timeframe=st.sampled_from(["5m", "15m", "1h", "4h"]),
    limit=st.integers(min_value=1, max_value=200),
)
def test_the_backtest_candles_never_look_ahead(minutes: int, timeframe: str, limit: int) -> None:
    clock = VirtualClock(CANDLES[0].timestamp + timedelta(minutes=minutes))
    history = CandleHistory(CANDLES[:3000], PERIOD, clock)
    seconds = start_condition({"type": "ma", "timeframe": timeframe}).seconds
    got = history.closed(timeframe, limit)
    assert len(got) <= limit
    for bar in got:
        assert bar.timestamp + timedelta(seconds=seconds) <= clock.now
    # the same candles as aggregating everything up to now
    every = aggregate(CANDLES[:3000], period=PERIOD, seconds=seconds, now=clock.now)
    assert got == every[-limit:]

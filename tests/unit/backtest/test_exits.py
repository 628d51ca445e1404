"""Backtests of the trailing stop, the cycle timeout and reinvestment on real candles (ETH/BTC,
January 2018, copied from ../shared/data into config/examples/data): the virtual clock fires
the timeout at candle time, and each variant changes what the plain strategy does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from backtest.runner import Run, run
from domain.market import Candle, MarketRules
from domain.orders import Side
from exchange.feeds.csv_replay import read_candles

DATA = Path(__file__).parents[3] / "config/examples/data/ETH-BTC-5m.csv"
RULES = MarketRules(
    symbol="ETH/BTC",
    tick_size=Decimal("0.000001"),
    step_size=Decimal("0.001"),
    min_notional=Decimal("0.0001"),
)
FEE_RATE = Decimal("0.001")
PARAMS = {
    "base_order": "0.01",
    "safety_order": "0.02",
    "max_safety_orders": 2,
    "price_deviation": "1.5",
    "step_scale": "1.3",
    "volume_scale": "1.5",
    "take_profit": "5",
    "max_active_safety_orders": 2,
    "cooldown": 600,
}


@cache
def _candles() -> tuple[tuple[Candle, ...], timedelta]:
    bars, period = read_candles(DATA)
    return tuple(bars), period


def play(**variant: str) -> Run:
    bars, period = _candles()
    return run(
        bars,
        period=period,
        params={**PARAMS, **variant},
        rules=RULES,
        balances={"BTC": Decimal("1")},
        fee_rate=FEE_RATE,
    )


def _exits(outcome: Run) -> dict[int, Decimal]:
    """Realized profit of each closed cycle that ended with a sell at market."""
    at_market = {f.cycle for f in outcome.fills if f.leg.startswith("x")}
    return {
        c.number: c.realized_profit
        for c in outcome.cycles
        if c.number in at_market and c.realized_profit is not None
    }


def test_a_trailing_stop_sells_some_cycles_at_a_profit_the_plain_stop_never_does() -> None:
    plain = _exits(play(stop_loss="4"))
    trailing = _exits(play(stop_loss="4", stop_loss_trailing="true"))
    assert plain and all(profit < 0 for profit in plain.values())
    assert any(profit > 0 for profit in trailing.values())


def test_a_timeout_at_market_sells_at_the_first_close_past_the_deadline() -> None:
    outcome = play(stop_loss_timeout="6")
    _, period = _candles()
    exits = _exits(outcome)
    assert len(exits) >= 10
    for cycle in exits:
        fills = [f for f in outcome.fills if f.cycle == cycle]
        base = next(f for f in fills if f.leg == "b").fill.timestamp
        sold = next(f for f in fills if f.leg.startswith("x")).fill.timestamp
        assert base is not None and sold is not None
        assert timedelta(hours=6) <= sold - base < timedelta(hours=6) + period
    # No cycle outlives its timeout: every one closed before the next base order.
    opened = [c.opened_at for c in outcome.cycles]
    assert opened == sorted(opened)


def test_a_timeout_at_break_even_sells_at_the_average_with_fees_and_keeps_the_ladder() -> None:
    plain = play()
    even = play(stop_loss_timeout="6", stop_loss_timeout_action="break_even")
    assert not _exits(even)  # never at market
    assert len(even.cycles) > len(plain.cycles)  # cycles stuck below the take-profit end
    late = 0
    for cycle in even.cycles:
        fills = [f for f in even.fills if f.cycle == cycle.number]
        base = fills[0].fill.timestamp
        sell = next((f for f in reversed(fills) if f.fill.side is Side.SELL), None)
        if sell is None:
            continue  # the last cycle, still open
        assert base is not None and sell.fill.timestamp is not None and cycle.average_price
        if sell.fill.timestamp - base >= timedelta(hours=6):
            late += 1
            # The break-even price (or the close, when the price was already above it): never
            # below the average entry grossed up by the venue's fee, which reaches the machine
            # with the rules, and short of the 5 % take-profit; no loss, the sell's fee paid.
            least = cycle.average_price / (1 - FEE_RATE)
            assert least <= sell.fill.price < cycle.average_price * Decimal("1.05")
            assert cycle.realized_profit is not None and cycle.realized_profit >= 0
    assert late >= 5


def test_reinvested_profit_raises_the_base_order_within_the_balance() -> None:
    plain = play(take_profit="1")
    outcome = play(take_profit="1", reinvest_percent="100")
    bases = [f.fill.price * f.fill.amount for f in outcome.fills if f.leg == "b"]
    plain_bases = [f.fill.price * f.fill.amount for f in plain.fills if f.leg == "b"]
    assert max(bases) > max(plain_bases) * Decimal("1.05")
    profit = sum((c.realized_profit or Decimal(0)) for c in outcome.cycles)
    max_funds = Decimal("0.01") + Decimal("0.02") + Decimal("0.03")
    # The scale is at most (max funds + the profit so far) / max funds.
    assert max(bases) <= Decimal("0.01") * (max_funds + profit) / max_funds


def test_reinvested_sizes_fit_a_tight_balance() -> None:
    """An account holding the plan's funds and nothing more: every cycle's scaled ladder still
    fits what the account holds when it starts (its balance grew by the same profit), so the
    venue refuses no order for funds."""
    bars, period = _candles()
    outcome = run(
        bars,
        period=period,
        params={**PARAMS, "take_profit": "1", "reinvest_percent": "100"},
        rules=RULES,
        balances={"BTC": Decimal("0.0601")},  # the plan needs 0.06
        fee_rate=FEE_RATE,
    )
    bases = [f.fill.price * f.fill.amount for f in outcome.fills if f.leg == "b"]
    assert len(bases) > 5 and max(bases) > Decimal("0.0105")
    assert not [note for note in outcome.notes if note[1] == "order_rejected"]

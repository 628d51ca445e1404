"""Hand-checked short backtests on made-up candles, and a short run over real candles: the
base order sells at the first close, safety sells fill on the way up, the buy-back below the
average closes the cycle, a stop loss above buys back at the close of the candle whose high
crossed it, and the books balance."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from backtest.report import report
from backtest.runner import Run, run
from domain.market import Candle, MarketRules
from exchange.feeds.csv_replay import read_candles
from exchange.paper import PaperVenue, SimVenue
from persistence.records import CycleStatus
from tests.unit.backtest.test_runner import PARAMS, PERIOD, RULES, candles, legs, venue

D = Decimal
__all__ = ["venue"]  # the fixture, shared


def play_short(
    venue: PaperVenue | SimVenue,
    bars: list[Candle],
    btc: str = "1",
    usdt: str = "0",
    **params: object,
) -> Run:
    return run(
        bars,
        period=PERIOD,
        params={**PARAMS, "direction": "short", **params},
        rules=RULES,
        balances={"BTC": D(btc), "USDT": D(usdt)},
        fee_rate=D("0.001"),
        venue=venue,
    )


def test_one_short_cycle_sells_at_the_first_close_and_buys_back_below(
    venue: PaperVenue | SimVenue,
) -> None:
    flat = ("100", "100", "100", "100")
    outcome = play_short(venue, candles(flat, flat, ("100", "100.5", "98.5", "99"), flat))
    # Base: 10 / 100 = 0.1 BTC sold at market at the first close, for 10 USDT less the 0.1 %
    # fee: 9.99, an average entry of 99.9. The buy-back 1 % below, 98.901, rounds down to the
    # tick: 98.9. The low (98.5) reaches it: 0.1 BTC bought back for 9.89, the fee in BTC.
    assert legs(outcome)[:2] == [
        (1, "b", "sell", D("100"), D("0.1")),
        (1, "t1", "buy", D("98.9"), D("0.1")),
    ]
    first = outcome.cycles[0]
    assert first.status is CycleStatus.CLOSED and first.safety_orders_filled == 0
    # 0.0999 BTC came back (fee 0.0001 BTC): 0.0001 is still owed, below the 1 USDT minimum
    # notional, so it is carried at the 99.9 average: -0.0001 BTC, -0.00999 USDT.
    assert (first.amount, first.average_price) == (D("-0.1"), D("99.9"))
    assert (first.carried_amount, first.carried_cost) == (D("-0.0001"), D("-0.00999"))
    # received 9.99 - spent 9.89 - the debt at its entry 0.00999 = 0.09001
    assert first.realized_profit == D("0.09001")
    assert first.closed_at == PERIOD * 3 + candles(flat)[0].timestamp


def test_safety_sells_fill_on_the_way_up_then_the_cycle_closes(
    venue: PaperVenue | SimVenue,
) -> None:
    outcome = play_short(
        venue,
        candles(
            ("100", "100", "100", "100"),
            ("100", "111", "100", "110"),  # safety 1 at 110
            ("110", "121", "110", "120"),  # safety 2 at 120 (10 % more above)
            ("120", "120", "100", "101"),  # buy-back 1 % below the average
        ),
    )
    first = outcome.cycles[0]
    assert [(leg, side) for _, leg, side, *_ in legs(outcome)][:3] == [
        ("b", "sell"),
        ("s1", "sell"),
        ("s2", "sell"),
    ]
    assert first.safety_orders_filled == 2 and first.status is CycleStatus.CLOSED
    assert first.realized_profit is not None and first.realized_profit > 0
    assert report(outcome).max_safety_orders == 2


def test_a_stop_loss_buys_back_at_the_close_of_the_candle_whose_high_crossed_it(
    venue: PaperVenue | SimVenue,
) -> None:
    outcome = play_short(
        venue,
        candles(("100", "100", "100", "100"), ("100", "130", "100", "125"), ("125",) * 4),
        usdt="5",  # buying back above the entry costs more than the sell received
        max_safety_orders=0,
        stop_loss="20",
        max_cycles=1,
    )
    buys = [leg for leg in legs(outcome) if leg[2] == "buy"]
    assert buys and buys[0][1] == "x1" and buys[0][3] == D("125")  # at the close, not the stop
    assert outcome.cycles[0].realized_profit is not None
    assert outcome.cycles[0].realized_profit < 0


def test_a_short_with_too_little_base_places_what_fits(venue: PaperVenue | SimVenue) -> None:
    outcome = play_short(
        venue,
        candles(("100", "100", "100", "100"), ("100", "115", "100", "114"), ("114",) * 4),
        btc="0.15",  # the base order (0.1 BTC) fits, safety 1 (10 / 110 = 0.0909 BTC) does not
    )
    assert [leg for _, leg, *_ in legs(outcome)] == ["b"]
    said = [detail for _, kind, detail in outcome.notes if kind == "order_rejected"]
    assert said[0].startswith("s1: ") and "insufficient balance" in said[0]


def test_equity_moves_by_the_realized_profit_plus_the_open_cycles_value(
    venue: PaperVenue | SimVenue,
) -> None:
    outcome = play_short(
        venue,
        candles(
            ("100", "100", "100", "100"),
            ("100", "101", "98.5", "99"),
            ("99", "110", "99", "109"),
            ("109", "125", "108", "118"),
        ),
    )
    figures = report(outcome)
    opened = figures.open_cycle or {}
    assert opened and opened["position"] < 0
    unrealized = opened.get("unrealized", D(0)) + opened.get("realized", D(0))
    unrealized += figures.carried["unrealized"] if figures.carried else D(0)
    # The base the account started with moves with the price too (it is not the strategy's).
    held = outcome.start_balances["BTC"] * (outcome.last_price - outcome.first_price)
    exact = Decimal("1e-12")
    assert (figures.end_equity - figures.start_equity - held).quantize(exact) == (
        figures.profit + unrealized
    ).quantize(exact)


def test_a_short_over_real_candles_closes_profitable_cycles() -> None:
    """ETH/BTC from ../shared/data (copied with the examples): the January 2018 slide."""
    bars, period = read_candles(Path(__file__).parents[3] / "config/examples/data/ETH-BTC-5m.csv")
    rules = MarketRules(
        symbol="ETH/BTC", tick_size=D("0.000001"), step_size=D("0.001"), min_notional=D("0.0001")
    )
    outcome = run(
        bars[:3000],
        period=period,
        params={
            "base_order": "0.002",
            "safety_order": "0.004",
            "max_safety_orders": 4,
            "price_deviation": "1.5",
            "volume_scale": "1.5",
            "take_profit": "1",
            "direction": "short",
        },
        rules=rules,
        balances={"ETH": D("5")},
        fee_rate=D("0.001"),
    )
    closed = [c for c in outcome.cycles if c.status is CycleStatus.CLOSED]
    assert len(closed) >= 5
    assert all(c.amount < 0 and (c.realized_profit or 0) > 0 for c in closed)
    assert all(f.fill.side.value == "sell" for f in outcome.fills if f.leg[0] in "bs")
    assert all(f.fill.side.value == "buy" for f in outcome.fills if f.leg[0] == "t")
    figures = report(outcome)
    assert figures.profit == sum(c.realized_profit or 0 for c in closed)

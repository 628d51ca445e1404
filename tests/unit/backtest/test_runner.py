"""Hand-checked backtests on made-up candles (backtest.runner over the paper venue): one
cycle, every safety order used, a stop loss, gaps in the data, too little money; and the
books balance: equity moved by exactly the realized profit plus the open cycle's value."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.report import report
from backtest.runner import Run, run
from domain.market import Candle, MarketRules
from exchange.feeds.csv_replay import read_candles
from exchange.paper import PaperVenue, SimVenue
from persistence.records import CycleStatus

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PERIOD = timedelta(minutes=5)
RULES = MarketRules(
    symbol="BTC/USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.0001"),
    min_notional=Decimal("1"),
)
PARAMS = {
    "base_order": "10",
    "safety_order": "10",
    "max_safety_orders": 2,
    "price_deviation": "10",
    "take_profit": "1",
}
D = Decimal


def candles(*ohlc: tuple[str, str, str, str], gaps: Sequence[int] = ()) -> list[Candle]:
    """Candles every 5 minutes from T0; an index in `gaps` skips that many slots before it."""
    out, at = [], T0
    for i, (o, h, low, c) in enumerate(ohlc):
        at += PERIOD * (1 + (gaps.count(i) if gaps else 0)) if i else timedelta(0)
        out.append(Candle(timestamp=at, open=D(o), high=D(h), low=D(low), close=D(c)))
    return out


@pytest.fixture(params=["sim", "file"])
def venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PaperVenue | SimVenue]:
    """Every scenario on the backtest's in-memory venue and on the service's (on a file): the
    same matching core, so the same figures."""
    opened = (
        SimVenue(name="paper")
        if request.param == "sim"
        else PaperVenue(tmp_path / "paper.sqlite", name="paper")
    )
    yield opened
    opened.close()


def play(
    venue: PaperVenue | SimVenue, bars: list[Candle], usdt: str = "1000", **params: object
) -> Run:
    return run(
        bars,
        period=PERIOD,
        params={**PARAMS, **params},
        rules=RULES,
        balances={"USDT": D(usdt)},
        fee_rate=D("0.001"),
        venue=venue,
    )


def legs(outcome: Run) -> list[tuple[int, str, str, Decimal, Decimal]]:
    return [(f.cycle, f.leg, f.fill.side.value, f.fill.price, f.fill.amount) for f in outcome.fills]


def test_one_cycle_buys_at_the_first_close_and_sells_at_the_take_profit(
    venue: PaperVenue | SimVenue,
) -> None:
    flat = ("100", "100", "100", "100")
    outcome = play(venue, candles(flat, flat, ("100", "101.5", "99.5", "101"), flat))
    # Base: 10 USDT at market, at the first close (100): 0.1 BTC, the fee in BTC (0.0001).
    # The average entry is what the 0.0999 BTC held cost: 100.1001...; the take-profit 1 %
    # above it, 101.1011..., rounds up to the tick: 101.11. The high (101.5) reaches it.
    assert legs(outcome)[:2] == [
        (1, "b", "buy", D("100"), D("0.1")),
        (1, "t1", "sell", D("101.11"), D("0.0999")),
    ]
    first = outcome.cycles[0]
    assert first.status is CycleStatus.CLOSED and first.safety_orders_filled == 0
    # 0.0999 x 101.11 = 10.100889, less the 0.1 % fee = 10.090788111; it cost 10.
    assert first.realized_profit == D("0.090788111")
    assert first.closed_at == T0 + 3 * PERIOD  # the close time of the candle that crossed


def test_every_safety_order_fills_on_the_way_down_then_the_cycle_closes(
    venue: PaperVenue | SimVenue,
) -> None:
    outcome = play(
        venue,
        candles(
            ("100", "100", "100", "100"),
            ("100", "100", "89", "90"),  # safety 1 at 90
            ("90", "90", "80", "81"),  # safety 2 at 80 (10 % more below)
            ("81", "95", "81", "94"),  # take-profit 1 % above the average
        ),
    )
    first = outcome.cycles[0]
    assert [leg for _, leg, *_ in legs(outcome)][:3] == ["b", "s1", "s2"]
    assert first.safety_orders_filled == 2 and first.status is CycleStatus.CLOSED
    assert first.realized_profit is not None and first.realized_profit > 0
    assert report(outcome).max_safety_orders == 2


def test_a_stop_loss_sells_at_the_close_of_the_candle_whose_low_crossed_it(
    venue: PaperVenue | SimVenue,
) -> None:
    outcome = play(
        venue,
        candles(("100", "100", "100", "100"), ("100", "100", "70", "75"), ("75", "75", "75", "75")),
        max_safety_orders=0,
        stop_loss="20",
        max_cycles=1,
    )
    sells = [leg for leg in legs(outcome) if leg[2] == "sell"]
    assert sells and sells[0][3] == D("75")  # a market exit at the close, not at the stop
    assert outcome.cycles[0].realized_profit is not None
    assert outcome.cycles[0].realized_profit < 0


def test_gaps_in_the_data_change_nothing_but_the_times(venue: PaperVenue | SimVenue) -> None:
    flat = ("100", "100", "100", "100")
    outcome = play(venue, candles(flat, flat, ("100", "101.5", "99.5", "101"), gaps=[2, 2]))
    # Two slots are missing before the third candle: it opens at 0:20 and closes at 0:25.
    assert outcome.cycles[0].closed_at == T0 + 5 * PERIOD
    assert outcome.cycles[0].status is CycleStatus.CLOSED


def test_too_little_money_places_what_fits_and_says_why(venue: PaperVenue | SimVenue) -> None:
    outcome = play(
        venue,
        candles(("100", "100", "100", "100"), ("100", "100", "85", "86"), ("86", "86", "86", "86")),
        usdt="15",  # the base order (10) fits, the safety order (10) does not
    )
    assert [leg for _, leg, *_ in legs(outcome)] == ["b"]
    said = [detail for _, kind, detail in outcome.notes if kind == "order_rejected"]
    assert said[0].startswith("s1: ") and "insufficient balance" in said[0]


def test_equity_moves_by_the_realized_profit_plus_the_open_cycles_value(
    venue: PaperVenue | SimVenue,
) -> None:
    outcome = play(
        venue,
        candles(
            ("100", "100", "100", "100"),
            ("100", "101.5", "99", "101"),
            ("101", "101", "91", "92"),
            ("92", "93", "80", "85"),
        ),
    )
    figures = report(outcome)
    opened = figures.open_cycle or {}
    unrealized = opened.get("unrealized", D(0)) + opened.get("realized", D(0))
    unrealized += figures.carried["unrealized"] if figures.carried else D(0)
    exact = Decimal("1e-12")  # the average entry is a rounded ratio
    assert (figures.end_equity - figures.start_equity).quantize(exact) == (
        figures.profit + unrealized
    ).quantize(exact)


def test_the_same_candles_give_the_same_fills_at_candle_times(tmp_path: Path) -> None:
    """No wall clock leaks in: two runs on real data agree fill for fill, time for time."""
    bars, period = read_candles(Path(__file__).parents[3] / "config/examples/data/ETH-BTC-5m.csv")
    rules = MarketRules(
        symbol="ETH/BTC", tick_size=D("0.000001"), step_size=D("0.001"), min_notional=D("0.0001")
    )
    runs = []
    for n in range(2):
        venue = PaperVenue(tmp_path / f"paper{n}.sqlite", name="paper")
        try:
            runs.append(
                run(
                    bars[:1500],
                    period=period,
                    params={**PARAMS, "base_order": "0.002", "safety_order": "0.004"},
                    rules=rules,
                    balances={"BTC": D("1")},
                    fee_rate=D("0.001"),
                    venue=venue,
                )
            )
        finally:
            venue.close()
    first, second = (
        [(f.leg, f.fill.price, f.fill.amount, f.fill.timestamp) for f in r.fills] for r in runs
    )
    assert first == second and len(first) > 2
    assert all(bars[0].timestamp <= stamp <= bars[1499].timestamp + period for *_, stamp in first)


def test_a_safety_fill_and_the_take_profit_in_one_candle_leave_the_cycle_open(
    venue: PaperVenue | SimVenue,
) -> None:
    # Found by the properties: the low reaches the safety order (99.50) and the high the
    # take-profit (100.61, resting for the base order's 0.0999) in the last candle. Both fill;
    # the take-profit sold only the base order's part, so the cycle stays open with the safety
    # order's, and the report counts that sale's result as realized in the open cycle.
    flat = ("100", "100", "100", "100")
    bars = candles(flat, flat, ("100", "100.61", "99.39", "100"))
    outcome = play(venue, bars, price_deviation="0.5", take_profit="0.5", max_safety_orders=1)
    assert legs(outcome) == [
        (1, "b", "buy", D("100"), D("0.1")),
        (1, "s1", "buy", D("99.50"), D("0.1005")),
        (1, "t1", "sell", D("100.61"), D("0.0999")),
    ]
    figures = report(outcome)
    assert figures.cycles == 0 and figures.open_cycle is not None
    assert figures.open_cycle["position"] == D("0.1003995")  # 0.0999 + 0.1005 - 0.0001005
    # Sold 0.0999 for 10.050939 - 0.010050939 fee, at the average cost 19.99975 / 0.2002995.
    assert figures.open_cycle["realized"].quantize(D("1e-9")) == D("0.065950405")
    assert figures.end_equity - figures.start_equity == D("0.041138061") + D("0.1003995") * 100 - 10

"""Closed candles from the paper venue (exchange.paper.candles) and from ccxt rows
(exchange.ccxt_adapter.parse.candles): never the candle still forming, never the future."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from domain.market import Candle, MarketRules
from exchange.ccxt_adapter.parse import candles as ccxt_candles
from exchange.paper import PaperExchange, PaperVenue, SimVenue

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RULES = MarketRules(symbol="ETH/USDT", tick_size=D("0.01"), step_size=D("0.0001"))


@pytest.fixture(params=["sim", "file"])
def venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PaperVenue | SimVenue]:
    opened = (
        SimVenue(clock=lambda: T0)
        if request.param == "sim"
        else PaperVenue(tmp_path / "paper.sqlite", clock=lambda: T0)
    )
    opened.set_market_rules(RULES)
    yield opened
    opened.close()


def minute(n: int, close: str) -> Candle:
    c = D(close)
    return Candle(timestamp=T0 + timedelta(minutes=n), open=c, high=c + 1, low=c - 1, close=c)


def test_a_replay_gives_closed_candles_of_what_it_played(venue: PaperVenue | SimVenue) -> None:
    port = PaperExchange(venue, "acct")  # type: ignore[arg-type]
    assert port.fetch_candles("ETH/USDT", "5m", 10) == []  # followed from now on
    for n in range(12):  # 1m candles 00:00 .. 00:11, each stamped with its close time
        venue.update_candle("ETH/USDT", minute(n, str(100 + n)), T0 + timedelta(minutes=n + 1))
    got = port.fetch_candles("ETH/USDT", "5m", 10)
    # played up to 00:12: the 00:00 and 00:05 candles have closed, 00:10 is still forming
    assert [c.timestamp for c in got] == [T0, T0 + timedelta(minutes=5)]
    assert (got[0].open, got[0].high, got[0].low, got[0].close) == (D(100), D(105), D(99), D(104))
    assert [c.close for c in port.fetch_candles("ETH/USDT", "5m", 1)] == [D(109)]


def test_ticks_make_candles_too(venue: PaperVenue | SimVenue) -> None:
    port = PaperExchange(venue, "acct")  # type: ignore[arg-type]
    port.fetch_candles("ETH/USDT", "1m", 5)
    for second, price in ((10, "100"), (30, "103"), (50, "98"), (70, "101"), (130, "102")):
        venue.update_price("ETH/USDT", D(price), T0 + timedelta(seconds=second))
    got = port.fetch_candles("ETH/USDT", "1m", 5)
    assert [(c.open, c.high, c.low, c.close) for c in got] == [
        (D(100), D(103), D(98), D(98)),
        (D(101), D(101), D(101), D(101)),
    ]


def test_ccxt_rows_lose_the_forming_candle() -> None:
    ms = int(T0.timestamp() * 1000)
    rows = [
        [ms, 1.0, 2.0, 0.5, 1.5, 10.0],
        [ms + 300_000, "1.5", "1.6", "1.4", "1.55", "3"],
        [ms + 600_000, 1.55, 1.7, 1.5, 1.6, 1.0],  # opened 00:10: forming at 00:12
    ]
    got = ccxt_candles(rows, seconds=300, now=T0 + timedelta(minutes=12))
    assert [c.close for c in got] == [D("1.5"), D("1.55")]
    assert got[0].volume == D(10)

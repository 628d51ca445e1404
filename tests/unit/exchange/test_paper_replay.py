"""A replay's position lives in the paper venue's file, written with its candle's fills.

A restart continues after the last candle the venue took: never repeating one whose fills the
file holds, never skipping one whose fills it lost. Replayed markets run in candle time: fills
and orders carry the candles' times, not the wall clock.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import ExchangeUnavailable
from domain.market import Candle
from domain.orders import OrderState, OrderType, Side
from exchange.paper import PaperExchange, PaperVenue, VenueFill
from tests.unit.exchange.conftest import ManualClock

D = Decimal
REPLAY = "/data/ETH-BTC-5m.csv"
OPEN = datetime(2018, 1, 10, 5, 0, tzinfo=UTC)
PERIOD = timedelta(minutes=5)


def _candle(index: int, low: str, close: str = "0.05") -> Candle:
    return Candle(
        timestamp=OPEN + index * PERIOD,
        open=D("0.05"),
        high=D("0.051"),
        low=D(low),
        close=D(close),
        volume=D(1),
    )


def _play(venue: PaperVenue, index: int, low: str = "0.0495") -> list[VenueFill]:
    candle = _candle(index, low)
    return list(venue.update_candle("ETH/BTC", candle, candle.timestamp + PERIOD, replay=REPLAY))


def _resting_buy(port: PaperExchange, price: str, coid: str = "b1") -> None:
    port.create_order(
        client_order_id=coid,
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D(1),
        price=D(price),
    )


def test_the_position_is_kept_with_the_candles_fills_and_survives_a_restart(
    venue: PaperVenue, alice: PaperExchange, tmp_path: Path
) -> None:
    assert venue.replay_position("ETH/BTC", REPLAY) is None
    _play(venue, 0)
    _resting_buy(alice, "0.049")
    [fill] = _play(venue, 1, low="0.0489")  # reaches the buy
    assert venue.replay_position("ETH/BTC", REPLAY) == OPEN + PERIOD
    _play(venue, 2)  # fills nothing: written with the next group, or at close
    venue.close()

    again = PaperVenue(tmp_path / "paper.sqlite")
    try:
        assert again.replay_position("ETH/BTC", REPLAY) == OPEN + 2 * PERIOD
        assert again.replay_position("ETH/BTC", "/data/another.csv") is None
        [stored] = PaperExchange(again, "alice").fetch_fills("ETH/BTC")
        assert stored.timestamp == OPEN + 2 * PERIOD  # candle 1's close: market time
        assert stored.trade_id == fill.fill.trade_id
    finally:
        again.close()


def test_a_failed_write_loses_the_position_together_with_the_candles_fills(
    venue: PaperVenue, alice: PaperExchange, tmp_path: Path
) -> None:
    _play(venue, 0)
    _resting_buy(alice, "0.049")
    side = sqlite3.connect(tmp_path / "paper.sqlite")
    side.execute(
        "CREATE TRIGGER no_fills BEFORE INSERT ON fills BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    side.commit()

    with pytest.raises(ExchangeUnavailable, match="disk says no"):
        _play(venue, 1, low="0.0489")
    # Neither the fill nor the position: a restarted replay plays candle 1 again.
    assert venue.replay_position("ETH/BTC", REPLAY) == OPEN
    assert [o.state for o in alice.fetch_open_orders("ETH/BTC")] == [OrderState.OPEN]

    side.execute("DROP TRIGGER no_fills")
    side.commit()
    side.close()
    assert len(_play(venue, 1, low="0.0489")) == 1
    assert venue.replay_position("ETH/BTC", REPLAY) == OPEN + PERIOD


def test_orders_on_a_replayed_market_carry_its_time_so_their_fills_come_after_them(
    venue: PaperVenue, alice: PaperExchange, clock: ManualClock
) -> None:
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)  # the wall clock is years after the candles
    _play(venue, 0)
    _resting_buy(alice, "0.049")
    [order] = alice.fetch_open_orders("ETH/BTC")
    assert order.created_at == OPEN + PERIOD  # candle 0's close, not the wall clock
    _play(venue, 1, low="0.0489")
    fills = alice.fetch_fills("ETH/BTC", since=order.created_at)
    assert [f.timestamp for f in fills] == [OPEN + 2 * PERIOD]


def test_a_market_without_a_replay_keeps_the_venue_clock(
    venue: PaperVenue, alice: PaperExchange, clock: ManualClock
) -> None:
    venue.update_candle("ETH/BTC", _candle(0, "0.0495"))  # a candle, but no recording named
    _resting_buy(alice, "0.049")
    [order] = alice.fetch_open_orders("ETH/BTC")
    assert order.created_at == clock.now
    assert venue.replay_position("ETH/BTC", REPLAY) is None

"""A replay feed continues where the venue's file says it was, and runs in candle time.

Driven without threads (the test pumps as the timer would) on a real paper venue and a real
candle file; a "restart" is a new feed actor with a new source, as the root builds after a
crash, or a venue reopened from its file, as after a service restart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from actors.feed import MarketFeedActor, PriceBoard
from actors.feed_link import FeedLink
from actors.timers import TimerService
from domain.orders import OrderType, Side
from exchange.feeds.csv_replay import CsvReplaySource
from exchange.paper import PaperVenue
from tests.actors.fakes import SYMBOL, open_paper_account, open_venue

D = Decimal
OPEN = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
CLOSES = ["100", "99.5", "100.5", "101", "101.5"]


class Timers:
    def tell_later(self, delay: float, ref: Any, message: Any) -> Any:
        return self

    def cancel(self) -> None:
        pass


def _candles(path: Path) -> Path:
    rows = ["timestamp,open,high,low,close,volume"]
    for i, close in enumerate(CLOSES):
        low = "98.9" if i == 1 else close  # candle 1 dips through 99
        rows.append(f"{(OPEN + i * MINUTE).isoformat()},{close},{close},{low},{close},1")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _feed(venue: PaperVenue, path: Path, link: FeedLink, speed: float = 60) -> MarketFeedActor:
    return MarketFeedActor(
        link=link,
        source=CsvReplaySource(path, symbol=SYMBOL, speed=speed),
        timers=cast(TimerService, Timers()),
        board=PriceBoard(),
        paper=venue,
    )


def test_a_restarted_replay_continues_after_the_last_candle_the_venue_took(
    tmp_path: Path,
) -> None:
    path = _candles(tmp_path / "ETH-USDT-1m.csv")
    venue = open_venue(tmp_path / "venue.sqlite")
    link = FeedLink("paper", SYMBOL)
    first = _feed(venue, path, link)
    for _ in range(3):
        first._pump()
    assert venue.ticker(SYMBOL).last == D("100.5")

    _feed(venue, path, link)._pump()  # the feed actor replaced after a crash
    assert venue.ticker(SYMBOL).last == D("101")  # candle 3, not candle 0 again
    venue.close()

    venue = PaperVenue(tmp_path / "venue.sqlite")  # the service restarted
    try:
        _feed(venue, path, link)._pump()
        assert venue.ticker(SYMBOL).last == D("101.5")
        assert link.stats()["ticks"] == 5  # each candle published once
    finally:
        venue.close()


def test_a_replay_fills_and_its_market_clock_run_in_candle_time(tmp_path: Path) -> None:
    path = _candles(tmp_path / "ETH-USDT-1m.csv")
    venue = open_venue(tmp_path / "venue.sqlite")
    try:
        port = open_paper_account(venue, "alice")
        link = FeedLink("paper", SYMBOL)
        feed = _feed(venue, path, link)
        feed.on_start()  # reads the source's time scale; its Pump goes nowhere (not started)
        assert link.time_scale == 1 / 60 and link.own_clock
        assert link.market_time() is None
        feed._pump()
        assert link.market_time() == OPEN + MINUTE  # candle 0's close
        port.create_order(
            client_order_id="b",
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.LIMIT,
            amount=D(1),
            price=D(99),
        )
        feed._pump()  # candle 1 dips through 99
        [fill] = port.fetch_fills(SYMBOL)
        assert fill.timestamp == OPEN + 2 * MINUTE == link.market_time()
    finally:
        venue.close()


def test_a_replay_at_speed_one_has_its_own_clock_too(tmp_path: Path) -> None:
    """Its candles come one period apart, as live prices would, but their times are the
    candles': engines count cooldowns in them (it had been taken for a live market)."""
    path = _candles(tmp_path / "ETH-USDT-1m.csv")
    venue = open_venue(tmp_path / "venue.sqlite")
    try:
        link = FeedLink("paper", SYMBOL)
        _feed(venue, path, link, speed=1).on_start()
        assert link.time_scale == 1.0 and link.own_clock
        live = FeedLink("paper", "BTC/USDT")
        live.set_time_scale(1.0)  # a source with no time scale of its own: a live market
        assert not live.own_clock
    finally:
        venue.close()


def test_a_feed_restarted_on_a_finished_replay_does_not_leave_its_market_down(
    tmp_path: Path,
) -> None:
    path = _candles(tmp_path / "ETH-USDT-1m.csv")
    venue = open_venue(tmp_path / "venue.sqlite")
    try:
        link = FeedLink("paper", SYMBOL)
        first = _feed(venue, path, link)
        for _ in CLOSES:
            first._pump()
        link.set_error("the price feed is restarting after: Crash: bug")  # as the root does
        again = _feed(venue, path, link)
        again._pump()  # nothing left to play
        assert link.error is None and link.stats()["ticks"] == len(CLOSES)
    finally:
        venue.close()

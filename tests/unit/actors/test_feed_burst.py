"""The feed counts the largest burst: how many engines a single tick woke."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from actors.feed import MarketFeedActor, PriceBoard
from actors.messages import PriceCrossed, WatchLevels
from actors.timers import TimerService

D = Decimal


class Inbox:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def tell(self, message: Any) -> None:
        self.got.append(message)


def test_peak_is_the_most_engines_one_tick_woke() -> None:
    timers = TimerService()
    try:
        feed = MarketFeedActor(
            symbol="ETH/BTC",
            source=None,
            timers=timers,
            board=PriceBoard(),  # type: ignore[arg-type]
        )
        engines = [Inbox() for _ in range(4)]
        for sid, (engine, below) in enumerate(zip(engines, ["99", "98", "98", "90"], strict=True)):
            feed.on_receive(WatchLevels(strategy_id=sid, below=D(below), above=None, engine=engine))
        feed._publish(D("98.5"), D("98.5"), D("98.5"), None)  # crosses one level
        feed._publish(D("97"), D("97"), D("97"), None)  # crosses the two at 98
        feed._publish(D("96"), D("96"), D("96"), None)  # nobody left above 96 but the one at 90
        assert feed.stats() == {"ticks": 3, "woken": 3, "peak": 2, "watching": 1}
        assert [len(e.got) for e in engines] == [1, 1, 1, 0]
        assert all(isinstance(m, PriceCrossed) for e in engines for m in e.got)
    finally:
        timers.stop()

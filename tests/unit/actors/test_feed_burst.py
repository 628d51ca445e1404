"""The feed counts the largest burst: how many engines a single tick woke."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from actors.feed_link import FeedLink
from actors.messages import PriceCrossed
from tests.actors.fakes import Inbox

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _tick(link: FeedLink, price: str) -> None:
    link.publish(D(price), D(price), D(price), T0, T0)


def test_peak_is_the_most_engines_one_tick_woke() -> None:
    link = FeedLink("paper", "ETH/BTC")
    engines = [Inbox() for _ in range(4)]
    for sid, (engine, below) in enumerate(zip(engines, ["99", "98", "98", "90"], strict=True)):
        link.watch(sid, D(below), None, engine)
    _tick(link, "98.5")  # crosses one level
    _tick(link, "97")  # crosses the two at 98
    _tick(link, "96")  # nobody left above 96 but the one at 90
    assert link.stats() == {"ticks": 3, "woken": 3, "peak": 2, "watching": 1}
    assert [len(e.told) for e in engines] == [1, 1, 1, 0]
    assert all(isinstance(m, PriceCrossed) for e in engines for m in e.told)

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


def test_levels_set_after_a_tick_that_crossed_them_wake_the_engine_to_look_at_the_price() -> None:
    # A candle fell to 90 and closed at 100; an engine that tick did not wake then sets a level
    # at 95 (a new cycle's stop loss, bought at that close): it is woken to sync, told the
    # price the candle closed at, not the low that came before its level existed.
    link = FeedLink("paper", "ETH/BTC")
    link.publish(D("100"), D("90"), D("101"), T0, T0)
    engine = Inbox()
    link.watch(1, D("95"), None, engine)
    [told] = engine.told
    assert isinstance(told, PriceCrossed)
    assert (told.price, told.low, told.high) == (D("100"), D("100"), D("100"))
    link.watch(1, D("95"), None, engine)  # woken for that tick now: not again
    assert len(engine.told) == 1
    quiet = Inbox()
    link.watch(2, D("80"), D("120"), quiet)  # levels the tick never crossed: no wake
    assert quiet.told == []

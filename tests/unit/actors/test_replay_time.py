"""Replays run in candle time (issue 11, item 22, engine side): the machine is told market
times, so a cooldown of 60 s is 60 s of candles. A replay's cooldown ends on the first tick
whose market time reaches it (the feed link's alarm, issue 14); other timers are scaled to wall
time by the replay's speed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.engine_actor import EngineActor
from actors.engine_market import MIN_SCALED_WAKE
from actors.feed_link import FeedLink
from actors.messages import Wake
from strategy.state import Phase
from tests.actors.fakes import EngineWorld, Inbox, ManualClock, bare_engine_actor

CANDLES = datetime(2018, 1, 10, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def test_a_cooldown_is_counted_in_market_time(world: EngineWorld) -> None:
    market = ManualClock(CANDLES)
    engine = world.engine(market_clock=market)
    engine.start()
    market.advance(300)  # a candle later
    world.move("101.5")  # the take-profit fills: the cycle closes, the cooldown starts
    engine.sync()
    state = engine.state
    assert state is not None and state.phase is Phase.COOLDOWN
    assert state.wake_at == CANDLES + timedelta(seconds=300 + 60)  # PARAMS cooldown: 60 s
    assert world.host.scheduled[-1] == (state.wake_at, "cooldown")
    closed = world.repo.list_cycles(world.strategy_id)[0]
    assert closed.closed_at == world.clock()  # the rows keep the wall clock


class _Timers:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def tell_later(self, delay: float, ref: Any, message: Any) -> None:
        self.delays.append(delay)


def _actor(link: FeedLink, timers: _Timers) -> EngineActor:
    return bare_engine_actor(feed=link, timers=timers)


def test_timers_of_a_replay_are_scaled_by_its_speed() -> None:
    link = FeedLink("paper", "ETH/BTC")
    link.set_time_scale(1 / 300)  # speed 300: one 5-minute candle per second
    link.publish(Decimal(1), Decimal(1), Decimal(1), datetime.now(UTC), CANDLES)
    timers = _Timers()
    actor = _actor(link, timers)
    actor.schedule(CANDLES + timedelta(seconds=60), "sync")
    assert timers.delays == [pytest.approx(0.2)]
    actor.schedule(CANDLES - timedelta(seconds=60), "sync")  # already due
    assert timers.delays[-1] == MIN_SCALED_WAKE  # an ended replay's clock stands still
    assert actor._market_now() == CANDLES


def _tick(link: FeedLink, at: datetime, price: str = "1") -> None:
    link.publish(Decimal(price), Decimal(price), Decimal(price), datetime.now(UTC), at)


def test_a_replays_cooldown_ends_on_the_first_tick_that_reaches_it() -> None:
    """Not on a wall timer scaled by the speed: that one raced the feed's ticks, fired just
    before the due candle and then waited a whole candle more (issue 14), where a backtest
    ends the cooldown on the first candle whose close time reaches it."""
    link = FeedLink("paper", "ETH/BTC")
    link.set_time_scale(1 / 3000)
    _tick(link, CANDLES)
    timers = _Timers()
    actor = _actor(link, timers)
    inbox = Inbox()
    actor._actor_ref = inbox  # type: ignore[assignment]  # what it tells itself
    actor.schedule(CANDLES + timedelta(seconds=600), "cooldown")  # two candles on
    _tick(link, CANDLES + timedelta(seconds=300))
    assert inbox.told == [] and timers.delays == []
    _tick(link, CANDLES + timedelta(seconds=600))
    assert inbox.told == [Wake(what="cooldown", counted=True)]
    _tick(link, CANDLES + timedelta(seconds=900))
    assert inbox.told == [Wake(what="cooldown", counted=True)]  # once


def test_a_cooldown_already_reached_ends_at_once_and_a_gap_ends_it_too() -> None:
    link = FeedLink("paper", "ETH/BTC")
    link.set_time_scale(1 / 3000)
    _tick(link, CANDLES)
    actor = _actor(link, _Timers())
    inbox = Inbox()
    actor._actor_ref = inbox  # type: ignore[assignment]  # what it tells itself
    actor.schedule(CANDLES, "cooldown")  # cooldown 0: the candle that closed the cycle
    assert inbox.told == [Wake(what="cooldown", counted=True)]
    actor.schedule(CANDLES + timedelta(seconds=600), "cooldown")
    _tick(link, CANDLES + timedelta(hours=1))  # missing candles: the next one is past it
    assert inbox.told == [Wake(what="cooldown", counted=True)] * 2


def test_the_alarm_comes_after_the_ticks_wake_up_and_a_new_one_replaces_it() -> None:
    link = FeedLink("paper", "ETH/BTC")
    _tick(link, CANDLES, "100")
    engine = Inbox()
    link.watch(1, Decimal(99), None, engine)
    link.set_alarm(1, CANDLES + timedelta(seconds=300), engine, "first")
    link.set_alarm(1, CANDLES + timedelta(seconds=600), engine, "second")  # replaces it
    _tick(link, CANDLES + timedelta(seconds=300), "98")
    assert [type(m).__name__ for m in engine.told] == ["PriceCrossed"]
    _tick(link, CANDLES + timedelta(seconds=600), "98")
    assert engine.told[1:] == ["second"]


def test_a_stopped_engine_drops_its_alarm_but_never_its_successors() -> None:
    link = FeedLink("paper", "ETH/BTC")
    _tick(link, CANDLES)
    old, new = Inbox(), Inbox()
    link.set_alarm(1, CANDLES + timedelta(seconds=300), old, "old")
    link.set_alarm(1, CANDLES + timedelta(seconds=300), new, "new")
    link.clear_alarm(1, old)  # the replaced engine stops
    _tick(link, CANDLES + timedelta(seconds=300))
    assert (old.told, new.told) == ([], ["new"])
    link.set_alarm(1, CANDLES + timedelta(seconds=900), new, "later")
    link.clear_alarm(1, new)
    _tick(link, CANDLES + timedelta(seconds=900))
    assert new.told == ["new"]


def test_a_replay_at_speed_one_keeps_its_own_clock() -> None:
    """Speed 1 plays a candle per candle period, but its times are still the candles': the
    cooldown ends on the tick that reaches it, as at any other speed (it was a wall timer)."""
    link = FeedLink("paper", "ETH/BTC")
    link.set_time_scale(1.0, own_clock=True)  # what the feed actor says of a replay at speed 1
    _tick(link, CANDLES)
    timers = _Timers()
    actor = _actor(link, timers)
    inbox = Inbox()
    actor._actor_ref = inbox  # type: ignore[assignment]  # what it tells itself
    assert actor._market_now() == CANDLES
    actor.schedule(CANDLES + timedelta(seconds=300), "cooldown")
    assert timers.delays == [] and inbox.told == []
    _tick(link, CANDLES + timedelta(seconds=300))
    assert inbox.told == [Wake(what="cooldown", counted=True)]
    actor.schedule(CANDLES - timedelta(seconds=60), "sync")  # due: not a busy loop
    assert timers.delays == [MIN_SCALED_WAKE]


def test_live_markets_keep_the_wall_clock() -> None:
    link = FeedLink("binance@live", "ETH/BTC")
    link.publish(Decimal(1), Decimal(1), Decimal(1), datetime.now(UTC), CANDLES)
    timers = _Timers()
    actor = _actor(link, timers)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    actor.schedule(soon, "cooldown")
    assert 29 < timers.delays[0] <= 30

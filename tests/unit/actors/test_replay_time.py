"""Replays run in candle time (issue 11, item 22, engine side): the machine is told market
times, so a cooldown of 60 s is 60 s of candles; timers are scaled to wall time by the
replay's speed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.engine_actor import MIN_SCALED_WAKE, EngineActor
from actors.feed_link import FeedLink
from strategy.state import Phase
from tests.actors.fakes import EngineWorld, ManualClock, bare_engine_actor

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
    actor.schedule(CANDLES + timedelta(seconds=60), "cooldown")
    assert timers.delays == [pytest.approx(0.2)]
    actor.schedule(CANDLES - timedelta(seconds=60), "cooldown")  # already due
    assert timers.delays[-1] == MIN_SCALED_WAKE  # an ended replay's clock stands still
    assert actor._market_now() == CANDLES


def test_live_markets_keep_the_wall_clock() -> None:
    link = FeedLink("binance@live", "ETH/BTC")
    link.publish(Decimal(1), Decimal(1), Decimal(1), datetime.now(UTC), CANDLES)
    timers = _Timers()
    actor = _actor(link, timers)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    actor.schedule(soon, "cooldown")
    assert 29 < timers.delays[0] <= 30

"""A lockstep replay sends its next candle only once the engines the last one woke are done
(crossings and cooldown alarms alike), and goes on by itself after LOCKSTEP_CAP if one never
settles; a replay without lockstep keeps its pace whatever the engines do.

Driven without threads: the test pumps as the timer would, and settles as an engine would at
the end of its handling (`EngineActor.on_receive`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pykka
import pytest

from actors import feed
from actors.feed import MarketFeedActor, PriceBoard
from actors.feed_link import FeedLink
from actors.messages import PriceCrossed, Wake
from actors.timers import TimerService
from exchange.feeds.csv_replay import CsvReplaySource
from tests.actors.fakes import SYMBOL, Inbox, bare_engine_actor, open_venue

D = Decimal
OPEN = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Timers:
    def tell_later(self, delay: float, ref: Any, message: Any) -> Any:
        return self

    def cancel(self) -> None:
        pass


class Dead:
    def tell(self, message: Any) -> None:
        raise pykka.ActorDeadError("gone")


def _feed(tmp_path: Path, link: FeedLink, *, lockstep: bool) -> MarketFeedActor:
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(6):  # every candle dips to 98 and closes at 100
        rows.append(f"{(OPEN + i * MINUTE).isoformat()},100,100,98,100,1")
    path = tmp_path / "ETH-USDT-1m.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return MarketFeedActor(
        link=link,
        source=CsvReplaySource(path, symbol=SYMBOL, speed=6000, lockstep=lockstep),
        timers=cast(TimerService, Timers()),
        board=PriceBoard(),
        paper=open_venue(tmp_path / "venue.sqlite"),
    )


def test_the_next_candle_waits_for_every_engine_the_last_one_woke(tmp_path: Path) -> None:
    link = FeedLink("paper", SYMBOL)
    replay = _feed(tmp_path, link, lockstep=True)
    engines = [Inbox(), Inbox()]
    for sid, engine in enumerate(engines):
        link.watch(sid, below=D("99"), above=None, engine=engine)
    replay._pump()  # candle 0 crosses both levels
    assert link.ticks == 1 and link.pending == 2
    replay._pump()
    assert link.ticks == 1  # both still at it
    link.settle()
    replay._pump()
    assert link.ticks == 1  # one still at it
    link.settle()
    replay._pump()
    assert link.ticks == 2 and all(isinstance(e.told[-1], PriceCrossed) for e in engines)


def test_a_cooldown_alarm_counts_like_a_crossing_and_a_dead_engine_never_blocks(
    tmp_path: Path,
) -> None:
    link = FeedLink("paper", SYMBOL)
    replay = _feed(tmp_path, link, lockstep=True)
    engine = Inbox()
    link.set_alarm(1, OPEN + 2 * MINUTE, engine, Wake(what="cooldown", counted=True))
    link.set_alarm(2, OPEN + MINUTE, Dead(), Wake(what="cooldown", counted=True))
    replay._pump()  # candle 0 closes at OPEN + 1 min: the dead engine's alarm, settled at once
    assert link.pending == 0
    replay._pump()  # candle 1 closes at OPEN + 2 min: the live engine's alarm
    assert engine.told == [Wake(what="cooldown", counted=True)] and link.pending == 1
    replay._pump()
    assert link.ticks == 2
    link.settle()
    replay._pump()
    assert link.ticks == 3


def test_an_engine_that_never_settles_holds_the_replay_only_for_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = FeedLink("paper", SYMBOL)
    replay = _feed(tmp_path, link, lockstep=True)
    link.watch(1, below=D("99"), above=None, engine=Inbox())
    replay._pump()
    replay._pump()
    assert link.ticks == 1
    monkeypatch.setattr(feed, "LOCKSTEP_CAP", 0.0)
    replay._pump()
    assert link.ticks == 2  # given up on, and the count forgotten


def test_without_lockstep_the_replay_keeps_its_pace(tmp_path: Path) -> None:
    link = FeedLink("paper", SYMBOL)
    replay = _feed(tmp_path, link, lockstep=False)
    link.watch(1, below=D("99"), above=None, engine=Inbox())
    for _ in range(3):
        replay._pump()
    assert link.ticks == 3


def test_an_engine_settles_each_wake_up_it_was_told_whatever_it_did_with_it() -> None:
    """Handled, ignored (not started yet) or fenced: the market is told the engine is done, for
    crossings and for its cooldown alarms, never for its own timers."""
    link = FeedLink("paper", SYMBOL)
    link.watch(1, D("99"), None, Inbox())
    link.watch(2, D("99"), None, Inbox())
    link.publish(D("98"), D("98"), D("98"), OPEN, OPEN)
    link.set_alarm(3, OPEN, Inbox(), Wake(what="cooldown", counted=True))
    assert link.pending == 3
    tick = PriceCrossed(price=D(98), low=D(98), high=D(98), at=OPEN)
    bare_engine_actor(feed=link).on_receive(tick)  # not ready: ignored
    fenced = threading.Event()
    fenced.set()
    bare_engine_actor(feed=link, fence=fenced).on_receive(tick)
    assert link.pending == 1
    replaced = bare_engine_actor(feed=link, fence=fenced)
    replaced.on_receive(Wake(what="retry"))  # its own timer: not counted
    assert link.pending == 1
    replaced.on_receive(Wake(what="cooldown", counted=True))
    assert link.pending == 0

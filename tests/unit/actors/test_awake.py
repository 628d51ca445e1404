"""`actors.metrics.Awake`: the engines a tick woke and that have not finished with it. The web
waits on it (web.priority), so a wake-up that is never counted off would hold every request:
the feed and the engine count each one off, handled, dropped or undeliverable."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka
import pytest

from actors import metrics
from actors.feed_link import FeedLink
from actors.messages import PriceCrossed
from tests.actors.fakes import Inbox, bare_engine_actor

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def awake(monkeypatch: pytest.MonkeyPatch) -> metrics.Awake:
    fresh = metrics.Awake()
    monkeypatch.setattr(metrics, "AWAKE", fresh)
    return fresh


class Dead:
    def tell(self, message: Any) -> None:
        raise pykka.ActorDeadError("gone")


def test_a_tick_counts_every_engine_it_woke_until_each_is_done(awake: metrics.Awake) -> None:
    link = FeedLink("paper", "ETH/BTC")
    engines = [Inbox(), Inbox(), Inbox()]
    for sid, engine in enumerate(engines):
        link.watch(sid, D("99"), None, engine)
    assert not awake.busy()

    link.publish(D("98"), D("98"), D("98"), T0, T0)

    assert sum(len(e.told) for e in engines) == 3
    assert awake.busy()
    awake.done()
    awake.done()
    assert awake.busy()
    awake.done()
    assert not awake.busy()


def test_an_engine_that_died_is_counted_off_by_the_feed(awake: metrics.Awake) -> None:
    link = FeedLink("paper", "ETH/BTC")
    link.watch(1, D("99"), None, Dead())

    link.publish(D("98"), D("98"), D("98"), T0, T0)

    assert not awake.busy()


def test_a_tick_an_engine_drops_is_counted_off_too(awake: metrics.Awake) -> None:
    """Not started yet (ticks are ignored until the start path succeeds), or fenced: the
    wake-up is dropped, and still counted off."""
    tick = PriceCrossed(price=D(1), low=D(1), high=D(1), at=T0)
    awake.woke(2)
    bare_engine_actor().on_receive(tick)  # not ready: ignored
    fenced = threading.Event()
    fenced.set()
    bare_engine_actor(fence=fenced).on_receive(tick)  # replaced by another process: ignored
    assert not awake.busy()


def test_a_count_that_stops_moving_is_not_believed(
    awake: metrics.Awake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine stopped with wake-ups in its mailbox never counts them off: after STALE_S
    without a change the web stops waiting on them."""
    clock = [1000.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: clock[0])
    awake.woke(5)
    clock[0] += metrics.Awake.STALE_S - 0.1
    assert awake.busy()
    clock[0] += 0.2
    assert not awake.busy()
    awake.woke(1)  # a new tick: believed again
    assert awake.busy()


def test_done_never_goes_below_zero(awake: metrics.Awake) -> None:
    awake.done()
    awake.woke(1)
    assert awake.busy()

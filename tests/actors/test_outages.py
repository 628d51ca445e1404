"""Real actors through outages: exchange down, database down, an engine that stops answering."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors import engine_actor
from domain.errors import ExchangeUnavailable
from domain.orders import Order, OrderState
from exchange.paper import PaperExchange
from persistence.records import ActualState
from tests.actors.fakes import FaultyExchange, duplicated_ids, wait_until
from tests.actors.tree import Tree


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine actor's retry backoff is a module constant; seconds would make tests slow."""
    monkeypatch.setattr(engine_actor, "RETRY_BASE", 0.02)
    monkeypatch.setattr(engine_actor, "RETRY_CAP", 0.1)


def _running_with_orders(tree: Tree, sid: int) -> None:
    tree.wait_state(sid, ActualState.RUNNING)
    tree.wait_orders(sid, 3)
    wait_until(lambda: tree.watching() >= 1, what="the engine watching its levels")


def test_an_exchange_outage_degrades_and_recovers_with_the_missed_fill(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    _running_with_orders(tree, sid)

    tree.exchange_of(sid).outage = ExchangeUnavailable("503 Service Unavailable")
    tree.source.push("99")  # safety 1 fills on the venue while we cannot see it
    tree.wait_state(sid, ActualState.DEGRADED)
    record = tree.strategy(sid)
    assert record.last_error is not None and "503" in record.last_error
    assert len(tree.orders_of(sid)) == 3

    tree.exchange_of(sid).outage = None
    tree.wait_state(sid, ActualState.RUNNING)
    tree.wait_filled(sid, "s1")  # reconcile applied the fill missed during the outage
    tree.wait_orders(sid, 5)
    assert duplicated_ids(tree.orders_of(sid)) == []
    assert tree.strategy(sid).restart_count == 0  # retried, never crashed


def test_a_database_outage_places_nothing_and_trading_resumes_after(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    _running_with_orders(tree, sid)

    tree.repo.down.set()
    tree.source.push("99")  # safety 1 fills: the engine would place a new take-profit and s2
    wait_until(
        lambda: tree.repo.refusals("save_steps") >= 3,
        what="the engine to retry its refused step a few times",
    )
    assert len(tree.orders_of(sid)) == 3  # fail closed: nothing without a committed intent

    tree.repo.down.clear()
    tree.wait_filled(sid, "s1")
    tree.wait_orders(sid, 5)
    orders = tree.orders_of(sid)
    assert duplicated_ids(orders) == []
    assert sum(o.state is OrderState.OPEN for o in orders) == 2
    tree.wait_state(sid, ActualState.RUNNING)


class _Stalls(FaultyExchange):
    """Hangs the first call of the method a subclass stalls until the test releases it."""

    def __init__(self, inner: PaperExchange) -> None:
        super().__init__(inner)
        self.stalled = threading.Event()
        self.release = threading.Event()
        self._armed = True

    def _stall_once(self) -> None:
        if self._armed:
            self._armed = False
            self.stalled.set()
            self.release.wait(30)


class StallOnce(_Stalls):
    """Hangs the first `fetch_open_orders` (the start path's stray check) until released."""

    def fetch_open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        self._stall_once()
        return super().fetch_open_orders(symbol)


def test_an_engine_that_stops_answering_is_replaced_and_the_old_one_never_acts(
    tmp_path: Path,
) -> None:
    # An exchange call is a known wait: it counts as stuck only past max_known_wait.
    tree = Tree(tmp_path, heartbeat_interval=0.1, max_known_wait=0.5)
    try:
        sid = tree.add("alice", "main", "s1")
        account = tree.strategy(sid).account_id
        stall = StallOnce(tree.exchanges[account].inner)
        tree.exchanges[account] = stall
        tree.start()
        assert stall.stalled.wait(10)

        wait_until(lambda: tree.strategy(sid).restart_count >= 1, what="the engine replaced")
        tree.wait_state(sid, ActualState.RUNNING)
        tree.wait_orders(sid, 3)
        engines_before = len(pykka.ActorRegistry.get_all())

        stall.release.set()  # the stuck instance wakes up, fenced: it must not touch anything
        wait_until(
            lambda: len(pykka.ActorRegistry.get_all()) < engines_before,
            what="the fenced engine to die",
        )
        orders = tree.orders_of(sid)
        assert duplicated_ids(orders) == []
        assert [o.state for o in orders].count(OrderState.OPEN) == 2  # nothing canceled
        assert stall.creates.count(tree.coid(sid, 1, "b")) == 1
    finally:
        tree.close()


class StallFirstCreate(_Stalls):
    """Hangs the first create (the base order, a MARKET buy) before it reaches the venue."""

    def create_order(self, **kwargs: Any) -> Order:
        self._stall_once()
        return super().create_order(**kwargs)


def test_an_engine_replaced_during_a_create_never_lets_its_successor_buy_twice(
    tmp_path: Path,
) -> None:
    """Item 11: the successor waits for the create its predecessor has in flight."""
    tree = Tree(tmp_path, heartbeat_interval=0.1, max_known_wait=0.5)
    try:
        sid = tree.add("alice", "main", "s1")
        account = tree.strategy(sid).account_id
        stall = StallFirstCreate(tree.exchanges[account].inner)
        tree.exchanges[account] = stall
        tree.start()
        assert stall.stalled.wait(10)
        wait_until(lambda: tree.strategy(sid).restart_count >= 1, what="the engine replaced")
        time.sleep(0.5)  # room for a successor that does not wait to place the base order
        stall.release.set()  # the stuck create lands on the venue now
        tree.wait_orders(sid, 3)
        tree.wait_state(sid, ActualState.RUNNING)
        orders = tree.orders_of(sid)
        assert duplicated_ids(orders) == []
        assert stall.creates.count(tree.coid(sid, 1, "b")) == 1
    finally:
        tree.close()

"""Engines that cannot start: a brief database outage, a thread that cannot be created
(issue 11, items 13 and 16). One strategy's trouble never faults its siblings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.engine_actor import EngineActor
from actors.feed import MarketFeedActor
from actors.pool import ActorPool
from actors.user import UserActor
from domain.errors import DatabaseUnavailable
from exchange.port import Exchange
from persistence.records import ActualState
from tests.actors.fakes import wait_until
from tests.actors.tree import Tree


def test_a_brief_database_outage_while_spawning_is_retried_not_faulted(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    try:
        sid = tree.add("alice", "main", "s1")
        account = tree.strategy(sid).account_id
        refusals = [2]
        build = tree._exchange_for

        def exchange_for(account_id: int) -> Exchange:
            if account_id == account and refusals[0] > 0:
                refusals[0] -= 1
                raise DatabaseUnavailable("get account: database is down (test)")
            return build(account_id)

        tree._exchange_for = exchange_for  # type: ignore[method-assign]
        tree.start()
        tree.wait_state(sid, ActualState.RUNNING, timeout=30)
        tree.wait_orders(sid, 3)
        assert refusals == [0]
        assert tree.strategy(sid).last_error is None
    finally:
        tree.close()


def test_an_engine_whose_thread_cannot_start_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = Tree(tmp_path)
    try:
        bad = tree.add("alice", "main", "bad")
        good = tree.add("alice", "main", "good")
        submit = ActorPool.submit

        def no_thread_for_bad(self: ActorPool, actor: Any) -> None:
            # the pool has no worker and cannot start one (a thread per engine: the same)
            if isinstance(actor, EngineActor) and actor.strategy_id == bad:
                raise RuntimeError("can't start new thread")
            submit(self, actor)

        monkeypatch.setattr(ActorPool, "submit", no_thread_for_bad)
        tree.start()
        tree.wait_state(good, ActualState.RUNNING)
        tree.wait_state(bad, ActualState.FAULTED, timeout=30)
        error = tree.strategy(bad).last_error or ""
        assert "thread" in error and "limit" in error
        tree.wait_orders(good, 3)
        assert tree.strategy(good).actual_state is ActualState.RUNNING
        engines = wait_until(
            lambda: [
                ref for ref in pykka.ActorRegistry.get_by_class(EngineActor) if ref.is_alive()
            ],
            what="the good engine alive",
        )
        assert len(engines) == 1  # no dead ref of the failed starts left in the registry
    finally:
        tree.close()
    assert pykka.ActorRegistry.get_all() == []


@pytest.mark.parametrize("kind", ["feed", "user"])
def test_a_feed_or_user_whose_thread_cannot_start_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A feed or a user actor whose thread cannot start is retried like a crash: its market
    still gets prices, its strategies still trade (review of issue 11, item 16)."""
    target = MarketFeedActor if kind == "feed" else UserActor
    start_loop = pykka.ThreadingActor._start_actor_loop
    failures = [1]

    def fail_once(self: Any) -> None:
        if isinstance(self, target) and failures[0] > 0:
            failures[0] -= 1
            raise RuntimeError("can't start new thread")
        start_loop(self)

    monkeypatch.setattr(pykka.ThreadingActor, "_start_actor_loop", fail_once)
    tree = Tree(tmp_path)
    try:
        sid = tree.add("alice", "main", "s1")
        tree.start()
        tree.wait_orders(sid, 3)
        tree.source.push("100")  # a price through the feed: its market is healthy again
        tree.wait_state(sid, ActualState.RUNNING, timeout=30)
        assert failures == [0]
        wait_until(lambda: tree.watching() >= 1, what="the engine watching its levels")
        tree.source.push("99")  # prices reach the engine through the (restarted) feed
        tree.wait_filled(sid, "s1")
    finally:
        tree.close()
    assert pykka.ActorRegistry.get_all() == []

"""Real actors: crashes are contained to their strategy (or account); everyone else trades on."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest

from actors.admission import BootGate
from actors.engine_actor import EngineActor
from domain.errors import AuthenticationFailed
from persistence.records import ActualState, DesiredState
from tests.actors.fakes import Crash, duplicated_ids, wait_until
from tests.actors.tree import Tree


def _keeps_trading(tree: Tree, strategy_id: int, watchers: int = 1) -> None:
    """Base, take-profit and safety 1 are placed; a dip fills safety 1 and the engine books it."""
    tree.wait_orders(strategy_id, 3)
    # A tick the feed sees before the engine registered its levels wakes nobody (reported).
    wait_until(lambda: tree.watching() >= watchers, what=f"{watchers} engines watching")
    tree.source.push("99")
    tree.wait_filled(strategy_id, "s1")
    tree.wait_orders(strategy_id, 5)  # new take-profit and safety 2
    assert duplicated_ids(tree.orders_of(strategy_id)) == []


def test_a_crash_looping_engine_is_faulted_and_its_sibling_keeps_trading(tree: Tree) -> None:
    bad = tree.add("alice", "broken", "bad")
    good = tree.add("alice", "main", "good")
    tree.exchange_of(bad).outage = Crash("boom in the exchange client")
    tree.start()

    tree.wait_state(bad, ActualState.FAULTED)
    record = tree.strategy(bad)
    assert record.last_error is not None and "boom in the exchange client" in record.last_error
    assert record.restart_count == tree.policy.max_restarts
    assert tree.orders_of(bad) == []

    _keeps_trading(tree, good)
    assert tree.strategy(good).actual_state is ActualState.RUNNING


def test_a_restart_after_a_crash_reconciles_and_places_nothing_twice(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    exchange = tree.exchange_of(sid)
    exchange.after_create.append(Crash("died right after the venue accepted the base order"))
    tree.start()

    tree.wait_state(sid, ActualState.RUNNING)
    tree.wait_orders(sid, 3)
    wait_until(lambda: tree.strategy(sid).restart_count == 1, what="one restart recorded")
    orders = tree.orders_of(sid)
    assert duplicated_ids(orders) == []
    assert [o.client_order_id for o in orders][:1] == [tree.coid(sid, 1, "b")]
    assert exchange.creates.count(tree.coid(sid, 1, "b")) == 1  # adopted by client id, not re-sent
    _keeps_trading(tree, sid)


def test_rejected_keys_stop_that_accounts_strategies_and_no_one_else(tree: Tree) -> None:
    bob_1 = tree.add("bob", "main", "b1")
    bob_2 = tree.add("bob", "main", "b2")
    bob_other = tree.add("bob", "spare", "b3")
    alice = tree.add("alice", "main", "a1")
    tree.exchange_of(bob_1).outage = AuthenticationFailed("Invalid API-key, IP, or permissions")
    tree.start()

    for sid in (bob_1, bob_2):  # a new strategy is STOPPED until it runs: wait for the verdict
        wait_until(  # the engine state is written by the repository's buffer: it may lag
            partial(
                lambda s: (
                    tree.strategy(s).desired_state is DesiredState.STOPPED
                    and tree.strategy(s).last_error is not None
                ),
                sid,
            ),
            what=f"strategy {sid} stopped by the user actor",
        )
        record = tree.strategy(sid)
        assert record.actual_state is ActualState.STOPPED
        assert record.last_error is not None and "rejected the API key" in record.last_error
        assert tree.orders_of(sid) == []
    _keeps_trading(tree, alice, watchers=2)
    _keeps_trading(tree, bob_other, watchers=2)  # the same user's other account is untouched
    assert tree.strategy(bob_other).actual_state is ActualState.RUNNING


def test_an_engine_waiting_for_a_boot_slot_is_not_replaced_by_the_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread per engine: the engine's thread waits in the BootGate, inside a message."""
    interval = 0.2  # stuck after 3 intervals on one message: 0.6 s
    real_start = EngineActor._start_engine

    def slow_start(self: EngineActor) -> None:
        time.sleep(interval * 1.25)  # a boot that spans heartbeat checks, well short of stuck
        real_start(self)

    monkeypatch.setattr(EngineActor, "_start_engine", slow_start)
    gate = BootGate(1)
    tree = Tree(tmp_path, heartbeat_interval=interval, gate=gate, engine_threads=0)
    try:
        sid = tree.add("alice", "main", "s1")
        with ExitStack() as held:
            assert held.enter_context(gate.admit(lambda: False))  # the test holds the one slot
            tree.start()
            wait_until(lambda: gate.waiting == 1, what="the engine waiting for the slot")
            time.sleep(10 * interval)  # many heartbeat checks during one message
            assert tree.strategy(sid).restart_count == 0
            assert tree.orders_of(sid) == []
        # Admitted now: its work counts from here, not from when it began to wait, so the
        # checks during its boot do not find it stuck.
        _trades_after_one_boot(tree, sid)
    finally:
        tree.close()


def _trades_after_one_boot(tree: Tree, sid: int) -> None:
    tree.wait_state(sid, ActualState.RUNNING)
    tree.wait_orders(sid, 3)
    assert tree.strategy(sid).restart_count == 0  # booted once, never replaced
    assert duplicated_ids(tree.orders_of(sid)) == []


def test_a_pooled_engine_waiting_for_a_boot_slot_is_not_replaced_by_the_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled engines (actors.pool): one boot slot, held by an engine whose start path waits on
    something known; the other waits its turn outside any message, holding no worker."""
    interval = 0.2
    real_start = EngineActor._start_engine
    release = threading.Event()
    first: list[int] = []

    def held_start(self: EngineActor) -> None:
        if not first:
            first.append(self.strategy_id)
            with self.liveness.waiting("the test"):
                release.wait(30)
        real_start(self)

    monkeypatch.setattr(EngineActor, "_start_engine", held_start)
    tree = Tree(tmp_path, heartbeat_interval=interval, boot_slots=1)
    try:
        sids = [tree.add("alice", "main", "s1"), tree.add("bob", "main", "s2")]
        tree.start()
        wait_until(lambda: first, what="one engine in the one boot slot")
        time.sleep(10 * interval)  # many heartbeat checks while the other waits for the slot
        assert all(tree.strategy(sid).restart_count == 0 for sid in sids)
        assert all(tree.orders_of(sid) == [] for sid in sids)
        release.set()
        for sid in sids:
            _trades_after_one_boot(tree, sid)
    finally:
        release.set()
        tree.close()


def test_idle_engines_get_heartbeats_without_being_sent_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Liveness is read, not asked: a fleet that waits for prices costs no thread wake-ups."""
    received: list[str] = []
    real = EngineActor.on_receive

    def counting(self: EngineActor, message: object) -> object:
        received.append(type(message).__name__)
        return real(self, message)

    monkeypatch.setattr(EngineActor, "on_receive", counting)
    tree = Tree(tmp_path, heartbeat_interval=0.05)
    try:
        sid = tree.add("alice", "main", "s1")
        tree.start()
        tree.wait_orders(sid, 3)
        tree.wait_state(sid, ActualState.RUNNING)
        first = tree.strategy(sid).last_heartbeat
        before = len(received)
        time.sleep(20 * 0.05)  # many heartbeat checks, no price moves
        # Beats are stored rounded down to the second, so an advance shows within about 2 s.
        wait_until(
            lambda: (
                (beat := tree.strategy(sid).last_heartbeat) is not None
                and (first is None or beat > first)
            ),
            timeout=10.0,
            what="the idle engine's heartbeat to advance",
        )
        assert received[before:] == []
        assert tree.strategy(sid).restart_count == 0
    finally:
        tree.close()


def test_a_booted_engine_beats_at_once_not_a_heartbeat_interval_later(tmp_path: Path) -> None:
    """A restart or a failover is over when the engines trade and beat: the first beat comes
    with the boot, not with the user's next check (30 s here)."""
    tree = Tree(tmp_path, heartbeat_interval=30.0)
    try:
        sid = tree.add("alice", "main", "s1")
        tree.start()
        tree.wait_state(sid, ActualState.RUNNING)
        wait_until(
            lambda: tree.strategy(sid).last_heartbeat is not None,
            timeout=5.0,
            what="the first heartbeat",
        )
    finally:
        tree.close()

"""Real actors, issue 12: commands and rows written while the service runs (by the CLI, the
API, another process) reach it through the database alone: a resume that repeats the desired
state, strategies and users created while it runs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka
import pytest

from actors.user import UserActor
from persistence.records import ActualState, DesiredState
from services.control import Action, apply_action
from strategy.ladder import level_price
from strategy.params import MartingaleParams
from tests.actors.fakes import RULES, SYMBOL, Crash, wait_until
from tests.actors.tree import Tree

LIVE = f"binance@live:{SYMBOL}"


def _resume(tree: Tree, strategy_id: int) -> None:
    """`martingale strategy resume` / the API's resume: rows only."""
    apply_action(tree.sql, tree.strategy(strategy_id), Action.RESUME, now=datetime.now(UTC))


def _engines(tree: Tree, user_id: int) -> dict[int, Any]:
    return tree.user_refs()[user_id].proxy().engine_refs().get(timeout=10)  # type: ignore[no-any-return]


def test_a_resume_of_a_faulted_strategy_already_wanted_running_restarts_its_engine(
    tree: Tree,
) -> None:
    sid = tree.add("alice", "main", "s1")
    exchange = tree.exchange_of(sid)
    exchange.outage = Crash("boom in the exchange client")
    tree.start()
    tree.wait_state(sid, ActualState.FAULTED)
    exchange.outage = None  # the owner fixed what crashed it
    assert tree.strategy(sid).desired_state is DesiredState.RUNNING  # a resume changes nothing

    _resume(tree, sid)
    tree.wait_orders(sid, 3)
    tree.wait_state(sid, ActualState.RUNNING)
    assert tree.strategy(sid).command_seq == 1


def test_a_strategy_created_while_its_user_runs_starts_with_its_markets_feed(
    tree: Tree,
) -> None:
    first = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_orders(first, 3)

    on_paper = tree.add("alice", "main", "s2")  # the market already has a feed
    on_live = tree.add("alice", "binance", "s3", exchange="binance")  # a market new to the tree
    tree.wait_orders(on_paper, 3)
    tree.wait_orders(on_live, 3)
    assert tree.live_feeds_built == [("binance@live", SYMBOL)]
    wait_until(lambda: tree.watching(LIVE) == 1, what="the live engine watching its feed")
    wait_until(lambda: tree.watching() == 2, what="both paper engines watching theirs")
    tree.wait_state(on_live, ActualState.RUNNING)


def test_a_new_strategy_created_paused_or_stopped_runs_only_once_resumed(tree: Tree) -> None:
    first = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_orders(first, 3)
    uid = tree.strategy(first).user_id

    stopped = tree.add("alice", "main", "stopped", desired=DesiredState.STOPPED)
    paused = tree.add("alice", "main", "paused", desired=DesiredState.PAUSED)
    # Polls read rows in id order and the user actor its messages in order: once the paused
    # one's engine reports, the stopped one (created first) has been handled too.
    tree.wait_state(paused, ActualState.PAUSED)
    assert set(_engines(tree, uid)) == {first, paused}
    assert tree.orders_of(paused) == [] and tree.orders_of(stopped) == []

    _resume(tree, stopped)
    _resume(tree, paused)
    tree.wait_orders(stopped, 3)
    tree.wait_orders(paused, 3)
    assert set(_engines(tree, uid)) == {first, paused, stopped}


def test_a_user_created_while_the_service_runs_gets_its_actor_with_a_strategy_to_run(
    tree: Tree,
) -> None:
    first = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_orders(first, 3)

    idle = tree.add("carol", "main", "c1", desired=DesiredState.STOPPED)
    bob = tree.add("bob", "main", "b1")
    tree.wait_orders(bob, 3)
    # carol's row (older) was polled with or before bob's: she has nothing to run, no actor
    assert tree.strategy(bob).user_id in tree.user_refs()
    carol = tree.strategy(idle).user_id
    assert carol not in tree.user_refs()

    _resume(tree, idle)
    tree.wait_orders(idle, 3)
    assert set(_engines(tree, carol)) == {idle}


def test_params_changed_while_running_apply_from_the_next_cycle_only(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_orders(sid, 3)
    wait_until(lambda: tree.watching() == 1, what="the engine watching")
    record = tree.strategy(sid)
    old = MartingaleParams.from_mapping(record.params)
    changed = {**record.params, "price_deviation": "3"}
    tree.sql.upsert_strategy(  # what the API writes: the row, nothing else
        record.user_id,
        record.name,
        account_id=record.account_id,
        symbol=SYMBOL,
        params=changed,
        desired_state=DesiredState.RUNNING,
        now=datetime.now(UTC),
    )

    def price(cycle: int, leg: str) -> Decimal | None:
        orders = {o.client_order_id: o for o in tree.sql.list_orders(sid, cycle=cycle)}
        order = orders.get(tree.coid(sid, cycle, leg))
        return None if order is None else order.price

    resting = price(1, "s1")
    tree.source.push("99")  # safety 1 fills: this cycle places its next level as it began
    tree.wait_filled(sid, "s1")
    tree.wait_orders(sid, 5)
    assert price(1, "s1") == resting == level_price(old, Decimal("100"), 1, RULES)
    assert price(1, "s2") == level_price(old, Decimal("100"), 2, RULES)

    tree.source.push("101")  # the take-profit sells; after the cooldown (1 s) cycle 2 starts
    wait_until(lambda: price(2, "s1") is not None, what="cycle 2's first safety order")
    [_, second] = tree.sql.list_cycles(sid)[:2]
    assert second.base_price is not None
    new = MartingaleParams.from_mapping(changed)
    assert price(2, "s1") == level_price(new, second.base_price, 1, RULES)
    assert price(2, "s1") != level_price(old, second.base_price, 1, RULES)
    assert tree.strategy(sid).restart_count == 0


def test_a_user_given_up_on_is_started_again_by_its_owners_resume(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_loop = pykka.ThreadingActor._start_actor_loop
    failures = [tree.policy.max_restarts + 1]  # past the limit: the root gives the user up

    def fail(self: Any) -> None:
        if isinstance(self, UserActor) and failures[0] > 0:
            failures[0] -= 1
            raise RuntimeError("can't start new thread")
        start_loop(self)

    monkeypatch.setattr(pykka.ThreadingActor, "_start_actor_loop", fail)
    sid = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_state(sid, ActualState.FAULTED)
    assert failures == [0] and tree.user_refs() == {}

    _resume(tree, sid)  # a person looked: the user's actor runs again, and the strategy with it
    tree.wait_orders(sid, 3)
    tree.wait_state(sid, ActualState.RUNNING)

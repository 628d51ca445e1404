"""Real actors, issue 12: a user deleted while the service runs (`services.users.delete_user`,
rows only) has its strategies stopped within a poll or two: resting orders cancelled, the
position kept, then its actor stopped; other users trade on. A user deleted while no service
ran has what its stop left undone finished at the next start, and nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.orders import OrderState, Side
from persistence.records import ActualState, DesiredState
from services.principal import OPERATOR
from services.users import delete_user
from tests.actors.fakes import wait_until
from tests.actors.tree import Tree


def _delete(tree: Tree, strategy_id: int) -> int:
    uid = tree.strategy(strategy_id).user_id
    delete_user(tree.sql, OPERATOR, uid, now=datetime.now(UTC))
    return uid


def _open(tree: Tree, strategy_id: int) -> list[Any]:
    return [o for o in tree.orders_of(strategy_id) if o.state is OrderState.OPEN]


def _eth(tree: Tree, key: str) -> Decimal:
    balance = tree.venue.balances(key).get("ETH")
    return Decimal(0) if balance is None else balance.total


def test_a_user_deleted_while_the_service_runs_is_stopped_cancelling_its_orders(
    tree: Tree,
) -> None:
    s1 = tree.add("alice", "main", "s1")
    paused = tree.add("alice", "main", "paused", desired=DesiredState.PAUSED)
    bob = tree.add("bob", "main", "b1")
    tree.start()
    tree.wait_orders(s1, 3)
    tree.wait_orders(bob, 3)
    tree.wait_state(s1, ActualState.RUNNING)  # a strategy's state before it first runs is
    tree.wait_state(paused, ActualState.PAUSED)  # STOPPED: waiting for it would prove nothing
    held = _eth(tree, "alice/main")
    assert held > 0 and _open(tree, s1)  # bought its base order; its ladder rests

    alice = _delete(tree, s1)

    tree.wait_state(s1, ActualState.STOPPED)
    tree.wait_state(paused, ActualState.STOPPED)
    wait_until(lambda: alice not in tree.user_refs(), what="alice's actor stopped")
    assert _open(tree, s1) == []  # its ladder cancelled...
    assert _eth(tree, "alice/main") == held  # ...and its position kept, not sold
    assert [o.side for o in tree.orders_of(s1)].count(Side.SELL) == 1  # the take-profit only
    assert tree.orders_of(paused) == []
    # Bob trades on.
    assert tree.strategy(bob).user_id in tree.user_refs()
    assert len(_open(tree, bob)) >= 2
    assert tree.strategy(bob).actual_state is ActualState.RUNNING

    # A restart runs nothing of alice's: a strategy of bob's created after it is picked up by
    # a poll, so the start's first poll (which lists alice's rows) has been handled by then.
    orders = tree.orders_of(s1)
    tree.stop()
    tree.start()
    later = tree.add("bob", "main", "b2")
    tree.wait_orders(later, 3)
    assert alice not in tree.user_refs()
    assert tree.orders_of(s1) == orders
    assert tree.strategy(s1).actual_state is ActualState.STOPPED


def test_a_user_deleted_while_no_service_ran_has_its_stop_finished_at_the_next_start(
    tree: Tree,
) -> None:
    s1 = tree.add("alice", "main", "s1")
    done = tree.add("carol", "main", "c1", desired=DesiredState.STOPPED)
    tree.start()
    tree.wait_orders(s1, 3)
    tree.wait_state(s1, ActualState.RUNNING)
    tree.stop()  # the service stops (or dies): alice's ladder rests on the exchange
    assert tree.strategy(s1).actual_state is ActualState.RUNNING
    assert tree.strategy(done).actual_state is ActualState.STOPPED
    held = _eth(tree, "alice/main")
    alice = _delete(tree, s1)
    carol = _delete(tree, done)

    tree.start()

    tree.wait_state(s1, ActualState.STOPPED)
    wait_until(lambda: alice not in tree.user_refs(), what="alice's actor stopped")
    assert _open(tree, s1) == []
    assert _eth(tree, "alice/main") == held
    # carol's strategy had nothing left to stop: she got no actor (her row was polled with
    # alice's, before alice's actor even started)
    assert carol not in tree.user_refs()
    assert tree.orders_of(done) == []

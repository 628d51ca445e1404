"""Graceful stop: resting orders stay on the exchange, no actor is left, the next start resumes."""

from __future__ import annotations

from pathlib import Path

import pykka

from domain.orders import OrderState
from persistence.records import ActualState
from tests.actors.fakes import duplicated_ids, wait_until
from tests.actors.tree import Tree


def test_graceful_stop_keeps_resting_orders_and_the_next_start_resumes(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    try:
        alice = tree.add("alice", "main", "a1")
        bob = tree.add("bob", "main", "b1")
        tree.start()
        for sid in (alice, bob):
            tree.wait_state(sid, ActualState.RUNNING)
            tree.wait_orders(sid, 3)
        before = {sid: tree.orders_of(sid) for sid in (alice, bob)}

        tree.stop()
        assert pykka.ActorRegistry.get_all() == []
        for sid in (alice, bob):
            orders = tree.orders_of(sid)
            assert orders == before[sid]  # nothing canceled, nothing new
            assert [o.state for o in orders].count(OrderState.OPEN) == 2
            db = {o.client_order_id: o.state for o in tree.sql.list_orders(sid)}
            assert db == {o.client_order_id: o.state for o in orders}

        tree.start()  # the next process: reconcile, adopt, carry on
        wait_until(lambda: tree.watching() >= 2, what="both engines watching again")
        for sid in (alice, bob):
            assert tree.orders_of(sid) == before[sid]
        tree.source.push("99")
        for sid in (alice, bob):
            tree.wait_filled(sid, "s1")
            tree.wait_orders(sid, 5)
            assert duplicated_ids(tree.orders_of(sid)) == []
        tree.stop()
        assert pykka.ActorRegistry.get_all() == []
    finally:
        tree.close()

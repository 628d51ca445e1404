"""A stop revoked by a resume (issue 11, item 18): the strategy goes on, it does not end the
cycle as "finished (wants running)"."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from domain.events import StopMode
from persistence.records import ActualState, DesiredState
from tests.actors.fakes import wait_until
from tests.actors.tree import Tree


def test_stop_after_the_cycle_then_resume_keeps_trading(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    try:
        sid = tree.add("alice", "main", "s1")
        tree.start()
        tree.wait_orders(sid, 3)
        now = datetime.now(UTC)
        tree.sql.set_desired_state(
            sid, DesiredState.STOPPED, now=now, stop_mode=StopMode.FINISH_CYCLE
        )
        wait_until(
            lambda: any(e.type == "StopRequested" for e in tree.sql.recent_events(sid)),
            what="the engine to record the stop",
        )
        tree.sql.set_desired_state(sid, DesiredState.RUNNING, now=datetime.now(UTC))
        time.sleep(1.0)  # room for the poll (0.1 s) to carry the resume to the engine
        tree.source.push("101.5")  # the take-profit fills: the cycle closes
        wait_until(
            lambda: any(o.client_order_id == tree.coid(sid, 2, "b") for o in tree.orders_of(sid)),
            what="the next cycle's base order",
            timeout=20,
        )
        assert tree.strategy(sid).actual_state is ActualState.RUNNING
    finally:
        tree.close()


def test_a_paused_strategy_that_never_ran_stops_without_buying(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    try:
        sid = tree.add("alice", "main", "s1", desired=DesiredState.PAUSED)
        tree.start()
        tree.wait_state(sid, ActualState.PAUSED)

        tree.sql.set_desired_state(
            sid, DesiredState.STOPPED, now=datetime.now(UTC), stop_mode=StopMode.CANCEL
        )

        tree.wait_state(sid, ActualState.STOPPED)
        assert tree.orders_of(sid) == []
        assert tree.sql.list_orders(sid) == []
    finally:
        tree.close()

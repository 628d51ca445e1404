"""The periodic per-account pass (issue 11, item 5): a fill no tick revealed is applied within a
period, and hands on the account (an order canceled, base sold or withdrawn) are reported as
the strategy's error instead of failing silently later."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from domain.orders import OrderState
from persistence.records import ActualState
from tests.actors.fakes import SYMBOL, wait_until
from tests.actors.tree import Tree


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    t = Tree(tmp_path, reconcile_interval=0.3)
    yield t
    t.close()


def _started(tree: Tree) -> int:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_orders(sid, 3)  # base filled at 100; take-profit at 101 and safety 1 at 99 rest
    tree.wait_state(sid, ActualState.RUNNING)
    return sid


def test_a_fill_no_tick_revealed_is_applied_within_a_period(tree: Tree) -> None:
    sid = _started(tree)
    # A dip shorter than the feed's poll: the venue trades at 98.9 and back, no tick published.
    tree.venue.update_price(SYMBOL, Decimal("98.9"))
    tree.venue.update_price(SYMBOL, Decimal("100"))
    tree.wait_filled(sid, "s1")
    wait_until(
        lambda: any(
            o.client_order_id == tree.coid(sid, 1, "t2") and o.state is OrderState.OPEN
            for o in tree.orders_of(sid)
        ),
        what="a take-profit for the new position",
    )


def test_an_order_canceled_by_hand_is_the_strategy_s_error(tree: Tree) -> None:
    sid = _started(tree)
    account = tree.strategy(sid).account_id
    tree.exchanges[account].inner.cancel_order(SYMBOL, client_order_id=tree.coid(sid, 1, "s1"))
    wait_until(
        lambda: "canceled on the exchange" in (tree.strategy(sid).last_error or ""),
        what="the manual cancel reported",
    )
    audit = [r.entry for r in tree.sql.recent_audit() if r.entry.event == "canceled_outside"]
    assert audit and audit[0].level == "warning"


def test_base_sold_by_hand_is_reported_not_left_to_fail(tree: Tree) -> None:
    sid = _started(tree)
    account = tree.strategy(sid).account_id
    key = tree.account_keys[account]
    # By hand on the exchange: the take-profit canceled and half the position withdrawn.
    tree.exchanges[account].inner.cancel_order(SYMBOL, client_order_id=tree.coid(sid, 1, "t1"))
    tree.venue.deposit(key, "ETH", Decimal("-0.5"))
    tree.wait_state(sid, ActualState.DEGRADED, timeout=20)
    error = tree.strategy(sid).last_error or ""
    assert "holds 0.5 ETH" in error and "strategies hold 1 ETH" in error
    kinds = {r.entry.event for r in tree.sql.recent_audit()}
    assert {"canceled_outside", "sell_refused"} <= kinds  # the new take-profit was refused

    tree.venue.deposit(key, "ETH", Decimal("0.5"))  # the user puts it back: the error clears
    tree.wait_state(sid, ActualState.RUNNING, timeout=20)

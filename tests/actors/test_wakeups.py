"""Price wake-ups: an engine woken by the feed must stay watched even when nothing changed.

The feed's watch board drops an engine when it wakes it, and the engine re-registers after it
has looked. If the exchange lags (the order the price crossed still shows open), the engine's
levels are unchanged, and it must register them again or no later tick will ever wake it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from actors import metrics
from domain.orders import Order, OrderState
from exchange.paper import PaperExchange
from persistence.records import ActualState
from tests.actors.fakes import FaultyExchange, wait_until
from tests.actors.tree import Tree


class LagsOnce(FaultyExchange):
    """Answers the first lookup of `coid` after it filled as if it were still open."""

    def __init__(self, inner: PaperExchange, coid: str) -> None:
        super().__init__(inner)
        self.coid = coid
        self.lagged = False

    def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        order = super().fetch_order(
            symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
        )
        if client_order_id == self.coid and order.state is OrderState.FILLED and not self.lagged:
            self.lagged = True
            return dataclasses.replace(
                order, state=OrderState.OPEN, filled=order.filled * 0, cost=order.cost * 0
            )
        return order


def test_an_engine_woken_without_news_is_woken_again_by_the_next_tick(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    try:
        sid = tree.add("alice", "main", "s1")
        account = tree.strategy(sid).account_id
        lagging = LagsOnce(tree.exchanges[account].inner, tree.coid(sid, 1, "s1"))
        tree.exchanges[account] = lagging
        tree.start()
        tree.wait_state(sid, ActualState.RUNNING)
        tree.wait_orders(sid, 3)
        wait_until(lambda: tree.watching() >= 1, what="the engine watching")

        tree.source.push("99")  # safety 1 fills; the engine is told it is still open
        wait_until(lambda: lagging.lagged, what="the lagging answer")
        tree.source.push("98.9")  # still below the level: this tick must wake it again
        tree.wait_filled(sid, "s1", timeout=5)
    finally:
        tree.close()


def test_a_tick_that_leads_to_orders_is_timed_to_the_exchanges_answer(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    try:
        sid = tree.add("alice", "main", "s1")
        tree.start()
        tree.wait_state(sid, ActualState.RUNNING)
        tree.wait_orders(sid, 3)
        wait_until(lambda: tree.watching() >= 1, what="the engine watching")
        metrics.reset()

        tree.source.push("99")  # safety 1 fills: the take-profit is replaced, safety 2 placed
        wait_until(lambda: metrics.TICK_TO_ORDER.summary().count == 1, what="the order timed")
        [ordered] = metrics.TICK_TO_ORDER.samples()
        [done] = metrics.TICK_TO_WAKE_DONE.samples()
        assert 0 < ordered < done  # the answer came before the commit that recorded it
    finally:
        tree.close()
        metrics.reset()

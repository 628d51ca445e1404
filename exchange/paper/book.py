"""Resting orders of one symbol, kept sorted by price so that a tick costs O(k log n).

A price tick only has to look at the best resting buy (highest price) and the best resting sell
(lowest price): everything behind them is further from the market. Two heaps give that in
O(log n) per fill. Cancels are lazy: the id is forgotten at once and its heap entry is dropped
when it surfaces at the top; when stale entries outnumber live ones the heaps are rebuilt, so
memory stays proportional to the live book.
"""

from __future__ import annotations

import heapq
from decimal import Decimal

from domain.orders import Side


class Book:
    """Price-time priority: better price first, then lower order id (earlier) first."""

    __slots__ = ("_buys", "_live", "_sells", "_stale")

    def __init__(self) -> None:
        self._buys: list[tuple[Decimal, int]] = []  # (-price, order id): max-heap on price
        self._sells: list[tuple[Decimal, int]] = []  # (price, order id): min-heap on price
        self._live: dict[int, Side] = {}
        self._stale = 0

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._live

    def add(self, order_id: int, side: Side, price: Decimal) -> None:
        if order_id in self._live:
            raise ValueError(f"order {order_id} already rests in the book")
        self._live[order_id] = side
        if side is Side.BUY:
            heapq.heappush(self._buys, (-price, order_id))
        else:
            heapq.heappush(self._sells, (price, order_id))

    def remove(self, order_id: int) -> bool:
        """Forget a resting order (cancel); False when it was not resting."""
        if self._live.pop(order_id, None) is None:
            return False
        self._stale += 1
        if self._stale > len(self._live) and self._stale > 64:
            self._compact()
        return True

    def pop_buys_at_or_above(self, price: Decimal) -> list[int]:
        """Take out every resting buy whose limit is >= price (the market traded down to it)."""
        taken: list[int] = []
        heap = self._buys
        while heap and -heap[0][0] >= price:
            _, order_id = heapq.heappop(heap)
            if self._live.pop(order_id, None) is None:
                self._stale -= 1
                continue
            taken.append(order_id)
        return taken

    def pop_sells_at_or_below(self, price: Decimal) -> list[int]:
        """Take out every resting sell whose limit is <= price (the market traded up to it)."""
        taken: list[int] = []
        heap = self._sells
        while heap and heap[0][0] <= price:
            _, order_id = heapq.heappop(heap)
            if self._live.pop(order_id, None) is None:
                self._stale -= 1
                continue
            taken.append(order_id)
        return taken

    def _compact(self) -> None:
        self._buys = [entry for entry in self._buys if entry[1] in self._live]
        self._sells = [entry for entry in self._sells if entry[1] in self._live]
        heapq.heapify(self._buys)
        heapq.heapify(self._sells)
        self._stale = 0

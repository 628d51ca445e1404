"""SendLog: which creates a strategy has sent, shared by the successive incarnations of its engine.

The resubmit grace (DESIGN rule 4) exists for creates whose outcome is unknown: a venue may
list such an order only seconds later, and binance accepts a reused client order id once the
first order is closed, so placing it again too early can buy twice. It must therefore count
from the *send*, and it must never delay an intent that was never sent (a create refused at
the gate by a 429, an open circuit, or a round that failed before reaching it).

An engine replaced while a create is in flight (stuck on a slow exchange call) keeps that call
going on its own thread. Its successor must not look the order up, find nothing yet, and place
it again: it waits here until nothing is in flight before it reconciles.

So each create is registered before it is sent and released when it returns; a refusal that
proves the order was not placed is recorded as such. The log lives with the strategy's
supervisor (one per strategy, across engine incarnations) and keeps only the ids of orders
still working (`keep`), so it stays as small as the open book.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime


class SendLog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._sent: dict[str, datetime] = {}
        self._refused: set[str] = set()
        self._known: set[str] = set()  # intents committed by this process's engines

    @contextmanager
    def sending(self, client_order_id: str, at: datetime) -> Iterator[None]:
        """Around one create call: in flight until it returns, however it returns."""
        with self._cond:
            self._in_flight[client_order_id] = self._in_flight.get(client_order_id, 0) + 1
            self._sent[client_order_id] = at
            self._refused.discard(client_order_id)
            self._known.add(client_order_id)
        try:
            yield
        finally:
            with self._cond:
                left = self._in_flight[client_order_id] - 1
                if left:
                    self._in_flight[client_order_id] = left
                else:
                    del self._in_flight[client_order_id]
                self._cond.notify_all()

    def committed(self, client_order_ids: Iterable[str]) -> None:
        """Intents this process committed: it knows whether, and when, it sends them."""
        with self._cond:
            self._known.update(client_order_ids)

    def refused(self, client_order_id: str) -> None:
        """The venue (or our own gate) refused the create: the order was not placed."""
        with self._cond:
            self._sent.pop(client_order_id, None)
            self._refused.add(client_order_id)

    def may_have_sent(self, client_order_id: str, at: datetime) -> None:
        """A create this process knows nothing about (found PENDING_SUBMIT at a start after a
        restart): it may have been sent as late as `at`, so the grace counts from there."""
        with self._cond:
            if client_order_id not in self._known:
                self._known.add(client_order_id)
                self._sent[client_order_id] = at

    def sent_at(self, client_order_id: str) -> datetime | None:
        """When the create was last sent, or None if it was never sent (or was refused)."""
        with self._cond:
            return self._sent.get(client_order_id)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no create is in flight; False if one still is after `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._in_flight, timeout=timeout)

    def keep(self, working: Iterable[str]) -> None:
        """Forget every order that is no longer working (never one still in flight)."""
        live = set(working)
        with self._cond:
            live.update(self._in_flight)
            for coid in [c for c in self._sent if c not in live]:
                del self._sent[coid]
            self._refused &= live
            self._known &= live

    def __len__(self) -> int:
        with self._cond:
            return len(self._known)

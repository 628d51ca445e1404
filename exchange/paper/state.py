"""The paper venue's in-memory state: the matching core, loaded from and backed by its file.

Only what a tick or an order check needs is held in memory (accounts, balances, rules, last
prices, open orders and their books), plus the most recently closed orders and the most recent
fills, which engines ask for right after the tick that filled them; older closed orders and
fills are read from the file on demand. Every change is recorded in the journal, which writes
it to the file (see `journal`), and stamps the account with the change's number, so a read of
the account waits until the file holds what it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from exchange.paper.accounts import Account, Resting
from exchange.paper.core import Market, MatchingCore
from exchange.paper.journal import Journal
from exchange.paper.store import PaperStore


class VenueState(MatchingCore):
    def __init__(
        self,
        store: PaperStore,
        venue_name: str,
        journal: Journal,
        clock: Callable[[], datetime],
        changing: Callable[[], AbstractContextManager[object]],
    ) -> None:
        self._store = store
        self.journal = journal
        super().__init__(venue_name, journal, clock, changing)
        self.load()

    def load(self) -> None:
        """(Re)build everything from the file: at start-up and after a failed transaction."""
        self.reset()
        store = self._store
        for key, rate, in_quote in store.accounts():
            self.accounts[key] = Account(rate, in_quote)
        for account, currency, free, used in store.balances():
            self.accounts[account].balances[currency] = [free, used]
        self.rules.update((r.symbol, r) for r in store.markets())
        self.prices.update((symbol, (price, at)) for symbol, price, at in store.prices())
        self.replays.update((symbol, (source, at)) for symbol, source, at in store.replays())
        for order_id, account, order, locked in store.open_orders():
            self.rest(Resting(order_id, account, order, locked))
        self.last_order_id, self.last_trade_id = store.max_ids()
        # Per (account, symbol), the latest time of a fill only the file holds: memory answers
        # "since t" for any t after it. For the fills already in the file, looked up once per
        # market when first asked (a scan of every market's history here would slow every
        # start).
        self._filed_through = self.last_trade_id
        self._filed_bounds: dict[Market, int | None] = {}

    def filed_until(self, market: Market) -> int | None:
        """The latest time of the market's fills the file held when memory was loaded. Venue
        lock held; takes the file's lock after it, the order the journal uses."""
        if market not in self._filed_bounds:
            with self.journal.io:
                self._filed_bounds[market] = self._store.latest_fill_time(
                    market[0], market[1], through_trade=self._filed_through
                )
        return self._filed_bounds[market]

"""The paper venue's in-memory state: a cache of its SQLite file for the open book.

Only what a tick or an order check needs is held here (accounts, balances, rules, last prices,
open orders and their books), plus the most recently closed orders and the most recent fills,
which engines ask for right after the tick that filled them; older closed orders and fills are
read from the file on demand. Every mutator records its change in the journal, which writes it
to the file (see `journal`), and stamps the account with the change's number, so a read of the
account waits until the file holds what it shows.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from domain.errors import AuthenticationFailed, InvalidOrder, UnknownSymbol
from domain.market import MarketRules, split_symbol
from domain.money import ZERO
from domain.orders import Fill, Order, Side
from exchange.paper.book import Book
from exchange.paper.journal import Journal
from exchange.paper.store import PaperStore, from_us, to_us

RECENTLY_CLOSED = 20_000  # closed orders kept in memory (a few MB); older ones come from the file
RECENT_FILLS = 20_000  # the same for fills

Market = tuple[str, str]  # (account, symbol)


@dataclass(slots=True)
class Account:
    fee_rate: Decimal
    fee_in_quote: bool
    balances: dict[str, list[Decimal]] = field(default_factory=dict)  # currency -> [free, used]
    seq: int = 0  # the journal number of this account's last change: reads wait for it

    def free(self, currency: str) -> Decimal:
        balance = self.balances.get(currency)
        return ZERO if balance is None else balance[0]


@dataclass(slots=True)
class Resting:
    order_id: int
    account: str
    order: Order
    locked: Decimal  # funds held for this order: quote for a buy, base for a sell

    @property
    def held_currency(self) -> str:
        base, quote = split_symbol(self.order.symbol)
        return quote if self.order.side is Side.BUY else base


class VenueState:
    def __init__(self, store: PaperStore, venue_name: str, journal: Journal) -> None:
        self._store = store
        self._venue_name = venue_name
        self.journal = journal
        self.load()

    def load(self) -> None:
        """(Re)build everything from the file: at start-up and after a failed transaction."""
        store = self._store
        self.accounts: dict[str, Account] = {
            key: Account(rate, in_quote) for key, rate, in_quote in store.accounts()
        }
        for account, currency, free, used in store.balances():
            self.accounts[account].balances[currency] = [free, used]
        self.rules: dict[str, MarketRules] = {r.symbol: r for r in store.markets()}
        self.prices: dict[str, tuple[Decimal, datetime]] = {
            symbol: (price, at) for symbol, price, at in store.prices()
        }
        # Per replayed symbol: (recording, open time of the last candle taken from it).
        self.replays: dict[str, tuple[str, datetime]] = {
            symbol: (source, at) for symbol, source, at in store.replays()
        }
        self.open: dict[int, Resting] = {}
        self.open_by_coid: dict[tuple[str, str], int] = {}
        # An account's open order ids: listing one account's open orders must not walk the
        # whole venue (thousands of strategies share it).
        self.open_by_account: dict[str, set[int]] = {}
        self.books: dict[str, Book] = {}
        # order id -> (account, order) of the last RECENTLY_CLOSED orders to close, and the id
        # of the latest closed order per (account, client order id).
        self.closed: OrderedDict[int, tuple[str, Order]] = OrderedDict()
        self.closed_by_coid: dict[tuple[str, str], int] = {}
        for order_id, account, order, locked in store.open_orders():
            self.rest(Resting(order_id, account, order, locked))
        self.last_order_id, self.last_trade_id = store.max_ids()
        # The fills made since (the last RECENT_FILLS of them), in trade id order. Per (account,
        # symbol), the latest time of a fill only the file holds: memory answers "since t" for
        # any t after it. For the fills already in the file, looked up once per market when
        # first asked (a scan of every market's history here would slow every start).
        self.fills: deque[tuple[Market, int]] = deque()  # (market, time in µs)
        self.fills_by_market: dict[Market, deque[tuple[int, Fill]]] = {}
        self._filed_through = self.last_trade_id
        self._filed_bounds: dict[Market, int | None] = {}
        self._evicted_until: dict[Market, int] = {}

    def account(self, account_key: str) -> Account:
        account = self.accounts.get(account_key)
        if account is None:
            raise AuthenticationFailed(
                f"paper venue {self._venue_name} has no account {account_key!r}; open it first"
            )
        return account

    def listed(self, symbol: str) -> MarketRules:
        rules = self.rules.get(symbol)
        if rules is None:
            raise UnknownSymbol(f"Invalid symbol. ({symbol} is not listed on {self._venue_name})")
        return rules

    def move(self, account_key: str, currency: str, free: Decimal, used: Decimal) -> None:
        """Change a balance and journal it."""
        account = self.accounts[account_key]
        balance = account.balances.setdefault(currency, [ZERO, ZERO])
        balance[0] += free
        balance[1] += used
        if balance[0] < 0 or balance[1] < 0:  # an accounting bug, never a user error
            raise AssertionError(f"{account_key} {currency} balance went negative: {balance}")
        account.seq = self.journal.balance(account_key, currency, balance[0], balance[1])

    def put_order(self, order_id: int, account_key: str, order: Order, locked: Decimal) -> None:
        """Journal an order's new state; a closed one is remembered among the recent ones."""
        self.accounts[account_key].seq = self.journal.order(order_id, account_key, order, locked)
        if order.state.is_terminal:
            self.closed[order_id] = (account_key, order)
            self.closed_by_coid[account_key, order.client_order_id] = order_id
            while len(self.closed) > RECENTLY_CLOSED:
                old_id, (old_account, old) = self.closed.popitem(last=False)
                key = (old_account, old.client_order_id)
                if self.closed_by_coid.get(key) == old_id:
                    del self.closed_by_coid[key]

    def record_fill(self, account_key: str, fill: Fill) -> None:
        """Remember a fill just made (the journal writes it); forget the oldest beyond
        RECENT_FILLS. The timestamp is kept as the file keeps it (UTC, microseconds), so memory
        and file give the same answer."""
        assert fill.timestamp is not None  # the venue stamps every fill it makes
        at_us = to_us(fill.timestamp)
        stored = from_us(at_us)
        if fill.timestamp != stored or fill.timestamp.tzinfo is not stored.tzinfo:
            fill = replace(fill, timestamp=stored)
        market = (account_key, fill.symbol)
        self.fills.append((market, at_us))
        self.fills_by_market.setdefault(market, deque()).append((at_us, fill))
        while len(self.fills) > RECENT_FILLS:
            old_market, old_us = self.fills.popleft()
            kept = self.fills_by_market[old_market]
            kept.popleft()  # the market's oldest: both deques are in trade id order
            if not kept:
                del self.fills_by_market[old_market]
            self._evicted_until[old_market] = max(
                old_us, self._evicted_until.get(old_market, old_us)
            )

    def recent_fills(
        self, account_key: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill] | None:
        """The fills at or after `since`, ordered as the file orders them (time, trade id),
        if memory holds all of them; None if only the file does."""
        if since is None:
            return None
        market = (account_key, symbol)
        since_us = to_us(since)
        for until in (self._evicted_until.get(market), self._filed_until(market)):
            if until is not None and since_us <= until:
                return None
        found = [
            (at, int(f.trade_id), f)
            for at, f in self.fills_by_market.get(market, ())
            if at >= since_us
        ]
        found.sort(key=lambda row: (row[0], row[1]))
        fills = [f for _, _, f in found]
        return fills if limit is None else fills[:limit]

    def _filed_until(self, market: Market) -> int | None:
        """The latest time of the market's fills the file held when memory was loaded. Venue
        lock held; takes the file's lock after it, the order the journal uses."""
        if market not in self._filed_bounds:
            with self.journal.io:
                self._filed_bounds[market] = self._store.latest_fill_time(
                    market[0], market[1], through_trade=self._filed_through
                )
        return self._filed_bounds[market]

    def recently_closed(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order | None:
        if exchange_order_id is not None:
            order_id = int(exchange_order_id) if exchange_order_id.isdigit() else None
        else:
            order_id = self.closed_by_coid.get((account_key, coid or ""))
        entry = None if order_id is None else self.closed.get(order_id)
        if entry is None or entry[0] != account_key or entry[1].symbol != symbol:
            return None
        return entry[1]

    def rest(self, entry: Resting) -> None:
        assert entry.order.price is not None
        self.open[entry.order_id] = entry
        self.open_by_coid[entry.account, entry.order.client_order_id] = entry.order_id
        self.open_by_account.setdefault(entry.account, set()).add(entry.order_id)
        book = self.books.setdefault(entry.order.symbol, Book())
        book.add(entry.order_id, entry.order.side, entry.order.price)

    def unrest(self, entry: Resting, *, in_book: bool = True) -> None:
        """Forget an open order; `in_book=False` when matching already popped it."""
        del self.open[entry.order_id]
        del self.open_by_coid[entry.account, entry.order.client_order_id]
        self.open_by_account[entry.account].discard(entry.order_id)
        if in_book:
            self.books[entry.order.symbol].remove(entry.order_id)

    def open_entry(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Resting | None:
        if exchange_order_id is not None:
            entry = self.open.get(int(exchange_order_id)) if exchange_order_id.isdigit() else None
        elif coid is not None:
            order_id = self.open_by_coid.get((account_key, coid))
            entry = None if order_id is None else self.open[order_id]
        else:
            raise InvalidOrder("give exchange_order_id or client_order_id to find an order")
        if entry is None or entry.account != account_key or entry.order.symbol != symbol:
            return None
        return entry

"""One simulated spot venue: every account's balances, orders and fills, and the market prices.

Thread-safety: one re-entrant lock guards all state. Critical sections are memory only (dict
and heap operations); the SQLite writes happen after the lock is released, in groups (see
`journal`). Listeners run after the lock is released, so a listener may call back into the venue.

Consistency: memory is ahead of the SQLite file by at most the changes of the calls still
waiting for their group's commit. A call that changes an account returns only once the file
holds the change, a read of an account only once the file holds everything it shows, and fill
listeners run only once the fills are in the file; if a write fails, memory is rebuilt from the
file and every call whose change was lost raises `ExchangeUnavailable`. So the venue never
reports what the file does not hold. Only the most recent closed orders and fills are kept
in memory besides the open book (a bounded number: memory stays proportional to the open book,
however long the service runs); older ones are read from the file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from domain.errors import InsufficientFunds, OrderNotFound
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.money import ZERO
from domain.orders import Fill, Order, OrderType, Side
from exchange.paper.accounts import VenueFill
from exchange.paper.candles import CandleBook, History, closed_candles
from exchange.paper.core import candle_range
from exchange.paper.journal import Journal
from exchange.paper.state import VenueState
from exchange.paper.store import PaperStore

DEFAULT_FEE_RATE = Decimal("0.001")  # binance spot's base rate


def _utcnow() -> datetime:
    return datetime.now(UTC)


FillListener = Callable[[Sequence[VenueFill]], None]


class PaperVenue:
    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "paper",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[FillListener] = []
        self._store = PaperStore(path)
        self._journal = Journal(self._store, self._lock, self._reload)
        self._state = VenueState(self._store, name, self._journal, clock, self._changing)
        self._candles = CandleBook()

    # --- setup ---------------------------------------------------------------------------------

    def open_account(
        self,
        account_key: str,
        *,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        fee_in_quote: bool = False,
    ) -> None:
        """Create the account with `balances`, or, when it exists, keep its persisted balances
        (re-running onboarding must not reset a running account) and update its fee settings.
        Fees are charged in the asset received (binance's default) unless `fee_in_quote`."""
        with self._lock:
            account = self._state.open_account(
                account_key, balances=balances or {}, fee_rate=fee_rate, fee_in_quote=fee_in_quote
            )
            seq = account.seq
        self._journal.wait(seq)

    def deposit(self, account_key: str, currency: str, amount: Decimal) -> None:
        """Add (or, negative, withdraw) free funds, as a transfer into the venue would."""
        with self._lock:
            account = self._state.account(account_key)
            free = account.free(currency.upper())
            if free + amount < 0:
                raise InsufficientFunds(f"cannot withdraw {-amount} {currency}: free is {free}")
            with self._changing():
                self._state.move(account_key, currency.upper(), amount, ZERO)
            seq = account.seq
        self._journal.wait(seq)

    def set_market_rules(self, rules: MarketRules) -> None:
        with self._lock:
            seq = self._state.set_rules(rules)
        self._journal.wait(seq)

    def market_rules(self, symbol: str) -> MarketRules:
        # No lock: one dict lookup of a value that is replaced, never changed in place.
        return self._state.listed(symbol)

    def fee_rate(self, account_key: str) -> Decimal:
        """The rate `account_key` pays on every fill, maker or taker; zero for an account not
        opened (yet). No lock: one dict lookup and one attribute read."""
        account = self._state.accounts.get(account_key)
        return ZERO if account is None else account.fee_rate

    def add_fill_listener(self, listener: FillListener) -> None:
        """`listener(fills)` runs on the thread that moved the price, after the venue lock is
        released, for fills of resting orders only (a taker fill is returned to its caller).
        The fills are committed before listeners run; a listener that raises makes the price
        update raise after the fact, and later listeners are skipped, so keep them trivial
        (e.g. a pykka ``tell``)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_fill_listener(self, listener: FillListener) -> None:
        with self._lock:
            self._listeners.remove(listener)

    def close(self) -> None:
        """Write what is still unwritten (the last prices), then close the file."""
        self._journal.flush()
        with self._lock, self._journal.io:
            self._store.close()

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(transactions written, changes they held): the mean group size of the journal."""
        return self._journal.groups, self._journal.written

    # --- market --------------------------------------------------------------------------------

    def update_price(
        self, symbol: str, price: Decimal, at: datetime | None = None
    ) -> list[VenueFill]:
        """A trade at `price`: resting buys at or above it and sells at or below it fill at
        their own limit (maker). `at` stamps the fills; default: the venue clock."""
        with self._lock:
            when = at or self._clock()
            self._candles.take(symbol, when, when, low=price, high=price, close=price)
        return self._match(symbol, price, price, price, at)

    def update_candle(
        self,
        symbol: str,
        candle: Candle,
        at: datetime | None = None,
        *,
        replay: str | None = None,
    ) -> list[VenueFill]:
        """A whole candle: buys fill when its low reaches them, sells when its high does; the
        close becomes the current price. `at` (not the candle's open time) stamps the fills: a
        replay passes the candle's close time, so fills carry market time, not wall time.

        `replay` names the recording the candle comes from: the venue then remembers it as
        that replay's position, in the same write as the candle's price and fills (see
        `replay_position`), and its market's orders are stamped in market time too."""
        mark = None if replay is None else (replay, candle.timestamp)
        low, high, close = candle_range(candle)
        with self._lock:
            closed = at or self._clock()
            self._candles.take(
                symbol,
                candle.timestamp,
                closed,
                low=low,
                high=high,
                close=close,
                first=candle.open,
                volume=candle.volume,
            )
        return self._match(symbol, low, high, close, at, replay=mark)

    def add_history(self, symbol: str, replay: str, history: History) -> None:
        """`symbol`'s prices come from recording `replay`, whose earlier candles `history`
        reads: `candles` answers with them from the first ask, up to the replay's position
        (kept from before a restart too) and never past it."""
        with self._lock:
            mark = self._state.replays.get(symbol)
            now = mark[1] + history.period if mark is not None and mark[0] == replay else None
            self._candles.add_history(symbol, history, now)

    def candles(self, symbol: str, seconds: int, limit: int) -> list[Candle]:
        """The last `limit` closed candles of `seconds` built from the prices taken, and for a
        replay from its file's history before them (see `exchange.paper.candles`)."""
        self.market_rules(symbol)  # UnknownSymbol for a market the venue does not list
        return closed_candles(self._candles, self._lock, symbol, seconds, limit)

    def replay_position(self, symbol: str, replay: str) -> datetime | None:
        """The open time of the last candle of recording `replay` the venue took for `symbol`
        (None if it took none, or the symbol's last replay was another recording): a
        restarted replay continues after it."""
        with self._lock:
            mark = self._state.replays.get(symbol)
        return mark[1] if mark is not None and mark[0] == replay else None

    def ticker(self, symbol: str) -> Ticker:
        with self._lock:
            return self._state.ticker(symbol)

    def resting_count(self, symbol: str) -> int:
        with self._lock:
            book = self._state.books.get(symbol)
            return 0 if book is None else len(book)

    # --- account operations (called through PaperExchange) -----------------------------------

    def balances(self, account_key: str) -> dict[str, Balance]:
        with self._lock:
            out = self._state.balances(account_key)
            seq = self._state.accounts[account_key].seq
        self._journal.wait(seq)
        return out

    def place(
        self,
        account_key: str,
        *,
        client_order_id: str,
        symbol: str,
        side: Side,
        type: OrderType,
        amount: Decimal,
        price: Decimal | None,
        cost: Decimal | None = None,
    ) -> Order:
        """Accept (and commit) an order, or raise the venue's rejection. A market order, or a
        limit that crosses the current price, fills at once at the current price (taker);
        other limits rest with their funds locked. A market buy with `cost` buys what `cost`
        buys at the current price, rounded down to the step (`amount` is ignored)."""
        with self._lock:
            order = self._state.place(
                account_key,
                client_order_id=client_order_id,
                symbol=symbol,
                side=side,
                type=type,
                amount=amount,
                price=price,
                cost=cost,
            )
            seq = self._state.accounts[account_key].seq
        self._journal.wait(seq)
        return order

    def cancel(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order:
        with self._lock:
            account = self._state.account(account_key)
            entry = self._state.open_entry(account_key, symbol, exchange_order_id, coid)
            if entry is not None:
                order = self._state.cancel_entry(entry)
                seq = account.seq
        if entry is None:  # outside the lock: looking it up may wait for the file
            closed = self.order(account_key, symbol, exchange_order_id, coid)
            raise OrderNotFound(
                f"Unknown order sent. (order {closed.exchange_order_id} "
                f"({closed.client_order_id}) is already {closed.state.value})"
            )
        self._journal.wait(seq)
        return order

    def order(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order:
        """Look an order up by exchange id (preferred) or client order id, open or closed:
        from memory if it is open or recently closed, else from the file."""
        with self._lock:
            account = self._state.account(account_key)
            entry = self._state.open_entry(account_key, symbol, exchange_order_id, coid)
            found = (
                entry.order
                if entry is not None
                else self._state.recently_closed(account_key, symbol, exchange_order_id, coid)
            )
            seq = account.seq
        if found is not None:
            self._journal.wait(seq)
            return found
        with self._journal.reading(seq):
            if exchange_order_id is not None:
                row = None
                if exchange_order_id.isdigit():
                    row = self._store.order_by_id(account_key, int(exchange_order_id))
            else:
                assert coid is not None
                row = self._store.order_by_coid(account_key, coid)
        if row is None or row[2].symbol != symbol:
            raise OrderNotFound(
                f"Order does not exist. (exchange order id {exchange_order_id}, client order "
                f"id {coid}, {symbol})"
            )
        return row[2]

    def open_orders(self, account_key: str, symbol: str | None) -> list[Order]:
        """The account's open orders, oldest first, from memory. Under the lock, so no change
        is seen half-made (holds are memory-only, a few microseconds); returned once the file
        holds every change it shows."""
        with self._lock:
            orders = self._state.open_orders(account_key, symbol)
            seq = self._state.account(account_key).seq
        self._journal.wait(seq)
        return orders

    def fills(
        self, account_key: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill]:
        with self._lock:
            seq = self._state.account(account_key).seq
            recent = self._state.recent_fills(account_key, symbol, since, limit)
        if recent is not None:
            self._journal.wait(seq)
            return recent
        with self._journal.reading(seq):
            return self._store.fills(account_key, symbol, since, limit)

    # --- internals -----------------------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """A change to memory (venue lock held). Checks come before it; if it fails half-way
        (a bug), memory is rebuilt from the file and every unwritten change is lost."""
        try:
            yield
        except BaseException:
            self._journal.abandon()
            raise

    def _reload(self) -> None:
        self._state.load()

    def _match(
        self,
        symbol: str,
        low: Decimal,
        high: Decimal,
        close: Decimal,
        at: datetime | None,
        *,
        replay: tuple[str, datetime] | None = None,
    ) -> list[VenueFill]:
        with self._lock:
            out, seq = self._state.match(symbol, low, high, close, at, replay=replay)
            listeners = list(self._listeners) if out else []
        if not out:
            return out  # market data only: written with the next group, nobody waits for it
        self._journal.wait(seq)
        for listener in listeners:
            listener(out)
        return out

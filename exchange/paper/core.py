"""The paper exchange's matching core: pure and in memory (rules, order book, settlement, fees).

One set of matching rules serves both users of it: `PaperVenue`, the persistent venue of the
service, which puts its lock and its journal (the SQLite file) on top, and `SimVenue`, the
backtester's venue, which uses it bare. Nothing here does I/O or takes a lock: every change is
told to a `Recorder` (the venue's journal, or nothing), which answers with a change number that
stamps the account, so the persistent venue can make a reader wait until its file holds what it
shows.

Matching (binance spot semantics): a market order, or a limit that crosses the last price,
fills at once, whole, at the last price (taker); other limits rest with their funds locked and
fill whole at their own limit when a price, or a candle's low (buys) or high (sells), reaches
them (maker). Fees at the account's rate, in the asset received (see `settle`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    UnknownSymbol,
)
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.money import ZERO, fmt
from domain.orders import Fill, Order, OrderState, OrderType, Side
from exchange.paper.accounts import Account, Resting, VenueFill, check_account_settings, check_rules
from exchange.paper.book import Book
from exchange.paper.recorder import Recorder
from exchange.paper.rules import amount_for_quote, check_order
from exchange.paper.settle import hold_for, settle
from exchange.paper.times import from_us, to_us

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

RECENTLY_CLOSED = 20_000  # closed orders kept in memory (a few MB); older ones: the file's
RECENT_FILLS = 20_000  # the same for fills

Market = tuple[str, str]  # (account, symbol)


def candle_range(candle: Candle) -> tuple[Decimal, Decimal, Decimal]:
    """(low, high, close) of a candle a venue takes whole, or ValueError."""
    if not ZERO < candle.low <= candle.high:
        raise ValueError(f"candle low {candle.low} / high {candle.high} are inconsistent")
    return candle.low, candle.high, candle.close


class MatchingCore:
    """Accounts, markets, books and the most recent closed orders and fills of one venue.

    `changing()` wraps every change once its checks have passed (a persistent venue rebuilds
    its memory from its file when a change fails half-way); `clock` stamps what a market
    without a replay does."""

    def __init__(
        self,
        name: str,
        recorder: Recorder,
        clock: Callable[[], datetime],
        changing: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self.name = name
        self.recorder = recorder
        self.clock = clock
        self.changing = changing
        self.reset()

    def reset(self) -> None:
        """Forget everything (a persistent venue then loads its file)."""
        self.accounts: dict[str, Account] = {}
        self.rules: dict[str, MarketRules] = {}
        self.prices: dict[str, tuple[Decimal, datetime]] = {}
        # Per replayed symbol: (recording, open time of the last candle taken from it).
        self.replays: dict[str, tuple[str, datetime]] = {}
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
        self.last_order_id = self.last_trade_id = 0
        # The fills made since (the last RECENT_FILLS of them), in trade id order, and per
        # market the latest time of a fill memory no longer holds.
        self.fills: deque[tuple[Market, int]] = deque()  # (market, time in µs)
        self.fills_by_market: dict[Market, deque[tuple[int, Fill]]] = {}
        self.evicted_until: dict[Market, int] = {}
        # Markets where a fill was stamped before the one made just before it (a replay that
        # started over, a clock set back): their fills are searched whole.
        self.unordered: set[Market] = set()

    # --- lookups -------------------------------------------------------------------------------

    def account(self, account_key: str) -> Account:
        account = self.accounts.get(account_key)
        if account is None:
            raise AuthenticationFailed(
                f"paper venue {self.name} has no account {account_key!r}; open it first"
            )
        return account

    def listed(self, symbol: str) -> MarketRules:
        rules = self.rules.get(symbol)
        if rules is None:
            raise UnknownSymbol(f"Invalid symbol. ({symbol} is not listed on {self.name})")
        return rules

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

    def ticker(self, symbol: str) -> Ticker:
        self.listed(symbol)
        last = self.prices.get(symbol)
        if last is None:
            raise ExchangeUnavailable(f"paper venue has no price for {symbol} yet")
        return Ticker(symbol=symbol, last=last[0], bid=last[0], ask=last[0], timestamp=last[1])

    def balances(self, account_key: str) -> dict[str, Balance]:
        return {
            cur: Balance(currency=cur, free=free, used=used)
            for cur, (free, used) in sorted(self.account(account_key).balances.items())
        }

    def open_orders(self, account_key: str, symbol: str | None) -> list[Order]:
        """The account's open orders, oldest first."""
        ids = sorted(self.open_by_account.get(account_key, ()))
        orders = (self.open[i].order for i in ids)
        return [o for o in orders if symbol is None or o.symbol == symbol]

    def recent_fills(
        self, account_key: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill] | None:
        """The fills at or after `since`, ordered by (time, trade id), if memory holds all of
        them; None if only older records (a file) do."""
        if since is None:
            return None
        market = (account_key, symbol)
        since_us = to_us(since)
        for until in (self.evicted_until.get(market), self.filed_until(market)):
            if until is not None and since_us <= until:
                return None
        return self._fills_since(market, since_us, limit)

    def all_fills(
        self, account_key: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill]:
        """What memory holds of the market's fills at or after `since` (all, for a venue that
        has no file and has not made more than RECENT_FILLS)."""
        return self._fills_since(
            (account_key, symbol), None if since is None else to_us(since), limit
        )

    def filed_until(self, market: Market) -> int | None:
        """The latest time of the market's fills that only a file holds: none here."""
        return None

    def _fills_since(self, market: Market, since_us: int | None, limit: int | None) -> list[Fill]:
        history = self.fills_by_market.get(market, deque())
        kept: Iterable[tuple[int, Fill]] = history
        if since_us is not None and market not in self.unordered:
            # Times never went back in this market: the fills since are the last ones, and an
            # engine asking for its order's fills costs what they are, not the whole history.
            recent: list[tuple[int, Fill]] = []
            for at, f in reversed(history):
                if at < since_us:
                    break
                recent.append((at, f))
            kept = recent
        found = [(at, int(f.trade_id), f) for at, f in kept if since_us is None or at >= since_us]
        found.sort(key=lambda row: (row[0], row[1]))
        fills = [f for _, _, f in found]
        return fills if limit is None else fills[:limit]

    # --- operations (a persistent venue holds its lock around each) ---------------------------

    def open_account(
        self,
        account_key: str,
        *,
        balances: Mapping[str, Decimal],
        fee_rate: Decimal,
        fee_in_quote: bool,
    ) -> Account:
        """Create the account with `balances`, or, when it exists, keep its balances and
        update its fee settings."""
        initial = check_account_settings(fee_rate, balances)
        with self.changing():
            seq = self.recorder.account(account_key, fee_rate, fee_in_quote)
            account = self.accounts.get(account_key)
            if account is not None:
                account.fee_rate, account.fee_in_quote = fee_rate, fee_in_quote
            else:
                account = self.accounts[account_key] = Account(fee_rate, fee_in_quote)
                for currency, amount in initial.items():
                    self.move(account_key, currency, amount, ZERO)
            account.seq = max(seq, account.seq)
        return account

    def set_rules(self, rules: MarketRules) -> int:
        check_rules(rules)
        with self.changing():
            seq = self.recorder.market(rules)
            self.rules[rules.symbol] = rules
        return seq

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
        """Accept an order, or raise the venue's rejection (see the module docstring). A market
        buy with `cost` buys what `cost` buys at the last price, rounded down to the step."""
        if not client_order_id:
            raise InvalidOrder("Mandatory parameter 'client_order_id' was not sent.")
        account = self.account(account_key)
        rules = self.listed(symbol)
        if (account_key, client_order_id) in self.open_by_coid:
            raise DuplicateOrder(
                f"Duplicate order sent. (client order id {client_order_id} is used by an "
                f"open order of this account)"
            )
        last = self.prices.get(symbol)
        last_price = None if last is None else last[0]
        if cost is not None:
            amount = amount_for_quote(rules, side=side, type=type, cost=cost, price=last_price)
        check_order(rules, type=type, amount=amount, price=price, reference_price=last_price)
        if type is OrderType.MARKET:
            if last_price is None:
                raise ExchangeUnavailable(f"paper venue has no price for {symbol} yet")
            price = None
        at = price if price is not None else last_price
        assert at is not None
        hold = hold_for(
            symbol,
            side,
            amount=amount,
            price=at,
            fee_rate=account.fee_rate,
            fee_in_quote=account.fee_in_quote,
        )
        currency, need = hold.currency, hold.amount
        free = account.free(currency)
        if free < need:
            raise InsufficientFunds(
                f"Account has insufficient balance for requested action. ({side.value} "
                f"{fmt(amount)} {symbol} needs {fmt(need)} {currency}, free is {fmt(free)})"
            )
        crosses = last_price is not None and (
            price is None
            or (side is Side.BUY and price >= last_price)
            or (side is Side.SELL and price <= last_price)
        )
        now = self.now(symbol)
        with self.changing():
            self.last_order_id += 1
            order_id = self.last_order_id
            order = Order(
                client_order_id=client_order_id,
                symbol=symbol,
                side=side,
                type=type,
                amount=amount,
                price=price,
                state=OrderState.OPEN,
                exchange_order_id=str(order_id),
                created_at=now,
                updated_at=now,
            )
            if crosses:
                assert last_price is not None
                return self.fill(Resting(order_id, account_key, order, ZERO), last_price, now).order
            assert price is not None
            self.move(account_key, currency, -need, need)
            self.rest(Resting(order_id, account_key, order, need))
            self.put_order(order_id, account_key, order, need)
        return order

    def cancel_entry(self, entry: Resting) -> Order:
        """Take an open order off the book and release its funds."""
        with self.changing():
            self.unrest(entry)
            self.move(entry.account, entry.held_currency, entry.locked, -entry.locked)
            order = entry.order.transition(OrderState.CANCELED, updated_at=self.clock())
            self.put_order(entry.order_id, entry.account, order, ZERO)
        return order

    def match(
        self,
        symbol: str,
        low: Decimal,
        high: Decimal,
        close: Decimal,
        at: datetime | None,
        *,
        replay: tuple[str, datetime] | None = None,
    ) -> tuple[list[VenueFill], int]:
        """A trade range: resting buys at or above `low` and sells at or below `high` fill at
        their own limit; `close` becomes the last price. `at` stamps the fills (default: the
        clock; a naive time is UTC). (fills, number of the last change)."""
        if close <= 0:
            raise ValueError(f"{symbol}: price must be > 0, got {close}")
        when = at if at is not None else self.clock()
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self.listed(symbol)
        book = self.books.get(symbol)
        out: list[VenueFill] = []
        with self.changing():
            self.prices[symbol] = (close, when)
            seq = self.recorder.price(symbol, close, when)
            if replay is not None:
                self.replays[symbol] = replay
                seq = self.recorder.replay(symbol, *replay)
            if book is not None and len(book):
                hit = book.pop_buys_at_or_above(low) + book.pop_sells_at_or_below(high)
                for order_id in hit:
                    entry = self.open[order_id]
                    self.unrest(entry, in_book=False)
                    assert entry.order.price is not None
                    out.append(self.fill(entry, entry.order.price, when))
                    seq = self.accounts[entry.account].seq
        return out, seq

    def now(self, symbol: str) -> datetime:
        """The time of a market: a replayed market's time is its last price's time (the
        candle's close), so an order placed there is never stamped after the fills that follow
        it; any other market's is the clock."""
        last = self.prices.get(symbol)
        if last is not None and symbol in self.replays:
            return last[1]
        return self.clock()

    # --- changes ---------------------------------------------------------------------------------

    def fill(self, entry: Resting, price: Decimal, at: datetime) -> VenueFill:
        """Fill the whole remaining amount of `entry` at `price`, moving funds and fees."""
        account = self.accounts[entry.account]
        order = entry.order
        amount = order.remaining
        cost = price * amount
        money = settle(
            order.symbol,
            order.side,
            amount=amount,
            price=price,
            fee_rate=account.fee_rate,
            fee_in_quote=account.fee_in_quote,
        )
        # The hold is released whole and the fill's spend comes out of it; a taker order holds
        # nothing, so it spends from the free funds that were checked at placement.
        self.move(entry.account, money.spent_currency, entry.locked - money.spent, -entry.locked)
        self.move(entry.account, money.received_currency, money.received, ZERO)
        self.last_trade_id += 1
        fill = Fill(
            trade_id=str(self.last_trade_id),
            client_order_id=order.client_order_id,
            exchange_order_id=str(entry.order_id),
            symbol=order.symbol,
            side=order.side,
            price=price,
            amount=amount,
            fee=money.fee,
            fee_currency=money.fee_currency,
            timestamp=at,
        )
        filled = order.transition(
            OrderState.FILLED, filled=order.amount, cost=order.cost + cost, updated_at=at
        )
        account.seq = self.recorder.fill(entry.account, entry.order_id, fill)
        self.record_fill(entry.account, fill)
        self.put_order(entry.order_id, entry.account, filled, ZERO)  # stamps the account
        return VenueFill(account=entry.account, fill=fill, order=filled)

    def move(self, account_key: str, currency: str, free: Decimal, used: Decimal) -> None:
        """Change a balance and record it."""
        account = self.accounts[account_key]
        balance = account.balances.setdefault(currency, [ZERO, ZERO])
        balance[0] += free
        balance[1] += used
        if balance[0] < 0 or balance[1] < 0:  # an accounting bug, never a user error
            raise AssertionError(f"{account_key} {currency} balance went negative: {balance}")
        account.seq = self.recorder.balance(account_key, currency, balance[0], balance[1])

    def put_order(self, order_id: int, account_key: str, order: Order, locked: Decimal) -> None:
        """Record an order's new state; a closed one is remembered among the recent ones."""
        self.accounts[account_key].seq = self.recorder.order(order_id, account_key, order, locked)
        if order.state.is_terminal:
            self.closed[order_id] = (account_key, order)
            self.closed_by_coid[account_key, order.client_order_id] = order_id
            while len(self.closed) > RECENTLY_CLOSED:
                old_id, (old_account, old) = self.closed.popitem(last=False)
                key = (old_account, old.client_order_id)
                if self.closed_by_coid.get(key) == old_id:
                    del self.closed_by_coid[key]

    def record_fill(self, account_key: str, fill: Fill) -> None:
        """Remember a fill just made; forget the oldest beyond RECENT_FILLS. The timestamp is
        kept as a file keeps it (UTC, microseconds), so memory and file give the same answer."""
        assert fill.timestamp is not None  # the venue stamps every fill it makes
        at_us = to_us(fill.timestamp)
        stored = from_us(at_us)
        if fill.timestamp != stored or fill.timestamp.tzinfo is not stored.tzinfo:
            fill = replace(fill, timestamp=stored)
        market = (account_key, fill.symbol)
        self.fills.append((market, at_us))
        kept = self.fills_by_market.setdefault(market, deque())
        if kept and at_us < kept[-1][0]:
            self.unordered.add(market)
        kept.append((at_us, fill))
        while len(self.fills) > RECENT_FILLS:
            old_market, old_us = self.fills.popleft()
            kept = self.fills_by_market[old_market]
            kept.popleft()  # the market's oldest: both deques are in trade id order
            if not kept:
                del self.fills_by_market[old_market]
            self.evicted_until[old_market] = max(old_us, self.evicted_until.get(old_market, old_us))

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

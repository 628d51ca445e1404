"""`SimVenue`: the paper venue in memory only, for backtests and sweeps.

The same matching core as `PaperVenue` (its rules, book, settlement and fees: the very code),
without what a service needs and a backtest does not: no file, no lock, no fill listeners. One
thread uses it; it forgets everything when dropped. `PaperExchange` takes either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.errors import OrderNotFound
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.money import ZERO
from domain.orders import Fill, Order
from exchange.paper.accounts import VenueFill
from exchange.paper.candles import CandleBook, closed_candles
from exchange.paper.core import MatchingCore, candle_range
from exchange.paper.recorder import Unrecorded
from exchange.paper.venue import DEFAULT_FEE_RATE


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SimVenue:
    def __init__(self, *, name: str = "paper", clock: Callable[[], datetime] = _utcnow) -> None:
        self.name = name
        self._core = MatchingCore(name, Unrecorded(), clock)
        self._clock = clock
        self._candles = CandleBook()

    def __repr__(self) -> str:
        return f"SimVenue(name={self.name!r})"

    # --- setup and market ----------------------------------------------------------------------

    def open_account(
        self,
        account_key: str,
        *,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        fee_in_quote: bool = False,
    ) -> None:
        self._core.open_account(
            account_key, balances=balances or {}, fee_rate=fee_rate, fee_in_quote=fee_in_quote
        )

    def set_market_rules(self, rules: MarketRules) -> None:
        self._core.set_rules(rules)

    def market_rules(self, symbol: str) -> MarketRules:
        return self._core.listed(symbol)

    def fee_rate(self, account_key: str) -> Decimal:
        account = self._core.accounts.get(account_key)
        return ZERO if account is None else account.fee_rate

    def update_price(
        self, symbol: str, price: Decimal, at: datetime | None = None
    ) -> list[VenueFill]:
        when = at or self._clock()
        self._candles.take(symbol, when, when, low=price, high=price, close=price)
        return self._core.match(symbol, price, price, price, at)[0]

    def update_candle(
        self, symbol: str, candle: Candle, at: datetime | None = None, *, replay: str | None = None
    ) -> list[VenueFill]:
        """As `PaperVenue.update_candle`: a replay's market is stamped in market time."""
        mark = None if replay is None else (replay, candle.timestamp)
        low, high, close = candle_range(candle)
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
        return self._core.match(symbol, low, high, close, at, replay=mark)[0]

    def candles(self, symbol: str, seconds: int, limit: int) -> list[Candle]:
        """As `PaperVenue.candles`."""
        self._core.listed(symbol)
        return closed_candles(self._candles, nullcontext(), symbol, seconds, limit)

    def ticker(self, symbol: str) -> Ticker:
        return self._core.ticker(symbol)

    def resting_count(self, symbol: str) -> int:
        book = self._core.books.get(symbol)
        return 0 if book is None else len(book)

    def close(self) -> None:
        """Nothing to release."""

    # --- account operations (called through PaperExchange) -----------------------------------

    def balances(self, account_key: str) -> dict[str, Balance]:
        return self._core.balances(account_key)

    def place(self, account_key: str, **order: Any) -> Order:
        """As `PaperVenue.place` (the core's own checks and matching)."""
        return self._core.place(account_key, **order)

    def cancel(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order:
        self._core.account(account_key)
        entry = self._core.open_entry(account_key, symbol, exchange_order_id, coid)
        if entry is None:
            closed = self.order(account_key, symbol, exchange_order_id, coid)
            raise OrderNotFound(
                f"Unknown order sent. (order {closed.exchange_order_id} "
                f"({closed.client_order_id}) is already {closed.state.value})"
            )
        return self._core.cancel_entry(entry)

    def order(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order:
        """An open order, or one of the last `core.RECENTLY_CLOSED` to close."""
        self._core.account(account_key)
        entry = self._core.open_entry(account_key, symbol, exchange_order_id, coid)
        if entry is not None:
            return entry.order
        found = self._core.recently_closed(account_key, symbol, exchange_order_id, coid)
        if found is None:
            raise OrderNotFound(
                f"Order does not exist. (exchange order id {exchange_order_id}, client order "
                f"id {coid}, {symbol})"
            )
        return found

    def open_orders(self, account_key: str, symbol: str | None) -> list[Order]:
        self._core.account(account_key)
        return self._core.open_orders(account_key, symbol)

    def fills(
        self, account_key: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill]:
        """The fills at or after `since` of the last `core.RECENT_FILLS` the venue made."""
        self._core.account(account_key)
        return self._core.all_fills(account_key, symbol, since, limit)

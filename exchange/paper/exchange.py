"""`PaperExchange`: the Exchange port for one account of a `PaperVenue`.

A thin view: the venue holds all state and the lock, so any number of PaperExchange objects
(one per engine actor, say) may share one venue and be called from many threads at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from domain.errors import InvalidOrder
from domain.keys import KeyReport
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.orders import Fill, Order, OrderType, Side
from strategy.options import TIMEFRAMES


class Venue(Protocol):
    """What an account's view needs of a venue: `PaperVenue`, or `SimVenue` in a backtest."""

    name: str

    def market_rules(self, symbol: str) -> MarketRules: ...
    def fee_rate(self, account_key: str) -> Decimal: ...
    def ticker(self, symbol: str) -> Ticker: ...
    def balances(self, account_key: str) -> dict[str, Balance]: ...
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
    ) -> Order: ...
    def cancel(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order: ...
    def order(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order: ...
    def open_orders(self, account_key: str, symbol: str | None) -> list[Order]: ...
    def candles(self, symbol: str, seconds: int, limit: int) -> list[Candle]: ...
    def fills(
        self, account_key: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill]: ...


class HostedVenue(Venue, Protocol):
    """A venue a service process trades on and opens accounts on: its own `PaperVenue`, or
    one served by `martingale paper-venue` (`exchange.paper.remote.RemoteVenue`)."""

    def open_account(
        self,
        account_key: str,
        *,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = ...,
        fee_in_quote: bool = False,
    ) -> None: ...
    def deposit(self, account_key: str, currency: str, amount: Decimal) -> None: ...
    def close(self) -> None: ...


class PaperExchange:
    """Implements `exchange.port.Exchange` for `account` on `venue`."""

    def __init__(self, venue: Venue, account: str) -> None:
        self._venue = venue
        self._account = account

    def __repr__(self) -> str:
        return f"PaperExchange(venue={self._venue.name!r}, account={self._account!r})"

    @property
    def exchange_id(self) -> str:
        return self._venue.name

    @property
    def account(self) -> str:
        return self._account

    def load_market_rules(self, symbol: str, *, fresh: bool = False) -> MarketRules:
        """Always the venue's current rules (a dict lookup): `fresh` has nothing to reload.
        Their maker fee is this account's rate, the one the venue charges it (a rate set on
        the listed rules is not what this account pays)."""
        rules = self._venue.market_rules(symbol)
        fee = self._venue.fee_rate(self._account)
        return rules if rules.maker_fee_rate == fee else replace(rules, maker_fee_rate=fee)

    def fetch_ticker(self, symbol: str) -> Ticker:
        return self._venue.ticker(symbol)

    def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]:
        """Closed candles built from the prices the venue took (`exchange.paper.candles`)."""
        seconds = TIMEFRAMES.get(timeframe)
        if seconds is None:
            raise InvalidOrder(f"unknown timeframe {timeframe!r}")
        return self._venue.candles(symbol, seconds, limit)

    def fetch_balances(self) -> dict[str, Balance]:
        return self._venue.balances(self._account)

    def create_order(
        self,
        *,
        client_order_id: str,
        symbol: str,
        side: Side,
        type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        cost: Decimal | None = None,
    ) -> Order:
        return self._venue.place(
            self._account,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            type=type,
            amount=amount,
            price=price,
            cost=cost,
        )

    def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        return self._venue.cancel(self._account, symbol, exchange_order_id, client_order_id)

    def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        return self._venue.order(self._account, symbol, exchange_order_id, client_order_id)

    def fetch_open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        return self._venue.open_orders(self._account, symbol)

    def fetch_fills(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> Sequence[Fill]:
        if limit is not None and limit <= 0:
            raise InvalidOrder(f"limit must be > 0, got {limit}")
        return self._venue.fills(self._account, symbol, since, limit)

    def key_report(self) -> KeyReport:
        """A paper account has no key: it trades, never withdraws, and has nothing to leak."""
        return KeyReport.from_permissions(can_trade=True, can_withdraw=False, ip_restricted=None)

    def close(self) -> None:
        """Nothing to release: the venue is shared and closed by whoever opened it."""

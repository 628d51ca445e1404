"""`CcxtExchange`: the Exchange port over any ccxt venue, for live trading.

Every venue request goes through the `pipeline` (the key's guard, the venue's circuit breaker,
the host's token bucket, then ccxt, then `errors.translate`, see there). Reads add the bounded
retry policy on top. Writes are single-shot; their unknown outcomes are resolved here:

- create: a timeout/5xx/dropped answer is followed by a lookup by client order id. Found: that is
  the order. Not found: we still raise `OrderOutcomeUnknown`, not "not placed". Right after a
  timeout the venue may simply lag (binance's -1007 says "execution status unknown"), and binance
  accepts a reused client order id once the first order is no longer open, so declaring the
  order absent and placing it again could buy twice. The engine keeps the intent UNKNOWN and
  re-checks later (reconciliation), which is cheap; a double order is not.
- cancel: an unknown outcome is followed by a lookup. A terminal order (canceled, filled) is
  returned as the answer; an order still open keeps the outcome unknown so the caller can decide
  to cancel again. Cancelling an order that is no longer open is `OrderNotFound`, as binance
  ("Unknown order sent.") and the paper exchange answer; the caller looks the order up.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from domain.errors import (
    ExchangeUnavailable,
    InvalidOrder,
    MarketFilterRejected,
    OrderNotFound,
    OrderOutcomeUnknown,
    TemporaryError,
    UnknownSymbol,
)
from domain.keys import KeyReport
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.money import fmt
from domain.orders import Fill, Order, OrderType, Side
from exchange.ccxt_adapter import orders, parse
from exchange.ccxt_adapter.client import CcxtConfig, api_host, build_client, default_rate_limit
from exchange.ccxt_adapter.key_report import read_key_report
from exchange.ccxt_adapter.markets import PROCESS_MARKETS, MarketCache
from exchange.ccxt_adapter.pipeline import Pipeline, account_guard
from exchange.resilience.account import PROCESS_ACCOUNTS, AccountGuardRegistry
from exchange.resilience.circuit import PROCESS_CIRCUITS, CircuitBreaker, CircuitBreakerRegistry
from exchange.resilience.rate_limit import PROCESS_RATE_LIMITS, RateLimiterRegistry
from exchange.resilience.retry import ReadRetryPolicy
from strategy.options import TIMEFRAMES

T = TypeVar("T")

#: How many (exchange order id -> client order id) pairs a client remembers. Trades carry only
#: the venue's order id; a pair not remembered costs one fetch_order, so the map is a cache, and
#: bounded: it would otherwise grow with every order the account ever placed.
KNOWN_ORDERS_MAX = 10_000


class CcxtExchange:
    def __init__(
        self,
        config: CcxtConfig,
        *,
        retry: ReadRetryPolicy | None = None,
        limiters: RateLimiterRegistry = PROCESS_RATE_LIMITS,
        circuits: CircuitBreakerRegistry = PROCESS_CIRCUITS,
        markets: MarketCache = PROCESS_MARKETS,
        accounts: AccountGuardRegistry = PROCESS_ACCOUNTS,
        sleep: Callable[[float], None] = time.sleep,
        max_rate_wait: float = 10.0,
    ) -> None:
        self._config = config
        self._client = build_client(config)
        self._markets = markets
        self._pipe = Pipeline(
            venue=config.environment,
            exchange_id=config.exchange_id,
            client=self._client,
            guard=account_guard(config, accounts),
            breaker=circuits.breaker(
                config.environment,
                failure_threshold=config.breaker_threshold,
                reset_after=config.breaker_reset_after,
            ),
            bucket=limiters.bucket(
                api_host(self._client), config.rate_limit or default_rate_limit(self._client)
            ),
            retry=retry or ReadRetryPolicy(sleep=sleep),
            secrets=config.secret_values(),
            sleep=sleep,
            max_rate_wait=max_rate_wait,
        )
        self._lock = threading.Lock()
        self._markets_generation = 0  # of the markets ccxt holds; the cache's start at 1
        self._coid_by_order_id: OrderedDict[str, str] = OrderedDict()  # least recent first

    def __repr__(self) -> str:
        return f"CcxtExchange({self._config.environment})"

    @property
    def exchange_id(self) -> str:
        return self._config.exchange_id

    @property
    def circuit(self) -> CircuitBreaker:
        """The breaker this client's requests go through, shared by every client of the same
        venue environment; the service's health check reads its state."""
        return self._pipe.breaker

    # --- the request pipeline ---------------------------------------------------------------

    def _call(
        self,
        operation: str,
        fn: Callable[[], T],
        *,
        symbol: str | None = None,
        write: bool = False,
        client_order_id: str | None = None,
    ) -> T:
        return self._pipe.call(
            operation, fn, symbol=symbol, write=write, client_order_id=client_order_id
        )

    def _read(self, operation: str, fn: Callable[[], T], *, symbol: str | None = None) -> T:
        return self._pipe.read(operation, fn, symbol=symbol)

    def _parsed(self, operation: str, symbol: str | None, fn: Callable[[], T]) -> T:
        return self._pipe.parsed(operation, symbol, fn)

    def _ensure_markets(self, *, fresh: bool = False) -> None:
        """Hand ccxt the environment's current markets (see `markets`) when they changed."""
        current = self._markets.get(
            self._config.environment,
            lambda: self._read("load_markets", self._fetch_markets),
            fresh=fresh,
        )
        if current.generation == self._markets_generation:
            return
        with self._lock:
            if current.generation > self._markets_generation:
                self._client.set_markets(current.markets)
                self._markets_generation = current.generation

    def _fetch_markets(self) -> list[dict[str, Any]]:
        return list(self._client.fetch_markets())

    def _market(self, symbol: str) -> dict[str, Any]:
        self._ensure_markets()
        market = self._client.markets.get(symbol)
        if market is None:
            raise UnknownSymbol(f"{self.exchange_id}: symbol {symbol!r} is not listed")
        return dict(market)

    def _remember(self, order: Order) -> Order:
        if order.exchange_order_id:
            with self._lock:
                known = self._coid_by_order_id
                known[order.exchange_order_id] = order.client_order_id
                known.move_to_end(order.exchange_order_id)
                while len(known) > KNOWN_ORDERS_MAX:
                    known.popitem(last=False)
        return order

    # --- the port: reads --------------------------------------------------------------------

    def load_market_rules(self, symbol: str, *, fresh: bool = False) -> MarketRules:
        """The venue's current rules: markets are re-read after `markets.DEFAULT_TTL`, after a
        filter refusal, and with `fresh=True` (at most once per `min_refresh` per venue)."""
        self._pipe.refuse_if_key_refused("load_market_rules")
        self._ensure_markets(fresh=fresh)
        market = self._market(symbol)
        return self._parsed(
            "load_market_rules",
            symbol,
            lambda: parse.market_rules(market, int(self._client.precisionMode)),
        )

    def fetch_ticker(self, symbol: str) -> Ticker:
        self._market(symbol)
        raw = self._read("fetch_ticker", lambda: self._client.fetch_ticker(symbol), symbol=symbol)
        return self._parsed("fetch_ticker", symbol, lambda: parse.ticker(symbol, raw))

    def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]:
        """ccxt's fetch_ohlcv, one more row than asked (the last is usually still forming,
        and is dropped: only closed candles are returned)."""
        self._market(symbol)
        seconds = TIMEFRAMES[timeframe]
        raw = self._read(
            "fetch_ohlcv",
            lambda: self._client.fetch_ohlcv(symbol, timeframe, limit=limit + 1),
            symbol=symbol,
        )
        now = datetime.now(UTC)
        closed = self._parsed(
            "fetch_ohlcv", symbol, lambda: parse.candles(raw, seconds=seconds, now=now)
        )
        return closed[-limit:] if limit > 0 else []

    def fetch_balances(self) -> dict[str, Balance]:
        self._ensure_markets()
        raw = self._read("fetch_balances", self._client.fetch_balance)
        return self._parsed("fetch_balances", None, lambda: parse.balances(raw))

    def key_report(self) -> KeyReport | None:
        """What the venue says this key may do (`key_report.SOURCES`); None for a keyless
        client or a venue that does not tell."""
        if self._config.api_key is None:
            return None
        return read_key_report(self._pipe, self._client, self.exchange_id)

    def fetch_time(self) -> datetime:
        """The venue's clock, for `martingale doctor` (not in the port: paper's is ours)."""
        raw = self._read("fetch_time", self._client.fetch_time)
        return self._parsed("fetch_time", None, lambda: parse.server_time(raw))

    def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        oid, params = self._order_ref(exchange_order_id, client_order_id)
        self._market(symbol)
        raw = self._read(
            "fetch_order", lambda: self._client.fetch_order(oid, symbol, params), symbol=symbol
        )
        order = self._parsed(
            "fetch_order", symbol, lambda: parse.order(raw, client_order_id=client_order_id)
        )
        return self._remember(order)

    def fetch_open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        if symbol is not None:
            self._market(symbol)
        else:
            self._ensure_markets()
        operation = "fetch_open_orders" if symbol else "fetch_open_orders_all"
        rows = self._read(operation, lambda: self._client.fetch_open_orders(symbol), symbol=symbol)
        found = self._parsed(operation, symbol, lambda: [parse.order(row) for row in rows])
        return [self._remember(order) for order in found]

    def fetch_fills(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> Sequence[Fill]:
        self._market(symbol)
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        rows = self._read(
            "fetch_fills",
            lambda: self._client.fetch_my_trades(symbol, since_ms, limit),
            symbol=symbol,
        )
        rows = self._parsed("fetch_fills", symbol, lambda: parse.trades_in_order(rows))
        fills = []
        for row in rows:
            coid = self._client_order_id_for(symbol, str(row["order"]))
            fills.append(
                self._parsed("fetch_fills", symbol, partial(parse.fill, row, client_order_id=coid))
            )
        return fills

    def _client_order_id_for(self, symbol: str, order_id: str) -> str:
        """Trades carry the venue's order id only; learn the client id once per order."""
        with self._lock:
            known = self._coid_by_order_id.get(order_id)
            if known is not None:
                self._coid_by_order_id.move_to_end(order_id)
        if known is not None:
            return known
        return self.fetch_order(symbol, exchange_order_id=order_id).client_order_id

    # --- the port: writes -------------------------------------------------------------------

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
        """With `cost` (a market buy only), spend at most `cost` quote: `amount` is then only
        the caller's estimate; the order's real amount comes back in the returned Order."""
        if cost is not None:
            return self._create_by_cost(client_order_id, symbol, side, type, cost)
        if not isinstance(amount, Decimal) or amount <= 0:
            raise InvalidOrder(f"amount: must be a Decimal > 0, got {amount!r}")
        if type is OrderType.LIMIT and (not isinstance(price, Decimal) or price <= 0):
            raise InvalidOrder(f"price: a limit order needs a Decimal price > 0, got {price!r}")
        limit = price if type is OrderType.LIMIT else None
        orders.check_grid(self.load_market_rules(symbol), amount, limit)
        wire_price = fmt(limit) if limit is not None else None
        params = {"clientOrderId": client_order_id}
        return self._place(
            symbol,
            client_order_id,
            lambda: self._client.create_order(
                symbol, type.value, side.value, fmt(amount), wire_price, params
            ),
        )

    def _create_by_cost(
        self, coid: str, symbol: str, side: Side, type: OrderType, cost: Decimal
    ) -> Order:
        orders.check_cost(cost, side=side, type=type)
        rules = self.load_market_rules(symbol)
        params = {"clientOrderId": coid}
        if self._quote_sized_buys():
            orders.check_quote_minimum(rules, cost)
            return self._place(
                symbol,
                coid,
                lambda: self._client.create_market_buy_order_with_cost(symbol, fmt(cost), params),
            )
        ticker = self.fetch_ticker(symbol)
        amount = orders.amount_within(rules, cost, ticker.ask or ticker.last)
        return self._place(
            symbol,
            coid,
            lambda: self._client.create_order(symbol, "market", "buy", fmt(amount), None, params),
        )

    def _quote_sized_buys(self) -> bool:
        """The venue sizes a market buy by its quote amount itself (ccxt says so, and it is not
        switched off, as binance's createOrder.quoteOrderQty option can be)."""
        if self._client.has.get("createMarketBuyOrderWithCost") is not True:
            return False
        return self._client.handle_option("createOrder", "quoteOrderQty", True) is not False

    def _place(self, symbol: str, coid: str, send: Callable[[], Any]) -> Order:
        try:
            raw = self._call("create_order", send, symbol=symbol, write=True, client_order_id=coid)
        except OrderOutcomeUnknown as unknown:
            return self._resolve_create(symbol, coid, unknown)
        except MarketFilterRejected:
            self._markets.mark_stale(self._config.environment)  # its rules are not ours
            raise
        try:
            order = self._parsed(
                "create_order", symbol, lambda: parse.order(raw, client_order_id=coid)
            )
        except ExchangeUnavailable as unreadable:
            # Accepted, but we cannot read how: the venue's own record of it decides.
            return self._resolve_create(symbol, coid, unreadable)
        return self._remember(order)

    def _resolve_create(self, symbol: str, coid: str, unknown: Exception) -> Order:
        try:
            return self.fetch_order(symbol, client_order_id=coid)
        except OrderNotFound:
            raise OrderOutcomeUnknown(
                f"{self.exchange_id} create_order {coid}: no clear answer, and the venue does "
                "not list the order yet; it may still appear. Re-check by client order id "
                f"before placing it again. Cause: {unknown}",
                client_order_id=coid,
            ) from None
        except TemporaryError as lookup:
            raise OrderOutcomeUnknown(
                f"{self.exchange_id} create_order {coid}: no clear answer and the lookup "
                f"failed too ({type(lookup).__name__}); re-check later. Cause: {unknown}",
                client_order_id=coid,
            ) from None

    def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        oid, params = self._order_ref(exchange_order_id, client_order_id)
        self._market(symbol)
        try:
            raw = self._call(
                "cancel_order",
                lambda: self._client.cancel_order(oid, symbol, params),
                symbol=symbol,
                write=True,
                client_order_id=client_order_id,
            )
        except OrderOutcomeUnknown as unknown:
            return self._resolve_cancel(symbol, exchange_order_id, client_order_id, unknown)
        try:
            order = self._parsed(
                "cancel_order", symbol, lambda: parse.order(raw, client_order_id=client_order_id)
            )
        except ExchangeUnavailable as unreadable:
            return self._resolve_cancel(symbol, exchange_order_id, client_order_id, unreadable)
        return self._remember(order)

    def _resolve_cancel(
        self, symbol: str, exchange_order_id: str | None, coid: str | None, cause: Exception
    ) -> Order:
        current = self.fetch_order(
            symbol, exchange_order_id=exchange_order_id, client_order_id=coid
        )
        if current.state.is_terminal:
            return current
        raise OrderOutcomeUnknown(
            f"{self.exchange_id} cancel_order {symbol}: no clear answer and the order is still "
            f"{current.state.value}; cancel again or re-check. Cause: {cause}",
            client_order_id=current.client_order_id,
        ) from None

    @staticmethod
    def _order_ref(
        exchange_order_id: str | None, client_order_id: str | None
    ) -> tuple[str | None, dict[str, str]]:
        if exchange_order_id:
            return exchange_order_id, {}
        if client_order_id:
            return None, {"clientOrderId": client_order_id}
        raise InvalidOrder("exchange_order_id or client_order_id: one of them is required")

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

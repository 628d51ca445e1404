"""The Exchange port: the one interface the rest of the service trades through.

Implementations: the paper exchange (embedded default) and the ccxt adapter (live). All values
are domain types with Decimal; all errors are `domain.errors`. Calls are synchronous: each
caller is an actor with its own thread.

Order lookups accept either the exchange's id or our client order id; an implementation must
support lookup by client order id, because that is how an unknown create outcome is resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from domain.keys import KeyReport
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.orders import Fill, Order, OrderType, Side


@runtime_checkable
class Exchange(Protocol):
    @property
    def exchange_id(self) -> str: ...

    def load_market_rules(self, symbol: str, *, fresh: bool = False) -> MarketRules:
        """The venue's current rules for `symbol`; raises UnknownSymbol for a symbol it does not
        list. Rules change while we run: an implementation re-reads them periodically and after
        a `MarketFilterRejected`; `fresh=True` re-reads them now (rate-limited per venue), e.g.
        before re-placing an order the venue's filters refused."""
        ...

    def fetch_ticker(self, symbol: str) -> Ticker: ...

    def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]:
        """The last `limit` CLOSED candles of `timeframe` ("5m", "1h": strategy.options
        TIMEFRAMES), oldest first; never the candle still forming. Fewer when the venue has
        fewer. A read: retried like the other reads."""
        ...

    def fetch_balances(self) -> dict[str, Balance]: ...

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
        """Place an order. Raises OrderOutcomeUnknown when the outcome cannot be known.

        `cost` (a market buy only; InvalidOrder otherwise): spend at most `cost` quote, sized by
        the venue (quote-sized order) or from the current ask, rounded down to the step; below
        the venue's minimums it is InvalidOrder naming `cost`. `amount` is then only the
        caller's estimate: the order's real amount and cost come back in the returned Order."""
        ...

    def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order: ...

    def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Raises OrderNotFound when the venue has no such order."""
        ...

    def fetch_open_orders(self, symbol: str | None = None) -> Sequence[Order]: ...

    def fetch_fills(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> Sequence[Fill]:
        """Our trades on `symbol` at or after `since`, oldest first."""
        ...

    def key_report(self) -> KeyReport | None:
        """What the venue says this account's API key may do (trade, withdraw, IP restriction)
        and the warnings that follow; None when the venue has no way to tell. Errors are
        `domain.errors`, as for every call."""
        ...

    def close(self) -> None: ...

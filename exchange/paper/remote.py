"""`RemoteVenue`: a paper venue served by another process (`martingale paper-venue`), reached
over HTTP. It implements the same venue protocol as `PaperVenue` (`exchange.paper.exchange`
`Venue`, plus `open_account` and `deposit`), so `PaperExchange(RemoteVenue(...), account)` is
the Exchange port of a paper account, whichever service process holds its user now.

Every call is one POST of JSON to ``{url}/v1/{operation}`` carrying the shared token; the answer
is ``{"result": ...}`` or ``{"error": {"code", "message", ...}}`` (`exchange.paper.wire`). The
venue's own refusals come back as the same domain errors the local venue raises.

What the transport's failures mean (DESIGN rule 4: never blindly resubmit a create):

- Nothing was sent (connection refused, no connection in time): `ExchangeUnavailable`, for
  every call: engines go DEGRADED and retry with backoff.
- A read that timed out or lost its connection: `NetworkError` (retried by whoever retries
  reads). This client retries nothing itself.
- `place` or `cancel` that timed out, lost its connection after sending, or got a 5xx that is
  not the venue's own answer (a crash, a proxy): `OrderOutcomeUnknown` with the client order
  id: the engine looks the order up before doing anything else. The venue's own "not taken"
  (`ExchangeUnavailable`, e.g. no price yet) is raised as it is: the venue says nothing changed.
- A `place` also carries its time budget: the venue refuses one that waited past it in its
  queue (ExchangeUnavailable, not placed), so an order whose caller gave up is not placed
  behind the lookup that resolves it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from domain.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ExchangeUnavailable,
    MartingaleError,
    NetworkError,
    OrderOutcomeUnknown,
)
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.orders import Fill, Order, OrderType, Side
from domain.secrets import Secret
from exchange.paper import wire

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
# A place the venue has not started within this share of the read timeout is refused there:
# the margin covers the trip and the venue's own work, so nothing is placed after we gave up.
PLACE_BUDGET_SHARE = 0.6
# Connections kept to the venue: the engines' workers (app.bootstrap Tuning.engine_threads),
# the reconcile passes and the price polls call at once.
POOL_SIZE = 80
# Read-only (or repeatable) operations: sent once more when a pooled connection turned out to
# be closed (the venue restarted, or closed it idle), which cannot have run anything twice.
REPEATABLE = frozenset(
    {
        "ping",
        "open_account",
        "market_rules",
        "ticker",
        "fee_rate",
        "balances",
        "order",
        "open_orders",
        "candles",
        "fills",
    }
)
AUTH_HEADER = "Authorization"


class RemoteVenue:
    """The venue at `url` (http://host:port), authenticated by `token`. Safe from any thread:
    one connection pool shared by the engines."""

    def __init__(
        self,
        url: str,
        token: Secret,
        *,
        name: str = "paper",
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy between the service and its venue
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._closed = threading.Event()

    def __repr__(self) -> str:
        return f"RemoteVenue(url={self.url!r}, name={self.name!r})"

    # --- setup -----------------------------------------------------------------------------

    def open_account(
        self,
        account_key: str,
        *,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = Decimal("0.001"),
        fee_in_quote: bool = False,
    ) -> None:
        """As `PaperVenue.open_account`: an existing account keeps its balances (repeatable)."""
        self._call(
            "open_account",
            account=account_key,
            balances=dict(balances or {}),
            fee_rate=fee_rate,
            fee_in_quote=fee_in_quote,
        )

    def deposit(self, account_key: str, currency: str, amount: Decimal) -> None:
        """Not repeatable by itself: a caller that lost the answer reads the balances again
        (`app.paper_accounts` does) rather than depositing twice."""
        self._call("deposit", account=account_key, currency=currency, amount=amount)

    def ping(self) -> str:
        """The venue's name; raises like any call when it cannot be reached or refuses us."""
        result = self._call("ping")
        return str(result)

    def close(self) -> None:
        self._closed.set()
        self._session.close()

    # --- the venue protocol ----------------------------------------------------------------

    def market_rules(self, symbol: str) -> MarketRules:
        return wire.decode(MarketRules, self._call("market_rules", symbol=symbol))

    def ticker(self, symbol: str) -> Ticker:
        return wire.decode(Ticker, self._call("ticker", symbol=symbol))

    def fee_rate(self, account_key: str) -> Decimal:
        return wire.decode(Decimal, self._call("fee_rate", account=account_key))

    def balances(self, account_key: str) -> dict[str, Balance]:
        return wire.decode(dict[str, Balance], self._call("balances", account=account_key))

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
        result = self._call(
            "place",
            write=client_order_id,
            account=account_key,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            type=type,
            amount=amount,
            price=price,
            cost=cost,
            budget_s=round(self._timeout[1] * PLACE_BUDGET_SHARE, 3),
        )
        return wire.decode(Order, result)

    def cancel(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order:
        result = self._call(
            "cancel",
            write=coid or exchange_order_id or "",
            account=account_key,
            symbol=symbol,
            exchange_order_id=exchange_order_id,
            client_order_id=coid,
        )
        return wire.decode(Order, result)

    def order(
        self, account_key: str, symbol: str, exchange_order_id: str | None, coid: str | None
    ) -> Order:
        result = self._call(
            "order",
            account=account_key,
            symbol=symbol,
            exchange_order_id=exchange_order_id,
            client_order_id=coid,
        )
        return wire.decode(Order, result)

    def open_orders(self, account_key: str, symbol: str | None) -> list[Order]:
        result = self._call("open_orders", account=account_key, symbol=symbol)
        return wire.decode(list[Order], result)

    def candles(self, symbol: str, seconds: int, limit: int) -> list[Candle]:
        result = self._call("candles", symbol=symbol, seconds=seconds, limit=limit)
        return wire.decode(list[Candle], result)

    def fills(
        self, account_key: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill]:
        result = self._call("fills", account=account_key, symbol=symbol, since=since, limit=limit)
        return wire.decode(list[Fill], result)

    # --- transport -------------------------------------------------------------------------

    def _call(self, operation: str, *, write: str | None = None, **args: Any) -> Any:
        """POST one operation; `write`: the client order id of a place or cancel (its lost
        answer is an unknown outcome), None for a read or a setup call."""
        if self._closed.is_set():
            raise ExchangeUnavailable("the paper venue client is closed (the service is stopping)")
        where = f"paper venue {self.url} {operation}"
        data = json.dumps(wire.encode(args))
        attempts = 2 if write is None and operation in REPEATABLE else 1
        for attempt in range(attempts):
            try:
                response = self._session.post(
                    f"{self.url}/v1/{operation}",
                    data=data,
                    headers={
                        AUTH_HEADER: f"Bearer {self._token.reveal()}",
                        "Content-Type": "application/json",
                    },
                    timeout=self._timeout,
                )
                break
            except requests.RequestException as exc:
                if attempt + 1 < attempts and _connection_dropped(exc):
                    continue
                raise _transport_error(exc, where, write) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict) and "result" in body:
            return body["result"]
        raise _answer_error(response.status_code, body, where, write)


def _connection_dropped(exc: requests.RequestException) -> bool:
    """The connection failed without a timeout (reset, closed under us): worth one more try
    on a fresh connection for a repeatable call. A timeout is not: the venue may be stuck."""
    return isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)


def _never_sent(exc: requests.RequestException) -> bool:
    """The request cannot have reached the venue: no connection was made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _transport_error(exc: requests.RequestException, where: str, write: str | None) -> Exception:
    cause = type(exc).__name__
    if _never_sent(exc):
        return ExchangeUnavailable(f"{where}: cannot connect ({cause}); is the venue running?")
    if write is not None:
        return OrderOutcomeUnknown(
            f"{where}: no answer ({cause}); look the order up before doing anything else",
            client_order_id=write or None,
        )
    return NetworkError(f"{where}: no answer ({cause})")


def _answer_error(status: int, body: Any, where: str, write: str | None) -> Exception:
    error: MartingaleError | None = wire.error_from(body)
    if error is not None:
        return error
    code = wire.error_code(body)
    if code == wire.UNAUTHORIZED:
        return AuthenticationFailed(
            f"{where}: the venue refused our token: paper.venue_token_env / venue_token_file "
            "must hold the token of its paper.serve"
        )
    if code == wire.BAD_REQUEST:
        message = body["error"].get("message", "") if isinstance(body, dict) else ""
        return ConfigurationError(
            f"{where}: the venue could not read the request ({message}); is it the same "
            "version as this service?",
            field="paper.venue_url",
        )
    if status >= 500 or code == wire.INTERNAL:
        if write is not None:
            return OrderOutcomeUnknown(
                f"{where}: HTTP {status} ({code or 'no venue answer'}); look the order up "
                "before doing anything else",
                client_order_id=write or None,
            )
        return ExchangeUnavailable(f"{where}: HTTP {status} ({code or 'no venue answer'})")
    return ConfigurationError(
        f"{where}: unexpected HTTP {status}: is paper.venue_url the address of a "
        "`martingale paper-venue`?",
        field="paper.venue_url",
    )

"""The path of every venue request: guards first, then ccxt, then one verdict per answer.

Before sending: the key's guard (a refused key sends nothing; an account order limit holds new
orders), the venue's circuit breaker (fail fast while it is down), the host's token bucket (the
IP's request budget, shared by every tenant). After a failure the ccxt exception is translated
once (`errors.translate`) and each verdict goes to whoever it belongs to:

- an authentication refusal latches the key's guard (logged once);
- a rate limit pauses the key's new orders (account-scoped, binance -1015) or the whole host
  (IP-scoped: 429, 418 IP ban, -1003), with the venue's Retry-After or a documented default;
- only evidence that the venue is down counts towards its breaker (`errors.counts_as_outage`):
  an answer, even a refusal, proves it is up.

Reads add the bounded retry policy on top; writes are single-shot (the adapter resolves their
unknown outcomes by looking the order up).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import structlog

from domain.errors import AuthenticationFailed, ExchangeUnavailable, OrderRateLimited, RateLimited
from exchange.ccxt_adapter.client import CcxtConfig
from exchange.ccxt_adapter.errors import counts_as_outage, parse_retry_after, redact, translate
from exchange.resilience.account import AccountGuard, AccountGuardRegistry
from exchange.resilience.circuit import CircuitBreaker
from exchange.resilience.rate_limit import TokenBucket
from exchange.resilience.retry import ReadRetryPolicy

T = TypeVar("T")
log = structlog.get_logger(__name__)

#: Request weights in token units (binance's published weights, scaled so an order costs 1).
WEIGHTS: dict[str, float] = {
    "load_markets": 20,
    "fetch_ticker": 2,
    "fetch_ohlcv": 5,  # klines: 1000 candles at most (a start condition's history)
    "fetch_balances": 20,
    "create_order": 1,
    "cancel_order": 1,
    "fetch_order": 4,
    "fetch_open_orders": 6,
    "fetch_open_orders_all": 80,
    "fetch_fills": 20,
    "key_report": 1,
    "fetch_time": 1,
}
#: The operations that place an order, which an account-scoped order limit holds.
PLACING = frozenset({"create_order"})


class Pipeline:
    def __init__(
        self,
        *,
        venue: str,
        exchange_id: str,
        client: Any,
        guard: AccountGuard,
        breaker: CircuitBreaker,
        bucket: TokenBucket,
        retry: ReadRetryPolicy,
        secrets: tuple[str, ...],
        sleep: Callable[[float], None] = time.sleep,
        max_rate_wait: float = 10.0,
    ) -> None:
        self._venue = venue
        self._exchange_id = exchange_id
        self._client = client
        self._guard = guard
        self._breaker = breaker
        self._bucket = bucket
        self._retry = retry
        self._secrets = secrets
        self._sleep = sleep
        self._max_rate_wait = max_rate_wait

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    def refuse_if_key_refused(self, operation: str) -> None:
        """A refused key would only be refused again: answer at once, send nothing."""
        refusal = self._guard.refusal
        if refusal is not None:
            raise AuthenticationFailed(
                f"{self._exchange_id} {operation}: not sent, the exchange already refused this "
                f"API key. {refusal}"
            )

    def _hold_if_orders_paused(self, operation: str) -> None:
        if operation not in PLACING:
            return
        wait = self._guard.orders_wait()
        if wait > 0:
            raise OrderRateLimited(
                f"{self._exchange_id} {operation}: not sent, this account is over its order "
                f"rate limit; new orders may be sent again in {wait:.1f}s",
                retry_after=wait,
            )

    def call(
        self,
        operation: str,
        fn: Callable[[], T],
        *,
        symbol: str | None = None,
        write: bool = False,
        client_order_id: str | None = None,
    ) -> T:
        """Send one request; `symbol` only names the market in error messages."""
        self.refuse_if_key_refused(operation)
        self._hold_if_orders_paused(operation)
        self._breaker.before_call()
        try:
            wait = self._bucket.reserve(WEIGHTS.get(operation, 1), max_wait=self._max_rate_wait)
        except RateLimited:
            self._breaker.release()
            raise
        if wait > 0:
            self._sleep(wait)
        answers = self._client.mg_answers
        answers.clear()  # no earlier answer of this thread is read as this one's
        try:
            result = fn()
        except Exception as exc:
            where = f"{operation} {symbol}" if symbol else operation
            err = self._verdict(exc, operation, where, write=write, coid=client_order_id)
            raise err from None
        self._breaker.record_success()
        return result

    def read(self, operation: str, fn: Callable[[], T], *, symbol: str | None = None) -> T:
        return self._retry.call(lambda: self.call(operation, fn, symbol=symbol))

    def parsed(self, operation: str, symbol: str | None, fn: Callable[[], T]) -> T:
        """Read a venue answer into domain types. An answer we cannot read (a field missing, not
        a number, the wrong shape) is the venue's problem, not a bug to crash on: it becomes
        `ExchangeUnavailable` naming the venue, operation and symbol."""
        try:
            return fn()
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            where = f"{operation} {symbol}" if symbol else operation
            raise ExchangeUnavailable(
                f"{self._exchange_id} {where}: the venue's answer could not be read "
                f"({type(exc).__name__}: {redact(str(exc), self._secrets)})"
            ) from None

    def _verdict(
        self, exc: Exception, operation: str, where: str, *, write: bool, coid: str | None
    ) -> Exception:
        answers = self._client.mg_answers  # this thread's own answer, if one came
        status = answers.status
        err = translate(
            exc,
            operation=where,
            write=write,
            exchange_id=self._exchange_id,
            secrets=self._secrets,
            client_order_id=coid,
            retry_after=parse_retry_after(answers.headers),
            status=status,
        )
        if counts_as_outage(exc):
            self._breaker.record_failure(f"{type(err).__name__}: {err}")
        else:
            self._breaker.record_success()  # an answer, even a refusal, proves it is up
        if isinstance(err, OrderRateLimited):
            self._guard.pause_orders(err.retry_after or 0.0)  # this key's new orders only
        elif isinstance(err, RateLimited):
            self._bucket.pause(err.retry_after or 0.0)  # every client of this host backs off
        elif isinstance(err, AuthenticationFailed) and self._guard.refuse(str(err)):
            log.error(
                "exchange.key_refused",
                venue=self._venue,
                operation=operation,
                error=str(err),
                effect="this key sends nothing more; its strategies stop",
            )
        return err


def account_guard(config: CcxtConfig, accounts: AccountGuardRegistry) -> AccountGuard:
    """Clients with the same key on the same venue share one guard; a keyless (public) client
    has its own. The key is hashed so the registry never holds it."""
    if config.api_key is None:
        return AccountGuard(f"{config.environment}/public")
    digest = hashlib.sha256(config.api_key.reveal().encode()).hexdigest()[:16]
    guard = accounts.guard(f"{config.environment}/{digest}")
    guard.ask_again()  # a client built for the key: the key gets one more chance (see there)
    return guard

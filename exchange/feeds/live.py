"""A live price source: polls `fetch_ticker` on any Exchange port (ccxt adapter or paper).

A failed poll must not kill the feed: an exchange hiccup is normal. Domain errors are caught,
kept in `last_error` and counted, and the poll yields None; `next_delay` tells the actor how
long to back off. An answer the port could not read (ValueError, KeyError, TypeError... from a
port that does not translate them) or a ticker without a positive price is kept the same way, as
`ExchangeUnavailable`: one odd answer must not end the feed for the process's life.

How long: prices must come back within seconds of the venue, so the backoff is short.

- While the venue's circuit breaker is open (`CircuitOpen`), poll again exactly when it admits a
  probe (its `retry_after`): sooner is refused locally anyway, later keeps prices away.
- Otherwise back off exponentially from the interval, capped at `max_backoff` (default 15 s:
  three polls of the usual 5 s interval; the breaker, shared with the engines, is what stops a
  down venue from being asked, so the feed need not back off further itself).
- A rate limit's `retry_after` is a floor: polling the host sooner would only be refused.

The first failure of a run of failures, a change of cause, and the recovery are logged, with
the real error (which names the breaker's last failure when it is open).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from domain.errors import ExchangeUnavailable, MartingaleError, RateLimited, ValidationError
from exchange.feeds.source import PriceTick
from exchange.port import Exchange
from exchange.resilience.circuit import CircuitOpen

log = structlog.get_logger(__name__)

DEFAULT_MAX_BACKOFF = 15.0
_MAX_DOUBLINGS = 30  # 2**30 intervals is far past any cap; keeps the float finite


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveTickerSource:
    def __init__(
        self,
        exchange: Exchange,
        symbol: str,
        *,
        interval: float = 5.0,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`clock` stamps a ticker that carries no timestamp of its own."""
        if interval <= 0:
            raise ValidationError(f"must be > 0, got {interval}", field="interval")
        self._exchange = exchange
        self._symbol = symbol
        self._interval = float(interval)
        self._max_backoff = max(float(max_backoff), self._interval)
        self._clock = clock
        self.last_error: MartingaleError | None = None
        self.consecutive_errors = 0
        self._polled = False

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def finished(self) -> bool:
        return False

    @property
    def next_delay(self) -> float:
        """Seconds until the next poll (see the module docstring)."""
        if not self.consecutive_errors:
            return self._interval if self._polled else 0.0
        error = self.last_error
        if isinstance(error, CircuitOpen):
            return max(0.0, error.retry_after)
        doublings = min(self.consecutive_errors, _MAX_DOUBLINGS)
        wait = min(self._interval * 2.0**doublings, self._max_backoff)
        if isinstance(error, RateLimited) and error.retry_after:
            wait = max(wait, error.retry_after)
        return wait

    def next_tick(self) -> PriceTick | None:
        try:
            ticker = self._exchange.fetch_ticker(self._symbol)
            price = ticker.last
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                raise ValueError(f"the ticker's last price is {price!r}, not a Decimal > 0")
        except MartingaleError as exc:
            self._failed(exc)
            return None
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            self._failed(
                ExchangeUnavailable(
                    f"{self._exchange.exchange_id} fetch_ticker {self._symbol}: the answer "
                    f"could not be read ({type(exc).__name__}: {exc})"
                )
            )
            return None
        if self.consecutive_errors:
            log.info(
                "feed.poll_recovered",
                exchange=self._exchange.exchange_id,
                symbol=self._symbol,
                failed_polls=self.consecutive_errors,
            )
        self.last_error = None
        self.consecutive_errors = 0
        self._polled = True
        return PriceTick(
            symbol=self._symbol,
            price=price,
            timestamp=ticker.timestamp or self._clock(),
        )

    def _failed(self, exc: MartingaleError) -> None:
        previous = self.last_error
        self._polled = True
        self.last_error = exc
        self.consecutive_errors += 1
        if previous is None or type(previous) is not type(exc):
            log.warning(
                "feed.poll_failed",
                exchange=self._exchange.exchange_id,
                symbol=self._symbol,
                error=f"{type(exc).__name__}: {exc}",
                failed_polls=self.consecutive_errors,
                next_poll_in_s=round(self.next_delay, 1),
            )

    def close(self) -> None:
        """The exchange client belongs to whoever passed it in; it is not closed here."""

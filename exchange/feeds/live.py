"""A live price source: polls `fetch_ticker` on any Exchange port (ccxt adapter or paper).

A failed poll must not kill the feed: an exchange hiccup is normal. Domain errors are caught,
kept in `last_error` and counted, and the poll yields None; `next_delay` tells the actor how
long to back off (Retry-After when the exchange gave one). Anything that is not a domain error
is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from domain.errors import MartingaleError, RateLimited, ValidationError
from exchange.feeds.source import PriceTick
from exchange.port import Exchange


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveTickerSource:
    def __init__(
        self,
        exchange: Exchange,
        symbol: str,
        *,
        interval: float = 5.0,
        max_backoff: float = 300.0,
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
        """Seconds until the next poll: the interval, or after errors an exponential backoff
        (interval * 2**errors, capped), or the exchange's Retry-After when it is longer."""
        if not self.consecutive_errors:
            return self._interval if self._polled else 0.0
        wait = min(self._interval * 2.0**self.consecutive_errors, self._max_backoff)
        if isinstance(self.last_error, RateLimited) and self.last_error.retry_after:
            wait = max(wait, self.last_error.retry_after)
        return wait

    def next_tick(self) -> PriceTick | None:
        try:
            ticker = self._exchange.fetch_ticker(self._symbol)
        except MartingaleError as exc:
            self._polled = True
            self.last_error = exc
            self.consecutive_errors += 1
            return None
        self.last_error = None
        self.consecutive_errors = 0
        self._polled = True
        return PriceTick(
            symbol=self._symbol,
            price=ticker.last,
            timestamp=ticker.timestamp or self._clock(),
        )

    def close(self) -> None:
        """The exchange client belongs to whoever passed it in; it is not closed here."""

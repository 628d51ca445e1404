"""Token buckets keyed by exchange host, shared by every user's client in the process.

Exchanges limit by IP, not by API key, so a thousand users on one process share one budget per
host. The bucket hands out *reservations*: `reserve` takes the tokens at once (the level may go
negative) and returns how long the caller must wait before sending. That keeps the lock hold time
tiny and the order of callers fair, and the logic needs no clock but the one passed in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from domain.errors import RateLimited

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`rate` tokens per second, bursts of up to `capacity` tokens."""

    rate: float
    capacity: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.capacity <= 0:
            raise ValueError("rate limit: rate and capacity must be > 0")


class TokenBucket:
    def __init__(self, limit: RateLimit, *, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._level = limit.capacity
        self._updated = clock()
        self._paused_until = float("-inf")

    @property
    def limit(self) -> RateLimit:
        return self._limit

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._level = min(self._limit.capacity, self._level + elapsed * self._limit.rate)
        self._updated = now

    def reserve(self, cost: float = 1.0, *, max_wait: float | None = None) -> float:
        """Take `cost` tokens; return the seconds to wait before sending (0 when free now).

        With `max_wait`, a wait longer than that takes nothing and raises RateLimited, so a
        caller never queues behind a long venue ban or a huge backlog.
        """
        if cost <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._refill(now)
            pause = max(0.0, self._paused_until - now)
            deficit = cost - self._level
            wait = max(pause, deficit / self._limit.rate if deficit > 0 else 0.0)
            if max_wait is not None and wait > max_wait:
                raise RateLimited(
                    f"local rate limit: next request allowed in {wait:.3f}s", retry_after=wait
                )
            self._level -= cost
            return wait

    def pause(self, seconds: float) -> None:
        """The venue said "back off" (429/418 with Retry-After): hold every caller of this host."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)

    def level(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._level


class RateLimiterRegistry:
    """One bucket per host for the whole process; the first caller's limit wins."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, host: str, limit: RateLimit) -> TokenBucket:
        key = host.lower()
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = TokenBucket(limit, clock=self._clock)
                self._buckets[key] = found
            return found


#: The process-wide registry the adapter uses unless a test injects its own.
PROCESS_RATE_LIMITS = RateLimiterRegistry()

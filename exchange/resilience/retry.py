"""Retry policy for venue reads: exponential backoff with full jitter, bounded, Retry-After aware.

Only reads go through here. A create or cancel is never retried blindly (DESIGN rule 4): its
unknown outcome is resolved by looking the order up instead.

Bounds are on attempts and on the total planned sleep (tenacity's ``idle_for``), not on the wall
clock, so the policy is deterministic under a fake sleep. A venue's Retry-After is a floor for the
next wait; when it alone exceeds the remaining budget we give up at once and let the caller
degrade (the error carries `retry_after`), instead of blocking an actor thread for minutes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from domain.errors import ExchangeUnavailable, NetworkError, RateLimited
from exchange.resilience.circuit import CircuitOpen

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """Temporary read failures; an open circuit is not retried (it would only fail fast again)."""
    if isinstance(exc, CircuitOpen):
        return False
    return isinstance(exc, NetworkError | ExchangeUnavailable | RateLimited)


@dataclass(slots=True)
class ReadRetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.25
    max_backoff: float = 8.0
    max_total_wait: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("retry policy: max_attempts must be >= 1")

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))), floored by Retry-After."""
        ceiling = min(self.max_backoff, self.base_delay * (2 ** (attempt - 1)))
        jittered = self.rng.uniform(0.0, ceiling)
        if retry_after is not None and retry_after > 0:
            return max(retry_after, jittered)
        return jittered

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return self.backoff(state.attempt_number, retry_after)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        return state.idle_for + state.upcoming_sleep > self.max_total_wait

    def call(self, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            wait=self._wait,
            stop=self._stop,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(fn)


NO_RETRY = ReadRetryPolicy(max_attempts=1)

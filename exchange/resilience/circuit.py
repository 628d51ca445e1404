"""A circuit breaker per exchange: stop hammering a venue that is down.

CLOSED counts consecutive unavailability failures; at the threshold it OPENs and every call fails
fast with `CircuitOpen` (an `ExchangeUnavailable`) without touching the venue. After `reset_after`
seconds the next caller becomes the single HALF_OPEN probe; concurrent callers still fail fast.
The probe's success closes the circuit, its failure re-opens it for another pause.
Only unavailability counts: an order rejection proves the venue is up.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from domain.errors import ExchangeUnavailable

Clock = Callable[[], float]


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(ExchangeUnavailable):
    """Raised without calling the venue; retrying before `retry_after` is pointless."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_after <= 0:
            raise ValueError("circuit breaker: failure_threshold >= 1 and reset_after > 0")
        self.name = name
        self._threshold = failure_threshold
        self._reset_after = reset_after
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state

    def before_call(self) -> None:
        """Admit a call or raise CircuitOpen. An admitted call must end in a `record_*`."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return
            now = self._clock()
            if self._state is CircuitState.OPEN:
                remaining = self._opened_at + self._reset_after - now
                if remaining > 0:
                    raise CircuitOpen(
                        f"{self.name}: circuit open after repeated unavailability; "
                        f"next probe in {remaining:.1f}s",
                        retry_after=remaining,
                    )
                self._state = CircuitState.HALF_OPEN
                self._probe_in_flight = True
                return
            if self._probe_in_flight:  # HALF_OPEN: one probe at a time
                raise CircuitOpen(
                    f"{self.name}: circuit half-open, a probe request is in flight",
                    retry_after=self._reset_after,
                )
            self._probe_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            self._state = CircuitState.CLOSED
            self._failures = 0
            self._probe_in_flight = False

    def release(self) -> None:
        """The admitted call never reached the venue (e.g. local rate limit): no verdict."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._probe_in_flight = False
            if self._state is CircuitState.HALF_OPEN:
                self._open()
                return
            self._failures += 1
            if self._state is CircuitState.CLOSED and self._failures >= self._threshold:
                self._open()

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._clock()


class CircuitBreakerRegistry:
    """One breaker per exchange (id + environment) for the whole process."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, name: str, *, failure_threshold: int, reset_after: float) -> CircuitBreaker:
        with self._lock:
            found = self._breakers.get(name)
            if found is None:
                found = CircuitBreaker(
                    name,
                    failure_threshold=failure_threshold,
                    reset_after=reset_after,
                    clock=self._clock,
                )
                self._breakers[name] = found
            return found


PROCESS_CIRCUITS = CircuitBreakerRegistry()

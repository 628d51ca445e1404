"""A circuit breaker per exchange: stop hammering a venue that is down.

CLOSED counts consecutive unavailability failures; at the threshold it OPENs and every call fails
fast with `CircuitOpen` (an `ExchangeUnavailable`) without touching the venue. After `reset_after`
seconds the next caller becomes the single HALF_OPEN probe; concurrent callers still fail fast.
The probe's success closes the circuit, its failure re-opens it for another pause.
Only unavailability counts: an order rejection proves the venue is up.

The breaker keeps the last failure's cause, so `CircuitOpen` (which is all most callers see while
it is open) names the real problem, and it logs when it opens (with that cause) and closes.
While a probe is in flight, other callers are told to come back in `PROBE_PENDING_WAIT`, not a
whole pause: the probe's answer is due within one request timeout, and a feed that waited a full
`reset_after` would keep prices away for that long after the venue came back.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from domain.errors import ExchangeUnavailable

Clock = Callable[[], float]
log = structlog.get_logger(__name__)

PROBE_PENDING_WAIT = 1.0
_MAX_CAUSE = 240


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitStatus:
    """What a health check shows of a breaker: its state, the failures in a row and the last
    failure's cause (already redacted by the caller that recorded it)."""

    state: CircuitState
    failures: int
    cause: str | None


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
        reset_after: float = 10.0,
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
        self._down_since = 0.0  # the first open of this outage
        self._probe_in_flight = False
        self._cause = "unknown"

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state

    def status(self) -> CircuitStatus:
        """A consistent snapshot, readable from any thread (the service's health check)."""
        with self._lock:
            cause = self._cause if self._failures else None
            return CircuitStatus(state=self._state, failures=self._failures, cause=cause)

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
                        f"{self.name}: circuit open after {self._failures} failures "
                        f"(last: {self._cause}); next probe in {remaining:.1f}s",
                        retry_after=remaining,
                    )
                self._state = CircuitState.HALF_OPEN
                self._probe_in_flight = True
                return
            if self._probe_in_flight:  # HALF_OPEN: one probe at a time
                raise CircuitOpen(
                    f"{self.name}: circuit half-open after {self._failures} failures "
                    f"(last: {self._cause}); a probe request is in flight",
                    retry_after=min(PROBE_PENDING_WAIT, self._reset_after),
                )
            self._probe_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            was = self._state
            failures = self._failures
            self._state = CircuitState.CLOSED
            self._failures = 0
            self._probe_in_flight = False
            down_for = self._clock() - self._down_since
        if was is not CircuitState.CLOSED:
            log.info(
                "exchange.circuit_closed",
                breaker=self.name,
                failures=failures,
                open_for_s=round(down_for, 1),
            )

    def release(self) -> None:
        """The admitted call never reached the venue (e.g. local rate limit): no verdict."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self, cause: str | None = None) -> None:
        """`cause`: what failed, e.g. "NetworkError: binance fetch_ticker: ... timed out"."""
        with self._lock:
            self._probe_in_flight = False
            if cause:
                self._cause = cause if len(cause) <= _MAX_CAUSE else cause[:_MAX_CAUSE] + "..."
            self._failures += 1
            opened = False
            if self._state is CircuitState.HALF_OPEN:
                self._open()  # the probe failed: another pause, logged once at the first open
            elif self._state is CircuitState.CLOSED and self._failures >= self._threshold:
                self._open()
                self._down_since = self._opened_at
                opened = True
            failures, cause_now = self._failures, self._cause
        if opened:
            log.warning(
                "exchange.circuit_open",
                breaker=self.name,
                failures=failures,
                cause=cause_now,
                probe_in_s=self._reset_after,
            )

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

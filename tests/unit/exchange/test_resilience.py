"""Rate limiter, circuit breaker and retry policy, driven by a hand-moved clock (no sleeping)."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from domain.errors import ExchangeUnavailable, InvalidOrder, NetworkError, RateLimited
from exchange.resilience.circuit import (
    PROBE_PENDING_WAIT,
    CircuitBreaker,
    CircuitOpen,
    CircuitState,
)
from exchange.resilience.rate_limit import RateLimit, RateLimiterRegistry, TokenBucket
from exchange.resilience.retry import ReadRetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_spaces_requests() -> None:
    clock = Clock()
    bucket = TokenBucket(RateLimit(rate=10, capacity=5), clock=clock)
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)  # reservations queue up fairly
    clock.now += 0.25  # the level was -2; 2.5 tokens came back
    assert bucket.reserve() == pytest.approx(0.05)


def test_bucket_weights_and_max_wait() -> None:
    clock = Clock()
    bucket = TokenBucket(RateLimit(rate=2, capacity=4), clock=clock)
    assert bucket.reserve(4) == 0.0
    with pytest.raises(RateLimited) as caught:
        bucket.reserve(10, max_wait=1.0)
    assert caught.value.retry_after == pytest.approx(5.0)
    assert bucket.level() == 0  # a refused reservation takes nothing
    clock.now += 1
    assert bucket.reserve(2, max_wait=1.0) == 0.0


def test_pause_holds_every_caller_of_the_host() -> None:
    clock = Clock()
    registry = RateLimiterRegistry(clock=clock)
    limit = RateLimit(rate=100, capacity=100)
    first = registry.bucket("API.binance.com", limit)
    second = registry.bucket("api.binance.com", RateLimit(rate=1, capacity=1))
    assert first is second and second.limit == limit
    first.pause(30)
    assert second.reserve() == pytest.approx(30)
    clock.now += 31
    assert second.reserve() == 0.0


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    capacity=st.floats(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=40),
)
def test_bucket_never_admits_more_than_capacity_plus_rate_times_elapsed(
    rate: float, capacity: float, gaps: list[float]
) -> None:
    clock = Clock()
    start = clock.now
    bucket = TokenBucket(RateLimit(rate=rate, capacity=capacity), clock=clock)
    sent_at: list[float] = []
    for gap in gaps:
        clock.now += gap
        sent_at.append(clock.now + bucket.reserve())
    horizon = max(sent_at)
    assert len(sent_at) <= capacity + rate * (horizon - start) + 1e-6


def test_bucket_is_thread_safe() -> None:
    bucket = TokenBucket(RateLimit(rate=1e-9, capacity=1000))
    waits: list[float] = []

    def worker() -> None:
        for _ in range(250):
            waits.append(bucket.reserve())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for w in waits if w == 0.0) == 1000


def test_breaker_opens_probes_once_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("binance@live", failure_threshold=3, reset_after=10, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    breaker.before_call()
    breaker.record_success()  # success resets the consecutive count
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert isinstance(caught.value, ExchangeUnavailable) and caught.value.retry_after == 10
    clock.now += 10
    breaker.before_call()  # the probe
    assert breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    breaker.before_call()


def test_failed_probe_reopens_for_another_pause() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", failure_threshold=1, reset_after=5, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    clock.now += 5
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    clock.now += 4.9
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 0.1
    breaker.before_call()
    breaker.release()  # the probe never reached the venue: the next caller probes
    breaker.before_call()
    assert breaker.state is CircuitState.HALF_OPEN


def test_circuit_open_names_the_last_cause_and_the_breaker_logs_open_and_close() -> None:
    clock = Clock()
    breaker = CircuitBreaker("binance@live", failure_threshold=3, reset_after=10, clock=clock)
    with capture_logs() as logs:
        for cause in ("ExchangeUnavailable: 503", "NetworkError: a", "NetworkError: timed out"):
            breaker.before_call()
            breaker.record_failure(cause)
        clock.now += 7.7
        with pytest.raises(CircuitOpen) as caught:
            breaker.before_call()
        clock.now += 2.3
        breaker.before_call()  # the probe
        breaker.record_failure("NetworkError: still down")  # re-opens: not logged again
        clock.now += 10
        breaker.before_call()
        breaker.record_success()
    assert str(caught.value) == (
        "binance@live: circuit open after 3 failures (last: NetworkError: timed out); "
        "next probe in 2.3s"
    )
    assert caught.value.retry_after == pytest.approx(2.3)
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("exchange.circuit_open", "warning"),
        ("exchange.circuit_closed", "info"),
    ]
    assert logs[0]["cause"] == "NetworkError: timed out" and logs[0]["failures"] == 3
    assert logs[1]["failures"] == 4 and logs[1]["open_for_s"] == 20


def test_callers_during_a_probe_come_back_in_a_second_not_a_whole_pause() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", failure_threshold=1, reset_after=30, clock=clock)
    breaker.before_call()
    breaker.record_failure("NetworkError: down")
    clock.now += 30
    breaker.before_call()  # the probe is in flight
    with pytest.raises(CircuitOpen, match="probe request is in flight") as caught:
        breaker.before_call()
    assert caught.value.retry_after == PROBE_PENDING_WAIT == 1.0


class Flaky:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(slept: list[float], **kw: float) -> ReadRetryPolicy:
    return ReadRetryPolicy(sleep=slept.append, rng=random.Random(1), **kw)  # type: ignore[arg-type]


def test_retry_full_jitter_stays_under_the_exponential_ceiling() -> None:
    slept: list[float] = []
    fn = Flaky(NetworkError("a"), ExchangeUnavailable("b"), NetworkError("c"))
    assert policy(slept, max_attempts=4, base_delay=1, max_backoff=3).call(fn) == "ok"
    assert fn.calls == 4
    assert [0 <= s <= c for s, c in zip(slept, [1, 2, 3], strict=True)] == [True] * 3


def test_retry_gives_up_after_max_attempts_and_reraises_the_domain_error() -> None:
    slept: list[float] = []
    fn = Flaky(*[NetworkError(str(i)) for i in range(5)])
    with pytest.raises(NetworkError, match="2"):
        policy(slept, max_attempts=3).call(fn)
    assert fn.calls == 3 and len(slept) == 2


def test_retry_after_is_a_floor_and_a_budget_breaker() -> None:
    slept: list[float] = []
    fn = Flaky(RateLimited("slow down", retry_after=4.0))
    assert policy(slept, max_total_wait=10).call(fn) == "ok"
    assert slept[0] >= 4.0
    fn = Flaky(RateLimited("banned", retry_after=600.0))
    with pytest.raises(RateLimited):
        policy(slept := [], max_total_wait=10).call(fn)
    assert fn.calls == 1 and slept == []


@pytest.mark.parametrize(
    "error",
    [InvalidOrder("no"), CircuitOpen("open", retry_after=3)],
)
def test_order_errors_and_open_circuits_are_not_retried(error: Exception) -> None:
    fn = Flaky(error)
    with pytest.raises(type(error)):
        policy([]).call(fn)
    assert fn.calls == 1

"""The webhook's per-URL request limit: a sliding window, bounded memory."""

from __future__ import annotations

import pytest

from services.signal_limit import SignalLimiter, SignalThrottled


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_past_the_limit_a_url_waits_for_its_oldest_request_to_expire() -> None:
    clock = Clock()
    limiter = SignalLimiter(limit=3, window_s=60, clock=clock)
    for step in range(3):
        clock.now = 1000.0 + step * 10
        limiter.hit("mgw_a")
    with pytest.raises(SignalThrottled) as err:
        limiter.hit("mgw_a")
    assert err.value.retry_after_s == 40  # the request at 1000 expires at 1060; now is 1020
    limiter.hit("mgw_b")  # another URL has its own count
    clock.now = 1060.0
    limiter.hit("mgw_a")  # the oldest expired; a refused request was not counted
    with pytest.raises(SignalThrottled):
        limiter.hit("mgw_a")


def test_memory_stays_bounded_by_max_keys() -> None:
    limiter = SignalLimiter(limit=2, window_s=60, clock=Clock(), max_keys=50)
    for n in range(500):
        limiter.hit(f"mgw_{n}")
    assert limiter.tracked_keys() == 50


def test_a_limit_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        SignalLimiter(limit=0)

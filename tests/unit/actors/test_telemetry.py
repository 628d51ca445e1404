"""The service's plain counters: tallies, the cumulative histogram and the breaker board."""

from __future__ import annotations

import threading

import pytest

from actors.telemetry import BreakerBoard, BucketHistogram, Tally
from exchange.resilience.circuit import CircuitBreaker


def test_a_tally_counts_per_label_tuple_and_refuses_the_wrong_labels() -> None:
    tally = Tally("venue", "side")
    tally.inc("paper", "buy")
    tally.inc("paper", "buy")
    tally.inc("binance@live", "sell", amount=3)

    assert tally.counts() == {("paper", "buy"): 2, ("binance@live", "sell"): 3}
    assert tally.total() == 5
    with pytest.raises(ValueError, match="expected labels"):
        tally.inc("paper")


def test_a_tally_loses_no_count_under_concurrent_increments() -> None:
    tally = Tally("kind")

    def bump() -> None:
        for _ in range(2000):
            tally.inc("x")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.counts() == {("x",): 16000}


def test_the_histogram_is_cumulative_with_bounds_inclusive() -> None:
    histogram = BucketHistogram((0.01, 0.1, 1.0))
    for seconds in (0.005, 0.01, 0.05, 0.1, 0.5, 7.0):
        histogram.observe(seconds)

    snap = histogram.snapshot()

    # le=0.01 holds 0.005 and 0.01 itself; 7 s is above every bound (only in +Inf = count).
    assert snap.buckets == ((0.01, 2), (0.1, 4), (1.0, 5))
    assert snap.count == 6
    assert snap.sum == pytest.approx(7.665)


def test_histogram_bounds_must_ascend() -> None:
    with pytest.raises(ValueError, match="ascending"):
        BucketHistogram((0.1, 0.01))


class _Client:
    def __init__(self, circuit: object | None) -> None:
        self.circuit = circuit


def test_the_board_keeps_each_venue_breaker_while_an_account_uses_it() -> None:
    board = BreakerBoard()
    binance = CircuitBreaker("binance@live")
    board.track("binance@live", 1, _Client(binance))
    board.track("binance@live", 2, _Client(binance))
    board.track("paper", 3, _Client(None))  # the paper exchange has no breaker

    assert board.views() == {"binance@live": (binance, 2)}
    board.untrack([1])
    assert board.views() == {"binance@live": (binance, 1)}
    board.untrack([2, 3])
    assert board.views() == {}

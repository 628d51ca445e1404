"""actors.metrics: the latency the engines record about themselves (read by bench_service)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import metrics
from actors.metrics import LatencyRecorder, percentile, tick_handled
from tests.unit.strategy.helpers import at


@pytest.fixture(autouse=True)
def clean_recorders() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=300),
    st.floats(min_value=0.001, max_value=1.0),
)
def test_percentile_is_the_nearest_rank(values: list[float], q: float) -> None:
    ordered = sorted(values)
    p = percentile(ordered, q)
    assert p in ordered
    # nearest rank: at least a fraction q of the samples are <= p, and fewer are < p
    assert sum(v <= p for v in ordered) >= q * len(ordered)
    assert sum(v < p for v in ordered) < q * len(ordered)


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 0.5))


def test_summary_counts_everything_but_ranks_only_the_retained_ring() -> None:
    recorder = LatencyRecorder(capacity=10)
    for ms in range(100):  # 0 .. 99 ms; the ring keeps 90 .. 99
        recorder.record(ms / 1000)
    s = recorder.summary()
    assert (s.count, s.retained) == (100, 10)
    assert s.max == pytest.approx(0.099)
    assert s.mean == pytest.approx(0.0495)
    assert s.p50 == pytest.approx(0.094)
    assert s.p99 == pytest.approx(0.099)


def test_empty_summary_says_nan_not_zero() -> None:
    s = LatencyRecorder().summary()
    assert s.count == 0
    assert math.isnan(s.p99) and math.isnan(s.max) and math.isnan(s.mean)


def test_concurrent_records_are_all_counted() -> None:
    recorder = LatencyRecorder(capacity=1_000_000)

    def work() -> None:
        for _ in range(2000):
            recorder.record(0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert recorder.summary().count == 16_000
    assert len(recorder.samples()) == 16_000


def test_tick_handled_records_every_wake_and_orders_to_their_answer() -> None:
    published = at(0)
    tick_handled(published, None, now=published + timedelta(milliseconds=40))
    tick_handled(
        published,
        published + timedelta(milliseconds=150),  # the exchange accepted the order here
        now=published + timedelta(milliseconds=200),  # the acknowledgement committed here
    )
    done = metrics.TICK_TO_WAKE_DONE.summary()
    ordered = metrics.TICK_TO_ORDER.summary()
    assert done.count == 2
    assert done.max == pytest.approx(0.2)
    assert ordered.count == 1
    assert ordered.p50 == pytest.approx(0.15)

"""actors.metrics: the latency the engines record about themselves (read by bench_service)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import metrics
from actors.metrics import LatencyRecorder, percentile, placed_orders, tick_handled
from domain.orders import OrderType, Side
from strategy.state import MartingaleState, Role, WorkingOrder
from tests.unit.strategy.helpers import at, fresh


@pytest.fixture(autouse=True)
def clean_recorders() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


def order(coid: str, side: Side = Side.BUY) -> WorkingOrder:
    return WorkingOrder(
        client_order_id=coid,
        role=Role.SAFETY if side is Side.BUY else Role.TAKE_PROFIT,
        leg="s1" if side is Side.BUY else "t1",
        side=side,
        order_type=OrderType.LIMIT,
        amount=Decimal("0.1"),
        price=Decimal("99.5"),
    )


def with_orders(*coids: str) -> MartingaleState:
    return replace(fresh(), orders=tuple(order(c) for c in coids))


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


def test_placed_orders_counts_only_ids_the_step_added() -> None:
    before = with_orders("mg1c1s1", "mg1c1t1")
    after = with_orders("mg1c1s1", "mg1c1s2", "mg1c1t2")  # s2 placed, t1 replaced by t2
    assert placed_orders(before, after) == 2
    assert placed_orders(before, before) == 0
    assert placed_orders(before, with_orders()) == 0  # everything filled or canceled
    assert placed_orders(None, after) == 3
    assert placed_orders(before, None) == 0


def test_tick_handled_records_every_wake_and_orders_separately() -> None:
    published = at(0)
    quiet = with_orders("mg1c1s1")
    tick_handled(published, quiet, quiet, now=published + timedelta(milliseconds=40))
    tick_handled(
        published, quiet, with_orders("mg1c1s1", "mg1c1s2"), now=at(0) + timedelta(seconds=0.2)
    )
    done = metrics.TICK_TO_WAKE_DONE.summary()
    ordered = metrics.TICK_TO_ORDER.summary()
    assert done.count == 2
    assert done.max == pytest.approx(0.2)
    assert ordered.count == 1
    assert ordered.p50 == pytest.approx(0.2)

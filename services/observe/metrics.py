"""`/metrics`: a Prometheus collector that reads, at scrape time, what the tree already counts.

Nothing is pushed from the trading paths: engines bump plain counters (`actors.telemetry`) and
this collector turns them into metric families when Prometheus asks. Each `Observer` has its
own `CollectorRegistry` (never the process-global default one), so two services in one process
do not collide, and a test sees its own service's figures only.

Strategies by state come from the database (one grouped COUNT, bounded in time like the
health check): the actual state lives there, written by the engines and by their supervisors
(FAULTED, stopped on a refused key), including strategies that have no engine at all. Names
follow Prometheus conventions: a `martingale_` prefix, `_total` on counters (the client adds
it), `_seconds` on durations. Labels are bounded: venue, side, component, error class, child
kind, market; never a user or a strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from actors.telemetry import Tally, Telemetry
from persistence.records import ActualState
from services.observe.checks import scrub

CHILD_KINDS = ("engine", "user", "feed")
CIRCUIT_STATES = ("closed", "open", "half_open")


class ServiceCollector(Collector):
    def __init__(
        self,
        telemetry: Telemetry,
        *,
        strategies: Callable[[], dict[ActualState, int] | None],
        clock: Callable[[], datetime],
    ) -> None:
        """`strategies`: the count by state, or None when the database did not answer."""
        self._t = telemetry
        self._strategies = strategies
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        yield from self._strategy_states()
        t = self._t
        yield _counter("orders_placed", "Orders the venue accepted.", t.orders_placed)
        yield _counter("orders_rejected", "Orders the venue refused.", t.orders_rejected)
        yield _counter("fills", "Fills committed by the engines.", t.fills)
        yield _counter("errors", "Errors by component and error class.", t.errors)
        yield _counter(
            "restarts", "Supervision restarts by kind of child.", t.restarts, CHILD_KINDS
        )
        yield self._tick_to_order()
        yield self._queue_depth()
        yield from self._feeds()
        yield self._breakers()

    def _strategy_states(self) -> Iterator[Metric]:
        counts = self._strategies()
        if counts is None:
            return  # absent, not zero: the database did not answer this scrape
        family = GaugeMetricFamily(
            "martingale_strategies", "Strategies by actual state (database).", labels=["state"]
        )
        for state in ActualState:
            family.add_metric([state.value], counts.get(state, 0))
        yield family

    def _tick_to_order(self) -> Metric:
        snap = self._t.tick_to_order.snapshot()
        buckets = [(_le(bound), float(count)) for bound, count in snap.buckets]
        buckets.append(("+Inf", float(snap.count)))
        family = HistogramMetricFamily(
            "martingale_tick_to_order_seconds",
            "From a price's publication to the venue's acceptance of the order it caused.",
        )
        family.add_metric([], buckets=buckets, sum_value=snap.sum)
        return family

    def _queue_depth(self) -> Metric:
        family = GaugeMetricFamily(
            "martingale_repository_queue_depth",
            "What waits for the single database writer: steps, buffered rows, mailbox.",
            labels=["queue"],
        )
        backlog = self._t.backlog
        depths = backlog.depths() if backlog is not None else {}
        for queue in ("steps", "buffered", "mailbox"):
            family.add_metric([queue], depths.get(queue, 0))
        return family

    def _feeds(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "martingale_feed_lag_seconds",
            "Seconds since the feed's last price (since its start, before the first).",
            labels=["venue", "symbol"],
        )
        up = GaugeMetricFamily(
            "martingale_feed_up", "1 while the feed's prices flow.", labels=["venue", "symbol"]
        )
        pool = self._t.feeds
        now = self._clock()
        for link in pool.links() if pool is not None else []:
            labels = [scrub(link.venue), link.symbol]
            since = link.last_published() or link.created_at
            lag.add_metric(labels, max(0.0, (now - since).total_seconds()))
            up.add_metric(labels, 0.0 if link.error is not None else 1.0)
        yield lag
        yield up

    def _breakers(self) -> Metric:
        family = GaugeMetricFamily(
            "martingale_circuit_breaker_state",
            "1 for the current state of each venue's circuit breaker.",
            labels=["venue", "state"],
        )
        for venue, (breaker, _) in sorted(self._t.breakers.views().items()):
            current = str(breaker.status().state.value)
            for state in CIRCUIT_STATES:
                family.add_metric([scrub(venue), state], 1.0 if state == current else 0.0)
        return family


def _counter(name: str, doc: str, tally: Tally, known: tuple[str, ...] = ()) -> Metric:
    """`known`: values of a one-label tally shown at 0 before their first count."""
    family = CounterMetricFamily(f"martingale_{name}", doc, labels=list(tally.labels))
    counts = tally.counts()
    for value in known:
        counts.setdefault((value,), 0)
    for labels, count in sorted(counts.items()):
        family.add_metric([scrub(v) for v in labels], count)
    return family


def _le(bound: float) -> str:
    return repr(float(bound))

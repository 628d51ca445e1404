"""Latency the service measures about itself, where the work happens: inside the engine thread.

Why in-process and not from outside: "tick-to-order" starts when the feed publishes a price and
ends when the engine has the exchange's answer to the order that price caused. Only the engine
knows both ends, so it records the difference here, and a benchmark (or an operator's status
page) reads it without a profiler and without the engine knowing who reads.

Two recorders:

- `TICK_TO_WAKE_DONE`: every engine a tick woke, from publication to the end of its handling
  (order sync, commits, exchange calls), whether or not it placed anything.
- `TICK_TO_ORDER`: the wake-ups in which the engine placed an order and the exchange accepted it,
  from publication to that answer (the last one, if the tick led to several orders). The
  bookkeeping after the answer (committing the acknowledgement) is in `TICK_TO_WAKE_DONE`, not
  here: it does not delay the order.

Bounded on purpose: each recorder keeps the most recent `capacity` samples in a ring plus exact
running totals, so a service that runs for months holds a couple of MB here at most. Thread-safe:
thousands of engine threads record concurrently.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

DEFAULT_CAPACITY = 50_000


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencySummary:
    """Seconds. Percentiles are over the retained samples; `count`/`max` over everything."""

    count: int
    retained: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in [0, 1]); NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LatencyRecorder:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._samples: deque[float] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._count = 0
        self._total = 0.0
        self._max = 0.0

    def record(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)
            self._count += 1
            self._total += seconds
            self._max = max(self._max, seconds)

    def samples(self) -> list[float]:
        with self._lock:
            return list(self._samples)

    def summary(self) -> LatencySummary:
        with self._lock:
            ordered = sorted(self._samples)
            count, total, top = self._count, self._total, self._max
        return LatencySummary(
            count=count,
            retained=len(ordered),
            p50=percentile(ordered, 0.50),
            p90=percentile(ordered, 0.90),
            p99=percentile(ordered, 0.99),
            max=top if count else math.nan,
            mean=total / count if count else math.nan,
        )

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
            self._count = 0
            self._total = 0.0
            self._max = 0.0


TICK_TO_WAKE_DONE = LatencyRecorder()
TICK_TO_ORDER = LatencyRecorder()


class Observes(Protocol):
    def observe(self, seconds: float) -> None: ...


def tick_handled(
    published_at: datetime,
    ordered_at: datetime | None,
    *,
    now: datetime | None = None,
    also: Observes | None = None,
) -> None:
    """Called by an engine after it handled a `PriceCrossed` published at `published_at`;
    `ordered_at` is when the exchange last accepted an order of that handling (None: none).
    `also`: the service's own tick-to-order histogram (`actors.telemetry`), which keeps every
    observation in buckets where these recorders keep recent samples."""
    TICK_TO_WAKE_DONE.record(((now or datetime.now(UTC)) - published_at).total_seconds())
    if ordered_at is not None:
        seconds = (ordered_at - published_at).total_seconds()
        TICK_TO_ORDER.record(seconds)
        if also is not None:
            also.observe(seconds)


class Awake:
    """How many engines a tick has woken that have not finished handling it: while any has, an
    order may be on its way, and work that can wait (the web's requests: `web.priority`) waits.

    The feed counts the wake-ups it sends (`woke`); an engine counts each one off when it is
    done with it, handled or dropped (`done`). A count that stops moving for `STALE_S` is not
    believed (an engine stopped with wake-ups in its mailbox never counts them off), so nothing
    waits on a leak for longer than that."""

    STALE_S = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._changed = 0.0

    def woke(self, count: int) -> None:
        with self._lock:
            self._count += count
            self._changed = time.monotonic()

    def done(self) -> None:
        with self._lock:
            self._count = max(0, self._count - 1)
            self._changed = time.monotonic()

    def busy(self) -> bool:
        """Read without the lock: a stale answer only makes a request wait a poll more."""
        return self._count > 0 and time.monotonic() - self._changed < self.STALE_S


AWAKE = Awake()


def reset() -> None:
    TICK_TO_WAKE_DONE.reset()
    TICK_TO_ORDER.reset()

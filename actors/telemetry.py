"""What the service counts about itself, kept in plain Python for the web layer's `/metrics`.

Why here and not in prometheus-client objects: actors/ stays free of the web's libraries, and
the counts live in one `Telemetry` object per service (handed down the tree: root, users,
engines, feeds), not in process globals, so two services in one process (tests, benchmarks)
never add to each other's figures. The scrape reads them through a collector
(`services.observe.metrics`); nothing is pushed from the hot paths.

Cheap on purpose, since 5,000 engines tick every second: an increment is one uncontended lock
and a dict update, and only events that are rare next to ticks are counted (orders, fills,
errors, restarts, the tick that led to an order). Labels are bounded by design: venue, side,
error class, child kind; never a user or a strategy.

Circuit breakers: a user actor tells the board which breaker guards each account client it
builds (`BreakerBoard.track`), so the health check reads the venue breakers of the accounts
this service trades without asking thousands of user actors.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actors.feed_pool import FeedPool
    from actors.step_queue import WriterBacklog

# Tick-to-order buckets, seconds: from a paper venue's few ms to a live venue's slow answer.
TICK_TO_ORDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Tally:
    """Counts per label tuple; thread-safe. Reads return a copy."""

    def __init__(self, *labels: str) -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], int] = {}

    def inc(self, *values: str, amount: int = 1) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"expected labels {self.labels}, got {values}")
        with self._lock:
            self._counts[values] = self._counts.get(values, 0) + amount

    def counts(self) -> dict[tuple[str, ...], int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class HistogramCounts:
    """`buckets`: (upper bound, observations at or below it) ascending, cumulative."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum: float


class BucketHistogram:
    """A cumulative histogram over fixed bounds (what Prometheus wants): unlike the
    `actors.metrics` recorders, which keep a ring of recent samples, nothing is ever lost."""

    def __init__(self, bounds: tuple[float, ...] = TICK_TO_ORDER_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("histogram bounds must be strictly ascending")
        self.bounds = bounds
        self._lock = threading.Lock()
        self._counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(self.bounds, seconds)
        with self._lock:
            self._counts[index] += 1
            self._sum += seconds

    def snapshot(self) -> HistogramCounts:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, n in zip(self.bounds, counts, strict=False):
            running += n
            cumulative.append((bound, running))
        return HistogramCounts(buckets=tuple(cumulative), count=sum(counts), sum=total)


class Breaker(Protocol):
    """What the board reads of a circuit breaker (`exchange.resilience.circuit`)."""

    name: str

    def status(self) -> Any: ...


class BreakerBoard:
    """Venue -> the breaker guarding its calls and the accounts trading through it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._venues: dict[str, tuple[Breaker, set[int]]] = {}

    def track(self, venue: str, account_id: int, client: object) -> None:
        """Note `client`'s breaker (`client.circuit`), if it has one (the paper exchange has
        none: it cannot be down)."""
        breaker = getattr(client, "circuit", None)
        if breaker is None or not callable(getattr(breaker, "status", None)):
            return
        with self._lock:
            self._venues.setdefault(venue, (breaker, set()))[1].add(account_id)

    def untrack(self, account_ids: set[int] | list[int]) -> None:
        """These accounts' clients are gone (closed, key refused, user stopped)."""
        gone = set(account_ids)
        with self._lock:
            for venue, (_, accounts) in list(self._venues.items()):
                accounts.difference_update(gone)
                if not accounts:
                    del self._venues[venue]

    def views(self) -> dict[str, tuple[Breaker, int]]:
        """Venue -> (its breaker, how many accounts use it)."""
        with self._lock:
            return {venue: (b, len(accounts)) for venue, (b, accounts) in self._venues.items()}


@dataclass(slots=True)
class Telemetry:
    """One service's counts. `feeds` and `backlog` are set by the root when it starts."""

    orders_placed: Tally = field(default_factory=lambda: Tally("venue", "side"))
    orders_rejected: Tally = field(default_factory=lambda: Tally("venue", "side"))
    fills: Tally = field(default_factory=lambda: Tally("venue", "side"))
    errors: Tally = field(default_factory=lambda: Tally("component", "kind"))
    restarts: Tally = field(default_factory=lambda: Tally("child"))
    tick_to_order: BucketHistogram = field(default_factory=BucketHistogram)
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    feeds: FeedPool | None = None  # read from any thread (`links()`)
    backlog: WriterBacklog | None = None  # read from any thread (`depths()`)

    def error(self, component: str, exc: BaseException) -> None:
        """Count an error by its class name (bounded: the domain's error classes)."""
        self.errors.inc(component, type(exc).__name__)

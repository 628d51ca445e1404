"""The floor: the same fan-out on bare pykka actors, with no trading work at all.

N actors (one thread each, like engines); a feed tells K of them about a tick; each answers a
collector with a tell. Reports the tick-to-answer latency percentiles and the resident memory, so
the service benchmark can print its own figures next to this floor.

Run alone: python bench/pykka_floor.py [N] [ticks]
"""

from __future__ import annotations

import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass

import psutil
import pykka


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    sent: float
    collector: pykka.ActorRef  # type: ignore[type-arg]


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    latency: float


class Worker(pykka.ThreadingActor):
    def on_receive(self, message: object) -> None:
        if isinstance(message, Tick):
            message.collector.tell(Answered(latency=time.perf_counter() - message.sent))


class Collector(pykka.ThreadingActor):
    def __init__(self, latencies: list[float], expected: int, done: threading.Event) -> None:
        super().__init__()
        self.latencies = latencies
        self.expected = expected
        self.done = done

    def on_receive(self, message: object) -> None:
        if isinstance(message, Answered):
            self.latencies.append(message.latency)
            if len(self.latencies) >= self.expected:
                self.done.set()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(actors: int = 5000, ticks: int = 50, fanout: int = 100) -> dict[str, float]:
    threading.stack_size(256 * 1024)
    rss_before = psutil.Process().memory_info().rss
    lat: list[float] = []
    done = threading.Event()
    rng = random.Random(1)
    try:
        workers = [Worker.start() for _ in range(actors)]
        collector_ref = Collector.start(lat, ticks * fanout, done)
        for _ in range(ticks):
            sent = time.perf_counter()
            for ref in rng.sample(workers, fanout):
                ref.tell(Tick(sent=sent, collector=collector_ref))
            time.sleep(0.02)
        done.wait(60)
        rss = psutil.Process().memory_info().rss
    finally:
        pykka.ActorRegistry.stop_all(timeout=60)
    return {
        "actors": actors,
        "answers": len(lat),
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "mean_ms": statistics.fmean(lat) * 1000,
        "rss_mb": rss / 2**20,
        "rss_added_mb": (rss - rss_before) / 2**20,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    t = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    started = time.perf_counter()
    figures = run(n, t)
    print(f"bare pykka floor ({time.perf_counter() - started:.1f}s):")
    for key, value in figures.items():
        print(f"  {key:>14}: {value:,.2f}")

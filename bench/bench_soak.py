"""Soak at speed: a day of trading compressed into minutes; does memory per strategy stay flat?

Run: .venv/bin/python bench/bench_soak.py [--users 20 --per-user 10 --ticks 17280 ...]

The real service (paper exchange, SQLite) trades a fleet on fast, volatile simulated markets:
by default every market publishes 17,280 ticks, a day of 5-second prices, at 50 ticks a
second, so each strategy lives through far more cycles, fills, cancels and restarts of its
cycle than a calm day brings. Resident memory is read after the fleet has booted (and again at
the end), each time after a full garbage collection, and reported per strategy above what the
process held before the service started. Also reported: the per-strategy structures that
could grow with time (the engines' send logs, the cycle's applied trade ids, the feeds' watch
state), which must track the open book, not the history.

A flat line is the result to look for: RSS per strategy at the end within a few percent of the
start, and every per-strategy structure bounded by its open orders.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import pykka
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.engine_actor import EngineActor
from actors.feed import MarketFeedActor
from actors.user import UserActor
from app.bootstrap import Service, Tuning
from bench.service_setup import FleetShape, Probe, build
from config.loader import load_config
from config.logging import configure_logging
from persistence import models as m

MB = 2**20
KB = 2**10


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def _actor(ref: Any) -> Any:
    weak = getattr(ref, "_actor_weakref", None)  # pykka 4 keeps a weak ref to the object
    return weak() if weak is not None else None


def structures() -> dict[str, int]:
    """The largest per-strategy structures the actors hold now (reading their internals: a
    benchmark may, a test would not)."""
    sends, applied, working = 0, 0, 0
    for ref in pykka.ActorRegistry.get_by_class(UserActor):
        actor: Any = _actor(ref)
        for child in getattr(actor, "_children", {}).values():
            sends = max(sends, len(child.sends))
    for ref in pykka.ActorRegistry.get_by_class(EngineActor):
        actor = _actor(ref)
        state = actor.engine.state if actor is not None else None
        if state is not None:
            applied = max(applied, len(state.applied_trades))
            working = max(working, len(state.orders))
    watching = 0
    for ref in pykka.ActorRegistry.get_by_class(MarketFeedActor):
        stats = ref.proxy().stats().get(timeout=30)
        watching = max(watching, int(stats.get("watching", 0)))
    return {
        "send_log_max": sends,
        "applied_trades_max": applied,
        "working_orders_max": working,
        "feed_watching_max": watching,
    }


def venue_cache(service: Service) -> int:
    """Closed orders plus fills the paper venue keeps in memory (bounded: RECENTLY_CLOSED and
    RECENT_FILLS), a process-wide cache that fills up during the first hours, then stays."""
    venue: Any = service.venue
    state = getattr(venue, "_state", None)
    return len(getattr(state, "closed", ())) + len(getattr(state, "fills", ()))


def ticks_published() -> int:
    counts = [
        int(ref.proxy().stats().get(timeout=30)["ticks"])
        for ref in pykka.ActorRegistry.get_by_class(MarketFeedActor)
    ]
    return min(counts) if counts else 0


def counts(probe: Probe) -> dict[str, int]:
    with probe.engine.connect() as conn:
        return {
            "orders": int(conn.execute(select(func.count()).select_from(m.Order)).scalar_one()),
            "fills": int(conn.execute(select(func.count()).select_from(m.Fill)).scalar_one()),
            "cycles_closed": int(
                conn.execute(
                    select(func.count()).select_from(m.Cycle).where(m.Cycle.status == "closed")
                ).scalar_one()
            ),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--ticks", type=int, default=17_280, help="ticks per market (a day of 5 s)")
    parser.add_argument("--interval", type=Decimal, default=Decimal("0.02"), help="wall s per tick")
    parser.add_argument("--volatility", type=Decimal, default=Decimal("0.002"))
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args()

    shape = FleetShape(
        users=args.users,
        per_user=args.per_user,
        symbols=args.symbols,
        interval=args.interval,
        volatility=args.volatility,
        cooldown=1,
        log_level="warning",
    )
    work = Path(tempfile.mkdtemp(prefix="bench_soak_"))
    url = f"sqlite:///{work / 'soak.sqlite'}"
    config_path, _ = build(work, shape, url)
    config = load_config(config_path)
    log_file = (work / "service.log").open("w", encoding="utf-8")
    configure_logging(format="json", level="warning", stream=log_file)
    probe = Probe(url)
    n = shape.strategies
    print(
        f"== soak: {n} strategies ({args.users} users x {args.per_user}), {args.symbols} "
        f"markets, {args.ticks} ticks each every {args.interval}s, volatility {args.volatility}"
    )
    base = rss()
    service = Service(config, vault=None, tuning=Tuning(freeze_after_boot=False))
    t0 = time.monotonic()
    service.start()
    try:
        done, fleet = probe.wait(datetime.now(UTC), heartbeat=False, timeout=300)
        start = rss()
        s0 = structures()
        c0 = counts(probe)
        booted = time.monotonic()
        marks = [args.ticks * q // 4 for q in (1, 2, 3)]
        timeline: list[tuple[int, int, int]] = []  # (ticks, RSS, closed orders held by the venue)
        while ticks_published() < args.ticks and time.monotonic() - booted < args.max_seconds:
            time.sleep(2.0)
            if marks and ticks_published() >= marks[0]:
                marks.pop(0)
                timeline.append((ticks_published(), rss(), venue_cache(service)))
        published = ticks_published()
        wall = time.monotonic() - booted
        end = rss()
        s1 = structures()
        c1 = counts(probe)
    finally:
        service.stop()
        probe.close()
        log_file.close()

    per_start = (start - base) / n
    per_end = (end - base) / n
    hours = published * 5 / 3600
    print(f"  booted in                      {((done or t0) - t0):.1f} s  {fleet}")
    print(
        f"  market time simulated          {published} ticks per market = {hours:.1f} h of 5 s prices"
    )
    print(f"  wall time                      {wall:.0f} s")
    print(
        f"  traded                         {c1['orders'] - c0['orders']} orders, "
        f"{c1['fills'] - c0['fills']} fills, {c1['cycles_closed'] - c0['cycles_closed']} "
        f"cycles closed ({(c1['cycles_closed'] - c0['cycles_closed']) / n:.1f} per strategy)"
    )
    print(f"  RSS before the service         {base / MB:.0f} MB")
    print(f"  RSS per strategy, start        {per_start / KB:.1f} KB  (total {start / MB:.0f} MB)")
    print(f"  RSS per strategy, end          {per_end / KB:.1f} KB  (total {end / MB:.0f} MB)")
    print(f"  growth per strategy            {(per_end - per_start) / KB:+.1f} KB")
    print(f"  ratio end / start              {per_end / per_start:.3f}")
    for ticks, size, held in timeline:
        print(
            f"  RSS per strategy at {ticks:>6} ticks {(size - base) / n / KB:.1f} KB  "
            f"(the paper venue holds {held} closed orders and fills in memory)"
        )
    if timeline:
        half = timeline[len(timeline) // 2][1]
        print(f"  growth per strategy, last half {(end - half) / n / KB:+.1f} KB")
    print(f"  structures at start            {s0}")
    print(f"  structures at end              {s1}")
    print(f"  work dir                       {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

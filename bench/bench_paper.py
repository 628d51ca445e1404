"""Paper venue throughput with a deep book: orders placed/s, ticks/s, fills/s.

Run: .venv/bin/python bench/bench_paper.py [--resting 5000] [--ticks 5000]

What it shows: every order and fill is committed to SQLite (WAL, synchronous=NORMAL) before the
call returns (a tick that fills nothing is only market data: written with the next group, not
waited for), and such a tick costs the same with 5,000 resting orders as with none (the heaps
only look at the best buy and sell), so the "deep/empty" ratio should be ~1. Closed orders are
looked up from memory while they are among the last 20,000 to close, else from the file.

Then many threads at once (--threads 1,8,64): each places and cancels orders on its own account
while a feed thread ticks every millisecond, as engines and feeds do in the service. Prints
calls/s, per-call latency and how many changes each SQLite transaction carried (group commit).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from domain.market import MarketRules
from domain.orders import OrderType, Side
from exchange.paper import PaperExchange, PaperVenue

D = Decimal
SYMBOL = "ETH/BTC"
RULES = MarketRules(symbol=SYMBOL, tick_size=D("0.00001"), step_size=D("0.001"))


def _venue(path: Path, accounts: int) -> tuple[PaperVenue, list[PaperExchange]]:
    venue = PaperVenue(path)
    venue.set_market_rules(RULES)
    ports = []
    for n in range(accounts):
        venue.open_account(f"u{n}", balances={"BTC": D(1000), "ETH": D(10000)})
        ports.append(PaperExchange(venue, f"u{n}"))
    venue.update_price(SYMBOL, D("0.05"))
    return venue, ports


def _ticks_per_second(venue: PaperVenue, ticks: int) -> float:
    """Prices wobble in 0.0500-0.0510: above every resting buy, so nothing fills."""
    rng = random.Random(1)
    prices = [D(5000 + rng.randint(0, 100)) / D(100000) for _ in range(ticks)]
    start = time.perf_counter()
    for price in prices:
        venue.update_price(SYMBOL, price)
    return ticks / (time.perf_counter() - start)


def _concurrent(path: Path, threads: int, seconds: float) -> str:
    """`threads` traders placing and cancelling, one feed ticking: calls/s and latency."""
    venue, ports = _venue(path, threads)
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def trade(n: int) -> None:
        port, out, i = ports[n], latencies[n], 0
        while not stop.is_set():
            i += 1
            t = time.perf_counter()
            port.create_order(
                client_order_id=f"c{i}",
                symbol=SYMBOL,
                side=Side.BUY,
                type=OrderType.LIMIT,
                amount=D("0.1"),
                price=D("0.04"),
            )
            out.append(time.perf_counter() - t)
            t = time.perf_counter()
            port.cancel_order(SYMBOL, client_order_id=f"c{i}")
            out.append(time.perf_counter() - t)

    def feed() -> None:
        rng = random.Random(3)
        while not stop.is_set():
            venue.update_price(SYMBOL, D(5000 + rng.randint(0, 100)) / D(100000))
            time.sleep(0.001)

    workers = [threading.Thread(target=trade, args=(n,)) for n in range(threads)]
    workers.append(threading.Thread(target=feed))
    groups0, changes0 = getattr(venue, "commit_stats", (0, 0))
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    groups, changes = getattr(venue, "commit_stats", (0, 0))
    venue.close()
    calls = sorted(x for per in latencies for x in per)
    p50, p99 = calls[len(calls) // 2], calls[int(len(calls) * 0.99)]
    per_group = (changes - changes0) / max(1, groups - groups0)
    return (
        f"{threads:3d} threads: {len(calls) / seconds:7,.0f} calls/s, p50 {p50 * 1e3:6.2f} ms, "
        f"p99 {p99 * 1e3:6.2f} ms, {per_group:5.1f} changes per transaction"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resting", type=int, default=5000)
    parser.add_argument("--ticks", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--threads", default="1,8,64", help="concurrent traders, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="per concurrent run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        empty, _ = _venue(Path(tmp) / "empty.sqlite", 1)
        empty_tps = _ticks_per_second(empty, args.ticks)
        empty.close()

        venue, ports = _venue(Path(tmp) / "deep.sqlite", args.accounts)
        rng = random.Random(7)
        start = time.perf_counter()
        for i in range(args.resting):
            ports[i % len(ports)].create_order(
                client_order_id=f"mg{i}c1s1",
                symbol=SYMBOL,
                side=Side.BUY,
                type=OrderType.LIMIT,
                amount=D("0.1"),
                price=D(3000 + rng.randint(0, 1999)) / D(100000),  # 0.03000-0.04999
            )
        place_s = time.perf_counter() - start
        assert venue.resting_count(SYMBOL) == args.resting

        deep_tps = _ticks_per_second(venue, args.ticks)

        # Walk the price down through the book: each tick fills the orders it crosses.
        start = time.perf_counter()
        fills = 0
        for step in range(2000):
            fills += len(venue.update_price(SYMBOL, D(4999 - step) / D(100000)))
        fill_s = time.perf_counter() - start
        assert venue.resting_count(SYMBOL) == 0 and fills == args.resting

        lookups = 2000
        start = time.perf_counter()
        for i in range(lookups):
            ports[i % len(ports)].fetch_order(SYMBOL, client_order_id=f"mg{i}c1s1")
        lookup_s = time.perf_counter() - start
        venue.close()

    print(f"resting orders           : {args.resting} over {args.accounts} accounts")
    print(f"orders placed/s          : {args.resting / place_s:,.0f} (each committed)")
    print(f"ticks/s, empty book      : {empty_tps:,.0f}")
    print(f"ticks/s, {args.resting} resting    : {deep_tps:,.0f}")
    print(f"ratio deep/empty         : {deep_tps / empty_tps:.2f} (about 1 = O(k log n) per tick)")
    print(f"fills/s (walking down)   : {fills / fill_s:,.0f} ({fills} fills in 2000 ticks)")
    print(f"closed-order lookups/s   : {lookups / lookup_s:,.0f} (by client order id)")
    print("place + cancel, concurrent (a feed ticks every 1 ms meanwhile):")
    with tempfile.TemporaryDirectory() as tmp:
        for n, threads in enumerate(int(t) for t in args.threads.split(",")):
            print("  " + _concurrent(Path(tmp) / f"c{n}.sqlite", threads, args.seconds), flush=True)


if __name__ == "__main__":
    main()

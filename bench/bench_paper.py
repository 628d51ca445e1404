"""Paper venue throughput with a deep book: orders placed/s, ticks/s, fills/s.

Run: .venv/bin/python bench/bench_paper.py [--resting 5000] [--ticks 5000]

What it shows: every order and fill is committed to SQLite (WAL, synchronous=NORMAL) before the
call returns, and a tick that fills nothing costs the same with 5,000 resting orders as with
none (the heaps only look at the best buy and sell), so the "deep/empty" ratio should be ~1.
"""

from __future__ import annotations

import argparse
import random
import tempfile
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resting", type=int, default=5000)
    parser.add_argument("--ticks", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=500)
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
    print(f"closed-order lookups/s   : {lookups / lookup_s:,.0f} (by client order id, from SQLite)")


if __name__ == "__main__":
    main()

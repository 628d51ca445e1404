"""Backtest speed: candles per second for one strategy, and a sweep across cores.

Run: .venv/bin/python bench/bench_backtest.py [--data ../shared/data] [--sets 8]

For every candle file: how fast the file parses (csv + Decimal, once per run or per sweep
worker), how fast a plain loop reads the same preloaded candles (touching low, high and close:
the floor any backtest pays), and how fast the backtest plays them (preloaded, one strategy,
the parameters below), with the ratio of the two and how many candles woke the engine (issue
14's goal: 300,000 candles/s per core). Then the same sets swept with 1 worker and with all
cores, and the speed-up.

Parameters (the first row of the sweep): base 0.002, safety 0.004, 5 safety orders, 1.5 %
deviation, step scale 1.2, volume scale 1.5, take-profit 1.5 %, 1 BTC, fee 0.1 %.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtest.runner import run
from backtest.sweep import Market, grid, sweep
from domain.market import MarketRules
from exchange.feeds.csv_replay import read_candles

PARAMS = {
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": "5",
    "price_deviation": "1.5",
    "step_scale": "1.2",
    "volume_scale": "1.5",
    "take_profit": "1.5",
}
D = Decimal


def plain_loop(candles: list[Any]) -> float:
    """Seconds to read every candle's low, high and close once (what any backtest must do)."""
    t0 = time.perf_counter()
    lowest = highest = last = None
    for c in candles:
        low, high, last = c.low, c.high, c.close
        if lowest is None or low < lowest:
            lowest = low
        if highest is None or high > highest:
            highest = high
    assert last is not None
    return time.perf_counter() - t0


def one_file(path: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    candles, period = read_candles(path)
    parse_s = time.perf_counter() - t0
    base, quote = path.name.split("-")[:2]
    rules = MarketRules(symbol=f"{base}/{quote}", tick_size=D("1e-8"), step_size=D("1e-8"))
    loop_s = min(plain_loop(candles) for _ in range(5))
    best = float("inf")
    wakes = cycles = 0
    for _ in range(3):
        t0 = time.perf_counter()
        outcome = run(
            candles,
            period=period,
            params=PARAMS,
            rules=rules,
            balances={quote: D(1)},
            fee_rate=D("0.001"),
        )
        best = min(best, time.perf_counter() - t0)
        wakes, cycles = outcome.wakes, len(outcome.cycles)
    n = len(candles)
    return {
        "file": path.name,
        "candles": n,
        "parse_per_s": round(n / parse_s),
        "plain_loop_per_s": round(n / loop_s),
        "backtest_per_s": round(n / best),
        "ratio_to_plain_loop": round(loop_s / best, 4),
        "wakes": wakes,
        "wake_share_pct": round(100 * wakes / n, 2),
        "cycles": cycles,
        "ms_per_wake": round(1000 * best / max(wakes, 1), 3),
    }


def sweep_rate(path: Path, sets: int, workers: int) -> float:
    candles, period = read_candles(path)
    base, quote = path.name.split("-")[:2]
    market = Market(
        candles=tuple(candles),
        period=period,
        rules=MarketRules(symbol=f"{base}/{quote}", tick_size=D("1e-8"), step_size=D("1e-8")),
        balances={quote: D(1)},
        fee_rate=D("0.001"),
    )
    fixed = {k: v for k, v in PARAMS.items() if k != "take_profit"}
    values = [str(D("1") + D("0.25") * i) for i in range(sets)]
    t0 = time.perf_counter()
    done = list(sweep(market, fixed, grid({"take_profit": values}), workers=workers))
    assert len(done) == sets
    return len(candles) * sets / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    parser.add_argument("--sets", type=int, default=8, help="parameter sets in the sweep")
    args = parser.parse_args()
    files = sorted(Path(args.data).glob("*-*-*.csv"))
    out: dict[str, Any] = {"files": [one_file(f) for f in files]}
    rates = [f["backtest_per_s"] for f in out["files"]]
    out["backtest_per_s_median"] = sorted(rates)[len(rates) // 2]
    out["goal_per_s"] = 300_000
    cores = os.cpu_count() or 1
    one = sweep_rate(files[0], args.sets, 1)
    many = sweep_rate(files[0], args.sets, cores)
    out["sweep"] = {
        "file": files[0].name,
        "sets": args.sets,
        "cores": cores,
        "candles_per_s_1_worker": round(one),
        f"candles_per_s_{cores}_workers": round(many),
        "speed_up": round(many / one, 2),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Parameter sweeps: the same backtest (`backtest.runner`) over many parameter sets, on a pool
of processes, each of which reads the candle files once.

A grid is every combination of the values given per parameter; a random sample draws `count`
sets from ranges (`low:high`, or `low:high:step` to stay on a grid), reproducibly from a seed.
Every set is checked like `martingale plan` would check it before any is run, so a bad range is
refused at once rather than after an hour.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from backtest.report import Report, report
from backtest.runner import CandleVenue, run
from domain.errors import ValidationError
from domain.market import Candle, MarketRules
from exchange.paper.sim import SimVenue

RANKS: dict[str, Callable[[Report], Decimal]] = {
    "profit": lambda r: r.profit,
    "drawdown": lambda r: -r.max_drawdown_pct,
    "profit_per_drawdown": lambda r: (
        r.profit_pct / r.max_drawdown_pct
        if r.max_drawdown_pct
        else r.profit_pct * Decimal(1_000_000)
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """One market's candles and rules, and what the account starts with."""

    candles: tuple[Candle, ...]
    period: timedelta
    rules: MarketRules
    balances: Mapping[str, Decimal]
    fee_rate: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    params: dict[str, str]
    report: Report


def grid(values: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    names = sorted(values)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(values[n] for n in names))
    ]


def sample(ranges: Mapping[str, str], count: int, seed: int) -> list[dict[str, str]]:
    """`count` sets drawn from `ranges` ("low:high" or "low:high:step"), the same for a seed."""
    rng = random.Random(seed)
    parsed = {name: _range(name, text) for name, text in sorted(ranges.items())}
    out = []
    for _ in range(count):
        chosen = {}
        for name, (low, high, step) in parsed.items():
            if step is None:
                value = low + (high - low) * Decimal(str(rng.random()))
                chosen[name] = str(value.quantize(Decimal("0.0001"), rounding=ROUND_DOWN))
            else:
                steps = int((high - low) / step)
                chosen[name] = str(low + step * rng.randint(0, steps))
        out.append(chosen)
    return out


def steps(name: str, text: str) -> list[str]:
    """A grid axis: "a,b,c", or "low:high:step" (both ends included)."""
    if ":" not in text:
        return [v.strip() for v in text.split(",") if v.strip()]
    low, high, step = _range(name, text)
    if step is None:
        raise ValidationError("a grid range needs a step: low:high:step", field=name)
    values, value = [], low
    while value <= high:
        values.append(str(value))
        value += step
    return values


def _range(name: str, text: str) -> tuple[Decimal, Decimal, Decimal | None]:
    parts = text.split(":")
    try:
        numbers = [Decimal(p) for p in parts]
    except ArithmeticError:
        raise ValidationError(f"not a range: {text!r}", field=name) from None
    if len(numbers) not in (2, 3) or not all(n.is_finite() for n in numbers):
        raise ValidationError(f"not a range (low:high[:step]): {text!r}", field=name)
    low, high = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else None
    if high < low or (step is not None and step <= 0):
        raise ValidationError(f"needs low <= high and a step > 0: {text!r}", field=name)
    return low, high, step


# --- the pool ---------------------------------------------------------------------------------

_MARKET: Market | None = None
_VENUE: Callable[[], Any] | None = None


def _load(market: Market, venue: Callable[[], Any]) -> None:
    global _MARKET, _VENUE
    _MARKET, _VENUE = market, venue


def _one(base: Mapping[str, str], params: dict[str, str]) -> Outcome:
    assert _MARKET is not None and _VENUE is not None
    opened = _VENUE()
    try:
        outcome = run(
            _MARKET.candles,
            period=_MARKET.period,
            params={**base, **params},
            rules=_MARKET.rules,
            balances=_MARKET.balances,
            fee_rate=_MARKET.fee_rate,
            venue=opened,
        )
    finally:
        close = getattr(opened, "close", None)
        if close is not None:
            close()
    return Outcome(params=params, report=report(outcome))


def sweep(
    market: Market,
    base: Mapping[str, str],
    sets: Sequence[dict[str, str]],
    *,
    venue: Callable[[], CandleVenue] = SimVenue,
    workers: int,
    done: Callable[[int], None] = lambda _n: None,
) -> Iterator[Outcome]:
    """Each of `sets` (over `base`) backtested on `market`, in any order as they finish;
    `venue` builds a fresh venue per run (picklable: it travels to the workers); `done(n)`
    after each."""
    if workers <= 1:
        _load(market, venue)
        for n, params in enumerate(sets, 1):
            yield _one(base, params)
            done(n)
        return
    with ProcessPoolExecutor(workers, initializer=_load, initargs=(market, venue)) as pool:
        futures = [pool.submit(_one, base, params) for params in sets]
        for n, future in enumerate(as_completed(futures), 1):
            yield future.result()
            done(n)


def ranked(outcomes: Sequence[Outcome], by: str) -> list[Outcome]:
    """Best first by `by` (a RANKS key); ties by the parameters, so the order is the same
    whatever order the runs finished in."""
    key = RANKS[by]
    return sorted(outcomes, key=lambda o: (-key(o.report), sorted(o.params.items())))


def csv_rows(outcomes: Sequence[Outcome]) -> tuple[list[str], list[list[str]]]:
    names = sorted({name for o in outcomes for name in o.params})
    figures = [
        "cycles",
        "profit",
        "profit_pct",
        "max_drawdown_pct",
        "max_funds_used",
        "max_safety_orders",
        "time_in_market_pct",
        "fees_in_quote",
        "end_equity",
    ]
    rows = []
    for o in outcomes:
        data = o.report.as_json()
        rows.append([o.params.get(n, "") for n in names] + [str(data[f]) for f in figures])
    return names + figures, rows


__all__ = ["RANKS", "Market", "Outcome", "csv_rows", "grid", "ranked", "sample", "steps", "sweep"]

"""`martingale sweep`: a backtest over a grid or a random sample of parameters, on all cores.

The fixed parameters are given as in `martingale backtest`; the swept ones with `--grid
NAME=VALUES` (a,b,c or low:high:step) or, with `--random N`, `--range NAME=low:high[:step]`;
or all of them in a YAML file, `--space FILE` (see `sweep_space`; options given win).
Prints the best sets ranked by `--rank` (profit, drawdown or profit_per_drawdown) and writes
every result to `--csv`. A progress bar with the time left runs on the terminal (stderr).
"""

from __future__ import annotations

import argparse
import csv
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.commands.backtest import (
    DEFAULT_FEE_RATE,
    candles_and_rules,
    error_exit,
    parse_decimal,
    progress_bar,
)
from app.commands.plan import _PARAMS, _RULES, _option
from app.commands.sweep_space import Space, load_space
from backtest.sweep import RANKS, Market, csv_rows, grid, ranked, sample, steps, sweep
from domain.errors import ConfigurationError, ValidationError
from domain.money import fmt
from services.plan import PRICE, preview

_Q8 = Decimal("0.00000001")
_Q2 = Decimal("0.01")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "sweep",
        help="backtest a grid or a random sample of parameters on all cores",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("file", metavar="CSV", help="candle file (the ../shared/data format)")
    parser.add_argument("--symbol", help="market (default: from the file name)")
    for name, text in _PARAMS:
        parser.add_argument(_option(name), dest=name, metavar="VALUE", help=text)
    for name, text in _RULES:
        parser.add_argument(_option(name), dest=name, metavar="VALUE", help=text)
    parser.add_argument("--balance", metavar="VALUE", help="starting quote balance (required)")
    parser.add_argument("--fee-rate", default=DEFAULT_FEE_RATE, metavar="RATE")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=VALUES",
        help="a swept parameter: a,b,c or low:high:step (repeat for more)",
    )
    parser.add_argument("--random", type=int, metavar="N", help="draw N sets from --range")
    parser.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH[:STEP]",
        help="with --random: a parameter's range (repeat for more)",
    )
    parser.add_argument("--seed", type=int, help="random sample seed (1)")
    parser.add_argument(
        "--space",
        metavar="FILE",
        help="a YAML file with params, grid, or random/seed/range (options given win)",
    )
    parser.add_argument("--rank", choices=sorted(RANKS), default="profit")
    parser.add_argument("--top", type=int, default=20, help="rows printed (20)")
    parser.add_argument("--csv", metavar="FILE", help="write every result to this CSV file")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes (all cores)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        space = load_space(args.space) if args.space else Space()
        sets = _sets(args, space)
        given = {n: getattr(args, n) for n, _ in _PARAMS if getattr(args, n) is not None}
        base = {**space.params, **given}
        if args.balance is None:
            raise ValidationError("give the starting quote balance", field="balance")
        balance = parse_decimal(args.balance, "balance")
        candles, period, rules = candles_and_rules(Path(args.file), args)
        for params in sets:  # every set checked as `plan` would, before any runs
            preview({**base, **params, PRICE: str(candles[0].close)}, rules)
        market = Market(
            candles=tuple(candles),
            period=period,
            rules=rules,
            balances={rules.quote: balance},
            fee_rate=parse_decimal(args.fee_rate, "fee_rate"),
        )
    except (ValidationError, ConfigurationError) as exc:
        return error_exit("sweep", exc)
    with progress_bar() as progress:
        task = progress.add_task("backtests", total=len(sets))
        outcomes = list(
            sweep(
                market,
                base,
                sets,
                workers=max(1, args.workers),
                done=lambda n: progress.update(task, completed=n),
            )
        )
    best = ranked(outcomes, args.rank)
    if args.csv:
        header, rows = csv_rows(best)
        with Path(args.csv).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows)
    print(_table(best[: args.top], rules.quote))
    return 0


def _sets(args: argparse.Namespace, space: Space) -> list[dict[str, str]]:
    count = args.random if args.random is not None else space.random
    ranges = {**space.ranges, **dict(_pair(text, "range") for text in args.range)}
    axes = {**space.grid, **dict(_pair(text, "grid") for text in args.grid)}
    if count is not None:
        if axes or not ranges:
            raise ValidationError("--random takes --range, not --grid", field="random")
        if count < 1:
            raise ValidationError("must be at least 1", field="random")
        seed = args.seed if args.seed is not None else space.seed
        return sample(ranges, count, 1 if seed is None else seed)
    if not axes:
        raise ValidationError(
            "give at least one --grid (or --random with --range), here or in --space",
            field="grid",
        )
    return grid({name: steps(name, values) for name, values in axes.items()})


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, values = text.partition("=")
    known = {n for n, _ in _PARAMS}
    name = name.strip().replace("-", "_")
    if not sep or name not in known:
        raise ValidationError(
            f"{text!r}: expected NAME=VALUES with NAME one of {', '.join(sorted(known))}",
            field=option,
        )
    return name, values


def _table(outcomes: list[Any], quote: str) -> str:
    if not outcomes:
        return "no results"
    names = sorted({n for o in outcomes for n in o.params})
    header = [*names, "cycles", f"profit {quote}", "profit %", "max dd %", "funds used"]
    rows = [
        [
            *(o.params.get(n, "") for n in names),
            str(o.report.cycles),
            fmt(o.report.profit.quantize(_Q8)),
            fmt(o.report.profit_pct.quantize(_Q2)),
            fmt(o.report.max_drawdown_pct.quantize(_Q2)),
            fmt(o.report.max_funds_used.quantize(_Q8)),
        ]
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    )

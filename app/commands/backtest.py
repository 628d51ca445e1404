"""`martingale backtest`: a strategy over historical candles, with the live engine's own code.

Only the options and the printing live here; the run is `backtest.runner` (the service's
`Engine` over the paper exchange's matching, driven candle by candle with a virtual clock) and
the figures `backtest.report`. Parameters have the names and checks of `martingale plan`; a bad
value exits 2 naming the option, a bad candle file exits 2 naming its line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from app.commands.plan import _PARAMS, _RULES, _option
from backtest.plot import plot
from backtest.report import Report, report
from backtest.runner import run
from config.loader import load_config
from domain.errors import ConfigurationError, ValidationError
from domain.market import Candle, MarketRules
from domain.money import fmt
from exchange.feeds.csv_replay import read_candles
from services.onboarding import strategy_params
from services.plan import BALANCE, PRICE, market_rules, preview
from strategy.options import Direction

DEFAULT_FEE_RATE = "0.001"
LONG_RUN = 100_000  # candles: a run this long shows a progress bar on a terminal
DEFAULT_TICK = Decimal("0.00000001")  # ../shared/data: at most 8 decimals
_PAIR = re.compile(r"^([A-Za-z0-9]+)-([A-Za-z0-9]+)(?:-[0-9]+[smhd])?\.csv$", re.IGNORECASE)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "backtest",
        help="run a strategy over historical candles with the live engine's code",
        description=(
            "Play each candle file (timestamp,open,high,low,close,volume; the ../shared/data "
            "format) through the service's own engine and paper matching, with a virtual "
            "clock: for a long strategy a candle's low comes before its high; resting orders "
            "fill whole at their limits, market orders and crossing limits at the close. "
            "Prints cycles, profit, max drawdown, funds used, safety orders used, time in "
            "market, fees and the open cycle. Parameters as in `martingale plan`."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="CSV", help="candle file(s), one run each")
    parser.add_argument(
        "--symbol", help="market, e.g. ETH/BTC (default: from the file name, ETH-BTC-5m.csv)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="take the strategy --strategy names from this config file: its parameters, its "
        "market's rules and its paper account's fee rate (options given here override them)",
    )
    parser.add_argument(
        "--strategy", metavar="[USER/]NAME", help="with --config: the strategy to backtest"
    )
    for name, text in _PARAMS:
        parser.add_argument(_option(name), dest=name, metavar="VALUE", help=text)
    for name, text in _RULES:
        parser.add_argument(_option(name), dest=name, metavar="VALUE", help=text)
    parser.add_argument(
        "--balance",
        metavar="VALUE",
        help="starting balance: quote, or base for a short (default: the plan's max funds at "
        "the first close)",
    )
    parser.add_argument(
        "--fee-rate", default=DEFAULT_FEE_RATE, metavar="RATE", help="fee per fill (0.001)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (decimal strings)")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="draw price, fills, order and average lines and the equity to FILE (.png, .svg, "
        ".pdf); with several candle files, FILE gets each market's name added",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    params = {n: getattr(args, n) for n, _ in _PARAMS if getattr(args, n) is not None}
    reports: list[Report] = []
    try:
        if args.config is not None or args.strategy is not None:
            params = {**from_config(args), **params}
        fee_rate = parse_decimal(args.fee_rate, "fee_rate")
        for file in args.files:
            reports.append(_one(Path(file), args, params, fee_rate))
    except (ValidationError, ConfigurationError) as exc:
        return error_exit("backtest", exc)
    if args.json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        print("\n\n".join(render(r) for r in reports))
    return 0


def from_config(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters of `--strategy` in `--config`; its market's rules and its paper
    account's fee rate fill the options left out (`args` is completed in place)."""
    if args.config is None or args.strategy is None:
        raise ValidationError("--config and --strategy go together", field="strategy")
    config = load_config(args.config)
    user_name, _, name = args.strategy.rpartition("/")
    found = [
        (user, s)
        for user in config.users
        if not user_name or user.name == user_name
        for s in user.strategies
        if s.name == name
    ]
    if len(found) != 1:
        which = "no" if not found else "more than one"
        raise ValidationError(
            f"{which} strategy {args.strategy!r} in {args.config} (give USER/NAME)",
            field="strategy",
        )
    user, strategy = found[0]
    args.symbol = args.symbol or strategy.symbol
    rules = config.market_rules(strategy.symbol)
    if rules is not None:
        for field in ("tick_size", "step_size", "min_amount", "min_notional"):
            if getattr(args, field) is None:
                setattr(args, field, str(getattr(rules, field)))
    account = next((a for a in user.accounts if a.name == strategy.account), None)
    fee = getattr(account, "fee_rate", None)
    if fee is not None and args.fee_rate == DEFAULT_FEE_RATE:
        args.fee_rate = str(fee)
    return strategy_params(strategy)


def error_exit(command: str, exc: ValidationError | ConfigurationError) -> int:
    """One line naming the option (exit 2), as `martingale plan` does."""
    field = exc.field
    option = _option(field) if field else command
    reason = str(exc).removeprefix(f"{field}: ") if field else str(exc)
    print(f"martingale {command}: error: {option}: {reason}", file=sys.stderr)
    return 2


def candles_and_rules(
    path: Path, args: argparse.Namespace
) -> tuple[list[Candle], timedelta, MarketRules]:
    """The file's candles and period, and the market's rules from the options (a tick and a
    step of 1e-8 when not given: the data has at most 8 decimals)."""
    symbol = args.symbol or _symbol_of(path)
    candles, period = read_candles(path)
    if len(candles) < 2:
        raise ValidationError(f"{path} holds fewer than two candles", field="files")
    given = market_rules({n: getattr(args, n) for n, _ in _RULES})
    rules = MarketRules(
        symbol=symbol,
        tick_size=given.tick_size if given and given.tick_size else DEFAULT_TICK,
        step_size=given.step_size if given and given.step_size else DEFAULT_TICK,
        min_amount=given.min_amount if given else Decimal(0),
        min_notional=given.min_notional if given else Decimal(0),
    )
    return candles, period, rules


def progress_bar(*, shown: bool = True) -> Progress:
    """A bar with the count and the time left, on stderr, only on a terminal (and `shown`);
    it goes away when done."""
    return Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        disable=not (shown and sys.stderr.isatty()),
    )


def _one(path: Path, args: argparse.Namespace, params: dict[str, Any], fee: Decimal) -> Report:
    candles, period, rules = candles_and_rules(path, args)
    plan = preview({**params, PRICE: str(candles[0].close)}, rules)  # the checks of `plan`
    balance = parse_decimal(args.balance, BALANCE) if args.balance else plan.required_funds
    currency = rules.base if plan.direction is Direction.SHORT else rules.quote  # what it commits
    with progress_bar(shown=len(candles) >= LONG_RUN) as progress:
        task = progress.add_task(path.name, total=len(candles))
        outcome = run(
            candles,
            period=period,
            params=params,
            rules=rules,
            balances={currency: balance},
            fee_rate=fee,
            equity=args.plot is not None,
            progress=lambda n: progress.update(task, completed=n),
        )
    if args.plot is not None:
        target = Path(args.plot)
        if len(args.files) > 1:
            target = target.with_stem(f"{target.stem}-{path.stem}")
        plot(outcome, target)
    return report(outcome)


def _symbol_of(path: Path) -> str:
    match = _PAIR.match(path.name)
    if match is None:
        raise ValidationError(
            f"cannot tell the market from {path.name!r}: give --symbol", field="symbol"
        )
    return f"{match[1].upper()}/{match[2].upper()}"


def parse_decimal(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValidationError(f"not a number: {text!r}", field=field) from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"must be a number >= 0, got {text!r}", field=field)
    return value


def render(r: Report) -> str:
    q = r.quote
    lines = [
        f"{r.symbol}  {r.start} .. {r.end}  ({r.candles} candles, engine woken {r.wakes} times)",
        f"cycles closed       {r.cycles}",
        f"profit              {_q(r.profit)} {q}  ({_p(r.profit_pct)} % of {_q(r.start_equity)})",
        f"profit per cycle    {_q(r.profit_per_cycle)} {q}",
        f"max drawdown        {_p(r.max_drawdown_pct)} % of equity",
        f"max funds used      {_q(r.max_funds_used)} {q}",
        f"safety orders used  max {r.max_safety_orders}; closed cycles by count: "
        + ", ".join(f"{k}: {v}" for k, v in r.safety_orders.items()),
        f"longest cycle       {r.longest_cycle}",
        f"time in market      {_p(r.time_in_market_pct)} %",
        "fees                "
        + ", ".join(f"{_q(v)} {c}" for c, v in sorted(r.fees.items()))
        + f" (= {_q(r.fees_in_quote)} {q})",
        f"equity              {_q(r.start_equity)} -> {_q(r.end_equity)} {q}",
    ]
    if r.open_cycle is not None:
        o = r.open_cycle
        lines.append(
            f"open cycle          #{o['number']}: {fmt(o['position'])} at {_q(o['average'])}, "
            f"unrealized {_q(o['unrealized'])} {q}"
            + (f", its sells realized {_q(o['realized'])} {q}" if o["realized"] else "")
        )
    if r.carried is not None:
        c = r.carried
        lines.append(
            f"carried             {fmt(c['position'])} {r.symbol.split('/')[0]} left by the "
            f"last cycle (cost {_q(c['cost'])}), unrealized {_q(c['unrealized'])} {q}"
        )
    return "\n".join(lines)


def _q(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.00000001")))


def _p(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.01")))

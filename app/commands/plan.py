"""`martingale plan`: preview every order of a strategy before starting it.

Only the options and the printing live here: the checks and the ladder are `services.plan`,
which the REST API calls too, so an invalid value is refused here with the same rule it would
meet there. The message names the option (``--take-profit``) and the exit status is 2, as for
any usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from domain.errors import ValidationError
from domain.money import fmt
from services.plan import (
    BALANCE,
    COLUMNS,
    FEE_RATE,
    OUTCOME_COLUMNS,
    PRICE,
    QUOTE_BALANCE,
    market_rules,
    plan_json,
    preview,
    reserve_note,
    trailing_note,
)
from strategy.exits import exit_lines
from strategy.ladder import Plan
from strategy.options import Direction, start_condition, stored_start
from strategy.start import waiting_text, waits

_PARAMS: tuple[tuple[str, str], ...] = (
    ("base_order", "base order size in quote currency (required)"),
    ("safety_order", "first safety order size in quote currency (required)"),
    ("max_safety_orders", "number of safety orders, 0 or more (required)"),
    ("price_deviation", "percent below the base price of the first safety order (required)"),
    ("step_scale", "multiplier of each next deviation step (default 1)"),
    ("volume_scale", "multiplier of each next safety order size (default 1)"),
    ("take_profit", "percent past the average entry to sell at (required, or the steps)"),
    ("stop_loss", "percent below the average entry to sell at market (default: none)"),
    ("max_active_safety_orders", "safety orders resting at once (default 1; not in the table)"),
    ("cooldown", "seconds between cycles (default 0; not in the table)"),
    ("max_cycles", "stop after this many cycles (default: no limit; not in the table)"),
    ("base_order_type", "market or limit (default market; not in the table)"),
    ("direction", "long (buy first, default) or short (sell the base first, buy it back lower)"),
    ("take_profit_steps", "sell in parts: percent:portion pairs, e.g. 1.5:50,3:50"),
    ("trailing_deviation", "trailing take-profit: sell on this pull-back (percent) past the TP"),
    ("stop_loss_trailing", "true: the stop follows the best price since the last buy"),
    ("stop_loss_timeout", "hours: a cycle this old is closed (default: never)"),
    ("stop_loss_timeout_action", "market (sell now, default) or break_even (move the TP)"),
    ("reinvest_percent", "percent of each cycle's profit added to the next cycle's sizes"),
    (
        "start_condition",
        "asap (default); 'rsi below=30 period=14 timeframe=5m'; 'ma period=50 timeframe=1h'; "
        "'signal max_lag=60'",
    ),
)
_RULES: tuple[tuple[str, str], ...] = (
    ("tick_size", "price tick (> 0): buy prices round down, take-profit prices round up"),
    ("step_size", "amount step (> 0): amounts round down"),
    ("min_amount", "smallest order amount the exchange accepts"),
    ("min_notional", "smallest order value (price * amount) the exchange accepts"),
)
_TITLES = {
    "level": "level",
    "deviation_pct": "dev %",
    "price": "price",
    "quote_size": "quote size",
    "base_amount": "base amount",
    "total_quote": "total quote",
    "total_base": "total base",
    "average_price": "avg price",
    "take_profit_price": "TP price",
    "required_change_pct": "to TP %",
    "stop_loss_price": "SL price",
    "fees": "fees",
    "profit": "profit",
    "profit_pct": "profit %",
}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help="preview the orders of a Martingale strategy",
        description=(
            "Print one row per order (level 0 is the base order) with its cumulative deviation, "
            "price, size, running totals, average entry and take-profit, then the max funds and "
            "max price coverage. Every parameter has the same name in config files and the API "
            "(with underscores). Sizes are in quote currency, percentages in percent. With any "
            "of the rounding options the prices and amounts are rounded as the exchange would "
            "and every level is checked against the minimums."
        ),
    )
    for name, text in _PARAMS:
        parser.add_argument(_option(name), dest=name, metavar="VALUE", help=text)
    parser.add_argument("--price", required=True, metavar="VALUE", help="start price (required)")
    for name, text in _RULES:
        parser.add_argument(_option(name), dest=name, metavar="VALUE", help=text)
    parser.add_argument(
        "--balance",
        metavar="VALUE",
        help="available balance (quote; base for a short); the max funds must fit in it",
    )
    parser.add_argument(
        "--quote-balance",
        dest=QUOTE_BALANCE,
        metavar="VALUE",
        help="available quote balance: a short with a stop loss must keep the quote its "
        "stop-loss buy-back costs beyond what its sells receive (a long: its max funds)",
    )
    parser.add_argument(
        "--fee-rate",
        dest=FEE_RATE,
        metavar="RATE",
        help="fee of each fill, a fraction of its value (default 0.001, i.e. 0.1 %%); the "
        "fees and profit columns are net of it",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON; every number is a decimal string"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    names = [name for name, _ in _PARAMS] + [PRICE, BALANCE, QUOTE_BALANCE, FEE_RATE]
    values = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    try:
        rules = market_rules({name: getattr(args, name) for name, _ in _RULES})
        plan = preview(values, rules)
    except ValidationError as exc:
        option = _option(exc.field) if exc.field else "plan"
        reason = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
        if exc.field and _NESTED.match(exc.field):
            reason = f"{exc.field}: {reason}"  # which step or setting
        print(f"martingale plan: error: {option}: {reason}", file=sys.stderr)
        return 2
    condition = start_condition(values.get("start_condition", "asap"))  # checked by preview
    if args.json:
        out = plan_json(plan)
        if waits(condition):
            out["start_condition"] = stored_start(condition)
        print(json.dumps(out, indent=2))
    else:
        table = render_table(plan)
        print(f"{table}\nstart: {waiting_text(condition)}" if waits(condition) else table)
    return 0


def render_table(plan: Plan) -> str:
    """Aligned text; figures shown to 8 decimals (percentages to 4), the JSON is exact."""
    extra = [k for k in OUTCOME_COLUMNS if k != "stop_loss_price" or _has_stop(plan)]
    extra = extra if plan.outcomes else []
    header = [_TITLES[key] for key in (*COLUMNS, *extra)]
    header += [f"TP{i} {fmt(s.percent)}%x{fmt(s.portion)}%" for i, s in enumerate(plan.steps, 1)]
    rows = [
        [_cell(key, getattr(row, key)) for key in COLUMNS]
        + [_cell(key, getattr(outcome, key)) for key in extra]
        + [_cell("price", price) for price in row.step_prices]
        for row, outcome in zip(plan.levels, plan.outcomes or plan.levels, strict=True)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.append("")
    lines.append(f"max funds: {_shown(plan.max_funds, 8)}")
    if plan.direction is Direction.SHORT:
        lines.append(f"direction: short; base to sell: {_shown(plan.max_base, 8)}")
    lines.append(f"max price coverage: {_shown(plan.max_coverage_pct, 4)} %")
    if plan.fee_rate is not None:
        lines.append(f"fees and profit: closing at the take-profit, {fmt(plan.fee_rate)} per fill")
    if plan.steps:
        lines.append("take-profit steps: TP<n> sells its portion of the position at that price")
    if plan.trailing_deviation is not None:
        lines.append(trailing_note(plan.trailing_deviation))
    if plan.exits is not None:
        lines.extend(exit_lines(plan.exits, lambda value: _shown(value, 8)))
    if plan.stop_loss_reserve is not None:
        lines.append(reserve_note(plan.stop_loss_reserve, lambda value: _shown(value, 8)))
    return "\n".join(lines)


def _has_stop(plan: Plan) -> bool:
    return any(o.stop_loss_price is not None for o in plan.outcomes)


def _cell(key: str, value: Decimal | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return _shown(value, 4 if key.endswith("_pct") else 8)


def _shown(value: Decimal, places: int) -> str:
    return fmt(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def _option(field: str) -> str:
    """``take_profit_steps[1].percent`` is given by ``--take-profit-steps``."""
    nested = _NESTED.match(field)
    name = nested.group(1) if nested else field
    return "--" + name.replace("_", "-")


_NESTED = re.compile(r"^([a-z_]+)[\[.][a-z0-9_\[\].]*$")

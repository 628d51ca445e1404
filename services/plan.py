"""Plan preview: every order of a Martingale ladder, checked, for `martingale plan` and the API.

Parameters go through `MartingaleParams.from_mapping`, exactly like config files, so an invalid
value is refused with the same rule everywhere, and the error names the field. Numbers no plan
needs (`config.numbers`: 1e999999999, 5,000 digits) are refused before any math, and a ladder
whose figures leave exact 28-digit arithmetic is refused as a whole.

The values are keyed by the `martingale plan` names: the strategy parameters, plus ``price``
(the start price, required), ``balance`` (optional: the max funds must fit in it, base for a
short) and ``quote_balance`` (optional: the account's quote; a short with a stop loss must keep
its buy-back's extra quote, a long's max funds must fit). Market
rules (tick and step sizes, minimums) come separately: the CLI reads them from its options, the
API from the venue. With rules, prices and amounts are rounded as the exchange would and every
level is checked against the minimums (DESIGN money rule 2).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any

from config.checks import LADDER_OUT_OF_RANGE
from config.numbers import number_problem, shown, text_problem
from domain.errors import ValidationError
from domain.market import MarketRules
from domain.money import ZERO, fmt, to_decimal
from strategy.exits import ExitPlan
from strategy.ladder import NO_RULES, Plan, StopLossReserve, build_plan, validate_plan
from strategy.options import (
    StartCondition,
    start_condition,
    start_text,
    steps_text,
    stored_start,
    stored_steps,
    take_profit_steps,
)
from strategy.outcomes import with_outcomes
from strategy.params import MartingaleParams

# Not strategy parameters: what the preview is computed at and checked against.
PRICE = "price"
BALANCE = "balance"
QUOTE_BALANCE = "quote_balance"  # the account's quote: a short keeps its stop-loss buy-back
FEE_RATE = "fee_rate"  # a fraction: 0.001 is 0.1 % of each fill's value
DEFAULT_FEE_RATE = Decimal("0.001")
RULE_NAMES = ("tick_size", "step_size", "min_amount", "min_notional")
# The figures of one plan level, in table order (JSON keys and `martingale plan` columns).
COLUMNS = (
    "level",
    "deviation_pct",
    "price",
    "quote_size",
    "base_amount",
    "total_quote",
    "total_base",
    "average_price",
    "take_profit_price",
    "required_change_pct",
)
# What the cycle yields when it closes at the take-profit after each level (`strategy.outcomes`).
OUTCOME_COLUMNS = ("stop_loss_price", "fees", "profit", "profit_pct")

Value = str | int | Decimal


def preview(params: Mapping[str, Value], rules: MarketRules | None) -> Plan:
    """The checked ladder of `params` (plan names, see the module docstring) under `rules`."""
    return checked_plan(params, rules)[1]


def checked_plan(
    params: Mapping[str, Value], rules: MarketRules | None
) -> tuple[MartingaleParams, Plan]:
    """The parsed strategy parameters and their checked ladder; ValidationError names the
    field (``price`` when the start price is missing or bad, ``balance`` when the funds do not
    fit, ``base_order``/``safety_order`` for a level the rules refuse)."""
    values = dict(params)
    price_value = values.pop(PRICE, None)
    balance_value = values.pop(BALANCE, None)
    quote_value = values.pop(QUOTE_BALANCE, None)
    fee_value = values.pop(FEE_RATE, None)
    parsed = parse_params(values)
    if price_value is None:
        raise ValidationError("is required: the start price the ladder is computed at", field=PRICE)
    price = number(price_value, PRICE)
    balance = None if balance_value is None else non_negative(balance_value, BALANCE)
    quote = None if quote_value is None else non_negative(quote_value, QUOTE_BALANCE)
    fee_rate = DEFAULT_FEE_RATE if fee_value is None else non_negative(fee_value, FEE_RATE)
    if fee_rate >= 1:
        raise ValidationError(f"must be below 1 (0.001 is 0.1 %), got {fee_rate}", field=FEE_RATE)
    try:
        plan = build_plan(parsed, price, rules)
        if rules is not None or balance is not None or quote is not None:
            validate_plan(
                plan, rules or NO_RULES, balance=balance, quote_balance=quote, fee_rate=fee_rate
            )
        plan = with_outcomes(parsed, plan, rules or NO_RULES, fee_rate)
    except ArithmeticError:  # each value in bounds, but the ladder leaves exact arithmetic
        raise ValidationError(LADDER_OUT_OF_RANGE) from None
    return parsed, plan


def parse_params(values: Mapping[str, Any]) -> MartingaleParams:
    """Strategy parameters from loose input (strings, ints): bounds first, then the rules."""
    for name, value in values.items():
        check_bounds(value, str(name))
    return MartingaleParams.from_mapping(values)


def stored_params(params: MartingaleParams) -> dict[str, Any]:
    """Every parameter, defaults included, as strings (decimals without exponent); the
    take-profit steps as a list and the start condition as a mapping of strings.

    Resolving defaults here pins them in the database: a later release with other defaults
    cannot silently change a running strategy, and giving a default explicitly is not a change.
    """
    out: dict[str, Any] = {}
    for f in fields(params):
        value = getattr(params, f.name)
        if value is None:
            continue
        if f.name == "take_profit_steps":
            if value:
                out[f.name] = stored_steps(value)
        elif isinstance(value, StartCondition):
            out[f.name] = stored_start(value)
        elif isinstance(value, bool):
            out[f.name] = "true" if value else "false"
        elif isinstance(value, Decimal):
            out[f.name] = fmt(value)
        elif isinstance(value, enum.Enum):
            out[f.name] = str(value.value)
        else:
            out[f.name] = str(value)
    return out


def params_text(stored: Mapping[str, Any]) -> dict[str, str]:
    """Stored parameters as the one-line texts a form field or `martingale plan` option takes
    (the take-profit steps as ``1.5:50,3:50``, the start condition as ``rsi below=30 ...``)."""
    out: dict[str, str] = {}
    for name, value in stored.items():
        if name == "take_profit_steps" and isinstance(value, list):
            out[name] = steps_text(take_profit_steps(value))
        elif name == "start_condition" and isinstance(value, Mapping):
            out[name] = start_text(start_condition(value))
        else:
            out[name] = str(value)
    return out


def market_rules(values: Mapping[str, Value | None]) -> MarketRules | None:
    """Rules from typed values (the `martingale plan` rounding options); None when none given."""
    parsed: dict[str, Decimal | None] = {}
    for name in RULE_NAMES:
        value = values.get(name)
        parsed[name] = None if value is None else non_negative(value, name)
    for grid in ("tick_size", "step_size"):  # 0 is no grid at all: leave the option out
        if parsed[grid] is not None and parsed[grid] == 0:
            raise ValidationError(
                "must be greater than 0 (leave it out for no rounding)", field=grid
            )
    if all(v is None for v in parsed.values()):
        return None
    return MarketRules(symbol="BASE/QUOTE", **{k: v or ZERO for k, v in parsed.items()})


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON: every number a decimal string (levels too), exact."""
    levels: list[dict[str, Any]] = [
        {key: _json_value(getattr(row, key)) for key in COLUMNS} for row in plan.levels
    ]
    for level, outcome in zip(levels, plan.outcomes, strict=False):
        level.update({key: _json_value(getattr(outcome, key)) for key in OUTCOME_COLUMNS})
    out: dict[str, Any] = {
        "levels": levels,
        "max_funds": fmt(plan.max_funds),
        "max_coverage_pct": fmt(plan.max_coverage_pct),
        "direction": plan.direction.value,
        "max_base": fmt(plan.max_base),
        "required_funds": fmt(plan.required_funds),
    }
    if plan.fee_rate is not None:
        out[FEE_RATE] = fmt(plan.fee_rate)
    if plan.steps:  # each level's step prices, in the order of `take_profit_steps`
        out["take_profit_steps"] = stored_steps(plan.steps)
        for level, row in zip(levels, plan.levels, strict=True):
            level["take_profit_step_prices"] = [fmt(price) for price in row.step_prices]
    if plan.trailing_deviation is not None:
        out["trailing_deviation"] = fmt(plan.trailing_deviation)
        out["trailing_note"] = trailing_note(plan.trailing_deviation)
    if plan.exits is not None:
        out["exits"] = exits_json(plan.exits)
    if plan.stop_loss_reserve is not None:
        out["stop_loss_reserve"] = reserve_json(plan.stop_loss_reserve)
    return out


def reserve_json(reserve: StopLossReserve) -> dict[str, str]:
    """A short's stop-loss buy-back after the last level: decimal strings."""
    return {
        "base": fmt(reserve.base),
        "price": fmt(reserve.price),
        "cost": fmt(reserve.cost),
        "received": fmt(reserve.received),
        "keep_quote": fmt(reserve.keep),
    }


def reserve_note(reserve: StopLossReserve, shown: Callable[[Decimal], str]) -> str:
    """The plan's line for people (`shown` formats a figure)."""
    return (
        f"stop-loss buy-back (short): after the last level the stop buys back all "
        f"{shown(reserve.base)} base at {shown(reserve.price)} or more, {shown(reserve.cost)} "
        f"quote with fees; the sells receive {shown(reserve.received)}: keep at least "
        f"{shown(reserve.keep)} quote free for it"
    )


def exits_json(exits: ExitPlan) -> dict[str, str]:
    """The stop loss (its triggers from the average after the base order and after the last
    safety order), the timeout and reinvestment, where set: decimal strings."""
    out: dict[str, str] = {}
    if exits.stop_loss_pct is not None and exits.stop_loss_first is not None:
        out["stop_loss"] = fmt(exits.stop_loss_pct)
        out["stop_loss_trailing"] = "true" if exits.trailing else "false"
        out["stop_loss_price_first"] = fmt(exits.stop_loss_first)
        out["stop_loss_price_last"] = fmt(exits.stop_loss_last or exits.stop_loss_first)
    if exits.timeout_hours is not None:
        out["stop_loss_timeout"] = fmt(exits.timeout_hours)
        out["stop_loss_timeout_action"] = exits.timeout_action.value
    if exits.reinvest_percent > 0:
        out["reinvest_percent"] = fmt(exits.reinvest_percent)
    return out


def trailing_note(deviation: Decimal) -> str:
    return (
        f"trailing take-profit: from the TP price on, the sell follows the peak and is placed "
        f"when the price falls {fmt(deviation)} % back from it, never below the TP price"
    )


def _json_value(value: Decimal | int | None) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, int) else fmt(value)


def check_bounds(value: object, field: str) -> None:
    """Refuse a number no parameter needs (`config.numbers`) before any conversion or math."""
    if isinstance(value, bool):
        return  # not a number at all: the parameter's own check says so
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is None:
            try:
                problem = number_problem(Decimal(value.strip()))
            except InvalidOperation:
                return  # not a number at all: the parameter's own check says so
    elif isinstance(value, int | Decimal):
        problem = number_problem(Decimal(value))
    else:
        return
    if problem is not None:
        raise ValidationError(f"{_shown(value)} {problem}", field=field)


def _shown(value: object) -> str:
    try:
        return shown(value)
    except ValueError:  # an int past Python's 4,300-digit str() limit
        return "the number"


def number(value: Value, field: str) -> Decimal:
    """A bounded decimal from text or a number; ValidationError naming `field` otherwise."""
    check_bounds(value, field)
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(
            f'expected a decimal number as text (e.g. "0.1"), got {type(value).__name__}',
            field=field,
        )
    try:
        return to_decimal(value, field=field)
    except (TypeError, ValueError):
        raise ValidationError(f"{_shown(value)} is not a number", field=field) from None


def non_negative(value: Value, field: str) -> Decimal:
    result = number(value, field)
    if result < 0:
        raise ValidationError(f"must be >= 0, got {result}", field=field)
    return result

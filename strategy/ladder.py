"""The Martingale ladder: where each order sits, how big it is, and what the position becomes.

Semantics (long/spot): the base order fills at P0. Safety order n (1..N) sits D_n percent below
P0 with D_n = d * (1 + s + ... + s^(n-1)) and spends S * v^(n-1) quote. The average entry is
total quote / total base and the take-profit is average * (1 + tp/100).

With `MarketRules`, buy prices round down to the tick and amounts down to the step (so a level
never spends more than its nominal size), the take-profit rounds up to the tick (so the profit
is never below target), and the minimums are checked after rounding. The machine uses the same
helpers, so the preview and the live orders agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from domain.errors import ValidationError
from domain.market import MarketRules
from domain.money import HUNDRED, ONE, ZERO, fmt
from strategy.exits import ExitPlan, exit_plan
from strategy.params import MartingaleParams

# One fixed arithmetic context for all strategy math, whatever the caller's thread has set, so
# a replay computes the very same digits.
STRATEGY_CONTEXT = Context(prec=28)

NO_RULES = MarketRules(symbol="BASE/QUOTE")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanLevel:
    """One row of the preview; level 0 is the base order. Totals include this level."""

    level: int
    deviation_pct: Decimal
    price: Decimal
    quote_size: Decimal
    base_amount: Decimal
    total_quote: Decimal
    total_base: Decimal
    average_price: Decimal
    take_profit_price: Decimal
    required_change_pct: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelOutcome:
    """The cycle closed at the take-profit after this level filled (level 0: the base alone);
    computed by `strategy.outcomes`."""

    level: int
    stop_loss_price: Decimal | None  # the stop's trigger with this many levels filled
    fees: Decimal  # every fill of the cycle, in quote
    profit: Decimal  # net of fees, in quote
    profit_pct: Decimal  # of the quote the cycle put in


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    levels: tuple[PlanLevel, ...]
    max_funds: Decimal
    max_coverage_pct: Decimal
    outcomes: tuple[LevelOutcome, ...] = ()  # one per level, when a fee rate was given
    fee_rate: Decimal | None = None
    exits: ExitPlan | None = None  # stop loss, timeout, reinvestment (strategy.exits)


def level_price(
    params: MartingaleParams, base_price: Decimal, level: int, rules: MarketRules
) -> Decimal:
    """Limit price of level n (the base price itself for 0), rounded down to the tick."""
    raw = base_price * (ONE - params.deviation_pct(level) / HUNDRED)
    return rules.round_price_down(raw)


def buy_amount(quote: Decimal, price: Decimal, rules: MarketRules) -> Decimal:
    """Base amount that spends at most `quote` at `price`, rounded down to the step."""
    if price <= 0:
        return ZERO
    return rules.round_amount(quote / price)


def take_profit_price(params: MartingaleParams, average: Decimal, rules: MarketRules) -> Decimal:
    """Rounded up to the tick, so the realised profit is never below the target."""
    return rules.round_price_up(average * (ONE + params.take_profit / HUNDRED))


def build_plan(params: MartingaleParams, price: Decimal, rules: MarketRules | None = None) -> Plan:
    """The whole ladder from a start price; without rules, no rounding at all."""
    if price <= 0:
        raise ValidationError(f"must be > 0, got {price}", field="price")
    rules = rules or NO_RULES
    with localcontext(STRATEGY_CONTEXT):
        base_price = rules.round_price_down(price)
        if base_price <= 0:
            raise ValidationError(
                f"{price} rounds down to 0 with tick size {rules.tick_size}", field="price"
            )
        levels: list[PlanLevel] = []
        total_quote = ZERO
        total_base = ZERO
        for n in range(params.max_safety_orders + 1):
            level_px = level_price(params, base_price, n, rules)
            nominal = params.quote_size(n)
            amount = buy_amount(nominal, level_px, rules)
            quote = level_px * amount if rules is not NO_RULES else nominal
            total_quote += quote
            total_base += amount
            average = total_quote / total_base if total_base > 0 else level_px
            tp_price = take_profit_price(params, average, rules)
            change = (tp_price / level_px - ONE) * HUNDRED if level_px > 0 else ZERO
            levels.append(
                PlanLevel(
                    level=n,
                    deviation_pct=params.deviation_pct(n),
                    price=level_px,
                    quote_size=quote,
                    base_amount=amount,
                    total_quote=total_quote,
                    total_base=total_base,
                    average_price=average,
                    take_profit_price=tp_price,
                    required_change_pct=change,
                )
            )
        return Plan(
            levels=tuple(levels),
            max_funds=total_quote,
            max_coverage_pct=params.deviation_pct(params.max_safety_orders),
            exits=exit_plan(params, [row.average_price for row in levels], rules),
        )


def validate_plan(plan: Plan, rules: MarketRules, *, balance: Decimal | None = None) -> None:
    """Every level must be placeable after rounding and the total affordable.

    Raises `ValidationError` naming the parameter to change (base_order for level 0,
    safety_order for the others, balance for funds) and the level that fails and why.
    """
    with localcontext(STRATEGY_CONTEXT):
        for row in plan.levels:
            field = "base_order" if row.level == 0 else "safety_order"
            what = "base order" if row.level == 0 else f"safety order {row.level}"
            if row.price <= 0:
                raise ValidationError(
                    f"level {row.level} ({what}): price rounds down to 0", field=field
                )
            why = rules.violation(row.price, row.base_amount)
            if why is not None:
                raise ValidationError(
                    f"level {row.level} ({what} at price {fmt(row.price)}): {why}", field=field
                )
            sell = rules.round_amount(row.total_base)
            why = rules.violation(row.take_profit_price, sell)
            if why is not None:
                raise ValidationError(
                    f"level {row.level} (take-profit sell of {fmt(sell)} at "
                    f"{fmt(row.take_profit_price)}): {why}",
                    field=field,
                )
        if balance is not None and plan.max_funds > balance:
            raise ValidationError(
                f"max funds {fmt(plan.max_funds)} exceed the available balance {fmt(balance)}",
                field="balance",
            )
